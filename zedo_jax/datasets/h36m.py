"""Human3.6M in VideoPose3D's layout.

Files (in ``data_dir``):

* ``data_3d_h36m.npz``: ``positions_3d`` (a pickled dict) ``[subject][action] -> [F, 32, 3]``
  float32, world frame, metres (z up). Reduced to 17 joints with
  :data:`zedo_jax.training.data.H36M32_TO_17` (already-17-joint arrays are accepted too).
* ``data_2d_h36m_<name>.npz``: ``positions_2d[subject][action]`` = list of 4 arrays (cameras
  54138969, 55011271, 58860488, 60457274) ``[F', 17, 2|3]`` pixels of the distorted images,
  ``F' >= F`` (extra frames are dropped, as VideoPose3D does), and ``metadata`` (dict with
  ``num_joints``, ``keypoints_symmetry``, optionally ``layout_name``). ``gt`` = the ground
  truth projected through the lens model, ``cpn_ft_h36m_dbb`` = CPN detections.

3D goes to each camera with the published extrinsics (:mod:`.cameras`); 2D is undistorted
with the published lens parameters so the pinhole ``K`` explains it (ZeDO's camera model has
no distortion); ``keypoints='proj'`` instead projects the 3D with ``K`` (the release's own
ground-truth 2D is such a pinhole projection), which needs no 2D file.

Frame order of the protocol: subjects as given (S9, S11), actions sorted by name, cameras in
the order above, frames in time; the release's pickles are unavailable, so this order (and
therefore which frames ``[::640]`` picks) is this project's choice.
"""
from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np

from zedo_jax.datasets import cameras
from zedo_jax.datasets.base import (DatasetError, EvalSet, check_metres, find_file,
                                    joints_to_camera, subsample, with_confidence)

#: Human3.6M 32 -> 17 joints (the same indices as zedo_jax.training.data.H36M32_TO_17).
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
FILE_3D = "data_3d_h36m.npz"
#: ``keypoints=`` short names -> 2D file names.
KEYPOINT_FILES = {"gt": "data_2d_h36m_gt.npz", "cpn": "data_2d_h36m_cpn_ft_h36m_dbb.npz"}
#: The 15 Human3.6M actions (canonical names, VideoPose3D's spelling).
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
           "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
           "WalkTogether")
#: Actions whose poses the release clustered for Ski-Pose's initial poses.
SITTING_ACTIONS = ("Sitting", "SittingDown")


def canonical_action(name: str) -> str:
    """``'Directions 1'`` -> ``'Directions'``; ``TakingPhoto`` / ``WalkingDog`` spelled as in
    VideoPose3D's files (``Photo`` / ``WalkDog``)."""
    base = str(name).split(" ")[0]
    return {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}.get(base, base)


def _load_dict(path: str, key: str) -> dict:
    try:
        with np.load(path, allow_pickle=True) as f:
            if key not in f.files:
                raise DatasetError(f"{path} has no '{key}' (keys: {sorted(f.files)}); expected "
                                   f"VideoPose3D's layout")
            d = f[key]
            meta = f["metadata"].item() if "metadata" in f.files else {}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"cannot read {path} ({type(e).__name__}: {e}); is it truncated or "
                           f"damaged? download it again") from None
    d = d.item() if d.dtype == object and d.shape == () else d
    if not isinstance(d, dict):
        raise DatasetError(f"{path}['{key}'] must be a dict subject -> action -> array")
    return d, meta


def load_positions_3d(path: str, subjects=None) -> dict:
    """``{subject: {action: [F, 17, 3] float32 world metres}}`` from ``data_3d_h36m.npz``."""
    data, _ = _load_dict(path, "positions_3d")
    subjects = sorted(data) if subjects is None else subjects
    out = {}
    for s in subjects:
        if s not in data:
            raise DatasetError(f"{path}: subject {s} missing from positions_3d (has "
                               f"{sorted(data)})")
        out[s] = {}
        for a, p in data[s].items():
            p = np.asarray(p, np.float32)
            if p.ndim != 3 or p.shape[1:] not in ((32, 3), (17, 3)):
                raise DatasetError(f"{path}: positions_3d[{s!r}][{a!r}] must be [F, 32, 3] "
                                   f"(or [F, 17, 3]); got {list(p.shape)}")
            out[s][a] = p[:, list(H36M32_TO_17)] if p.shape[1] == 32 else p
    return out


def camera_frame_poses(path: str, subjects=TRAIN_SUBJECTS, actions=None,
                       root_relative: bool = True) -> np.ndarray:
    """Every pose of ``subjects`` seen by each of the four real cameras: ``[4F, 17, 3]`` float32
    metres in camera axes (root-relative unless told otherwise). The release trained its prior
    on such poses (train subjects S1, S5, S6, S7, S8).

    Args:
      actions: optional canonical action names to keep (e.g. :data:`SITTING_ACTIONS`).
    """
    data = load_positions_3d(path, subjects)
    out = []
    for s in subjects:
        for a in sorted(data[s]):
            if actions is not None and canonical_action(a) not in actions:
                continue
            for c in range(4):
                R, t = cameras.h36m_world_to_camera(s, c)
                out.append(joints_to_camera(data[s][a], R, t).astype(np.float32))
    if not out:
        raise DatasetError(f"{path}: no poses for subjects {list(subjects)}"
                           + (f" and actions {list(actions)}" if actions else ""))
    poses = np.concatenate(out, 0)
    return poses - poses[:, :1] if root_relative else poses


def _resolve_2d(data_dir: str, keypoints: str) -> str | None:
    if keypoints == "proj":
        return None
    if keypoints.endswith(".npz"):
        if not os.path.isfile(keypoints):
            raise DatasetError(f"2D keypoint file not found: {keypoints}")
        return keypoints
    name = KEYPOINT_FILES.get(keypoints, f"data_2d_h36m_{keypoints}.npz")
    return find_file(data_dir, [name], f"2D keypoints '{keypoints}' ({name})")


def load(data_dir: str, keypoints: str = "gt", subjects=TEST_SUBJECTS,
         sample_interval: int = 640, undistort: bool = True) -> EvalSet:
    """The Human3.6M test protocol frames.

    Args:
      data_dir: folder with ``data_3d_h36m.npz`` (and the 2D file), or the 3D file itself.
      keypoints: ``'gt'``, ``'cpn'``, any VideoPose3D detection name ``X`` (reads
        ``data_2d_h36m_X.npz``), a path to such an ``.npz``, or ``'proj'`` (pinhole projection
        of the 3D ground truth, as the release's pickles).
      subjects: test subjects (S9, S11).
      sample_interval: keep every n-th frame of the concatenated sequences (640 -> the
        release's 886 frames from its own pickles; the count from VideoPose3D's files is
        printed by the evaluation).
      undistort: remove the lens distortion from file 2D (keep ``True``: ZeDO is pinhole).
    Returns:
      an :class:`~.base.EvalSet` with ``meta`` ``subject``, ``action``, ``camera`` (index 0-3).
    """
    data_dir = os.path.expanduser(data_dir)
    path3d = find_file(data_dir, [FILE_3D], "Human3.6M 3D poses")
    base_dir = os.path.dirname(path3d) if os.path.isfile(data_dir) else data_dir
    pos3d = load_positions_3d(path3d, subjects)
    path2d = _resolve_2d(base_dir, keypoints)
    pos2d = None
    if path2d is not None:
        pos2d, meta = _load_dict(path2d, "positions_2d")
        layout = meta.get("layout_name", "h36m") if isinstance(meta, dict) else "h36m"
        nj = meta.get("num_joints", 17) if isinstance(meta, dict) else 17
        if layout != "h36m" or nj != 17:
            raise DatasetError(f"{path2d}: metadata says layout {layout!r} with {nj} joints; "
                               f"need VideoPose3D's 17-joint Human3.6M layout")
    # Sequence table in protocol order.
    seqs = []          # (subject, action, cam, n_frames)
    for s in subjects:
        for a in sorted(pos3d[s]):
            n = len(pos3d[s][a])
            if pos2d is not None:
                lst = pos2d.get(s, {}).get(a)
                if lst is None:
                    raise DatasetError(f"{path2d}: positions_2d lacks {s} / {a!r}, which "
                                       f"{FILE_3D} has")
                if len(lst) != 4:
                    raise DatasetError(f"{path2d}: positions_2d[{s!r}][{a!r}] must list 4 "
                                       f"cameras; has {len(lst)}")
                for c in range(4):
                    arr = np.asarray(lst[c])
                    if arr.ndim != 3 or arr.shape[1] != 17 or arr.shape[2] not in (2, 3):
                        raise DatasetError(f"{path2d}: positions_2d[{s!r}][{a!r}][{c}] must be "
                                           f"[F, 17, 2|3]; got {list(arr.shape)}")
                    if len(arr) < n:
                        raise DatasetError(
                            f"{path2d}: positions_2d[{s!r}][{a!r}][{c}] has {len(arr)} frames, "
                            f"fewer than the {n} of the 3D poses")
            for c in range(4):
                seqs.append((s, a, c, n))
    lengths = np.array([q[3] for q in seqs], np.int64)
    total = int(lengths.sum())
    if total == 0:
        raise DatasetError(f"{path3d}: no frames for subjects {list(subjects)}")
    idx = subsample(total, sample_interval)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    which = np.searchsorted(starts, idx, side="right") - 1
    frames = idx - starts[which]

    n = len(idx)
    kp = np.zeros((n, 17, 3), np.float32)
    K = np.zeros((n, 3, 3), np.float32)
    p3 = np.zeros((n, 17, 3), np.float32)
    subj, act, cam_idx, seq = [], [], [], []
    for q in np.unique(which):
        rows = np.flatnonzero(which == q)
        s, a, c, _ = seqs[q]
        cam = cameras.H36M_CAMERAS[c]
        R, t = cameras.h36m_world_to_camera(s, c)
        X = joints_to_camera(pos3d[s][a][frames[rows]], R, t)
        p3[rows] = X
        K[rows] = cam.K
        if pos2d is None:
            uv, conf = cameras.project_pinhole(X, cam.K), None
        else:
            arr = np.asarray(pos2d[s][a][c])[frames[rows]].astype(np.float64)
            uv, conf = arr[..., :2], (arr[..., 2] if arr.shape[-1] == 3 else None)
            if undistort:
                uv = cameras.undistort_pixels(uv, cam)
        kp[rows] = with_confidence(uv, conf)
    for q in which:
        s, a, c, _ = seqs[q]
        subj.append(s)
        act.append(a)
        cam_idx.append(c)
        seq.append(f"{s}/{a}/{cameras.H36M_CAMERAS[c].id}")
    check_metres(p3, f"{path3d} positions_3d")
    src = f"{os.path.basename(path3d)} + " + (
        os.path.basename(path2d) if path2d else "pinhole projection of the 3D")
    return EvalSet(name="h36m", keypoints=kp, K=K, poses3d=p3, seq=np.array(seq),
                   frame=frames.astype(np.int64), group=np.array([canonical_action(a)
                                                                  for a in act]),
                   source=src, absolute=True, total_frames=total, index=idx,
                   meta={"subject": np.array(subj), "action": np.array(act),
                         "camera": np.array(cam_idx, np.int64)})


def load_predictions(path: str, evalset: EvalSet) -> np.ndarray:
    """Per-frame initial poses from another lifter (refinement mode), in the protocol's frames.

    Accepts:
      * ``.npy`` ``[N, 17, 3]`` with ``N`` = the protocol's frames, or ``N`` = all frames before
        subsampling (picked with ``evalset.index``);
      * ``.npz`` with ``positions_3d`` / ``predictions`` / ``prediction`` holding a dict
        ``[subject][action]`` -> list of 4 per-camera arrays ``[F, 17, 3]`` (or a dict keyed by
        camera index or id), camera-frame metres, e.g. VideoPose3D's ``--viz-export`` outputs
        (one ``[F, 17, 3]`` array per subject, action and camera) gathered into that layout.
    Returns:
      ``[N, 17, 3]`` float32 root-relative camera-frame poses.
    """
    if not os.path.isfile(path):
        raise DatasetError(f"initial-pose file not found: {path}")
    if path.endswith(".npy"):
        p = np.load(path)
        if p.ndim == 3 and p.shape[1:] == (17, 3):
            if len(p) == len(evalset):
                out = p
            elif len(p) == evalset.total_frames:
                out = p[evalset.index]
            else:
                raise DatasetError(f"{path} has {len(p)} poses; need {len(evalset)} (the "
                                   f"protocol's frames) or {evalset.total_frames} (all frames)")
        else:
            raise DatasetError(f"{path} must be [N, 17, 3]; got {list(p.shape)}")
    else:
        with np.load(path, allow_pickle=True) as f:
            key = next((k for k in ("predictions", "prediction", "positions_3d")
                        if k in f.files), None)
            if key is None:
                raise DatasetError(f"{path} has none of 'predictions', 'prediction', "
                                   f"'positions_3d' (keys: {sorted(f.files)})")
            d = f[key].item()
        if "subject" not in evalset.meta:
            raise DatasetError(f"{path}: nested per-sequence predictions need a Human3.6M "
                               f"evaluation set")
        out = np.zeros((len(evalset), 17, 3), np.float32)
        for i, (s, a, c, fr) in enumerate(zip(evalset.meta["subject"], evalset.meta["action"],
                                              evalset.meta["camera"], evalset.frame)):
            try:
                per_cam = d[s][a]
            except (KeyError, TypeError):
                raise DatasetError(f"{path}: {key} lacks {s} / {a!r}") from None
            if isinstance(per_cam, dict):
                cid = cameras.H36M_CAMERAS[c].id
                arr = per_cam.get(int(c), per_cam.get(str(c), per_cam.get(cid)))
                if arr is None:
                    raise DatasetError(f"{path}: {key}[{s!r}][{a!r}] lacks camera {c} ({cid})")
            else:
                arr = per_cam[int(c)]
            arr = np.asarray(arr)
            if arr.ndim != 3 or arr.shape[1:] != (17, 3):
                raise DatasetError(f"{path}: {key}[{s!r}][{a!r}][{c}] must be [F, 17, 3]; got "
                                   f"{list(arr.shape)}")
            if fr >= len(arr):
                raise DatasetError(f"{path}: {key}[{s!r}][{a!r}][{c}] has {len(arr)} frames; "
                                   f"frame {fr} is needed")
            out[i] = arr[fr]
    out = np.asarray(out, np.float32)
    check_metres(out, f"initial poses in {path}")
    return out - out[:, :1]
