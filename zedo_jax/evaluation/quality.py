"""Plausibility of inputs and lifted poses: one function each, shared by the launchers and the
output files.

:func:`assess` turns a lift into per-frame, per-hypothesis quality fields users can filter on;
:func:`input_warnings` flags 2D input that is computable but probably wrong (absurd scale or
intrinsics, collapsed keypoints, too few joints). Thresholds are documented in BUILD_NOTES.md
("Inputs and quality") with the distributions they were measured on.
"""
from __future__ import annotations

import numpy as np

from zedo_jax.core import skeleton

#: A frame-hypothesis is ``suspect`` when any of these is exceeded.
THRESHOLDS = {
    # mean reprojection error of the visible joints over the person's 2D size (bbox diagonal)
    "reprojection_rel": 0.05,
    # root-mean-square z-score of the 16 bone lengths against the prior's training statistics
    "bone_rms_z": 6.0,
    # largest relative left/right difference of the paired limb bones
    "asymmetry": 0.85,
    # root distance from the camera, metres
    "root_distance_m": (0.5, 60.0),
}

#: Input checks (:func:`input_warnings`).
INPUT_LIMITS = {
    # distance implied by the 2D size: focal * 1.0 m / (bbox diagonal in px), metres
    "implied_distance_m": (0.2, 200.0),
    # the farthest visible joint's ray from the optical axis, degrees
    "off_axis_deg": 75.0,
    # bbox diagonal of the visible joints, pixels
    "min_extent_px": 4.0,
    # visible joints per frame
    "min_visible": 4,
}


def _extent_px(uv, conf):
    """Bbox diagonal ``[N]`` of the visible joints (pixels)."""
    vis = conf > 0
    big = np.where(vis[..., None], uv, np.nan)
    lo, hi = np.nanmin(big, -2), np.nanmax(big, -2)
    return np.linalg.norm(hi - lo, axis=-1)


def assess(poses, translation, reprojection_error_px, keypoints, confidence,
           stats: dict | None = None) -> dict:
    """Per frame and hypothesis quality of a lift.

    Args:
      poses: ``[N, S, 17, 3]`` root-relative metres.  translation: ``[N, S, 3]`` metres.
      reprojection_error_px: ``[N, S, 17]``.  keypoints: ``[N, 17, 2]`` pixels.
      confidence: ``[N, 17]`` (0 = missing).  stats: the prior's training statistics
        (``Prior.stats``; bone-length mean/std) or ``None``/``{}`` (then ``bone_rms_z`` is NaN
        and does not count).
    Returns:
      dict of float32 ``[N, S]`` arrays ``reprojection_error_px_mean`` (visible joints),
      ``reprojection_error_rel`` (over the 2D size), ``bone_rms_z``, ``asymmetry``,
      ``root_distance_m``, and the boolean ``suspect [N, S]``.
    """
    poses = np.asarray(poses, np.float64)
    vis = (np.asarray(confidence) > 0)[:, None, :]
    err = np.asarray(reprojection_error_px, np.float64)
    err_mean = (err * vis).sum(-1) / np.maximum(vis.sum(-1), 1)
    extent = _extent_px(np.asarray(keypoints, np.float64), np.asarray(confidence))
    rel = err_mean / np.maximum(extent, 1e-6)[:, None]
    bl = skeleton.bone_lengths(poses)
    if stats and "bone_length_mean_m" in stats:
        mean = np.asarray(stats["bone_length_mean_m"])
        std = np.maximum(np.asarray(stats["bone_length_std_m"]), 1e-3)
        rms_z = np.sqrt((((bl - mean) / std) ** 2).mean(-1))
    else:
        rms_z = np.full(bl.shape[:-1], np.nan)
    index = {b: i for i, b in enumerate(skeleton.BONES)}
    left = bl[..., [index[b] for b in skeleton.LEFT_BONES]]
    right = bl[..., [index[b] for b in skeleton.RIGHT_BONES]]
    asym = (np.abs(left - right) / np.maximum(np.maximum(left, right), 1e-6)).max(-1)
    dist = np.linalg.norm(np.asarray(translation, np.float64), axis=-1)
    lo, hi = THRESHOLDS["root_distance_m"]
    suspect = ((rel > THRESHOLDS["reprojection_rel"]) | (asym > THRESHOLDS["asymmetry"]) |
               (dist < lo) | (dist > hi) |
               (np.nan_to_num(rms_z, nan=0.0) > THRESHOLDS["bone_rms_z"]))
    f32 = lambda a: np.asarray(a, np.float32)
    return {"reprojection_error_px_mean": f32(err_mean), "reprojection_error_rel": f32(rel),
            "bone_rms_z": f32(rms_z), "asymmetry": f32(asym), "root_distance_m": f32(dist),
            "suspect": np.asarray(suspect, bool)}


def input_warnings(keypoints, confidence, K, source: str = "input") -> list[str]:
    """Warnings (one line each, without the ``Warning:`` prefix) for 2D input that can be
    lifted but probably describes something else than intended.

    Args:
      keypoints: ``[N, 17, 2]`` pixels.  confidence: ``[N, 17]``.  K: ``[N, 3, 3]``.
    """
    uv = np.asarray(keypoints, np.float64)
    conf = np.asarray(confidence, np.float64)
    K = np.asarray(K, np.float64)
    out = []
    n_vis = (conf > 0).sum(-1)
    few = np.flatnonzero(n_vis < INPUT_LIMITS["min_visible"])
    if few.size:
        out.append(f"{source}: {few.size} frame(s) have fewer than {INPUT_LIMITS['min_visible']} "
                   f"visible joints (first: frame {few[0]}, {n_vis[few[0]]} joints); their 3D "
                   f"pose comes almost entirely from the prior")
    extent = _extent_px(uv, conf)
    tiny = np.flatnonzero(extent < INPUT_LIMITS["min_extent_px"])
    if tiny.size:
        out.append(f"{source}: in {tiny.size} frame(s) all visible joints lie within "
                   f"{INPUT_LIMITS['min_extent_px']:g} px of each other (first: frame {tiny[0]}, "
                   f"{extent[tiny[0]]:.3g} px): the keypoints have collapsed to a point")
    f = np.sqrt(np.abs(K[:, 0, 0] * K[:, 1, 1]))
    dist = f * 1.0 / np.maximum(extent, 1e-9)
    lo, hi = INPUT_LIMITS["implied_distance_m"]
    bad = np.flatnonzero(((dist < lo) | (dist > hi)) & (extent >= INPUT_LIMITS["min_extent_px"]))
    if bad.size:
        i = bad[0]
        out.append(f"{source}: with focal {f[i]:.4g} px a person {extent[i]:.4g} px across would "
                   f"be {dist[i]:.3g} m from the camera (frame {i}; {bad.size} frame(s) outside "
                   f"{lo:g}-{hi:g} m): are the keypoints in pixels and K in pixels (not "
                   f"metres, not normalised)?")
    rays = np.concatenate([(uv - K[:, None, :2, 2]) / f[:, None, None], np.ones_like(uv[..., :1])],
                          -1)
    angle = np.degrees(np.arccos(1.0 / np.linalg.norm(rays, axis=-1)))
    angle = np.where(conf > 0, angle, 0.0).max(-1)
    wide = np.flatnonzero(angle > INPUT_LIMITS["off_axis_deg"])
    if wide.size:
        i = wide[0]
        out.append(f"{source}: keypoints lie up to {angle[i]:.1f} deg off the optical axis "
                   f"(frame {i}; {wide.size} frame(s) beyond {INPUT_LIMITS['off_axis_deg']:g} "
                   f"deg): check the focal length and principal point of K (identity K? K in "
                   f"metres?)")
    return out
