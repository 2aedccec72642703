"""Sampling from the prior: the reverse SDE from ``N(0, I)`` (GFPose's generation task).

Used to check what a prior learned (e.g. bone-length statistics of samples vs training poses).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from . import model as model_lib, sde as sde_lib


@functools.partial(jax.jit, static_argnames=("net_config", "sde", "n", "steps", "t_end",
                                             "noise", "drift_factor"))
def sample(params, key, *, net_config: model_lib.ScoreNetConfig, sde, n: int,
           steps: int = 1000, t_end: float = 1e-3, noise: bool = True,
           drift_factor: float = 1.0):
    """Draw ``n`` poses ``[n, 17, 3]`` (metres, camera axes) from the prior.

    Euler–Maruyama on the reverse SDE over ``linspace(T, t_end, steps)`` with ``dt = 1/N``
    (consistent with this grid for N = steps = 1000, as in GFPose); returns the noise-free mean
    of the last step. ``noise=False`` gives the deterministic reverse drift instead.
    """
    net = model_lib.ScoreNet(net_config)
    ts = jnp.linspace(sde.T, t_end, steps, dtype=jnp.float32)
    dt = (sde.T - t_end) / (steps - 1) if steps > 1 else 1.0 / sde.N
    k0, key = jax.random.split(key)
    x = sde.prior_sample(k0, (n, net_config.num_joints, net_config.joint_dim))

    def body(carry, inp):
        x, _ = carry
        t, k = inp
        biases = net.apply(params, sde_lib.network_time_label(sde, t),
                           method=model_lib.ScoreNet.time_biases)
        eps = net.apply(params, x, biases, method=model_lib.ScoreNet.trunk)
        score = sde_lib.eps_to_score(sde, eps, t)
        mean = sde_lib.euler_step(sde, x, t, score, dt, drift_factor)
        if noise:
            x = mean + sde.diffusion(t) * jnp.sqrt(dt) * jax.random.normal(k, x.shape)
        else:
            x = mean
        return (x, mean), None

    (_, mean), _ = jax.lax.scan(body, (x, x), (ts, jax.random.split(key, steps)))
    return mean
