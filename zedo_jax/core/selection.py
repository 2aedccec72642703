"""Choosing among hypotheses without ground truth.

With ``S > 1`` the lift returns one pose per hypothesis. The oracle (the minimum error over
hypotheses, the paper's multi-hypothesis metric) needs the ground truth; a user needs one pose.
:func:`rank` scores every hypothesis, lower is better, as a weighted sum of terms that are each
standardised over the hypotheses of a frame (``z``: minus the mean, over the standard
deviation), so that terms in different units weigh alike whatever the image or the spread:

* consensus: mean distance (metres, per joint) to the 10 nearest other hypotheses' poses. The
  hypotheses start from poses spread over all viewpoints; where many of them end in the same
  place, that place is usually right (a robust mode of the set);
* likelihood: the prior's denoising error for the final pose at a noise level of about 3 cm
  (the lift's ``denoise_error``, :func:`zedo_jax.core.program.denoise_error`): the score-matching
  loss at one diffusion time, the term of the diffusion ELBO at that noise level, so lower
  means more likely under the prior. At 3 cm it judges the pose's configuration rather than
  the millimetre jitter that noisy keypoints leave in every hypothesis;
* prior: the RMS of the network's noise estimate for the final pose at the end of the loop
  (the lift's ``prior_residual``), small for poses the prior finds likely;
* asymmetry: mean relative left/right difference of the limbs at the end of the loop, before
  the anatomy steps (``loop_asymmetry``): a hypothesis stuck in a wrong depth configuration
  shows it in unequal limbs;
* reprojection: mean reprojection error (pixels) of the joints with confidence > 0 (weight 0 by
  default: after the loop every hypothesis explains the 2D about equally well).

The consensus, prior and asymmetry weights were chosen on 100 frames each of the clean and noisy
CMU benchmarks, S = 50; the likelihood term was added to them with weight 2 and
checked on the other skeleton and on flexed-leg frames (BUILD_NOTES.md, "Selection").
"""
from __future__ import annotations

import dataclasses

import numpy as np

#: Neighbours of the consensus term.
CONSENSUS_NEIGHBOURS = 10


@dataclasses.dataclass(frozen=True)
class SelectionWeights:
    """Weights of the standardised terms of :func:`rank` (0 switches a term off)."""

    consensus: float = 2.0
    likelihood: float = 2.0
    prior: float = 1.0
    asymmetry: float = 1.0
    reprojection: float = 0.0


def terms(poses, reprojection_error_px, confidence, prior_residual=None,
          loop_asymmetry=None, denoise_error=None) -> dict:
    """The raw terms of the selection score, each ``[N, S]``.

    Args:
      poses: ``[N, S, 17, 3]`` metres.  reprojection_error_px: ``[N, S, 17]``.
      confidence: ``[N, 17]`` (0 = missing).  prior_residual, loop_asymmetry, denoise_error:
        ``[N, S]`` or ``None`` (the term is left out).
    """
    poses = np.asarray(poses, np.float64)
    S = poses.shape[1]
    vis = (np.asarray(confidence) > 0)[:, None, :]
    out = {"reprojection": (np.asarray(reprojection_error_px) * vis).sum(-1)
           / np.maximum(vis.sum(-1), 1)}
    if S > 1:
        d = np.linalg.norm(poses[:, :, None] - poses[:, None, :], axis=-1).mean(-1)   # N,S,S
        k = min(CONSENSUS_NEIGHBOURS, S - 1)
        out["consensus"] = np.sort(d, -1)[..., 1:k + 1].mean(-1)
    if prior_residual is not None:
        out["prior"] = np.asarray(prior_residual, np.float64)
    if loop_asymmetry is not None:
        out["asymmetry"] = np.asarray(loop_asymmetry, np.float64)
    if denoise_error is not None:
        out["likelihood"] = np.asarray(denoise_error, np.float64)
    return out


def rank(poses, reprojection_error_px, confidence, prior_residual=None, loop_asymmetry=None,
         weights: SelectionWeights = SelectionWeights(), *, denoise_error=None):
    """Score hypotheses (lower is better) and pick one per frame.

    Returns:
      ``(score [N, S] float32, best [N] int32)``; with ``S = 1`` the score is 0 and ``best``
      is 0.
    """
    poses = np.asarray(poses)
    N, S = poses.shape[:2]
    score = np.zeros((N, S))
    if S > 1:
        for name, v in terms(poses, reprojection_error_px, confidence, prior_residual,
                             loop_asymmetry, denoise_error).items():
            w = getattr(weights, name)
            if w:
                score += w * (v - v.mean(1, keepdims=True)) / (v.std(1, keepdims=True) + 1e-12)
    return score.astype(np.float32), np.argmin(score, 1).astype(np.int32)
