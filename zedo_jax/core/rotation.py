"""Rotations from (unnormalised) quaternions, as used by the Initial Pose Optimizer ."""
from __future__ import annotations

import jax.numpy as jnp

AXES = "xyz"


def quaternion_to_matrix(q):
    """Rotation matrix of a real-first quaternion ``q = (w, x, y, z)``: ``[..., 4] -> [..., 3, 3]``.

    ``q`` need not be unit: the matrix uses ``s = 2 / |q|^2`` (pytorch3d's formula), so it is
    always a proper rotation.
    """
    w, x, y, z = (q[..., i] for i in range(4))
    s = 2.0 / jnp.sum(q * q, axis=-1)
    rows = [
        [1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
        [s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w)],
        [s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def axes_indices(rot_axes: str) -> tuple:
    """Quaternion components learned for ``rot_axes`` (``'z'``, ``'y'``, ``'xyz'``, ...):
    always ``w`` (index 0) plus one imaginary component per letter."""
    if not rot_axes or any(a not in AXES for a in rot_axes) or len(set(rot_axes)) != len(rot_axes):
        raise ValueError(f"rot_axes must be a non-empty combination of 'x', 'y', 'z' without "
                         f"repeats (e.g. 'z', 'y', 'xyz'); got {rot_axes!r}")
    return (0,) + tuple(1 + AXES.index(a) for a in sorted(rot_axes))


def partial_quaternion(free, rot_axes: str):
    """Full quaternion ``[..., 4]`` from the learned components ``free [..., 1 + len(rot_axes)]``;
    the components not listed in ``rot_axes`` are 0."""
    idx = axes_indices(rot_axes)
    q = jnp.zeros(free.shape[:-1] + (4,), free.dtype)
    return q.at[..., jnp.asarray(idx)].set(free)
