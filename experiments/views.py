"""Benchmark views of world-frame poses: each pose seen by one random virtual camera.

The protocol of the shared CMU benchmark files (``cmu_test_views.npz``): the pelvis stands
0.95 m above the floor; a camera at a uniformly random azimuth, 3.5-6 m away and 1-2 m high,
aims at the pelvis (up to 3 degrees off in pitch and yaw), with the intrinsics of one of the
four Human3.6M cameras (1000 x 1000 px images); views in which a joint leaves the image are
drawn again. Used to build held-out benchmarks from any world-frame pose set (e.g. the
leave-one-subset-out protocol of :mod:`experiments.loso`).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from zedo_jax.core import camera
from zedo_jax.datasets.cameras import H36M_CAMERAS

#: Intrinsics of the four Human3.6M cameras (1000 x 1000 px images), the benchmark's cameras.
H36M_INTRINSICS = np.stack([c.K for c in H36M_CAMERAS]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class ViewConfig:
    """Virtual cameras of a benchmark view (defaults: the shared CMU benchmark protocol)."""

    distance_m: tuple = (3.5, 6.0)
    height_m: tuple = (1.0, 2.0)
    pelvis_height_m: float = 0.95
    aim_jitter_deg: float = 3.0
    image_size: tuple = (1000, 1000)


def make_views(poses_world, key, cfg: ViewConfig = ViewConfig(), max_tries: int = 20) -> dict:
    """One random camera per pose.

    Args:
      poses_world: ``[N, 17, 3]`` root-relative world-frame poses (z up, metres).
      key: PRNG key.
    Returns:
      dict of ``keypoints [N, 17, 3]`` (pixels + confidence 1), ``K [N, 3, 3]`` and ``poses3d
      [N, 17, 3]`` (camera frame, metres, absolute), float32; every joint inside the image.
    """
    p = np.asarray(poses_world, np.float32)
    n = len(p)
    out_kp = np.zeros((n, 17, 3), np.float32)
    out_K = np.zeros((n, 3, 3), np.float32)
    out_X = np.zeros((n, 17, 3), np.float32)
    todo = np.arange(n)
    W, H = cfg.image_size
    for attempt in range(max_tries):
        if not len(todo):
            break
        ks = jax.random.split(jax.random.fold_in(key, attempt), 6)
        m = len(todo)
        u = lambda k, lo, hi: np.asarray(jax.random.uniform(k, (m,), jnp.float32, lo, hi))
        yaw = u(ks[0], 0.0, 2 * np.pi)
        dist = u(ks[1], *cfg.distance_m)
        height = u(ks[2], *cfg.height_m)
        jit = np.deg2rad(cfg.aim_jitter_deg)
        pitch = np.arctan2(height - cfg.pelvis_height_m, dist) + u(ks[3], -jit, jit)
        look = yaw + u(ks[4], -jit, jit)
        R = np.asarray(camera.yaw_pitch_rotation(look, pitch), np.float32)   # world -> camera
        # Camera centre relative to the pelvis; the pelvis in camera axes is -R @ centre.
        centre = np.stack([dist * np.cos(yaw), dist * np.sin(yaw),
                           height - cfg.pelvis_height_m], -1)
        X = np.einsum("bij,bnj->bni", R, p[todo] - centre[:, None, :])
        K = H36M_INTRINSICS[np.asarray(jax.random.randint(ks[5], (m,), 0, 4))]
        uv = np.asarray(camera.project(jnp.asarray(X), jnp.asarray(K)))
        ok = ((X[..., 2] > 0.1).all(1) & (uv[..., 0] >= 0).all(1) & (uv[..., 0] < W).all(1)
              & (uv[..., 1] >= 0).all(1) & (uv[..., 1] < H).all(1))
        idx = todo[ok]
        out_kp[idx, :, :2], out_kp[idx, :, 2] = uv[ok], 1.0
        out_K[idx], out_X[idx] = K[ok], X[ok]
        todo = todo[~ok]
    if len(todo):
        raise ValueError(f"{len(todo)} poses did not fit in the image after {max_tries} cameras")
    return {"keypoints": out_kp, "K": out_K, "poses3d": out_X}
