"""Official evaluation datasets in the files users have, and the release's protocols.

    from zedo_jax import datasets
    ev = datasets.load("h36m", "/data/h36m", keypoints="cpn")   # EvalSet, 886-ish frames
    poses = ...                                                # lift ev.keypoints with ev.K
    res = datasets.evaluate(poses, ev, datasets.get("h36m"))
    print(datasets.format_table(res, datasets.get("h36m"), ev, keypoints="cpn", hypotheses=1))

Loaders (each returns an :class:`EvalSet`: keypoints ``[N,17,3]`` pixels + confidence, pinhole
``K [N,3,3]``, ``poses3d [N,17,3]`` camera-frame metres, sequence / frame / group labels):

* :mod:`.h36m` — VideoPose3D's ``data_3d_h36m.npz`` + ``data_2d_h36m_{gt,cpn_ft_h36m_dbb}.npz``
  with the published cameras (:mod:`.cameras`);
* :mod:`.pw3d` — 3DPW ``sequenceFiles/test/*.pkl``;
* :mod:`.mpi_inf_3dhp` — MPI-INF-3DHP ``TS*/annot_data.mat`` (MATLAB v5 or v7.3);
* :mod:`.skipose` — Ski-Pose PTZ ``test/labels.h5``.

:mod:`.synthetic` writes tiny files in each of these layouts (tests, smoke runs).
"""
from __future__ import annotations

import os

import numpy as np

from zedo_jax.datasets import cameras, h36m, mpi_inf_3dhp, pw3d, skipose
from zedo_jax.datasets.base import DatasetError, EvalSet
from zedo_jax.datasets.protocols import PROTOCOLS, Protocol, evaluate, format_table, get, load

__all__ = ["DatasetError", "EvalSet", "PROTOCOLS", "Protocol", "evaluate", "format_table", "get",
           "load", "load_init_poses", "cameras", "h36m", "pw3d", "mpi_inf_3dhp", "skipose"]


def load_init_poses(path: str, evalset: EvalSet):
    """Initial poses for a dataset run.

    Returns ``(poses, per_frame)``: ``[S, 17, 3]`` shared hypotheses (``per_frame=False``), or
    ``[N, 17, 3]`` one pose per protocol frame (refinement mode, e.g. VideoPose3D's outputs; see
    :func:`.h36m.load_predictions` for the accepted layouts).
    """
    if not os.path.isfile(path):
        raise DatasetError(f"initial-pose file not found: {path}")
    if path.endswith(".npy"):
        p = np.load(path)
        if p.ndim == 3 and p.shape[1:] == (17, 3) and \
                len(p) not in (len(evalset), evalset.total_frames):
            return np.asarray(p, np.float32), False
    return h36m.load_predictions(path, evalset), True
