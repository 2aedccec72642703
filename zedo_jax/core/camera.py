"""Pinhole camera geometry (camera axes: x right, y down, z forward; pixels).

Conventions: camera axes x right, y down, z forward; points are row vectors in metres;
intrinsics ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels (no skew, no distortion).
All functions are pure ``jax.numpy`` and work on any leading batch shape.
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np


def project(points, K):
    """Perspective projection.

    Args:
      points: ``[..., J, 3]`` camera-frame points (metres).
      K: ``[..., 3, 3]`` intrinsics broadcastable against ``points[..., :1, :]``.
    Returns:
      ``[..., J, 2]`` pixel coordinates ``(u, v)``.
    """
    uvw = jnp.einsum("...ij,...nj->...ni", K, points)
    return uvw[..., :2] / uvw[..., 2:3]


def normalized_coordinates(uv, K):
    """z-normalised back-projected rays ``K^{-1} (u, v, 1)``: ``[..., J, 2] -> [..., J, 3]``.

    The third component is exactly 1. Computed with the closed-form inverse of a
    pinhole ``K`` (skew is taken into account), so no matrix inverse is needed.
    """
    fx = K[..., 0, 0][..., None]
    fy = K[..., 1, 1][..., None]
    s = K[..., 0, 1][..., None]
    cx = K[..., 0, 2][..., None]
    cy = K[..., 1, 2][..., None]
    yn = (uv[..., 1] - cy) / fy
    xn = (uv[..., 0] - cx - s * yn) / fx
    return jnp.stack([xn, yn, jnp.ones_like(xn)], axis=-1)


def unit_rays(uv, K):
    """Unit-norm back-projected rays ``d / |d|``: ``[..., J, 2] -> [..., J, 3]``."""
    d = normalized_coordinates(uv, K)
    return d / jnp.linalg.norm(d, axis=-1, keepdims=True)


def reprojection_error(points, uv, K):
    """Per-joint pixel distance between ``project(points, K)`` and ``uv``: ``[..., J]``."""
    return jnp.linalg.norm(project(points, K) - uv, axis=-1)


def intrinsics(fx, fy, cx, cy, dtype=np.float32):
    """Build a ``[3, 3]`` pinhole matrix (numpy)."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=dtype)


def default_intrinsics(width: float, height: float, fov_deg: float = 55.0,
                       focal: float | None = None, dtype=np.float32):
    """Intrinsics for an uncalibrated camera (documented default for in-the-wild input).

    Principal point at the image centre ``(width/2, height/2)``; square pixels; focal length
    ``f = max(width, height) / (2 tan(fov/2))`` with ``fov`` the field of view across the larger
    image side (55° by default, a typical phone/webcam lens; Human3.6M's cameras are about 47°),
    unless ``focal`` (pixels) is given.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got width={width}, height={height}")
    if focal is None:
        if not 0.0 < fov_deg < 180.0:
            raise ValueError(f"fov_deg must lie in (0, 180), got {fov_deg}")
        focal = max(width, height) / (2.0 * math.tan(math.radians(fov_deg) / 2.0))
    return intrinsics(focal, focal, width / 2.0, height / 2.0, dtype=dtype)


# ----------------------------------------------------------------------------------------------
# Virtual cameras (used to turn world-frame motion capture into camera-axes training poses).
# ----------------------------------------------------------------------------------------------

def look_at_rotation(forward, up=(0.0, 0.0, 1.0)):
    """World-to-camera rotation whose optical axis is ``forward`` and whose image "up" is ``up``.

    Args:
      forward: ``[..., 3]`` viewing direction in world coordinates (need not be unit).
      up: world up vector (z-up by default, as in the CMU / Human3.6M world frames).
    Returns:
      ``[..., 3, 3]`` matrix ``R`` with rows (x_cam, y_cam, z_cam) expressed in world
      coordinates, so that ``X_cam = X_world @ R.T`` (x right, y down, z forward).
    """
    up = jnp.broadcast_to(jnp.asarray(up, forward.dtype), forward.shape)
    z = forward / jnp.linalg.norm(forward, axis=-1, keepdims=True)
    x = jnp.cross(z, up)  # right = forward x up for a y-down camera
    x = x / jnp.linalg.norm(x, axis=-1, keepdims=True)
    y = jnp.cross(z, x)   # down
    return jnp.stack([x, y, z], axis=-2)


def yaw_pitch_rotation(yaw, pitch):
    """World(z-up)-to-camera rotation of a camera at azimuth ``yaw`` looking down by ``pitch``.

    The camera sits on the circle around the subject at angle ``yaw`` (radians) and looks toward
    the vertical axis through the subject, tilted down by ``pitch`` radians (positive = looking
    down). No roll. Returns ``[..., 3, 3]`` with ``X_cam = X_world @ R.T``.
    """
    yaw = jnp.asarray(yaw)
    pitch = jnp.asarray(pitch)
    # Camera position direction (cos yaw, sin yaw); it looks back toward the subject.
    horiz = -jnp.stack([jnp.cos(yaw), jnp.sin(yaw), jnp.zeros_like(yaw)], axis=-1)
    forward = horiz * jnp.cos(pitch)[..., None] + jnp.stack(
        [jnp.zeros_like(yaw), jnp.zeros_like(yaw), -jnp.sin(pitch)], axis=-1)
    return look_at_rotation(forward)


def check_intrinsics(K, name: str = "K"):
    """Validate intrinsics on the host; raise ``ValueError`` naming ``name`` on a bad matrix.

    Accepts ``[3, 3]`` or ``[N, 3, 3]``. Requires finite values, positive focal lengths and a
    last row ``(0, 0, 1)``.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape[-2:] != (3, 3) or K.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape [3, 3] or [N, 3, 3]; got {list(K.shape)}")
    if not np.all(np.isfinite(K)):
        bad = np.argwhere(~np.isfinite(K.reshape(-1, 9)).all(-1)).ravel()
        raise ValueError(f"{name} contains NaN/inf values (matrices {bad[:10].tolist()})")
    Kb = K.reshape(-1, 3, 3)
    fx, fy = Kb[:, 0, 0], Kb[:, 1, 1]
    bad = np.flatnonzero((fx <= 0) | (fy <= 0))
    if bad.size:
        raise ValueError(
            f"{name} is singular or not a pinhole matrix: focal lengths fx, fy must be > 0 "
            f"(a zero focal length is singular; a negative one mirrors the image and would put "
            f"the person behind the camera). Bad matrices at indices {bad[:10].tolist()}, e.g. "
            f"fx={fx[bad[0]]}, fy={fy[bad[0]]}")
    last = Kb[:, 2, :]
    bad = np.flatnonzero(np.abs(last - np.array([0.0, 0.0, 1.0])).max(-1) > 1e-6)
    if bad.size:
        raise ValueError(
            f"{name} must have last row (0, 0, 1); matrices {bad[:10].tolist()} do not "
            f"(e.g. {last[bad[0]].tolist()})")
    if np.any(np.abs(Kb[:, 1, 0]) > 1e-9):
        raise ValueError(f"{name}[1, 0] must be 0 for a pinhole matrix")
    return K

