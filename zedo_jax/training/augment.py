"""Pose augmentations that widen what a prior learns: other skeletons and other postures.

Two families, both pure, jit-able and applied per sample inside the training step (see
:func:`zedo_jax.training.data.augment`, which calls them with the settings of
:class:`zedo_jax.training.data.AugmentConfig`):

* **Skeleton variation** (:func:`vary_skeleton`): every bone group (hips, thighs, shins, lower
  spine, upper spine, neck, head, clavicles, upper arms, forearms) is scaled by its own
  log-uniform factor, left and right alike, and the whole body by a common one; then the joints
  that datasets define differently (spine, thorax, neck/nose) slide along the segment that
  holds them. Real training sets mix a few skeleton definitions (the three CMU subsets of this
  project differ by up to 18% in thigh and 35% in clavicle length), and test data brings others.
* **Posture variation** (:func:`vary_posture`): hip flexion and abduction, knee flexion,
  shoulder flexion and abduction, elbow flexion, trunk bend, side bend and twist are re-drawn
  within published ranges of motion, each rotating the subtree below the joint about an axis of
  the body's own frame, so sitting, crouching, kneeling, bending and reaching appear even when
  the motion capture holds few of them.

Both work on root-relative poses ``[17, 3]`` (or batches ``[B, 17, 3]`` through the batched
wrappers) in any axes: the body frame is computed from the pose (hips for left-right, pelvis to
thorax for up), so they apply equally to world-frame (z up) and camera-frame (y down) data.
Bone lengths and symmetry are preserved by the posture rotations; the skeleton variation keeps
left and right equal.

A third, **skeleton swapping** (:func:`swap_skeletons`), retargets a pose onto the skeleton of
another training pose (bone directions kept, lengths taken over): every motion is seen on every
training skeleton, while size and proportions stay those of a real subject.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from zedo_jax.core import skeleton
from zedo_jax.core.skeleton import body_frame, plane_angle, unit

#: Bone groups scaled together (left and right alike); values are bone indices of
#: :data:`zedo_jax.core.skeleton.BONES` (bone ``k`` ends at joint ``k + 1``).
BONE_GROUPS = {
    "hip": (0, 3), "thigh": (1, 4), "shin": (2, 5), "lower_spine": (6,), "upper_spine": (7,),
    "neck": (8,), "head": (9,), "clavicle": (10, 13), "upper_arm": (11, 14), "forearm": (12, 15),
}

#: Groups that datasets place differently rather than bodies differ in: hip width (where the
#: hip joint centres sit), the thorax-neck/nose bone and the head top.
CONVENTION_GROUPS = ("hip", "neck", "head")

_GROUP_OF_BONE = np.zeros(16, np.int32)
for _g, _bones in enumerate(BONE_GROUPS.values()):
    _GROUP_OF_BONE[list(_bones)] = _g

# ANCESTORS[j, k] = 1 when joint k is j or one of its ancestors (k > 0): positions are the sum
# of the bone vectors on the path from the root, X = ANCESTORS @ V.
_ANCESTORS = np.zeros((17, 17), np.float32)
for _j in range(1, 17):
    _k = _j
    while _k > 0:
        _ANCESTORS[_j, _k] = 1.0
        _k = skeleton.PARENTS[_k]

# Subtrees (joint masks) moved by each rotation.
_LEFT_LEG, _RIGHT_LEG = (4, 5, 6), (1, 2, 3)
_LEFT_ARM, _RIGHT_ARM = (11, 12, 13), (14, 15, 16)
_UPPER_BODY = tuple(range(7, 17))


def _mask(joints) -> np.ndarray:
    m = np.zeros(17, np.float32)
    m[list(joints)] = 1.0
    return m


@dataclasses.dataclass(frozen=True)
class PostureRanges:
    """Target ranges of motion in degrees (drawn uniformly when the joint is re-posed).

    Defaults follow commonly published normal ranges of motion for adults (hip flexion 120,
    extension 30, abduction 45, adduction 20; knee flexion 135; shoulder flexion 180, extension
    50, abduction 180; elbow flexion 145; thoracolumbar flexion 80, extension 25, side bend 35,
    rotation 45), trimmed at the ends that motion capture rarely reaches so that extreme
    postures do not dominate.

    Angles (the body frame: up = pelvis to thorax, left = right hip to left hip):
      hip_flexion: thigh in the sagittal plane, 0 = straight down, positive = forward.
      hip_abduction: thigh in the frontal plane, positive = outward.
      knee_flexion / elbow_flexion: angle between the two segments, 0 = straight.
      shoulder_flexion / shoulder_abduction: upper arm like the thigh (0 = hanging).
      trunk_flexion: the upper body turned about the pelvis relative to the legs (positive =
        forward); hip angles are then drawn relative to the turned trunk, so a bent trunk with
        re-drawn legs tilts the whole body (kept moderate: bending further is hip flexion).
      trunk_side_bend, trunk_twist: symmetric ranges (+-).
    """

    hip_flexion: tuple = (-25.0, 115.0)
    hip_abduction: tuple = (-15.0, 40.0)
    knee_flexion: tuple = (0.0, 135.0)
    shoulder_flexion: tuple = (-45.0, 160.0)
    shoulder_abduction: tuple = (-10.0, 150.0)
    elbow_flexion: tuple = (0.0, 145.0)
    trunk_flexion: tuple = (-20.0, 45.0)
    trunk_side_bend: float = 30.0
    trunk_twist: float = 40.0


# ----------------------------------------------------------------------------------------------
# geometry helpers (one pose)
# ----------------------------------------------------------------------------------------------

def rotation_about(axis, angle):
    """Rodrigues rotation matrix ``[3, 3]`` about the unit ``axis [3]`` by ``angle`` radians."""
    x, y, z = axis[0], axis[1], axis[2]
    K = jnp.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]], axis.dtype)
    return jnp.eye(3, dtype=axis.dtype) + jnp.sin(angle) * K + (1.0 - jnp.cos(angle)) * (K @ K)


def _rotate_subtree(pose, mask, pivot, axis, angle):
    """Rotate the joints in ``mask [17]`` about ``pivot [3]`` by ``angle`` around ``axis``."""
    R = rotation_about(axis, angle)
    moved = pivot + (pose - pivot) @ R.T
    return jnp.where(mask[:, None] > 0, moved, pose)


def _hinge(d1, d2, anatomical):
    """Axis and signed angle of a hinge joint between segments ``d1`` and ``d2``.

    The axis is ``d1 x d2`` when the joint is clearly bent the anatomical way (the cross
    product agrees with ``anatomical``, made orthogonal to ``d1``); otherwise (nearly straight
    or over-extended) the anatomical axis itself, so that re-posing always bends the joint the
    way it bends in a body. The angle is measured about that axis (negative = over-extended).
    """
    u1, u2 = unit(d1), unit(d2)
    n = jnp.cross(u1, u2)
    fb = unit(anatomical - jnp.dot(anatomical, u1) * u1)
    use_n = (jnp.linalg.norm(n) > 0.05) & (jnp.dot(n, fb) > 0)
    axis = jnp.where(use_n, unit(n), fb)
    return axis, jnp.arctan2(jnp.dot(jnp.cross(u1, u2), axis), jnp.dot(u1, u2))


# ----------------------------------------------------------------------------------------------
# skeleton variation
# ----------------------------------------------------------------------------------------------

def scale_bones(pose, factors):
    """Scale each of the 16 bones of ``pose [17, 3]`` by ``factors [16]`` and rebuild the pose
    from the root (children follow their parents). Root-relative in, root-relative out."""
    parents = np.asarray(skeleton.PARENTS[1:])
    bones = pose[1:] - pose[parents]                                  # [16, 3], bone k -> joint k+1
    V = jnp.concatenate([jnp.zeros((1, 3), pose.dtype), bones * factors[:, None]], 0)
    return jnp.asarray(_ANCESTORS, pose.dtype) @ V


def vary_skeleton(key, pose, bone_range: float, body_range: float, slide: float,
                  keep_size: bool = False, convention_range: float = 0.0):
    """One random skeleton for ``pose [17, 3]`` (root-relative).

    Args:
      bone_range: each bone group's factor is ``exp(U(-r, r))`` (left and right alike).
      body_range: a common factor ``exp(U(-r, r))`` on every bone (body size).
      keep_size: rescale the varied bones so that their sum equals the original skeleton's
        before the body factor: proportions vary, size does not (unless ``body_range``).
      slide: spine, thorax and neck/nose slide along their segments by ``U(-slide, slide)``
        times the segment length (pelvis-thorax, spine-neck, thorax-head top); nothing else
        moves.
      convention_range: the range of :data:`CONVENTION_GROUPS` when larger than
        ``bone_range`` (hip width, neck and head top vary more between datasets than bones
        between people).
    """
    k_bone, k_body, k_slide = jax.random.split(key, 3)
    r = np.full(len(BONE_GROUPS), bone_range, np.float32)
    r[[list(BONE_GROUPS).index(n) for n in CONVENTION_GROUPS]] = max(bone_range,
                                                                       convention_range)
    r = r[0] if np.all(r == r[0]) else jnp.asarray(r, pose.dtype)
    g = jax.random.uniform(k_bone, (len(BONE_GROUPS),), pose.dtype, -r, r)
    b = jax.random.uniform(k_body, (), pose.dtype, -body_range, body_range)
    f = jnp.exp(g[_GROUP_OF_BONE])
    if keep_size:
        lengths = skeleton.bone_lengths(pose)
        f = f * jnp.sum(lengths) / jnp.maximum(jnp.sum(lengths * f), 1e-9)
    pose = scale_bones(pose, f * jnp.exp(b))
    d = jax.random.uniform(k_slide, (3,), pose.dtype, -slide, slide)
    spine = pose[7] + d[0] * (pose[8] - pose[0])
    thorax = pose[8] + d[1] * (pose[9] - pose[7])
    neck = pose[9] + d[2] * (pose[10] - pose[8])
    return pose.at[7].set(spine).at[8].set(thorax).at[9].set(neck)


#: Left/right bone pairs (indices of :data:`zedo_jax.core.skeleton.BONES`).
_BONE_PAIRS = ((0, 3), (1, 4), (2, 5), (10, 13), (11, 14), (12, 15))
_MIRROR_BONE = np.arange(16)
for _a, _b in _BONE_PAIRS:
    _MIRROR_BONE[_a], _MIRROR_BONE[_b] = _b, _a


def symmetric_lengths(lengths):
    """Bone lengths ``[..., 16]`` with each left/right pair replaced by the pair's mean."""
    return 0.5 * (lengths + lengths[..., _MIRROR_BONE])


def retarget(pose, lengths):
    """``pose [17, 3]`` (root-relative) rebuilt with the bone lengths ``lengths [16]`` (metres):
    every bone keeps its direction, so the joint angles are kept and the skeleton (size,
    proportions and where the spine, thorax and neck joints sit) becomes the given one."""
    own = skeleton.bone_lengths(pose)
    return scale_bones(pose, lengths / jnp.maximum(own, 1e-9))


def swap_skeletons(key, poses, prob: float):
    """Retarget a fraction ``prob`` of the batch ``poses [B, 17, 3]`` onto the skeleton of
    another sample of the same batch (a random partner; its left/right pairs averaged).

    Motion and skeleton are decoupled while size stays tied to proportions: every skeleton of
    the training set is seen performing every motion, but no skeleton that does not exist is
    made up, unlike :func:`vary_skeleton`, which lets the prior learn that size is free.
    """
    k_perm, k_gate = jax.random.split(key)
    n = poses.shape[0]
    partner = jax.random.permutation(k_perm, n)
    target = symmetric_lengths(skeleton.bone_lengths(poses))[partner]
    swapped = jax.vmap(retarget)(poses, target)
    gate = jax.random.bernoulli(k_gate, prob, (n, 1, 1))
    return jnp.where(gate, swapped, poses)


# ----------------------------------------------------------------------------------------------
# posture variation
# ----------------------------------------------------------------------------------------------

def _uniform_deg(key, lo, hi, dtype, shape=()):
    return jnp.deg2rad(jax.random.uniform(key, shape, dtype, lo, hi))


def _repose_limb(pose, targets, on, joints, side, frame, hinge_sign):
    """Set abduction and flexion (about the limb root) and the hinge angle (at the middle
    joint) of the limb ``joints = (root, mid, end)`` to ``targets [3]`` (radians) where
    ``on [3]`` is 1; the subtree below each joint moves rigidly."""
    left, up, fwd = frame
    root, mid, end = joints
    m_limb, m_lower = jnp.asarray(_mask(joints[1:])), jnp.asarray(_mask((end,)))
    # Abduction: angle toward the outside (side * left) in the frontal plane, about side * fwd.
    cur = plane_angle(pose[mid] - pose[root], side * left, up)
    pose = _rotate_subtree(pose, m_limb, pose[root], side * fwd, (targets[0] - cur) * on[0])
    # Flexion: angle toward forward in the sagittal plane, about -left.
    cur = plane_angle(pose[mid] - pose[root], fwd, up)
    pose = _rotate_subtree(pose, m_limb, pose[root], -left, (targets[1] - cur) * on[1])
    # Hinge (knee / elbow): the fallback axis bends knees backward and elbows forward.
    axis, cur = _hinge(pose[mid] - pose[root], pose[end] - pose[mid], hinge_sign * left)
    return _rotate_subtree(pose, m_lower, pose[mid], axis, (targets[2] - cur) * on[2])


def vary_posture(key, pose, prob: float, ranges: PostureRanges = PostureRanges(),
                 symmetric_legs: float = 0.5):
    """Re-pose ``pose [17, 3]`` (root-relative): each of the 15 degrees of freedom (per leg: hip
    abduction, hip flexion, knee; per arm: shoulder abduction, flexion, elbow; trunk: bend,
    side bend, twist) is re-drawn with probability ``prob`` from :class:`PostureRanges`. With
    probability ``symmetric_legs`` both legs share their draws (up to +-10 degrees), as in
    sitting, squatting, crouching and kneeling. Rotations keep every bone length."""
    ks = jax.random.split(key, 8)
    dt = pose.dtype
    on = jax.random.bernoulli(ks[0], prob, (15,)).astype(dt)
    r = ranges
    trunk = jnp.stack([_uniform_deg(ks[1], *r.trunk_flexion, dt),
                       _uniform_deg(ks[2], -r.trunk_side_bend, r.trunk_side_bend, dt),
                       _uniform_deg(ks[3], -r.trunk_twist, r.trunk_twist, dt)])
    lo = jnp.deg2rad(jnp.array([r.hip_abduction[0], r.hip_flexion[0], r.knee_flexion[0]], dt))
    hi = jnp.deg2rad(jnp.array([r.hip_abduction[1], r.hip_flexion[1], r.knee_flexion[1]], dt))
    legs = lo + (hi - lo) * jax.random.uniform(ks[4], (2, 3), dt)
    sym = jax.random.bernoulli(ks[5], symmetric_legs)
    jitter = jnp.deg2rad(jax.random.uniform(ks[6], (3,), dt, -10.0, 10.0))
    legs = jnp.where(sym, jnp.stack([legs[0], jnp.clip(legs[0] + jitter, lo, hi)]), legs)
    leg_on = jnp.where(sym, jnp.concatenate([on[3:6], on[3:6]]), on[3:9])
    lo = jnp.deg2rad(jnp.array([r.shoulder_abduction[0], r.shoulder_flexion[0],
                                r.elbow_flexion[0]], dt))
    hi = jnp.deg2rad(jnp.array([r.shoulder_abduction[1], r.shoulder_flexion[1],
                                r.elbow_flexion[1]], dt))
    arms = lo + (hi - lo) * jax.random.uniform(ks[7], (2, 3), dt)

    frame = body_frame(pose)
    left, up, fwd = frame
    # Trunk first: the upper body turns about the pelvis relative to the legs (the frame's up
    # is the trunk itself, so the bend is the drawn angle). Joints above the pivot move forward
    # when turned about +left.
    m_up = jnp.asarray(_mask(_UPPER_BODY))
    pose = _rotate_subtree(pose, m_up, pose[0], left, trunk[0] * on[0])
    pose = _rotate_subtree(pose, m_up, pose[0], fwd, trunk[1] * on[1])
    pose = _rotate_subtree(pose, m_up, pose[0], unit(pose[8] - pose[0]), trunk[2] * on[2])
    # Legs relative to the (possibly bent) trunk, so hip angles stay within their range.
    frame = body_frame(pose)
    for i, (joints, side) in enumerate(((_LEFT_LEG, 1.0), (_RIGHT_LEG, -1.0))):
        pose = _repose_limb(pose, legs[i], leg_on[3 * i: 3 * i + 3], joints, side, frame, 1.0)
    # Arms in the (possibly bent) trunk frame: up = pelvis -> thorax, left = across shoulders.
    a_left = unit(pose[11] - pose[14])
    a_up = pose[8] - pose[0]
    a_up = unit(a_up - jnp.dot(a_up, a_left) * a_left)
    a_frame = (a_left, a_up, jnp.cross(a_left, a_up))
    for i, (joints, side) in enumerate(((_LEFT_ARM, 1.0), (_RIGHT_ARM, -1.0))):
        pose = _repose_limb(pose, arms[i], on[9 + 3 * i: 12 + 3 * i], joints, side, a_frame,
                            -1.0)
    return pose


def batched(fn):
    """``fn(key, pose, *args)`` -> ``fn(key, poses [B, 17, 3], *args)`` with one key per sample."""
    def run(key, poses, *args):
        keys = jax.random.split(key, poses.shape[0])
        return jax.vmap(lambda k, p: fn(k, p, *args))(keys, poses)
    return run


# ----------------------------------------------------------------------------------------------
# measurements (host)
# ----------------------------------------------------------------------------------------------
