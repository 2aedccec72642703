"""Hypotheses for ZeDO: k-means cluster centres of root-relative camera-axes training poses
(the release does not publish how it computed them; k-means on the flattened 51-D vectors is
the most consistent reading of the paper).

``S = 1`` is special. k-means with one cluster is the mean camera-axes pose, and when the
training poses are seen from all around (random yaw, as with virtual cameras) that mean is a
degenerate figure whose hips and shoulders collapse onto the body's axis: the IPO, which fits
the pelvis and hips, then cannot observe the depth and drives it to its lower clamp. By default
the single hypothesis is therefore the mean pose of the training set turned to face the camera
(:func:`zedo_jax.training.data.front_facing_poses`); ``s1='kmeans'`` gives the literal k-means centre.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from zedo_jax.training import data as data_lib


def _sq_dists(x, c):
    """Squared distances ``[F, S]`` between rows of ``x [F, D]`` and ``c [S, D]``."""
    return (jnp.sum(x * x, 1)[:, None] - 2.0 * x @ c.T + jnp.sum(c * c, 1)[None, :])


@functools.partial(jax.jit, static_argnums=(2, 3))
def _kmeans(key, x, k: int, iters: int):
    F = x.shape[0]
    # k-means++ seeding.
    k0, key = jax.random.split(key)
    first = x[jax.random.randint(k0, (), 0, F)]
    centres = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(first)
    d2 = jnp.sum((x - first) ** 2, 1)

    def seed(i, carry):
        centres, d2, key = carry
        key, sub = jax.random.split(key)
        j = jax.random.categorical(sub, jnp.log(jnp.maximum(d2, 1e-30)))
        centres = centres.at[i].set(x[j])
        d2 = jnp.minimum(d2, jnp.sum((x - x[j]) ** 2, 1))
        return centres, d2, key

    centres, _, _ = jax.lax.fori_loop(1, k, seed, (centres, d2, key))

    # Lloyd iterations (empty clusters keep their previous centre).
    def lloyd(_, centres):
        assign = jnp.argmin(_sq_dists(x, centres), 1)
        onehot = jax.nn.one_hot(assign, k, dtype=x.dtype)
        counts = onehot.sum(0)
        sums = onehot.T @ x
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], centres)

    centres = jax.lax.fori_loop(0, iters, lloyd, centres)
    inertia = jnp.sum(jnp.min(_sq_dists(x, centres), 1))
    return centres, inertia


def kmeans_poses(poses, S: int, key=None, iters: int = 100, restarts: int = 3):
    """k-means cluster centres of poses.

    Args:
      poses: ``[F, 17, 3]`` root-relative camera-axes poses (metres).
      S: number of clusters (hypotheses). ``S = 1`` returns the mean pose.
      key: PRNG key (k-means++ seeding); ``restarts`` runs, the lowest inertia kept.
    Returns:
      ``[S, 17, 3]`` float32 centres, root-relative, sorted by cluster size (largest first).
    """
    poses = np.asarray(poses, np.float32)
    if poses.ndim != 3 or poses.shape[1:] != (17, 3):
        raise ValueError(f"poses must be [F, 17, 3]; got {list(poses.shape)}")
    if not 1 <= S <= len(poses):
        raise ValueError(f"S must lie in [1, {len(poses)}] (number of poses); got {S}")
    x = jnp.asarray((poses - poses[:, :1]).reshape(len(poses), -1))
    if S == 1:
        c = np.asarray(x.mean(0, keepdims=True))
    else:
        key = jax.random.PRNGKey(0) if key is None else key
        best, best_inertia = None, np.inf
        for r in range(restarts):
            c, inertia = _kmeans(jax.random.fold_in(key, r), x, S, iters)
            if float(inertia) < best_inertia:
                best, best_inertia = c, float(inertia)
        counts = np.bincount(np.asarray(jnp.argmin(_sq_dists(x, best), 1)), minlength=S)
        c = np.asarray(best)[np.argsort(-counts, kind="stable")]
    c = c.reshape(S, 17, 3)
    return (c - c[:, :1]).astype(np.float32)


def assign(poses, centres) -> np.ndarray:
    """Index ``[F]`` of the nearest centre (root-relative, flattened) for each pose."""
    x = np.asarray(poses, np.float32)
    c = np.asarray(centres, np.float32)
    x = jnp.asarray((x - x[:, :1]).reshape(len(x), -1))
    c = jnp.asarray((c - c[:, :1]).reshape(len(c), -1))
    return np.asarray(jnp.argmin(_sq_dists(x, c), 1))


def hypotheses(poses, S: int, key=None, s1: str = "front", iters: int = 100,
               restarts: int = 3, camera_poses=None) -> np.ndarray:
    """The ``S`` initial poses ``[S, 17, 3]`` of a training set (a
    :class:`zedo_jax.training.data.PoseSet`): k-means centres of the poses in camera axes (random virtual
    cameras for world-frame data); for ``S = 1`` with ``s1='front'`` the front-facing mean pose.

    ``camera_poses``: the camera-axes poses of ``poses`` if already computed with
    ``data.camera_frame_poses(poses, fold_in(key, 0))`` (they are not computed again).
    """
    if s1 not in ("front", "kmeans"):
        raise ValueError(f"s1 must be 'front' or 'kmeans', got {s1!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    if S == 1 and s1 == "front":
        return kmeans_poses(data_lib.front_facing_poses(poses), 1)
    cam = data_lib.camera_frame_poses(poses, jax.random.fold_in(key, 0)) \
        if camera_poses is None else camera_poses
    return kmeans_poses(cam, S, jax.random.fold_in(key, S), iters=iters, restarts=restarts)


def rebalance_weights(poses: data_lib.PoseSet, clusters: int = 64, power: float = 0.5,
                      key=None) -> np.ndarray:
    """Sampling weights ``[F]`` (summing to 1) that make rare postures more frequent.

    The poses are turned to face one way (:func:`zedo_jax.training.data.front_facing_poses`, so the estimate is about
    posture, not viewpoint), clustered by k-means into ``clusters`` groups, and each pose gets
    ``count^-power`` of its group (``power`` 0 = uniform, 1 = every group equally often).
    """
    if power <= 0:
        return np.full(len(poses), 1.0 / len(poses))
    x = data_lib.front_facing_poses(poses).reshape(len(poses), -1)
    k = int(min(clusters, len(poses)))
    centres = kmeans_poses(x.reshape(-1, 17, 3), k, key=key, iters=30, restarts=1)
    group = assign(x.reshape(-1, 17, 3), centres)
    counts = np.bincount(group, minlength=k).astype(np.float64)
    w = counts[group] ** -power
    return w / w.sum()
