"""Choosing among hypotheses without ground truth.

With ``S > 1`` the lift returns one pose per hypothesis. The oracle (the minimum error over
hypotheses, the paper's multi-hypothesis metric) needs the ground truth; a user needs one pose.
:func:`rank` scores every hypothesis by how well it explains the 2D evidence and how plausible
the prior and the skeleton find it, lower is better:

    score = w_rep * z(reprojection) + w_bone * z(bone proportions) + w_prior * z(prior residual)

where ``z`` standardises each term over the hypotheses of a frame (so the terms, in different
units, weigh alike whatever the image size or the spread of the hypotheses):

* reprojection: mean reprojection error of the joints with confidence > 0, divided by the
  diagonal of the 2D keypoints' bounding box (scale-free);
* bone proportions: RMS relative deviation of the 16 bone lengths from the prior's training
  means scaled to the pose's size (the person's proportions, not their size);
* prior residual: the RMS of the network's noise estimate for the final pose at the end of the
  loop (``prior_residual`` of the lift), small for poses the prior finds likely.

The weights were chosen on the shared benchmarks (BUILD_NOTES, issue 13).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from . import skeleton


@dataclasses.dataclass(frozen=True)
class SelectionWeights:
    """Weights of the standardised terms of :func:`rank` (0 switches a term off)."""

    reprojection: float = 1.0
    bones: float = 1.0
    prior: float = 1.0


def terms(poses, reprojection_error_px, confidence, uv, prior_residual=None,
          reference_bones=None) -> dict:
    """The raw terms of the selection score, each ``[N, S]``.

    Args:
      poses: ``[N, S, 17, 3]`` metres.  reprojection_error_px: ``[N, S, 17]``.
      confidence: ``[N, 17]`` (0 = missing).  uv: ``[N, 17, 2]`` pixels.
      prior_residual: ``[N, S]`` or ``None``.  reference_bones: ``[16]`` metres or ``None``.
    """
    poses = np.asarray(poses, np.float64)
    vis = (np.asarray(confidence) > 0)[:, None, :]
    rep = (np.asarray(reprojection_error_px) * vis).sum(-1) / np.maximum(vis.sum(-1), 1)
    uv = np.asarray(uv, np.float64)
    big = np.where(vis[:, 0, :, None], uv, np.nan)
    diag = np.linalg.norm(np.nanmax(big, 1) - np.nanmin(big, 1), axis=-1)
    out = {"reprojection": rep / np.maximum(diag, 1e-6)[:, None]}
    L = skeleton.bone_lengths(poses)
    if reference_bones is not None:
        ref = np.asarray(reference_bones, np.float64)
        s = (L * ref).sum(-1, keepdims=True) / (ref * ref).sum()
        out["bones"] = np.sqrt((((L - s * ref) / np.maximum(s * ref, 1e-9)) ** 2).mean(-1))
    if prior_residual is not None:
        out["prior"] = np.asarray(prior_residual, np.float64)
    return out


def rank(poses, reprojection_error_px, confidence, uv, prior_residual=None,
         reference_bones=None, weights: SelectionWeights = SelectionWeights()):
    """Score hypotheses (lower is better) and pick one per frame.

    Returns:
      ``(score [N, S], best [N])``; with ``S = 1`` the score is 0 and ``best`` is 0.
    """
    t = terms(poses, reprojection_error_px, confidence, uv, prior_residual, reference_bones)
    N, S = t["reprojection"].shape
    score = np.zeros((N, S))
    if S > 1:
        for name, v in t.items():
            w = getattr(weights, name)
            if w:
                z = (v - v.mean(1, keepdims=True)) / (v.std(1, keepdims=True) + 1e-12)
                score += w * z
    return score.astype(np.float32), np.argmin(score, 1).astype(np.int32)
