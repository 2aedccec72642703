"""Reading lifting inputs and writing lifting outputs.

Input ``.npz`` ("custom data" format, the same layout as ``cmu_test_views.npz``):

==================  ===================  ==========================================================
key                 shape                meaning
==================  ===================  ==========================================================
``keypoints``       [N, 17, 2|3]         pixels u, v (+ confidence in [0, 1]), Human3.6M-17 order
``K``               [3, 3] or [N, 3, 3]  intrinsics in pixels (or give ``image_size``)
``image_size``      [2] or [N, 2]        optional (width, height); used for a default K when ``K``
                                         is absent (see :func:`zedo_jax.camera.default_intrinsics`)
``confidence``      [N, 17]              optional, overrides a third keypoint column
``poses3d``         [N, 17, 3]           optional ground truth, metres, camera frame (absolute or
                                         root-relative); enables metrics
``seq``             [N]                  optional sequence / group id for per-sequence metrics
``frame_ids``       [N]                  optional ids carried to the output
==================  ===================  ==========================================================

Output ``.npz``: ``poses [N, S, 17, 3]`` root-relative metres in camera axes, ``translation
[N, S, 3]`` metres, ``reprojection_error_px [N, S, 17]``, ``ipo_poses [N, S, 17, 3]``, and
``K``, ``keypoints`` and ``frame_ids`` (when given) for reference.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from . import camera, lifting


@dataclasses.dataclass
class LiftInput:
    """Validated lifting input (numpy, float32).

    Attributes:
      keypoints: ``[N, 17, 2]`` pixels.  confidence: ``[N, 17]`` in [0, 1] (0 = missing).
      K: ``[N, 3, 3]``.  poses3d: ``[N, 17, 3]`` metres or ``None``.
      seq: ``[N]`` group ids or ``None``.  frame_ids: ``[N]`` or ``None``.
      image_size: ``[N, 2]`` (width, height) or ``None``.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    K: np.ndarray
    poses3d: np.ndarray | None = None
    seq: np.ndarray | None = None
    frame_ids: np.ndarray | None = None
    image_size: np.ndarray | None = None

    def __len__(self):
        return len(self.keypoints)

    def subset(self, index) -> "LiftInput":
        """Rows ``index`` (a slice or an index array) of every per-frame field."""
        pick = lambda a: None if a is None else a[index]
        return LiftInput(self.keypoints[index], self.confidence[index], self.K[index],
                         pick(self.poses3d), pick(self.seq), pick(self.frame_ids),
                         pick(self.image_size))


def make_input(keypoints, K=None, *, confidence=None, poses3d=None, seq=None, frame_ids=None,
               image_size=None, fov_deg: float = 55.0, focal: float | None = None,
               source: str = "input") -> LiftInput:
    """Validate arrays into a :class:`LiftInput` (errors name ``source`` and the field).

    When ``K`` is ``None`` it is built from ``image_size`` by
    :func:`zedo_jax.camera.default_intrinsics` (``fov_deg`` / ``focal``).
    """
    try:
        uv, conf = lifting.validate_keypoints(keypoints, confidence)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    n = len(uv)
    size = None
    if image_size is not None:
        size = np.asarray(image_size, np.float32)
        if size.shape == (2,):
            size = np.broadcast_to(size, (n, 2))
        if size.shape != (n, 2) or not np.isfinite(size).all() or (size <= 0).any():
            raise ValueError(f"{source}: image_size must be [2] or [N, 2] positive (width, "
                             f"height); got shape {list(np.shape(image_size))}")
    if K is None:
        if size is None:
            raise ValueError(f"{source}: no intrinsics: give 'K' [3, 3] / [N, 3, 3], or "
                             f"'image_size' (width, height) for a default camera")
        K = np.stack([camera.default_intrinsics(w, h, fov_deg=fov_deg, focal=focal)
                      for w, h in size])
    try:
        Ks = lifting.validate_intrinsics(K, n, name="K")
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    gt = None
    if poses3d is not None:
        gt = np.asarray(poses3d, np.float32)
        if gt.shape != (n, 17, 3):
            raise ValueError(f"{source}: poses3d must be [N={n}, 17, 3] metres; "
                             f"got {list(gt.shape)}")
        if not np.isfinite(gt).all():
            raise ValueError(f"{source}: poses3d contains NaN/inf")
        if np.abs(gt).max() > 100:
            raise ValueError(f"{source}: poses3d values reach {np.abs(gt).max():.0f}; they must "
                             f"be in metres (divide millimetres by 1000)")
        root_z = gt[:, 0, 2]
        absolute = np.abs(gt[:, 0]).max() > 1e-6
        if absolute and (root_z <= 0).any():
            f = int(np.flatnonzero(root_z <= 0)[0])
            raise ValueError(f"{source}: poses3d frame {f} puts the person behind the camera "
                             f"(pelvis z = {root_z[f]:.3f} m <= 0); camera axes are x right, "
                             f"y down, z forward")
    for name, arr in (("seq", seq), ("frame_ids", frame_ids)):
        if arr is not None and len(np.asarray(arr)) != n:
            raise ValueError(f"{source}: {name} has {len(np.asarray(arr))} entries for {n} frames")
    return LiftInput(uv, conf, Ks, gt, None if seq is None else np.asarray(seq),
                     None if frame_ids is None else np.asarray(frame_ids), size)


def load_npz(path: str, **kwargs) -> LiftInput:
    """Read a lifting input ``.npz`` (see the module docstring)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"input file not found: {path}")
    with np.load(path, allow_pickle=False) as f:
        if "keypoints" not in f.files:
            raise ValueError(f"{path}: missing field 'keypoints' [N, 17, 2|3] (fields found: "
                             f"{sorted(f.files)})")
        get = lambda k: f[k] if k in f.files else None
        return make_input(f["keypoints"], get("K"), confidence=get("confidence"),
                          poses3d=get("poses3d"), seq=get("seq"), frame_ids=get("frame_ids"),
                          image_size=get("image_size"), source=path, **kwargs)


def save_output(path: str, out: dict, inp: LiftInput | None = None) -> str:
    """Write a lifting result (``lifting.lift`` output) to ``path`` (``.npz``)."""
    arrays = {k: np.asarray(out[k], np.float32) for k in lifting.OUTPUT_KEYS
              if k in out and k != "ipo_translation"}
    if inp is not None:
        arrays["K"] = inp.K
        arrays["keypoints"] = np.concatenate([inp.keypoints, inp.confidence[..., None]], -1)
        if inp.frame_ids is not None:
            arrays["frame_ids"] = inp.frame_ids
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    np.savez(path, **arrays)
    return path
