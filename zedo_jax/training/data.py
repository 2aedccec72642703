"""Training poses for the prior: loading, validation and on-device virtual-camera augmentation.

Supported files (``load_poses``):

* the CMU file of this project (``poses [F,17,3]`` world frame, z up, plus ``seq`` and
  ``seq_split``): frame ``'world'``, splits ``'train'`` / ``'test'`` / ``'all'``;
* VideoPose3D's ``data_3d_h36m.npz`` (``positions_3d``: subject -> action -> ``[F,32,3]``
  world-frame metres): the 17-joint subset; ``'train'`` = S1, S5, S6, S7, S8, ``'test'`` = S9, S11;
  ``frame='camera'`` places every pose in the four real Human3.6M cameras instead (the
  release's recipe, :func:`zedo_jax.datasets.h36m.camera_frame_poses`);
* already camera-frame poses: any ``.npz`` with ``poses3d`` (like the lifting benchmark) or
  ``poses``, or a ``.npy`` array ``[F,17,3]``; pass ``frame='world'`` if they are world-frame
  (z up). An optional ``split`` key ``[F]`` of strings selects a split.

Poses are returned root-relative (pelvis at the origin), float32, metres.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pickle
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from zedo_jax.training import augment as augment_lib
from zedo_jax.core import camera, skeleton
from zedo_jax.datasets import h36m as h36m_files

#: VideoPose3D / Human3.6M 32-joint indices of the 17 joints kept by ZeDO, in H36M-17 order.
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
H36M_TEST_SUBJECTS = ("S9", "S11")


@dataclasses.dataclass(frozen=True)
class PoseSet:
    """Root-relative poses for training or clustering.

    Attributes:
      poses: ``[F, 17, 3]`` float32 metres, pelvis at the origin.
      frame: ``'world'`` (z up; needs virtual cameras) or ``'camera'`` (x right, y down,
        z forward; used as is).
      source: a short description for logs and checkpoint metadata.
      weights: ``[F]`` relative sampling weights (set by :func:`combine` so that each file
        fills its share of every batch), or ``None``: uniform epochs.
    """

    poses: np.ndarray
    frame: str
    source: str
    weights: np.ndarray | None = None

    def __len__(self):
        return len(self.poses)


def validate_poses(poses, name: str = "poses") -> np.ndarray:
    """Check a pose array ``[F, 17, 3]``; raise ``ValueError`` naming the problem."""
    poses = np.asarray(poses)
    if poses.ndim != 3 or poses.shape[-1] != 3:
        raise ValueError(f"{name} must have shape [F, 17, 3] (frames, joints, xyz); "
                         f"got {list(poses.shape)}")
    if poses.shape[1] != skeleton.NUM_JOINTS:
        raise ValueError(
            f"{name} has {poses.shape[1]} joints per pose, expected 17 (Human3.6M-17 order: "
            f"{', '.join(skeleton.JOINT_NAMES)}). Convert your skeleton first; 32-joint "
            f"Human3.6M arrays can be reduced with zedo_jax.training.data.H36M32_TO_17.")
    if len(poses) == 0:
        raise ValueError(f"{name} is empty (0 poses)")
    bad = ~np.isfinite(poses).all(axis=(1, 2))
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ValueError(f"{name} contains NaN/inf values in {idx.size} poses "
                         f"(first indices {idx[:10].tolist()}); remove or repair them")
    scale = np.abs(poses - poses[:, :1]).max()
    if scale > 10.0:
        raise ValueError(
            f"{name} spans {scale:.1f} units from the pelvis; ZeDO poses are in metres. "
            f"If your file is in millimetres, divide it by 1000.")
    return poses.astype(np.float32)


def _select_split(split_of_frame, split: str, path: str):
    if split == "all":
        return np.ones(len(split_of_frame), bool)
    mask = np.asarray(split_of_frame) == split
    if not mask.any():
        have = sorted(set(np.asarray(split_of_frame).tolist()))
        raise ValueError(f"split {split!r} of {path} is empty; available splits: {have} or 'all'")
    return mask


def load_poses(path: str, split: str = "train", frame: str = "auto") -> PoseSet:
    """Load training poses from ``path`` (see :func:`_load_poses`); an unreadable file (e.g. a
    truncated ``.npz``) is a ``ValueError`` naming it."""
    path = os.fspath(path)
    try:
        return _load_poses(path, split, frame)
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable .npz/.npy pose file ({type(e).__name__}: "
                         f"{e}); is it truncated? write it again") from None


def combine(sets, shares=None) -> PoseSet:
    """One training set from several ``PoseSet`` s of the same frame.

    ``shares``: the fraction of every batch drawn from each set (normalised; e.g. ``(1, 1)``
    for half and half whatever the sizes), given to the trainer as per-pose sampling weights;
    ``None``: the poses are simply pooled (each set in proportion to its size). A single set
    without shares is returned as it is.
    """
    sets = list(sets)
    if not sets:
        raise ValueError("no pose sets to combine")
    frames = {p.frame for p in sets}
    if len(frames) > 1:
        raise ValueError(f"cannot combine pose sets of different frames {sorted(frames)}; "
                         f"load them all with the same --frame")
    if shares is None:
        if len(sets) == 1:
            return sets[0]
        return PoseSet(np.concatenate([p.poses for p in sets]), sets[0].frame,
                       " + ".join(p.source for p in sets))
    shares = np.asarray(shares, np.float64)
    if shares.shape != (len(sets),) or not np.all(np.isfinite(shares)) or np.any(shares <= 0):
        raise ValueError(f"need one positive share per pose file ({len(sets)}); got "
                         f"{shares.tolist()}")
    shares = shares / shares.sum()
    weights = np.concatenate([np.full(len(p), s / len(p)) for p, s in zip(sets, shares)])
    source = " + ".join(f"{p.source} {100 * s:.0f}%" for p, s in zip(sets, shares))
    return PoseSet(np.concatenate([p.poses for p in sets]), sets[0].frame, source, weights)


def resample(poses: PoseSet, key) -> PoseSet:
    """A weighted set (:func:`combine` with shares) as an unweighted one of the same size:
    poses drawn with replacement by their weights, so statistics and clusters of it describe
    what the trainer samples. An unweighted set is returned as it is."""
    if poses.weights is None:
        return poses
    p = np.asarray(poses.weights, np.float64)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    idx = np.sort(rng.choice(len(poses), len(poses), replace=True, p=p / p.sum()))
    return PoseSet(poses.poses[idx], poses.frame, poses.source)


def check_training_poses(poses: PoseSet, min_poses: int = 1000) -> list[str]:
    """Refuse training data no prior can be learnt from; return warnings for data that is
    usable but too small.

    Raises ``ValueError`` for fewer than 2 poses, all-zero poses, or identical poses.
    Returns warnings (one line each) for fewer than ``min_poses`` poses.
    """
    x = np.asarray(poses.poses, np.float64)
    n = len(x)
    if n < 2:
        raise ValueError(f"{poses.source}: only {n} pose{'s' if n != 1 else ''}; a prior needs "
                         f"many different poses (thousands)")
    if np.abs(x).max() < 1e-6:
        raise ValueError(f"{poses.source}: all {n} poses are zero (every joint at the pelvis); "
                         f"check the file's units and keys")
    if np.abs(x - x[:1]).max() < 1e-6:
        raise ValueError(f"{poses.source}: all {n} poses are identical; a prior needs many "
                         f"different poses (thousands)")
    if n < min_poses:
        return [f"{poses.source}: only {n} poses; the prior will learn little more than these "
                f"poses (the shipped prior saw about 54,000)"]
    return []


def _load_poses(path: str, split: str = "train", frame: str = "auto") -> PoseSet:
    """Load training poses from ``path`` (see the module docstring for the formats).

    Args:
      path: ``.npz`` or ``.npy`` file.
      split: ``'train'``, ``'test'`` or ``'all'``.
      frame: ``'auto'`` (from the file format; generic arrays are taken as camera-frame),
        ``'world'`` or ``'camera'``.
    Returns:
      a :class:`PoseSet` with root-relative poses.
    """
    if frame not in ("auto", "world", "camera"):
        raise ValueError(f"frame must be 'auto', 'world' or 'camera'; got {frame!r}")
    if not os.path.exists(path):
        raise FileNotFoundError(f"pose file not found: {path}")
    if path.endswith(".npy"):
        poses = np.load(path)
        detected, desc = "camera", f"{os.path.basename(path)} (array)"
        if split not in ("all", "train"):
            raise ValueError(f"{path} is a bare array without splits; use split='all'")
    else:
        with np.load(path, allow_pickle=True) as f:
            keys = set(f.files)
            if "positions_3d" in keys:
                data = f["positions_3d"].item()
                subjects = {"train": H36M_TRAIN_SUBJECTS, "test": H36M_TEST_SUBJECTS,
                            "all": tuple(sorted(data))}[split] if split in (
                                "train", "test", "all") else ()
                if not subjects or not any(s in data for s in subjects):
                    raise ValueError(f"split {split!r} of {path} is empty; subjects in file: "
                                     f"{sorted(data)}")
                arrays = [np.asarray(a) for s in subjects if s in data for a in data[s].values()]
                poses = np.concatenate(arrays, 0)
                if poses.ndim == 3 and poses.shape[1] == 32:
                    poses = poses[:, list(H36M32_TO_17)]
                detected = "world"
                desc = f"{os.path.basename(path)} (VideoPose3D Human3.6M, {split})"
                if frame == "camera":   # the release's recipe: the four real cameras
                    poses = h36m_files.camera_frame_poses(
                        path, tuple(s for s in subjects if s in data))
                    detected, desc = "camera", desc + " in its 4 real cameras"
            elif "poses" in keys and "seq_split" in keys and "seq" in keys:
                poses = f["poses"]
                mask = _select_split(f["seq_split"][f["seq"]], split, path)
                poses = poses[mask]
                detected = "world"
                desc = f"{os.path.basename(path)} (world frame, {split})"
            elif "poses3d" in keys or "poses" in keys:
                poses = f["poses3d"] if "poses3d" in keys else f["poses"]
                if "split" in keys:
                    poses = poses[_select_split(f["split"], split, path)]
                elif split not in ("all", "train"):
                    raise ValueError(f"{path} has no 'split' key; use split='all'")
                detected = "camera"
                desc = f"{os.path.basename(path)} ({split})"
            else:
                raise ValueError(
                    f"{path} holds none of the known pose keys ('poses', 'poses3d', "
                    f"'positions_3d'); keys found: {sorted(keys)}")
    poses = validate_poses(poses, name=f"poses in {path}")
    out = PoseSet(poses=skeleton.root_relative(poses).astype(np.float32),
                  frame=detected if frame == "auto" else frame, source=desc)
    check_up_axis(out, path)
    return out


def check_up_axis(poses: PoseSet, path: str = "") -> None:
    """Refuse poses whose up direction contradicts their frame: camera axes have the median
    trunk (pelvis to thorax, about 0.5 m) along -y, world-frame poses along +z. A z-up file read
    as camera poses would train a prior of people lying down (and the reverse). Poses with no
    clear trunk direction (shorter than 0.2 m, or off every axis) are not judged."""
    trunk = np.median(poses.poses[:, 8] - poses.poses[:, 0], axis=0)
    axis = int(np.argmax(np.abs(trunk)))
    if np.linalg.norm(trunk) < 0.2 or abs(trunk[axis]) < 0.8 * np.linalg.norm(trunk):
        return                  # no clear trunk direction (not people, or mixed orientations)
    up = ("+" if trunk[axis] > 0 else "-") + "xyz"[axis]
    want = {"camera": "-y", "world": "+z"}[poses.frame]
    if up != want:
        looks = {"-y": "camera axes (y down): pass frame='camera' (--frame camera)",
                 "+z": "a z-up world frame: pass frame='world' (--frame world)"}.get(
                     up, f"a frame with {up} up, which is neither: rotate them to z up")
        raise ValueError(f"{path or poses.source}: the poses' trunk points along {up}, but "
                         f"{poses.frame}-frame poses have it along {want}; they look like "
                         f"{looks}")


# ----------------------------------------------------------------------------------------------
# Virtual cameras
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Virtual-camera augmentation of world-frame (z-up) poses, applied on device.

    Each sample gets a camera at a uniformly random azimuth (``yaw_deg`` range), distance
    ``distance_m`` and height ``height_m`` that looks at a point ``pelvis_height_m`` above the
    floor, plus a random aim error of up to ``pitch_jitter_deg`` / ``yaw_jitter_deg`` and a roll
    of up to ``roll_deg``; the root-relative pose is rotated into that camera's axes. The
    defaults follow the Human3.6M rig (cameras 3.5-6 m away, 1-2 m high, aimed at the
    subject; pitch about 0-17 degrees down). ``flip_prob`` mirrors the pose (negate x, swap
    left/right) with that probability (off in the release).

    Wider coverage (all off by default, which reproduces the release's training; see
    :mod:`zedo_jax.training.augment` and BUILD_NOTES for the ranges):
      bone_scale_range: each bone group (left and right alike) scaled by ``exp(U(-r, r))``.
      body_scale_range: every bone scaled by a common ``exp(U(-r, r))`` (body size).
      keep_size: after the per-group factors, rescale the skeleton to its original sum of
        bone lengths, so proportions vary but the size stays tied to the training subject
        (a prior that sees free sizes lets ZeDO's loop inflate the pose).
      size_total_m: if > 0, every pose is scaled (after the skeleton variation) so that its 16
        bone lengths sum to this many metres: one size for all subjects, so the prior's score
        holds every lifted pose at that size.
      joint_slide: spine, thorax and neck/nose slide along their segments by up to this
        fraction of the segment (the joints each dataset defines differently).
      convention_range: hip width, thorax-neck/nose and head-top lengths get their own wider
        log-uniform range (``augment.CONVENTION_GROUPS``: where datasets put those joints).
      posture_prob: fraction of samples whose posture is re-drawn; in those, each of the 15
        degrees of freedom (hips, knees, shoulders, elbows, trunk) is re-drawn with
        probability ``posture_dof_prob`` within anatomical ranges of motion.
      swap_prob: fraction of samples retargeted onto the skeleton of another sample of the
        batch (bone directions kept, lengths taken over, left/right averaged): every motion on
        every training skeleton, with size still tied to a real subject's proportions.
      rebalance_power: sample training poses with weights ``count^-power`` of their cluster in
        a k-means density estimate (``rebalance_clusters`` clusters of facing-aligned poses),
        so rare postures are seen more often; 0 = uniform epochs.
    Skeleton swapping, skeleton variation and posture variation are applied (in that order)
    before the virtual camera.
    """

    yaw_deg: tuple = (0.0, 360.0)
    distance_m: tuple = (3.5, 6.0)
    height_m: tuple = (1.0, 2.0)
    pelvis_height_m: float = 0.95
    pitch_jitter_deg: float = 5.0
    yaw_jitter_deg: float = 0.0
    roll_deg: float = 0.0
    flip_prob: float = 0.0
    bone_scale_range: float = 0.0
    body_scale_range: float = 0.0
    keep_size: bool = False
    size_total_m: float = 0.0
    joint_slide: float = 0.0
    convention_range: float = 0.0
    posture_prob: float = 0.0
    posture_dof_prob: float = 0.5
    swap_prob: float = 0.0
    rebalance_power: float = 0.0
    rebalance_clusters: int = 64


def virtual_camera_rotations(key, n: int, cfg: AugmentConfig):
    """Sample ``n`` world-to-camera rotations ``[n, 3, 3]`` as described in :class:`AugmentConfig`."""
    ks = jax.random.split(key, 6)
    u = lambda k, lo, hi: jax.random.uniform(k, (n,), jnp.float32, lo, hi)
    yaw = jnp.deg2rad(u(ks[0], *cfg.yaw_deg))
    dist = u(ks[1], *cfg.distance_m)
    height = u(ks[2], *cfg.height_m)
    pitch = jnp.arctan2(height - cfg.pelvis_height_m, dist)
    pitch = pitch + jnp.deg2rad(u(ks[3], -cfg.pitch_jitter_deg, cfg.pitch_jitter_deg))
    # The camera sits at azimuth `yaw`; an aim error turns its optical axis about world z.
    look = yaw + jnp.deg2rad(u(ks[4], -cfg.yaw_jitter_deg, cfg.yaw_jitter_deg))
    R = camera.yaw_pitch_rotation(look, pitch)
    roll = jnp.deg2rad(u(ks[5], -cfg.roll_deg, cfg.roll_deg))
    c, s = jnp.cos(roll), jnp.sin(roll)
    z, o = jnp.zeros_like(roll), jnp.ones_like(roll)
    Rz = jnp.stack([jnp.stack([c, -s, z], -1), jnp.stack([s, c, z], -1),
                    jnp.stack([z, z, o], -1)], -2)
    return Rz @ R


def augment(key, poses, frame: str, cfg: AugmentConfig):
    """Turn a batch of root-relative poses ``[B, 17, 3]`` into camera-axes training samples.

    First the optional skeleton and posture variation (any frame), then world-frame poses are
    rotated into random virtual cameras (camera-frame poses are kept), then the optional flip.
    Pure and jit-able (``frame`` and ``cfg`` are static).
    """
    k_cam, k_flip, k_skel, k_post, k_gate = jax.random.split(key, 5)
    if cfg.swap_prob > 0:
        poses = augment_lib.swap_skeletons(jax.random.fold_in(key, 7), poses, cfg.swap_prob)
    if max(cfg.bone_scale_range, cfg.body_scale_range, cfg.joint_slide,
           cfg.convention_range) > 0:
        poses = augment_lib.batched(augment_lib.vary_skeleton)(
            k_skel, poses, cfg.bone_scale_range, cfg.body_scale_range, cfg.joint_slide,
            cfg.keep_size, cfg.convention_range)
    if cfg.size_total_m > 0:
        total = jnp.sum(skeleton.bone_lengths(poses), axis=-1)[:, None, None]
        poses = poses * (cfg.size_total_m / jnp.maximum(total, 1e-9))
    if cfg.posture_prob > 0:
        varied = augment_lib.batched(augment_lib.vary_posture)(k_post, poses,
                                                               cfg.posture_dof_prob)
        gate = jax.random.bernoulli(k_gate, cfg.posture_prob, (poses.shape[0], 1, 1))
        poses = jnp.where(gate, varied, poses)
    if frame == "world":
        R = virtual_camera_rotations(k_cam, poses.shape[0], cfg)
        poses = jnp.einsum("bij,bnj->bni", R, poses)
    elif frame != "camera":
        raise ValueError(f"frame must be 'world' or 'camera', got {frame!r}")
    if cfg.flip_prob > 0:
        flip = jax.random.bernoulli(k_flip, cfg.flip_prob, (poses.shape[0], 1, 1))
        poses = jnp.where(flip, skeleton.flip_pose(poses), poses)
    return poses


def camera_frame_poses(poses: PoseSet, key=None, cfg: AugmentConfig = AugmentConfig(),
                       chunk: int = 65536) -> np.ndarray:
    """All poses of ``poses`` in camera axes (one random virtual camera each for world frames).

    Used for clustering hypotheses and for prior-vs-data statistics. Returns ``[F, 17, 3]``.
    """
    if poses.frame == "camera":
        return poses.poses
    key = jax.random.PRNGKey(0) if key is None else key
    out = []
    fn = jax.jit(lambda k, p: augment(k, p, "world", dataclasses.replace(cfg, flip_prob=0.0)))
    for i in range(0, len(poses), chunk):
        out.append(np.asarray(fn(jax.random.fold_in(key, i), jnp.asarray(poses.poses[i:i + chunk]))))
    return np.concatenate(out, 0)


def front_facing_poses(poses: PoseSet, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """All poses turned to face the camera, in camera axes ``[F, 17, 3]``.

    Each pose is rotated about the vertical axis so that its facing direction (hips' left-right
    axis crossed with up) points at the camera. World-frame (z-up) poses are then seen by a
    camera with the mean pitch of the virtual-camera rig in ``cfg``; camera-frame poses keep
    their pitch and roll (vertical = -y). Used for the ``S = 1`` hypothesis (see
    :func:`zedo_jax.training.clustering.hypotheses`).
    """
    p = np.asarray(poses.poses, np.float64)
    up = np.array([0.0, 0.0, 1.0]) if poses.frame == "world" else np.array([0.0, -1.0, 0.0])
    target = np.array([1.0, 0.0, 0.0]) if poses.frame == "world" else np.array([0.0, 0.0, -1.0])
    facing = np.cross(p[:, 4] - p[:, 1], up)
    facing -= np.outer(facing @ up, up)
    facing /= np.maximum(np.linalg.norm(facing, axis=1, keepdims=True), 1e-9)
    # Signed angle about `up` from `facing` to `target`, then Rodrigues' rotation.
    ang = np.arctan2(np.cross(facing, target) @ up, facing @ target)
    c, s = np.cos(ang)[:, None, None], np.sin(ang)[:, None, None]
    K = np.array([[0, -up[2], up[1]], [up[2], 0, -up[0]], [-up[1], up[0], 0]])
    R = np.eye(3) + s * K + (1 - c) * (K @ K)
    out = np.einsum("bij,bnj->bni", R, p)
    if poses.frame == "world":
        pitch = math.atan2(np.mean(cfg.height_m) - cfg.pelvis_height_m, np.mean(cfg.distance_m))
        out = out @ np.asarray(camera.yaw_pitch_rotation(0.0, pitch), np.float64).T
    return out.astype(np.float32)


def steps_per_epoch(num_poses: int, batch_size: int) -> int:
    """Steps of one epoch of uniform sampling (the last batch wraps around)."""
    return math.ceil(num_poses / batch_size)


def epoch_permutation(key, epoch, num_poses: int):
    """The data order of ``epoch``: a permutation of ``range(num_poses)`` (shuffled like a
    PyTorch loader), deterministic in ``(key, epoch)``. Its cost grows with the pose set, so a
    training loop computes it once per epoch (:func:`permutation_batch_indices` then slices it
    at every step)."""
    return jax.random.permutation(jax.random.fold_in(key, epoch), num_poses)


def permutation_batch_indices(perm, step, batch_size: int):
    """Indices of the batch at ``step`` from its epoch's permutation ``perm [F]``
    (:func:`epoch_permutation` of ``step // steps_per_epoch``); the last batch of an epoch
    wraps around to keep shapes static. Touches ``batch_size`` entries of ``perm``."""
    n = perm.shape[0]
    start = (step % steps_per_epoch(n, batch_size)) * batch_size
    return perm[(start + jnp.arange(batch_size)) % n]


def epoch_batch_indices(key, step, num_poses: int, batch_size: int):
    """Indices of the training batch at ``step``: a fresh permutation each epoch (shuffled like
    a PyTorch loader); the last batch of an epoch wraps around to keep shapes static.

    Deterministic in ``(key, step)``, so a resumed run sees the same data order. (This draws
    the whole epoch's permutation; the training step takes it precomputed instead, see
    :func:`permutation_batch_indices`.)
    """
    epoch = step // steps_per_epoch(num_poses, batch_size)
    return permutation_batch_indices(epoch_permutation(key, epoch, num_poses), step, batch_size)


def cumulative_weights(weights):
    """Running sum ``[F]`` of sampling weights ``[F]``: what :func:`cdf_batch_indices` draws
    from (computed once per run, not per step)."""
    w = jnp.asarray(weights)
    return jnp.cumsum(w.astype(jnp.promote_types(w.dtype, jnp.float32)))


def cdf_batch_indices(key, step, cdf, batch_size: int):
    """Indices of the batch at ``step`` drawn with replacement from the running sum of the
    weights ``cdf [F]`` (:func:`cumulative_weights`): the draw of ``jax.random.choice(...,
    replace=True, p=weights)`` bit for bit (a uniform per index, then a binary search), without
    its per-call running sum over the whole pose set."""
    u = jax.random.uniform(jax.random.fold_in(key, step), (batch_size,), dtype=cdf.dtype)
    return jnp.searchsorted(cdf, cdf[-1] * (1 - u)).astype(jnp.int32)


def weighted_batch_indices(key, step, weights, batch_size: int):
    """Indices of the batch at ``step`` drawn with replacement with probabilities ``weights``
    (deterministic in ``(key, step)``; the same as :func:`cdf_batch_indices` of
    :func:`cumulative_weights`)."""
    return cdf_batch_indices(key, step, cumulative_weights(weights), batch_size)
