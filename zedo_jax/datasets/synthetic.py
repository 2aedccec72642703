"""Tiny files in each official dataset layout, built from known poses seen by known cameras.

For tests and smoke runs only (no real data is ever shipped). Each writer takes root-relative
camera-axes poses ``[P, 17, 3]`` (default: the shipped prior's 50 hypotheses, realistic
people), places them in front of the dataset's cameras, writes the file(s) with the right
keys, shapes and dtypes, and returns the ground truth it encoded, so a loader can be checked
against it.

    from zedo_jax.datasets import synthetic
    synthetic.write_h36m("/tmp/h36m")     # then: python -m launch.evaluate --dataset h36m \
                                          #   --data_dir /tmp/h36m --ipo_steps 20 --oil_steps 20
"""
from __future__ import annotations

import os
import pickle

import numpy as np

from zedo_jax.datasets import cameras, h36m, mpi_inf_3dhp, pw3d, skipose
from zedo_jax.inputs import layouts as keypoint_formats

ASSET_CLUSTERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "assets", "prior", "clusters_50.npy")


def pose_bank() -> np.ndarray:
    """``[P, 17, 3]`` root-relative upright poses in camera axes: the shipped 50 hypotheses
    whose head top is more than 0.5 m above the pelvis (lying and bent-over ones left out)."""
    p = np.load(ASSET_CLUSTERS).astype(np.float64)
    p = p - p[:, :1]
    return p[p[:, 10, 1] < -0.5]


def _poses(n: int, poses, rng) -> np.ndarray:
    bank = pose_bank() if poses is None else np.asarray(poses, np.float64)
    return bank[rng.integers(0, len(bank), n)]


def _camera_to_world_upright(p):
    """Camera axes (y down, z forward) -> a z-up world: (x, y, z) -> (x, z, -y)."""
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


# ----------------------------------------------------------------------------------------------
# Human3.6M (VideoPose3D layout)
# ----------------------------------------------------------------------------------------------

def write_h36m(out_dir: str, subjects=None, poses=None, seed: int = 0, extra_2d_frames: int = 2,
               cpn_noise_px: float = 3.0) -> dict:
    """Write ``data_3d_h36m.npz``, ``data_2d_h36m_gt.npz`` and
    ``data_2d_h36m_cpn_ft_h36m_dbb.npz``.

    Args:
      subjects: ``{subject: {action: frames}}`` (default: S9 and S11 with two actions of 250
        frames each and S1 with one action, so the test protocol has 2,000 frames -> 4 at
        ``[::640]``).
      extra_2d_frames: 2D sequences are this much longer than 3D (as some real videos are).
    Returns:
      ``{subject: {action: [F, 17, 3] world metres}}`` (the 17-joint ground truth).
    """
    rng = np.random.default_rng(seed)
    subjects = subjects or {"S1": {"Walking": 50},
                            "S9": {"Directions 1": 250, "Sitting": 250},
                            "S11": {"Photo": 250, "WalkDog 1": 250}}
    os.makedirs(out_dir, exist_ok=True)
    pos3d, gt2d, cpn2d, truth = {}, {}, {}, {}
    for s, actions in subjects.items():
        pos3d[s], gt2d[s], cpn2d[s], truth[s] = {}, {}, {}, {}
        for a, F in actions.items():
            p = _camera_to_world_upright(_poses(F, poses, rng))
            p = p + np.array([rng.uniform(-.5, .5), rng.uniform(-.5, .5), 0.95])
            p32 = np.repeat(p[:, :1], 32, axis=1)
            p32[:, list(h36m.H36M32_TO_17)] = p
            pos3d[s][a] = p32.astype(np.float32)
            truth[s][a] = p.astype(np.float32)
            pe = np.concatenate([p, np.repeat(p[-1:], extra_2d_frames, 0)], 0)
            gt_l, cpn_l = [], []
            for c, cam in enumerate(cameras.H36M_CAMERAS):
                R, t = cameras.h36m_world_to_camera(s if s in cameras.H36M_EXTRINSICS else "S9",
                                                    c)
                X = pe @ R.T + t
                uv = cameras.project_distorted(X, cam)
                gt_l.append(uv.astype(np.float32))
                cpn_l.append((uv + rng.normal(0, cpn_noise_px, uv.shape)).astype(np.float32))
            gt2d[s][a], cpn2d[s][a] = gt_l, cpn_l
    meta = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    np.savez_compressed(os.path.join(out_dir, h36m.FILE_3D), positions_3d=pos3d)
    np.savez_compressed(os.path.join(out_dir, h36m.KEYPOINT_FILES["gt"]), positions_2d=gt2d,
                        metadata=meta)
    np.savez_compressed(os.path.join(out_dir, h36m.KEYPOINT_FILES["cpn"]), positions_2d=cpn2d,
                        metadata=meta)
    return truth


# ----------------------------------------------------------------------------------------------
# 3DPW
# ----------------------------------------------------------------------------------------------

def _coco18(poses3d) -> np.ndarray:
    """OpenPose COCO-18 3D points from Human3.6M-17 poses ``[..., 17, 3]``."""
    c17 = keypoint_formats.synthetic_coco17_3d(poses3d)
    neck = (c17[..., 5, :] + c17[..., 6, :]) / 2
    order = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
    return np.stack([neck if o is None else c17[..., o, :] for o in order], -2)


def _smpl24(p17) -> np.ndarray:
    """SMPL-24 joints whose :func:`.pw3d.smpl24_to_h36m` is ``p17`` (head top made
    consistent first, see :func:`pw3d_truth`)."""
    j = np.zeros(p17.shape[:-2] + (24, 3))
    for h, s in enumerate(pw3d.SMPL24_TO_H36M):
        if s >= 0:
            j[..., s, :] = p17[..., h, :]
    lerp = lambda a, b, t: j[..., a, :] + t * (j[..., b, :] - j[..., a, :])  # noqa: E731
    j[..., 3, :] = lerp(0, 6, 0.5)                     # spine1
    j[..., 9, :] = lerp(6, 12, 0.3)                    # spine3
    j[..., 10, :] = j[..., 7, :] + [0, 0.05, 0.1]      # feet
    j[..., 11, :] = j[..., 8, :] + [0, 0.05, 0.1]
    j[..., 13, :] = lerp(12, 16, 0.5)                  # collars
    j[..., 14, :] = lerp(12, 17, 0.5)
    j[..., 22, :] = lerp(18, 20, 1.1)                  # hands
    j[..., 23, :] = lerp(19, 21, 1.1)
    return j


def pw3d_truth(p17) -> np.ndarray:
    """``p17`` with the head top replaced as the SMPL-joint mapping derives it."""
    p = np.array(p17, np.float64)
    p[..., 10, :] = p[..., 9, :] + pw3d.HEAD_TOP_FACTOR * (p[..., 9, :] - p[..., 8, :])
    return p


def write_pw3d(out_dir: str, sequences=None, poses=None, seed: int = 0) -> dict:
    """Write ``sequenceFiles/test/<name>.pkl`` (Python-2-compatible pickles).

    Args:
      sequences: ``{name: (persons, frames)}`` (default two sequences, 1 and 2 people, 40
        frames each; every 10th frame has ``campose_valid = 0``).
    Returns:
      ``{name: [persons] of (valid frame ids [n], camera-frame poses [n, 17, 3] metres)}``.
    """
    rng = np.random.default_rng(seed)
    sequences = sequences or {"downtown_test_00": (1, 40), "office_test_01": (2, 40)}
    d = os.path.join(out_dir, "sequenceFiles", "test")
    os.makedirs(d, exist_ok=True)
    truth = {}
    for name, (persons, F) in sequences.items():
        K = np.array([[1961.0, 0, 540.0], [0, 1969.0, 960.0], [0, 0, 1]])
        # World -> camera per frame: a slowly turning camera.
        yaw = np.linspace(0, 0.3, F)
        cam_poses = np.tile(np.eye(4), (F, 1, 1))
        cam_poses[:, 0, 0], cam_poses[:, 0, 2] = np.cos(yaw), np.sin(yaw)
        cam_poses[:, 2, 0], cam_poses[:, 2, 2] = -np.sin(yaw), np.cos(yaw)
        cam_poses[:, :3, 3] = [0.1, -0.2, 1.0]
        jp, valid, p2d, truth[name] = [], [], [], []
        for p in range(persons):
            cam17 = pw3d_truth(_poses(F, poses, rng)) + \
                np.array([rng.uniform(-.8, .8), rng.uniform(0.0, .3), rng.uniform(4, 6)])
            R, t = cam_poses[:, :3, :3], cam_poses[:, :3, 3]
            world17 = np.einsum("fji,fnj->fni", R, cam17 - t[:, None])       # R^T (X - t)
            jp.append(_smpl24(world17).reshape(F, 72))
            v = np.ones(F, np.int64)
            v[::10] = 0
            valid.append(v)
            kp = cameras.project_pinhole(_coco18(cam17), K)                   # [F, 18, 2]
            p2d.append(np.concatenate([kp, np.full(kp.shape[:-1] + (1,), 0.9)], -1)
                       .transpose(0, 2, 1))
            ok = np.flatnonzero(v)
            truth[name].append((ok, cam17[ok].astype(np.float32)))
        doc = {"sequence": name, "jointPositions": jp, "cam_poses": cam_poses,
               "cam_intrinsics": K, "campose_valid": valid, "poses2d": p2d,
               "genders": ["m"] * persons, "img_frame_ids": np.arange(F),
               "betas": [np.zeros(10)] * persons, "poses": [np.zeros((F, 72))] * persons,
               "trans": [np.zeros((F, 3))] * persons}
        with open(os.path.join(d, f"{name}.pkl"), "wb") as f:
            pickle.dump(doc, f, protocol=2)
    return truth


# ----------------------------------------------------------------------------------------------
# MPI-INF-3DHP test set
# ----------------------------------------------------------------------------------------------

def write_3dhp(out_dir: str, sequences=None, poses=None, seed: int = 0,
               mat_version: str = "7.3", univ_scale: float = 0.95) -> dict:
    """Write ``mpi_inf_3dhp_test_set/TS*/annot_data.mat`` (MATLAB ``'7.3'`` = HDF5 via h5py, or
    ``'5'`` via scipy; both need the ``datasets`` extra).

    Args:
      sequences: ``{'TS1': frames, ...}`` (default TS1 and TS5, 30 frames, every 4th invalid).
      univ_scale: ``univ_annot3`` = root + scale x (``annot3`` - root).
    Returns:
      ``{ts: (valid frame ids, annot3 [n, 17, 3] metres H36M order, univ [n, 17, 3],
      activity [n])}``.
    """
    rng = np.random.default_rng(seed)
    sequences = sequences or {"TS1": 30, "TS5": 30}
    inv = np.argsort(mpi_inf_3dhp.TEST17_TO_H36M)          # H36M order -> test order
    truth = {}
    for ts, F in sequences.items():
        cam = cameras.MPI_INF_3DHP_TEST_CAMERAS[ts]
        X = _poses(F, poses, rng) + np.array([rng.uniform(-.3, .3), 0.2, rng.uniform(3.5, 5)])
        U = X[:, :1] + univ_scale * (X - X[:, :1])
        uv = cameras.project_pinhole(X, cam.K)
        valid = np.ones(F, np.float64)
        valid[::4] = 0
        act = 1 + np.arange(F) % 7
        # MATLAB arrays are C x 17 x 1 x F; h5py shows them reversed (F x 1 x 17 x C).
        fields = {"annot2": uv[:, inv], "annot3": 1000 * X[:, inv],
                  "univ_annot3": 1000 * U[:, inv]}
        d = os.path.join(out_dir, "mpi_inf_3dhp_test_set", ts)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "annot_data.mat")
        if mat_version == "7.3":
            import h5py
            with h5py.File(path, "w") as f:
                for k, v in fields.items():
                    f[k] = v[:, None].astype(np.float64)                       # F x 1 x 17 x C
                f["valid_frame"] = valid[None]                                 # 1 x F
                f["activity_annotation"] = act[None].astype(np.float64)
        else:
            import scipy.io
            mat = {k: np.transpose(v, (2, 1, 0))[:, :, None, :] for k, v in fields.items()}
            mat["valid_frame"] = valid[:, None]                                # F x 1
            mat["activity_annotation"] = act[:, None].astype(np.float64)
            scipy.io.savemat(path, mat)
        ok = np.flatnonzero(valid)
        truth[ts] = (ok, X[ok].astype(np.float32), U[ok].astype(np.float32), act[ok])
    return truth


# ----------------------------------------------------------------------------------------------
# Ski-Pose
# ----------------------------------------------------------------------------------------------

def write_skipose(out_dir: str, n: int = 12, poses=None, seed: int = 0) -> dict:
    """Write ``test/labels.h5`` (needs h5py).

    Returns:
      ``{"poses3d": [n, 17, 3] root-relative metres, "translation": [n, 3], "K": [n, 3, 3]
      pixels of the 256 x 256 crop}``.
    """
    import h5py
    rng = np.random.default_rng(seed)
    rel = _poses(n, poses, rng)
    T = np.stack([rng.uniform(-.5, .5, n), rng.uniform(-.3, .3, n), rng.uniform(15, 25, n)], -1)
    f = rng.uniform(2000, 2600, n)
    K = cameras.intrinsics(np.stack([f, f], -1), np.full((n, 2), skipose.CROP / 2))
    uv = cameras.project_pinhole(rel + T[:, None], K)
    d = os.path.join(out_dir, "test")
    os.makedirs(d, exist_ok=True)
    Kn = K / skipose.CROP
    Kn[:, 2, 2] = 1.0
    with h5py.File(os.path.join(d, "labels.h5"), "w") as h:
        h["seq"] = (np.arange(n) // 4).astype(np.float64)
        h["cam"] = (np.arange(n) % 4).astype(np.float64)
        h["frame"] = np.arange(n).astype(np.float64)
        h["subj"] = np.zeros(n)
        h["cam_intrinsic"] = Kn.astype(np.float32)
        h["2D"] = (uv / skipose.CROP).reshape(n, 34).astype(np.float32)
        h["3D"] = rel.reshape(n, 51).astype(np.float32)
        h["cam_position"] = np.zeros((n, 3), np.float32)
        h["R_cam_2_world"] = np.tile(np.eye(3).reshape(1, 9), (n, 1)).astype(np.float32)
    return {"poses3d": rel.astype(np.float32), "translation": T, "K": K}


WRITERS = {"h36m": write_h36m, "3dpw": write_pw3d, "3dhp": write_3dhp, "ski": write_skipose}
