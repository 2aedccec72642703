"""MPI-INF-3DHP test set (``mpi_inf_3dhp_test_set/TS1..TS6/annot_data.mat``).

Per sequence (fields used): ``annot2`` (pixels), ``annot3`` (camera frame, mm),
``univ_annot3`` (the same poses rescaled to a universal skeleton, mm), ``valid_frame``
(0/1 per frame), ``activity_annotation`` (activity 1-7 per frame; optional). MATLAB stores the
joint arrays as ``2|3 x 17 x 1 x F``; the official files are MATLAB v7.3 (HDF5, read with
h5py, which shows them as ``F x 1 x 17 x 2|3``); v5 files are read with scipy. Both need the
optional ``datasets`` extra (``pip install "zedo_jax[datasets]"``).

Joints: the test set's 17 joints (head top, neck, r shoulder, r elbow, r wrist, l shoulder,
l elbow, l wrist, r hip, r knee, r ankle, l hip, l knee, l ankle, pelvis, spine, head) are
reordered to Human3.6M-17 with :data:`TEST17_TO_H36M`. Intrinsics: the official per-sequence
test cameras (:data:`.cameras.MPI_INF_3DHP_TEST_CAMERAS`).

Protocol: sequences TS1..TS6 in order, valid frames only, then every 3rd; errors averaged per
activity, then over the 7 activities; PCK@150 mm and AUC as well.
"""
from __future__ import annotations

import os

import numpy as np

from zedo_jax.datasets import cameras
from zedo_jax.datasets.base import DatasetError, EvalSet, check_metres, subsample, with_confidence

#: Human3.6M-17 joint <- MPI-INF-3DHP test joint.
TEST17_TO_H36M = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
ACTIVITIES = {1: "Stand/Walk", 2: "Exercise", 3: "Sit on chair", 4: "Reach/Crouch",
              5: "On the floor", 6: "Sports", 7: "Misc."}


def _optional(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise DatasetError(
            f"reading MPI-INF-3DHP .mat files needs {module}; install the optional extra: "
            f"pip install \"zedo_jax[datasets]\" (or pip install {module})") from None


def read_mat(path: str) -> dict:
    """The fields of one ``annot_data.mat`` as arrays (v7.3/HDF5 via h5py, v5 via scipy)."""
    if not os.path.isfile(path):
        raise DatasetError(f"MPI-INF-3DHP annotation file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(1024)
    is_hdf5 = b"\x89HDF\r\n\x1a\n" in head or head[:10] == b"MATLAB 7.3"
    if is_hdf5:
        h5py = _optional("h5py")
        with h5py.File(path, "r") as f:
            return {k: np.asarray(f[k]) for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    _optional("scipy")
    import scipy.io
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:                       # noqa: BLE001
        raise DatasetError(f"cannot read {path}: {e}") from None
    return {k: v for k, v in mat.items() if not k.startswith("__")}


def _joints(a, field: str, path: str) -> np.ndarray:
    """MATLAB ``C x 17 x 1 x F`` in either reading order -> ``[F, 17, C]``."""
    a = np.asarray(a, np.float64)
    s = a
    if a.ndim == 4 and a.shape[1] == 1 and a.shape[2] == 17:            # F x 1 x 17 x C
        s = a[:, 0]
    elif a.ndim == 4 and a.shape[1] == 17 and a.shape[2] == 1:          # C x 17 x 1 x F
        s = a[:, :, 0]
    if s.ndim == 3 and s.shape[1] == 17 and s.shape[2] in (2, 3):       # F x 17 x C (h5py)
        return s
    if s.ndim == 3 and s.shape[0] in (2, 3) and s.shape[1] == 17:       # C x 17 x F (scipy)
        return np.transpose(s, (2, 1, 0))
    raise DatasetError(f"{path}: '{field}' has shape {list(a.shape)}; expected MATLAB "
                       f"2|3 x 17 x 1 x F")


def _per_frame(a, field: str, path: str, n: int) -> np.ndarray:
    a = np.asarray(a).reshape(-1)
    if a.shape[0] != n:
        raise DatasetError(f"{path}: '{field}' has {a.shape[0]} entries, expected {n} frames")
    return a


def load(data_dir: str, keypoints: str = "gt", sample_interval: int = 3,
         gt3d: str = "univ_annot3", sequences=SEQUENCES) -> EvalSet:
    """The MPI-INF-3DHP test protocol frames.

    Args:
      data_dir: folder holding ``TS1/annot_data.mat`` ... (or ``mpi_inf_3dhp_test_set/``).
      keypoints: ``'gt'`` (``annot2``; the release has no working detected-2D path, Q15).
      gt3d: ``'univ_annot3'`` (standard 3DHP evaluation, universal skeleton scale) or
        ``'annot3'`` (true scale; the 2D is the projection of this one).
    """
    if keypoints != "gt":
        raise DatasetError(f"MPI-INF-3DHP keypoints must be 'gt' (annot2); got {keypoints!r}")
    if gt3d not in ("univ_annot3", "annot3"):
        raise DatasetError(f"gt3d must be 'univ_annot3' or 'annot3'; got {gt3d!r}")
    data_dir = os.path.expanduser(data_dir)
    root = data_dir
    if not os.path.isdir(os.path.join(root, sequences[0])) and \
            os.path.isdir(os.path.join(root, "mpi_inf_3dhp_test_set", sequences[0])):
        root = os.path.join(root, "mpi_inf_3dhp_test_set")
    kps, Ks, p3s, seqs, frames, acts = [], [], [], [], [], []
    found = 0
    for ts in sequences:
        path = os.path.join(root, ts, "annot_data.mat")
        if not os.path.isfile(path):
            continue
        found += 1
        m = read_mat(path)
        for k in ("annot2", gt3d, "valid_frame"):
            if k not in m:
                raise DatasetError(f"{path} lacks '{k}' (fields: {sorted(m)})")
        uv = _joints(m["annot2"], "annot2", path)[..., :2]
        X = _joints(m[gt3d], gt3d, path)
        if X.shape[2] != 3 or X.shape[0] != uv.shape[0]:
            raise DatasetError(f"{path}: '{gt3d}' must be 3 x 17 x 1 x F with F = "
                               f"{uv.shape[0]}; got {list(np.shape(m[gt3d]))}")
        n = uv.shape[0]
        valid = _per_frame(m["valid_frame"], "valid_frame", path, n).astype(bool)
        act = (_per_frame(m["activity_annotation"], "activity_annotation", path, n)
               .astype(np.int64) if "activity_annotation" in m else np.zeros(n, np.int64))
        f_ids = np.flatnonzero(valid)
        order = list(TEST17_TO_H36M)
        kps.append(with_confidence(uv[f_ids][:, order]))
        p3s.append(X[f_ids][:, order] / 1000.0)
        Ks.append(np.broadcast_to(cameras.MPI_INF_3DHP_TEST_CAMERAS[ts].K, (len(f_ids), 3, 3)))
        seqs += [ts] * len(f_ids)
        frames.append(f_ids)
        acts.append(act[f_ids])
    if not found:
        raise DatasetError(f"no MPI-INF-3DHP test annotations (TS1/annot_data.mat ...) in "
                           f"{data_dir}")
    total = sum(len(f) for f in frames)
    if total == 0:
        raise DatasetError(f"no valid frames (valid_frame == 1) in {root}")
    idx = subsample(total, sample_interval)
    p3 = np.concatenate(p3s)[idx].astype(np.float32)
    check_metres(p3, f"MPI-INF-3DHP {gt3d} in {root}")
    act = np.concatenate(acts)[idx]
    group = np.array([ACTIVITIES.get(int(a), f"activity {a}") for a in act])
    return EvalSet(name="3dhp", keypoints=np.concatenate(kps)[idx].astype(np.float32),
                   K=np.concatenate(Ks)[idx].astype(np.float32), poses3d=p3,
                   seq=np.array(seqs)[idx], frame=np.concatenate(frames)[idx].astype(np.int64),
                   group=group, source=f"{found} MPI-INF-3DHP test sequences in {root} "
                                       f"(3D: {gt3d})",
                   absolute=True, total_frames=total, index=idx,
                   meta={"activity": act})
