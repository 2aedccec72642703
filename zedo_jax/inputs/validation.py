"""Checks of lifting inputs: every error names the field and says what to do.

``frame_name`` arguments (``int -> str``) let readers name frames as their file does (e.g.
``frame 3 (id '000004')``); the default is ``frame <index>``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from zedo_jax.core import camera, skeleton
from zedo_jax.inputs.layouts import num_joints

FrameName = Callable[[int], str]


def _frame(i: int) -> str:
    return f"frame {i}"


def validate_keypoints(keypoints, confidence=None, name: str = "keypoints",
                       frame_name: FrameName = _frame):
    """Split and check 2D input.

    Args:
      keypoints: ``[N, 17, 2]`` pixels, or ``[N, 17, 3]`` with confidences in the last column.
      confidence: optional ``[N, 17]`` (overrides a third column).
      frame_name: how errors name frame ``i``.
    Returns:
      ``(uv [N, 17, 2] float32, conf [N, 17] float32)``.
    Raises:
      ValueError naming the field for wrong shapes, NaN/inf, or confidences outside [0, 1].
    """
    kp = np.asarray(keypoints)
    if kp.ndim == 2 and kp.shape[0] == skeleton.NUM_JOINTS:
        raise ValueError(f"{name} must be batched: [N, 17, 2|3]; got {list(kp.shape)} "
                         f"(add a leading frame axis, e.g. keypoints[None])")
    if kp.ndim != 3 or kp.shape[2] not in (2, 3):
        raise ValueError(f"{name} must have shape [N, 17, 2] or [N, 17, 3] (u, v[, confidence]) "
                         f"in pixels; got {list(kp.shape)}")
    if kp.shape[1] != skeleton.NUM_JOINTS:
        raise ValueError(f"{name} has {kp.shape[1]} joints, expected 17 in Human3.6M order; "
                         f"convert detector layouts with zedo_jax.inputs.layouts (or "
                         f"--format coco17|mediapipe|openpose)")
    if kp.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 frames)")
    if not np.issubdtype(kp.dtype, np.number) or np.issubdtype(kp.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold numbers; got dtype {kp.dtype}")
    kp = kp.astype(np.float64)
    uv = kp[..., :2]
    if confidence is not None:
        conf = np.asarray(confidence, np.float64)
        if conf.shape != uv.shape[:2]:
            raise ValueError(f"confidence must have shape {list(uv.shape[:2])}, "
                             f"got {list(conf.shape)}")
    elif kp.shape[2] == 3:
        conf = kp[..., 2]
    else:
        conf = np.ones(uv.shape[:2])
    cname = "confidence" if confidence is not None or kp.shape[2] == 2 else f"{name}[..., 2]"
    if not np.isfinite(conf).all():
        idx = np.argwhere(~np.isfinite(conf))[0]
        raise ValueError(f"{cname} has NaN/inf ({frame_name(idx[0])}, joint {idx[1]})")
    if (conf < 0).any() or (conf > 1).any():
        idx = np.argwhere((conf < 0) | (conf > 1))[0]
        raise ValueError(
            f"{cname} must lie in [0, 1]; {frame_name(idx[0])} joint {idx[1]} has "
            f"{conf[idx[0], idx[1]]:.4g} (is the third column a depth or a score on another "
            f"scale? rescale it to [0, 1])")
    # Missing joints (confidence 0) may carry NaN coordinates; other joints may not.
    bad = ~np.isfinite(uv).all(-1) & (conf > 0)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise ValueError(f"{name} has NaN/inf coordinates at {frame_name(idx[0])}, joint "
                         f"{idx[1]} (give such joints confidence 0 to mark them missing)")
    if ((conf > 0).sum(-1) < 2).any():
        f = int(np.flatnonzero((conf > 0).sum(-1) < 2)[0])
        raise ValueError(f"{frame_name(f)} of {name} has fewer than 2 joints with confidence "
                         f"> 0; drop it or give it more keypoints")
    uv = np.where(np.isfinite(uv), uv, 0.0)
    return uv.astype(np.float32), conf.astype(np.float32)


def validate_intrinsics(K, n: int, name: str = "K") -> np.ndarray:
    """``[3, 3]`` or ``[N, 3, 3]`` -> ``[N, 3, 3]`` float32 (checked by
    :func:`zedo_jax.core.camera.check_intrinsics`)."""
    K = camera.check_intrinsics(K, name)
    if K.ndim == 2:
        K = np.broadcast_to(K, (n, 3, 3))
    elif K.shape[0] != n:
        raise ValueError(f"{name} has {K.shape[0]} matrices but there are {n} frames; give one "
                         f"[3, 3] matrix for all frames or one per frame")
    return np.ascontiguousarray(K, np.float32)


def validate_init_poses(init_poses, n: int, name: str = "init_poses") -> np.ndarray:
    """Initial poses -> ``[N, S, 17, 3]`` root-relative float32.

    ``[N, S, 17, 3]`` is per frame and hypothesis. A 3-D array ``[M, 17, 3]`` is per frame
    (refinement mode, ``S = 1``) when ``M == N``, otherwise ``M`` shared hypotheses (cluster
    centres) used for every frame. To use exactly ``N`` shared hypotheses, pass them
    broadcast as ``[N, N, 17, 3]``.
    """
    p = np.asarray(init_poses, np.float32)
    if p.ndim == 3 and p.shape[1:] == (17, 3):
        p = p[:, None] if p.shape[0] == n else np.broadcast_to(p[None], (n,) + p.shape)
    elif not (p.ndim == 4 and p.shape[0] == n and p.shape[2:] == (17, 3)):
        raise ValueError(f"{name} must be [S, 17, 3] (hypotheses), [N, 17, 3] or "
                         f"[N, S, 17, 3] (per frame) with N = {n} frames; got {list(p.shape)}")
    if p.shape[1] == 0:
        raise ValueError(f"{name} holds no poses")
    if not np.isfinite(p).all():
        raise ValueError(f"{name} contains NaN/inf")
    if np.abs(p - p[..., :1, :]).max() > 10:
        raise ValueError(f"{name} spans more than 10 m from the pelvis; poses must be in metres")
    return p - p[..., :1, :]


def validate_poses3d(poses3d, n: int) -> np.ndarray:
    """Ground truth ``[N, 17, 3]`` metres in camera axes (absolute or root-relative)."""
    gt = np.asarray(poses3d, np.float32)
    if gt.shape != (n, 17, 3):
        raise ValueError(f"poses3d must be [N={n}, 17, 3] metres; got {list(gt.shape)}")
    if not np.isfinite(gt).all():
        raise ValueError("poses3d contains NaN/inf")
    if np.abs(gt).max() > 100:
        raise ValueError(f"poses3d values reach {np.abs(gt).max():.0f}; they must be in metres "
                         f"(divide millimetres by 1000)")
    root_z = gt[:, 0, 2]
    absolute = np.abs(gt[:, 0]).max() > 1e-6
    if absolute and (root_z <= 0).any():
        f = int(np.flatnonzero(root_z <= 0)[0])
        raise ValueError(f"poses3d frame {f} puts the person behind the camera (pelvis z = "
                         f"{root_z[f]:.3f} m <= 0); camera axes are x right, y down, z forward")
    return gt


def image_sizes(image_size, n: int, source: str):
    """``[2]`` or ``[N, 2]`` positive (width, height) -> ``[N, 2]`` float32, or ``None``."""
    if image_size is None:
        return None
    size = np.asarray(image_size, np.float32)
    if size.shape == (2,):
        size = np.broadcast_to(size, (n, 2))
    if size.shape != (n, 2) or not np.isfinite(size).all() or (size <= 0).any():
        raise ValueError(f"{source}: image_size must be [2] or [N={n}, 2] positive (width, "
                         f"height) pixels; got shape {list(np.shape(image_size))}")
    return np.ascontiguousarray(size)


def check_joint_count(kp, fmt: str, where: str):
    """``kp [J, C]`` has a joint count that ``fmt`` accepts."""
    counts = num_joints(fmt)
    if kp.shape[0] not in counts:
        hint = ""
        if fmt == "h36m" and kp.shape[0] in (18, 25, 33):
            hint = " (set \"format\" / --format: 33 = mediapipe, 25 / 18 = openpose)"
        raise ValueError(f"{where} has {kp.shape[0]} joints but format {fmt!r} needs "
                         f"{' or '.join(map(str, counts))}{hint}")


def check_not_normalized(kps, path: str):
    """Refuse pixel coordinates that all lie in [-1.5, 1.5]: normalised coordinates
    (MediaPipe's default output) read as pixels would describe a person 1 pixel tall."""
    uv = kps[..., :2]
    ok = np.isfinite(uv).all(-1)
    if kps.shape[-1] > 2:
        ok &= kps[..., 2 if kps.shape[-1] == 3 else 3] > 0
    vals = uv[ok]
    if vals.size and np.abs(vals).max() <= 1.5:
        raise ValueError(f"{path}: every keypoint coordinate lies within [-1.5, 1.5]: these look "
                         f"like normalised coordinates (MediaPipe), not pixels; set "
                         f"\"normalized\": true (or --normalized) and give the image size")


def validate_frames(frame, seq, source: str) -> np.ndarray:
    """``[N]`` frame indices within their sequence (``seq``, or one sequence): integers (or
    integral floats), each at most once per sequence."""
    frame = np.asarray(frame)
    if frame.dtype.kind not in "iu":
        if frame.dtype.kind != "f" or not np.all(np.isfinite(frame)) or \
                np.any(frame != np.round(frame)):
            raise ValueError(f"{source}: frame must hold integer frame indices; got dtype "
                             f"{frame.dtype}")
        frame = frame.astype(np.int64)
    groups = np.zeros(len(frame), np.int64) if seq is None else \
        np.unique(np.asarray(seq), return_inverse=True)[1].reshape(-1)
    uniq, counts = np.unique(np.stack([groups, frame], 1), axis=0, return_counts=True)
    if (counts > 1).any():
        f = uniq[np.argmax(counts > 1)][1]
        raise ValueError(f"{source}: frame {f} appears {counts.max()} times in one sequence; "
                         f"give each sequence its own 'seq' id")
    return frame


def validate_fps(fps, source: str):
    """A frame rate: one positive number (``float``), or ``[G]`` (one per sequence) when they
    differ."""
    fps = np.asarray(fps, np.float64).reshape(-1)
    if fps.size == 0 or not np.isfinite(fps).all() or (fps <= 0).any():
        raise ValueError(f"{source}: fps must be positive frames per second; got {fps[:4]}")
    return float(fps[0]) if np.all(fps == fps[0]) else fps
