"""What every dataset loader returns: :class:`EvalSet`, plain arrays in ZeDO's conventions.

Independent of the lifting input classes on purpose: an ``EvalSet`` is keypoints + intrinsics +
ground truth + labels, which any lifting entry point can consume.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and field."""


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """Test frames of one dataset after the protocol's frame selection.

    Attributes:
      name: dataset name (``'h36m'``, ``'3dpw'``, ``'3dhp'``, ``'ski'``).
      keypoints: ``[N, 17, 3]`` float32 pixels ``(u, v, confidence)``, Human3.6M-17 order,
        consistent with the pinhole ``K`` (lens distortion already removed).
      K: ``[N, 3, 3]`` float32 pinhole intrinsics (pixels).
      poses3d: ``[N, 17, 3]`` float32 ground truth in camera axes (x right, y down,
        z forward), metres; absolute when ``absolute`` (else root-relative, Ski-Pose).
      seq: ``[N]`` str, the sequence of each frame (e.g. ``'S9/Directions 1/54138969'``).
      frame: ``[N]`` int64, the frame index inside its sequence.
      group: ``[N]`` str, the label the protocol averages over first (action or activity;
        the sequence for datasets averaged over frames).
      source: short description of the files read (for logs and JSON).
      absolute: whether ``poses3d`` carries the true camera-frame translation.
      total_frames: frames in the dataset before the protocol's subsampling.
      index: ``[N]`` int64, the position of each frame in that un-subsampled order.
      meta: extra per-frame arrays (e.g. ``subject``, ``action``, ``camera`` for Human3.6M).
    """

    name: str
    keypoints: np.ndarray
    K: np.ndarray
    poses3d: np.ndarray
    seq: np.ndarray
    frame: np.ndarray
    group: np.ndarray
    source: str
    absolute: bool
    total_frames: int
    index: np.ndarray
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n = len(self.keypoints)
        for f in ("K", "poses3d", "seq", "frame", "group", "index"):
            if len(getattr(self, f)) != n:
                raise DatasetError(f"internal: EvalSet.{f} has {len(getattr(self, f))} rows, "
                                   f"keypoints has {n}")

    def __len__(self):
        return len(self.keypoints)

    def subset(self, index) -> "EvalSet":
        """Rows ``index`` (a slice, mask or index array) of every per-frame array."""
        pick = lambda a: np.asarray(a)[index]          # noqa: E731
        return dataclasses.replace(
            self, keypoints=pick(self.keypoints), K=pick(self.K), poses3d=pick(self.poses3d),
            seq=pick(self.seq), frame=pick(self.frame), group=pick(self.group),
            index=pick(self.index), meta={k: pick(v) for k, v in self.meta.items()})


def subsample(n: int, interval: int) -> np.ndarray:
    """Indices ``0, interval, 2*interval, ...`` below ``n`` (the release's ``[::interval]``);
    ``ceil(n / interval)`` of them."""
    if interval < 1:
        raise DatasetError(f"sample interval must be >= 1, got {interval}")
    return np.arange(0, n, interval, dtype=np.int64)


def find_file(data_dir: str, candidates, what: str) -> str:
    """The first existing ``data_dir/c`` for ``c`` in ``candidates`` (``data_dir`` itself when it
    is a file); else a :class:`DatasetError` listing what was looked for."""
    if os.path.isfile(data_dir):
        return data_dir
    if not os.path.isdir(data_dir):
        raise DatasetError(f"data directory not found: {data_dir}")
    for c in candidates:
        p = os.path.join(data_dir, c)
        if os.path.isfile(p):
            return p
    raise DatasetError(f"{what} not found in {data_dir} (looked for "
                       f"{', '.join(candidates)})")


def check_metres(poses, where: str):
    """Raise if root-relative extents look like millimetres (ZeDO works in metres)."""
    poses = np.asarray(poses)
    if poses.size == 0:
        return
    if not np.isfinite(poses).all():
        raise DatasetError(f"{where} contains NaN/inf")
    span = np.abs(poses - poses[..., :1, :]).max()
    if span > 10:
        raise DatasetError(f"{where} spans {span:.0f} units from the pelvis; expected metres "
                           f"(is it in millimetres?)")


def joints_to_camera(points_world, R, t) -> np.ndarray:
    """``X_cam = X_world @ R.T + t`` for ``points [..., J, 3]``, ``R [..., 3, 3]``,
    ``t [..., 3]`` (broadcast over the leading axes)."""
    R = np.asarray(R, np.float64)
    t = np.asarray(t, np.float64)
    return np.einsum("...ij,...nj->...ni", R, np.asarray(points_world, np.float64)) + \
        t[..., None, :]


def with_confidence(uv, conf=None) -> np.ndarray:
    """``[N, J, 2]`` (+ ``[N, J]``) -> ``[N, J, 3]`` float32 with confidence 1 by default."""
    uv = np.asarray(uv, np.float64)
    c = np.ones(uv.shape[:-1]) if conf is None else np.asarray(conf, np.float64)
    return np.concatenate([uv, c[..., None]], -1).astype(np.float32)
