"""Stochastic differential equations of score-based diffusion.

Each SDE is a frozen dataclass (hashable, so it can be a static argument of ``jax.jit``) with
pure methods; :class:`SDE` is the interface every module relies on (no type switches
elsewhere). Every formula lives in exactly one place:

* ``drift(x, t)`` / ``diffusion(t)``: forward SDE ``dx = f(x, t) dt + g(t) dw``;
* ``marginal(t)``: ``(mean_coeff, std)`` of ``x_t | x_0 ~ N(mean_coeff x_0, std^2 I)``;
* ``reverse_drift(x, t, score, factor)``: ``f - factor * g^2 * score`` (factor 1.0 is what the
  official release calls "probability flow" although the true probability-flow ODE has 0.5);
* ``prior_sample(key, shape)``;
* ``time_label(t)``: the time input of the network; ``output_to_score(out, t)`` and
  ``output_residual(out, noise, std)``: how the network's output is read (an epsilon
  prediction for VP / sub-VP, the score itself for VE).

Times ``t`` may be scalars or arrays broadcastable against the leading axes of ``x``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Protocol

import jax
import jax.numpy as jnp


class SDE(Protocol):
    """What lifting, sampling and training need from an SDE (see the module docstring)."""

    N: int
    T: float

    def drift(self, x, t): ...
    def diffusion(self, t): ...
    def marginal(self, t): ...
    def prior_sample(self, key, shape): ...
    def reverse_drift(self, x, t, score, factor: float = 1.0): ...
    def time_label(self, t): ...
    def output_to_score(self, out, t): ...
    def output_residual(self, out, noise, std): ...


def _bcast(coef, x):
    """Reshape a per-sample coefficient ``[...]`` so it broadcasts against ``x [..., J, 3]``."""
    coef = jnp.asarray(coef)
    return coef.reshape(coef.shape + (1,) * (x.ndim - coef.ndim))


@dataclasses.dataclass(frozen=True)
class _LinearBeta:
    """Shared pieces of the VP family: ``beta(t) = beta_min + t (beta_max - beta_min)``."""

    beta_min: float = 0.1
    beta_max: float = 20.0
    N: int = 1000
    T: float = 1.0

    def beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def beta_integral(self, t):
        """``B(t) = int_0^t beta = beta_min t + (beta_max - beta_min) t^2 / 2``."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t ** 2

    def mean_coeff(self, t):
        """``alpha(t) = exp(-B(t) / 2)``."""
        return jnp.exp(-0.5 * self.beta_integral(t))

    def drift(self, x, t):
        return -0.5 * _bcast(self.beta(t), x) * x

    def prior_sample(self, key, shape):
        return jax.random.normal(key, shape)

    def reverse_drift(self, x, t, score, factor: float = 1.0):
        return self.drift(x, t) - factor * _bcast(self.diffusion(t) ** 2, x) * score

    def time_label(self, t):
        """``999 t``: the release feeds the network the constant 999 whatever ``T`` is."""
        return 999.0 * t

    def output_to_score(self, out, t):
        """The network predicts the noise ``eps``; the score is ``-eps / std(t)``."""
        _, std = self.marginal(t)
        return -out / _bcast(std, out)

    def output_residual(self, out, noise, std):
        """Score-matching residual ``score * std + noise`` for an epsilon prediction."""
        return out - noise


@dataclasses.dataclass(frozen=True)
class SubVPSDE(_LinearBeta):
    """sub-VP SDE (the one ZeDO uses): ``g^2 = beta (1 - e^{-2B})``, ``std = 1 - e^{-B}``."""

    def diffusion(self, t):
        return jnp.sqrt(self.beta(t) * -jnp.expm1(-2.0 * self.beta_integral(t)))

    def marginal(self, t):
        return self.mean_coeff(t), -jnp.expm1(-self.beta_integral(t))


@dataclasses.dataclass(frozen=True)
class VPSDE(_LinearBeta):
    """VP SDE (DDPM in continuous time): ``g^2 = beta``, ``std = sqrt(1 - e^{-B})``."""

    def diffusion(self, t):
        return jnp.sqrt(self.beta(t))

    def marginal(self, t):
        return self.mean_coeff(t), jnp.sqrt(-jnp.expm1(-self.beta_integral(t)))


@dataclasses.dataclass(frozen=True)
class VESDE:
    """VE SDE: ``sigma(t) = sigma_min (sigma_max / sigma_min)^t``, zero drift."""

    sigma_min: float = 0.01
    sigma_max: float = 50.0
    N: int = 1000
    T: float = 1.0

    def sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def drift(self, x, t):
        return jnp.zeros_like(x)

    def diffusion(self, t):
        return self.sigma(t) * math.sqrt(2.0 * math.log(self.sigma_max / self.sigma_min))

    def marginal(self, t):
        return jnp.ones_like(jnp.asarray(t, jnp.float32)), self.sigma(t)

    def prior_sample(self, key, shape):
        return self.sigma_max * jax.random.normal(key, shape)

    def reverse_drift(self, x, t, score, factor: float = 1.0):
        return self.drift(x, t) - factor * _bcast(self.diffusion(t) ** 2, x) * score

    def time_label(self, t):
        """``sigma(t)`` (the continuous VE convention)."""
        return self.sigma(t)

    def output_to_score(self, out, t):
        """VE networks output the score directly (as the release)."""
        return out

    def output_residual(self, out, noise, std):
        """Score-matching residual ``score * sigma + noise`` (weighted by ``sigma^2``)."""
        return out * _bcast(std, out) + noise


SDES = {"subvp": SubVPSDE, "vp": VPSDE, "ve": VESDE}


def make_sde(name: str = "subvp", **kwargs):
    """Build an SDE by name (``'subvp'`` default, ``'vp'``, ``'ve'``)."""
    try:
        cls = SDES[name]
    except KeyError:
        raise ValueError(f"unknown SDE {name!r}; choose one of {sorted(SDES)}") from None
    return cls(**kwargs)


def network_time_label(sde: SDE, t):
    """The label fed to the network for time ``t`` (``sde.time_label``)."""
    return sde.time_label(t)


def eps_to_score(sde: SDE, eps, t):
    """The score for a network output (``sde.output_to_score``: ``-eps / std(t)`` for VP /
    sub-VP, the output itself for VE)."""
    return sde.output_to_score(eps, t)


def euler_step(sde, x, t, score, dt: float, drift_factor: float = 1.0):
    """One deterministic reverse-time Euler step: ``x + reverse_drift(x, t) * (-dt)``.

    ``dt`` is the positive step size; the release uses ``1/N`` whatever the time grid.
    Returns ``x_mean`` (no noise).
    """
    return x - sde.reverse_drift(x, t, score, drift_factor) * dt


def sde_to_dict(sde: SDE) -> dict:
    """``{"name": ..., **fields}`` (JSON-able; the inverse of :func:`sde_from_dict`)."""
    name = {v: k for k, v in SDES.items()}[type(sde)]
    return {"name": name, **dataclasses.asdict(sde)}


def sde_from_dict(d: dict) -> SDE:
    d = dict(d)
    return make_sde(d.pop("name"), **d)
