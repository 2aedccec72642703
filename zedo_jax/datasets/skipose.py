"""Ski-Pose PTZ-camera dataset, test split (``test/labels.h5``; the release calls it
``ski_test.h5``).

HDF5 datasets used (one row per example, 1,716 in the test split): ``seq``, ``cam``,
``frame`` (ids), ``cam_intrinsic`` ``[N, 3, 3]`` (for the 256 x 256 crops, normalised: pixels
= 256 x, with ``K[2, 2]`` reset to 1), ``2D`` ``[N, 34]`` (17 joints, fractions of the crop),
``3D`` ``[N, 51]`` (17 joints, root-relative, camera axes, metres; Human3.6M-17 order, as the
release assumes). The absolute translation is not in the file, so ground truth is
root-relative (MPJPE, PA-MPJPE and N-MPJPE need no more). Reading needs h5py (optional extra
``datasets``).
"""
from __future__ import annotations

import os

import numpy as np

from zedo_jax.datasets.base import (DatasetError, EvalSet, check_metres, find_file, subsample,
                                    with_confidence)

#: Crop size the normalised 2D and intrinsics refer to (pixels).
CROP = 256.0


def load(data_dir: str, keypoints: str = "gt", sample_interval: int = 1,
         split: str = "test") -> EvalSet:
    """The Ski-Pose protocol frames (all 1,716 test examples).

    Args:
      data_dir: folder with ``<split>/labels.h5`` or ``ski_<split>.h5``, or the file itself.
      keypoints: ``'gt'`` (the file's 2D; the release ignores other choices, Q16).
    """
    if keypoints != "gt":
        raise DatasetError(f"Ski-Pose keypoints must be 'gt'; got {keypoints!r}")
    path = find_file(os.path.expanduser(data_dir),
                     [os.path.join(split, "labels.h5"), f"ski_{split}.h5", "labels.h5"],
                     f"Ski-Pose {split} labels")
    try:
        import h5py
    except ImportError:
        raise DatasetError("reading Ski-Pose needs h5py; install the optional extra: "
                           "pip install \"zedo_jax[datasets]\" (or pip install h5py)") from None
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DatasetError(f"cannot read {path} as HDF5: {e}") from None
    with f:
        for k in ("seq", "cam", "frame", "cam_intrinsic", "2D", "3D"):
            if k not in f:
                raise DatasetError(f"{path} lacks dataset '{k}' (has {sorted(f.keys())})")
        n = len(f["seq"])
        seq = np.asarray(f["seq"]).reshape(-1).astype(np.int64)
        cam = np.asarray(f["cam"]).reshape(-1).astype(np.int64)
        frame = np.asarray(f["frame"]).reshape(-1).astype(np.int64)
        K = np.asarray(f["cam_intrinsic"], np.float64).reshape(n, 3, 3) * CROP
        uv = np.asarray(f["2D"], np.float64)
        X = np.asarray(f["3D"], np.float64)
    if uv.shape != (n, 34):
        raise DatasetError(f"{path}: '2D' must be [N={n}, 34]; got {list(uv.shape)}")
    if X.shape != (n, 51):
        raise DatasetError(f"{path}: '3D' must be [N={n}, 51]; got {list(X.shape)}")
    K[:, 2, 2] = 1.0
    X = X.reshape(n, 17, 3)
    idx = subsample(n, sample_interval)
    p3 = X[idx].astype(np.float32)
    check_metres(p3, f"{path} '3D'")
    names = np.array([f"seq_{s:03d}/cam_{c:02d}" for s, c in zip(seq[idx], cam[idx])])
    return EvalSet(name="ski", keypoints=with_confidence(uv[idx].reshape(-1, 17, 2) * CROP),
                   K=K[idx].astype(np.float32), poses3d=p3, seq=names, frame=frame[idx],
                   group=names, source=os.path.basename(path), absolute=False,
                   total_frames=n, index=idx)
