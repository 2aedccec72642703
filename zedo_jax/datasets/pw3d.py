"""3DPW test sequences (``sequenceFiles/test/*.pkl``, Python-2 pickles).

Per file (keys used): ``sequence`` (name), ``jointPositions`` (list per person of
``[F, 72]``: the 24 SMPL joints, world frame, metres), ``cam_poses`` ``[F, 4, 4]``
(world -> camera), ``cam_intrinsics`` ``[3, 3]``, ``campose_valid`` (list per person of
``[F]``), ``poses2d`` (list per person of ``[F, 3, 18]``: OpenPose COCO-18 ``(u, v, score)``).

Human3.6M-17 joints from SMPL: the release evaluated on 17 joints regressed from the SMPL
mesh with a Human3.6M regressor (its preprocessed ``pw3d_test.npz`` is unavailable). That needs
the SMPL body model, which users must obtain themselves and which is not supported here; the
loader instead maps the 24 SMPL joints (``joints='smpl24'``, :data:`SMPL24_TO_H36M`), with
the head top extrapolated along the neck -> head direction. Numbers on this ground truth are
close to, but not the same protocol as, the paper's.

Frame order: files sorted by name, then person, then frame; only frames with
``campose_valid`` (35,515 person-frames in the official test split), every 35th kept.
"""
from __future__ import annotations

import glob
import os
import pickle

import numpy as np

from zedo_jax.datasets import cameras
from zedo_jax.datasets.base import (DatasetError, EvalSet, check_metres, joints_to_camera,
                                    subsample, with_confidence)
from zedo_jax.inputs import layouts as keypoint_formats

#: Human3.6M-17 joint <- SMPL-24 joint (head top is derived, see :func:`smpl24_to_h36m`).
#: SMPL: 0 pelvis, 1 l_hip, 2 r_hip, 4 l_knee, 5 r_knee, 6 spine2, 7 l_ankle, 8 r_ankle,
#: 12 neck, 15 head, 16/17 l/r shoulder, 18/19 l/r elbow, 20/21 l/r wrist.
SMPL24_TO_H36M = (0, 2, 5, 8, 1, 4, 7, 6, 12, 15, -1, 16, 18, 20, 17, 19, 21)
#: head_top = head + HEAD_TOP_FACTOR * (head - neck) (SMPL joints 15 and 12).
HEAD_TOP_FACTOR = 1.0
#: The 14-joint protocol: Human3.6M indices without pelvis, spine, neck/nose.
JOINTS_14 = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)
JOINT_SOURCES = ("smpl24", "regressor")


def smpl24_to_h36m(joints24) -> np.ndarray:
    """``[..., 24, 3]`` SMPL joints -> ``[..., 17, 3]`` Human3.6M-17 (joint mapping variant)."""
    j = np.asarray(joints24, np.float64)
    if j.shape[-2:] != (24, 3):
        raise DatasetError(f"SMPL joints must be [..., 24, 3]; got {list(j.shape)}")
    idx = np.array(SMPL24_TO_H36M)
    out = j[..., np.maximum(idx, 0), :].copy()
    out[..., 10, :] = j[..., 15, :] + HEAD_TOP_FACTOR * (j[..., 15, :] - j[..., 12, :])
    return out


def sequence_files(data_dir: str, split: str = "test") -> list[str]:
    """Sorted ``*.pkl`` of ``split`` under ``data_dir`` (``sequenceFiles/<split>``,
    ``<split>`` or ``data_dir`` itself)."""
    data_dir = os.path.expanduser(data_dir)
    for sub in (os.path.join("sequenceFiles", split), split, ""):
        files = sorted(glob.glob(os.path.join(data_dir, sub, "*.pkl")))
        if files:
            return files
    raise DatasetError(f"no 3DPW sequence files (*.pkl) in {data_dir}, "
                       f"{os.path.join(data_dir, 'sequenceFiles', split)} or "
                       f"{os.path.join(data_dir, split)}")


def read_sequence(path: str) -> dict:
    """One 3DPW pickle as a dict (Python-2 pickles are read with ``encoding='latin1'``)."""
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="latin1")
    except Exception as e:                       # noqa: BLE001 - any unpickling failure
        raise DatasetError(f"cannot read 3DPW sequence {path}: {e}") from None
    if not isinstance(d, dict):
        raise DatasetError(f"{path} is not a 3DPW sequence file (a dict)")
    for k in ("jointPositions", "cam_poses", "cam_intrinsics", "campose_valid"):
        if k not in d:
            raise DatasetError(f"{path} lacks '{k}' (keys: {sorted(d)})")
    return d


def load(data_dir: str, keypoints: str = "gt", joints: str = "smpl24",
         sample_interval: int = 35, split: str = "test") -> EvalSet:
    """The 3DPW protocol frames.

    Args:
      keypoints: ``'gt'`` (pinhole projection of the 3D joints: the release always used this,
        quirk Q16) or ``'openpose'`` (the files' ``poses2d``, COCO-18 -> Human3.6M-17 via
        :func:`zedo_jax.inputs.layouts.to_h36m`; missing joints get confidence 0).
      joints: ``'smpl24'`` (joint mapping); ``'regressor'`` is the release's mesh regressor and
        needs the SMPL model (not supported: raises with instructions).
      sample_interval: every n-th valid person-frame (35 -> 1,015 frames on the full split).
    """
    if joints not in JOINT_SOURCES:
        raise DatasetError(f"joints must be one of {JOINT_SOURCES}; got {joints!r}")
    if joints == "regressor":
        raise DatasetError(
            "3DPW joints regressed from the SMPL mesh (the release's ground truth) need the "
            "SMPL body model and a Human3.6M joint regressor, which zedo_jax does not read; "
            "use joints='smpl24' (--pw3d_joints smpl24), the SMPL-joint mapping")
    if keypoints not in ("gt", "openpose"):
        raise DatasetError(f"3DPW keypoints must be 'gt' or 'openpose'; got {keypoints!r}")
    files = sequence_files(data_dir, split)
    kps, Ks, p3s, seqs, frames = [], [], [], [], []
    for path in files:
        d = read_sequence(path)
        name = str(d.get("sequence", os.path.splitext(os.path.basename(path))[0]))
        cam_poses = np.asarray(d["cam_poses"], np.float64)
        Kc = np.asarray(d["cam_intrinsics"], np.float64)
        if Kc.shape != (3, 3):
            raise DatasetError(f"{path}: cam_intrinsics must be [3, 3]; got {list(Kc.shape)}")
        if cam_poses.ndim != 3 or cam_poses.shape[1:] != (4, 4):
            raise DatasetError(f"{path}: cam_poses must be [F, 4, 4]; got "
                               f"{list(cam_poses.shape)}")
        for p, jp in enumerate(d["jointPositions"]):
            jp = np.asarray(jp, np.float64)
            F = len(cam_poses)
            if jp.shape != (F, 72):
                raise DatasetError(f"{path}: jointPositions[{p}] must be [F={F}, 72]; got "
                                   f"{list(jp.shape)}")
            valid = np.asarray(d["campose_valid"][p]).astype(bool).reshape(-1)
            if valid.shape != (F,):
                raise DatasetError(f"{path}: campose_valid[{p}] must have {F} entries; got "
                                   f"{valid.shape[0]}")
            f_ids = np.flatnonzero(valid)
            world = smpl24_to_h36m(jp[f_ids].reshape(-1, 24, 3))
            X = joints_to_camera(world, cam_poses[f_ids, :3, :3], cam_poses[f_ids, :3, 3])
            K = np.broadcast_to(Kc, (len(f_ids), 3, 3))
            if keypoints == "gt":
                kp = with_confidence(cameras.project_pinhole(X, K))
            else:
                if "poses2d" not in d:
                    raise DatasetError(f"{path} lacks 'poses2d' (needed for keypoints="
                                       f"'openpose')")
                p2 = np.asarray(d["poses2d"][p], np.float64)
                if p2.shape != (F, 3, 18):
                    raise DatasetError(f"{path}: poses2d[{p}] must be [F={F}, 3, 18]; got "
                                       f"{list(p2.shape)}")
                src = np.transpose(p2[f_ids], (0, 2, 1))             # [n, 18, 3]
                kp = keypoint_formats.to_h36m(src, "coco18", confidence_mode="score",
                                              name=f"{path} poses2d[{p}]")
            kps.append(kp)
            Ks.append(K)
            p3s.append(X)
            seqs += [f"{name}/person{p}"] * len(f_ids)
            frames.append(f_ids)
    total = sum(len(f) for f in frames)
    if total == 0:
        raise DatasetError(f"no valid frames (campose_valid) in the 3DPW files of {data_dir}")
    idx = subsample(total, sample_interval)
    p3 = np.concatenate(p3s)[idx].astype(np.float32)
    check_metres(p3, f"3DPW jointPositions in {data_dir}")
    seq = np.array(seqs)[idx]
    return EvalSet(name="3dpw", keypoints=np.concatenate(kps)[idx].astype(np.float32),
                   K=np.concatenate(Ks)[idx].astype(np.float32), poses3d=p3, seq=seq,
                   frame=np.concatenate(frames)[idx].astype(np.int64), group=seq,
                   source=f"{len(files)} 3DPW {split} sequence files in {data_dir} "
                          f"(joints: {joints}, 2D: {keypoints})",
                   absolute=True, total_frames=total, index=idx)
