"""Sampling from the prior: the reverse SDE from the SDE's prior (GFPose's generation task).

Used to check what a prior learned (e.g. bone-length statistics of samples vs training poses).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from zedo_jax.core import model as model_lib, sde as sde_lib, skeleton
from zedo_jax.core.score import score_fn

#: Langevin corrector signal-to-noise ratio of the score SDE paper's sub-VP predictor-corrector
#: sampler (Song et al. 2021); the ``sample_prior`` launcher's default.
CORRECTOR_SNR = 0.16


def reverse_sde(score: Callable, key, x, *, sde, steps: int = 1000, t_end: float = 1e-3,
                noise: bool = True, drift_factor: float = 1.0, corrector_snr: float = 0.0):
    """Run the reverse SDE from ``x`` (drawn from the SDE's prior) to ``t_end``; pure, jit-able.

    ``score(x, t)`` is any score function of ``x [n, ...]`` and scalar ``t``. Euler–Maruyama
    over ``linspace(T, t_end, steps)``; returns the noise-free mean of the last step.
    ``noise=False`` gives the deterministic reverse drift. ``corrector_snr > 0`` adds one
    Langevin corrector step before each predictor step (predictor-corrector sampling), its step
    size set per sample so that the ratio of noise to score norms is ``corrector_snr``.
    """
    ts = jnp.linspace(sde.T, t_end, steps, dtype=jnp.float32)
    dt = (sde.T - t_end) / (steps - 1) if steps > 1 else 1.0 / sde.N
    axes = tuple(range(1, x.ndim))

    def correct(x, t, k):
        grad = score(x, t)
        z = jax.random.normal(k, x.shape)
        norm = lambda v: jnp.sqrt(jnp.sum(v * v, axis=axes, keepdims=True))
        step = 2.0 * (corrector_snr * norm(z) / jnp.maximum(norm(grad), 1e-12)) ** 2
        return x + step * grad + jnp.sqrt(2.0 * step) * z

    def body(carry, inp):
        x, _ = carry
        t, k = inp
        if corrector_snr > 0:
            k, kc = jax.random.split(k)
            x = correct(x, t, kc)
        mean = sde_lib.euler_step(sde, x, t, score(x, t), dt, drift_factor)
        x = mean + sde.diffusion(t) * jnp.sqrt(dt) * jax.random.normal(k, x.shape) if noise \
            else mean
        return (x, mean), None

    (_, mean), _ = jax.lax.scan(body, (x, x), (ts, jax.random.split(key, steps)))
    return mean


@functools.partial(jax.jit, static_argnames=("net_config", "sde", "n", "steps", "t_end",
                                             "noise", "drift_factor", "corrector_snr"))
def sample(params, key, *, net_config: model_lib.ScoreNetConfig, sde, n: int,
           steps: int = 1000, t_end: float = 1e-3, noise: bool = True,
           drift_factor: float = 1.0, corrector_snr: float = 0.0):
    """Draw ``n`` poses ``[n, 17, 3]`` (metres, camera axes) from the prior.

    :func:`reverse_sde` with the prior's score, ``steps`` Euler–Maruyama steps (GFPose's
    sampler for 1000) and, with ``corrector_snr > 0`` (e.g. :data:`CORRECTOR_SNR`), a Langevin
    corrector step before each of them.
    """
    k0, key = jax.random.split(key)
    x = sde.prior_sample(k0, (n, net_config.num_joints, net_config.joint_dim))
    return reverse_sde(score_fn(params, net_config, sde), key, x, sde=sde, steps=steps,
                       t_end=t_end, noise=noise, drift_factor=drift_factor,
                       corrector_snr=corrector_snr)
def bone_length_check(samples, stats: dict) -> dict:
    """Compare bone lengths of sampled poses ``[n, 17, 3]`` with training statistics
    (``Prior.stats``: ``bones``, ``bone_length_mean_m``, ``bone_length_std_m``).

    Returns per-bone sample mean/std and training mean/std in mm, the absolute difference of
    the means, and its average over the 16 bones (``mean_abs_diff_mm``).
    """
    import numpy as np
    if not stats:
        raise ValueError("the prior has no training statistics (training_stats.json); compute "
                         "them with launch/compute_clusters.py")
    bl = skeleton.bone_lengths(np.asarray(samples, np.float64)) * 1000.0
    train_mean = np.asarray(stats["bone_length_mean_m"]) * 1000.0
    train_std = np.asarray(stats["bone_length_std_m"]) * 1000.0
    diff = np.abs(bl.mean(0) - train_mean)
    rows = [{"bone": b, "sample_mean_mm": float(m), "sample_std_mm": float(s),
             "train_mean_mm": float(tm), "train_std_mm": float(ts), "abs_diff_mm": float(d)}
            for b, m, s, tm, ts, d in zip(stats["bones"], bl.mean(0), bl.std(0), train_mean,
                                          train_std, diff)]
    return {"bones": rows, "mean_abs_diff_mm": float(diff.mean()), "n": int(len(bl))}
