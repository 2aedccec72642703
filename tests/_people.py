"""Hand-made 3D people for the detector-input tests (no shared data needed)."""
import numpy as np

from zedo_jax.core import camera
from zedo_jax.inputs import layouts as kf


def standing_pose(yaw_deg: float = 0.0, stride_deg: float = 0.0) -> np.ndarray:
    """An upright person, ``[17, 3]`` metres, camera axes (x right, y down, z forward),
    pelvis at the origin, with the training data's mean bone lengths (within 3%).

    ``yaw_deg = 0`` faces the camera; ``stride_deg`` swings the legs (walking).
    """
    P = np.zeros((17, 3))
    s = np.radians(stride_deg)
    P[1], P[4] = [-0.096, 0, 0], [0.096, 0, 0]                     # right hip on image left
    P[2] = P[1] + 0.43 * np.array([0, np.cos(s), -np.sin(s)])
    P[3] = P[2] + [0, 0.476, 0]
    P[5] = P[4] + 0.43 * np.array([0, np.cos(s), np.sin(s)])
    P[6] = P[5] + 0.476 * np.array([0, np.cos(s), np.sin(s)])
    P[7] = [0, -0.255, -0.01]
    P[8] = P[7] + [0, -0.259, 0]
    P[9] = P[8] + [0, -0.153, -0.08]                               # nose, in front (-z)
    P[10] = P[9] + [0, -0.095, 0.033]
    for sh, el, wr, side in ((11, 12, 13, 1.0), (14, 15, 16, -1.0)):
        P[sh] = P[8] + [side * 0.16, 0.045, 0]
        P[el] = P[sh] + 0.29 * np.array([side * 0.17, 0.985, 0])
        P[wr] = P[el] + 0.24 * np.array([side * 0.1, 0.99, -0.1])
    c, s_ = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    R = np.array([[c, 0, s_], [0, 1, 0], [-s_, 0, c]])           # about the vertical axis
    return P @ R.T


#: (yaw, stride, translation) of the people used by the end-to-end tests.
SCENES = [(0.0, 0.0, (0.2, 0.1, 4.0)), (35.0, 15.0, (-0.5, 0.0, 5.0)),
          (-30.0, -20.0, (0.3, 0.2, 3.5)), (160.0, 10.0, (0.0, 0.1, 4.5))]


def coco_frames(width=1280, height=720, fov_deg=65.0, conf=0.9):
    """COCO-17 keypoints ``[F, 17, 3]`` (pixels + confidence) of :data:`SCENES` seen by a
    camera of ``fov_deg`` (deliberately not the 55 deg default), and the 3D poses
    ``[F, 17, 3]`` (camera frame, absolute)."""
    poses = np.stack([standing_pose(y, s) + np.asarray(t) for y, s, t in SCENES])
    K = camera.default_intrinsics(width, height, fov_deg=fov_deg)
    uv = np.asarray(camera.project(kf.synthetic_coco17_3d(poses), K))
    return np.concatenate([uv, np.full(uv.shape[:2] + (1,), conf)], -1), poses


def zero_result(n: int, S: int = 1):
    """A :class:`zedo_jax.lifting.LiftResult` of ``n`` frames and ``S`` hypotheses, all
    zeros (what the output writers need, without lifting)."""
    from zedo_jax import lifting
    shapes = {"poses": (17, 3), "translation": (3,), "reprojection_error_px": (17,),
              "ipo_poses": (17, 3), "ipo_translation": (3,)}
    arrays = {k: np.zeros((n, S) + shapes.get(k, ()), np.float32) for k in lifting.RESULT_KEYS}
    arrays["best"] = np.zeros(n, np.int64)
    arrays["plausible"] = np.ones((n, S), bool)
    return lifting.LiftResult(**arrays)
