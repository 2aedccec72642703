"""The Human3.6M 17-joint skeleton used everywhere in ZeDO.

Poses are arrays ``[..., 17, 3]`` in metres. Joint 0 (pelvis) is the root.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

NUM_JOINTS = 17

JOINT_NAMES = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle",
    "spine", "thorax", "neck_nose", "head_top",
    "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)

#: Parent of every joint (-1 for the root).
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

#: The 16 bones as (parent, child) pairs, in the official ``get_skeleton`` order.
BONES = ((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8),
         (8, 9), (9, 10), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16))

LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)

#: Paired symmetric bones (i-th left pairs with i-th right), as in the releases.
LEFT_BONES = ((12, 13), (11, 12), (8, 11), (0, 4), (4, 5), (5, 6))
RIGHT_BONES = ((15, 16), (14, 15), (8, 14), (0, 1), (1, 2), (2, 3))

#: Body parts (GFPose condition masking; used by the plots for colours).
PARTS = {
    "right_leg": (1, 2, 3),
    "left_leg": (4, 5, 6),
    "left_arm": (11, 12, 13),
    "right_arm": (14, 15, 16),
    "torso": (0, 7, 8, 9, 10),
}

#: Index permutation that swaps left and right joints.
FLIP_PERMUTATION = tuple(
    RIGHT_JOINTS[LEFT_JOINTS.index(j)] if j in LEFT_JOINTS
    else LEFT_JOINTS[RIGHT_JOINTS.index(j)] if j in RIGHT_JOINTS
    else j
    for j in range(NUM_JOINTS))


def root_relative(poses):
    """Subtract the pelvis: ``[..., 17, 3] -> [..., 17, 3]`` with joint 0 at the origin."""
    return poses - poses[..., :1, :]


def flip_pose(poses, axis: int = 0):
    """Horizontal flip: negate coordinate ``axis`` (x by default) and swap left/right joints.

    Args:
      poses: ``[..., 17, 3]``.
    Returns:
      ``[..., 17, 3]``, the mirrored pose with left/right labels swapped.
    """
    sign = np.where(np.arange(3) == axis, -1.0, 1.0).astype(poses.dtype)
    return (poses * sign)[..., list(FLIP_PERMUTATION), :]


def bone_lengths(poses):
    """Lengths of the 16 bones: ``[..., 17, 3] -> [..., 16]`` (same units as the poses)."""
    xp = np if isinstance(poses, np.ndarray) else jnp
    parents = [p for p, _ in BONES]
    children = [c for _, c in BONES]
    return xp.linalg.norm(poses[..., children, :] - poses[..., parents, :], axis=-1)


def bone_names():
    """Human-readable names of the 16 bones, ``"parent-child"``."""
    return tuple(f"{JOINT_NAMES[p]}-{JOINT_NAMES[c]}" for p, c in BONES)


def unit(v, eps: float = 1e-9):
    """``v`` scaled to unit length along its last axis."""
    return v / jnp.maximum(jnp.linalg.norm(v, axis=-1, keepdims=True), eps)


def body_frame(pose):
    """``(left, up, forward)`` unit vectors of a pose ``[17, 3]``: left from the right to the left
    hip, up from the pelvis to the thorax (made orthogonal to left), forward = left x up."""
    left = unit(pose[4] - pose[1])
    up = pose[8] - pose[0]
    up = unit(up - jnp.dot(up, left) * left)
    return left, up, jnp.cross(left, up)


def plane_angle(d, forward_axis, up):
    """Angle of direction ``d`` from 'down' (``-up``) toward ``forward_axis``, radians."""
    return jnp.arctan2(jnp.dot(d, forward_axis), -jnp.dot(d, up))


def thigh_flexion_deg(poses) -> np.ndarray:
    """Sagittal flexion of both thighs ``[F, 2]`` (left, right) in degrees, in the body frame of
    each pose (0 = straight down, 90 = horizontal forward). Used to measure how much sitting,
    crouching and kneeling a pose set holds."""
    poses = jnp.asarray(poses, jnp.float32)

    def one(p):
        left, up, fwd = body_frame(p)
        return jnp.stack([plane_angle(p[5] - p[4], fwd, up), plane_angle(p[2] - p[1], fwd, up)])
    return np.rad2deg(np.asarray(jax.vmap(one)(poses)))
