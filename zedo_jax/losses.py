"""Denoising score-matching loss in continuous time (the score-SDE formulation)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from . import sde as sde_lib


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Options of the DSM loss; defaults are the release's.

    Attributes:
      eps_t: smallest training time (``t ~ U[eps_t, T)``), 1e-5.
      reduce_mean: ``False`` (as the release): per-sample loss is half the *sum* of squared
        errors over the 51 coordinates; ``True``: mean over coordinates.
      likelihood_weighting: weight by ``g(t)^2`` (off in the release).
    """

    eps_t: float = 1e-5
    reduce_mean: bool = False
    likelihood_weighting: bool = False


def dsm_loss(apply_fn, params, x0, key, sde, cfg: LossConfig = LossConfig(), train: bool = True):
    """Batch-mean denoising score-matching loss.

    Args:
      apply_fn: ``apply_fn(params, x_t, t_label, train, rngs) -> eps_hat [B, 17, 3]``.
      params: network variables.
      x0: clean root-relative poses ``[B, 17, 3]`` (metres, camera axes).
      key: PRNG key (time, noise and dropout are drawn from it).
      sde: an SDE from :mod:`zedo_jax.sde` (sub-VP for ZeDO).
    Returns:
      scalar loss. A perfect epsilon-predictor has loss 0.
    """
    k_t, k_z, k_drop = jax.random.split(key, 3)
    B = x0.shape[0]
    t = jax.random.uniform(k_t, (B,), jnp.float32) * (sde.T - cfg.eps_t) + cfg.eps_t
    z = jax.random.normal(k_z, x0.shape, jnp.float32)
    mean, std = sde.marginal(t)
    xt = mean[:, None, None] * x0 + std[:, None, None] * z
    out = apply_fn(params, xt, sde_lib.network_time_label(sde, t), train, {"dropout": k_drop})
    if cfg.likelihood_weighting:
        score = sde_lib.eps_to_score(sde, out, t)
        sq = (score + z / std[:, None, None]) ** 2 * (sde.diffusion(t) ** 2)[:, None, None]
    else:
        sq = sde.output_residual(out, z, std) ** 2   # (score * sigma + z)^2, per SDE
    per_sample = sq.reshape(B, -1)
    per_sample = per_sample.mean(-1) if cfg.reduce_mean else 0.5 * per_sample.sum(-1)
    return per_sample.mean()
