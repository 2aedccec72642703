"""Evaluation metrics, with the release's conventions. Poses are ``[..., J, 3]`` in metres;
errors are returned in metres (multiply by 1000 for mm).

Faithful defaults: the prediction is **not** re-centred before MPJPE (quirk Q9; the residual
pelvis offset counts) and Procrustes alignment **allows reflections** (quirk Q10). The minimum
over hypotheses is taken separately for each metric (quirk Q11).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from zedo_jax.core import anatomy, skeleton
from zedo_jax.core.temporal import sequence_order
from zedo_jax.runtime.compile_cache import compiled_program


def _center_root(p):
    return p - p[..., :1, :]


def mpjpe(pred, gt, recenter: bool = False):
    """Mean per-joint position error ``[..., J, 3] -> [...]``.

    ``gt`` is root-centred; ``pred`` only if ``recenter`` (the release does not, Q9).
    """
    gt = _center_root(gt)
    if recenter:
        pred = _center_root(pred)
    return jnp.mean(jnp.linalg.norm(pred - gt, axis=-1), axis=-1)


def procrustes_align(pred, gt, allow_reflection: bool = True):
    """Similarity-Procrustes alignment of ``pred`` onto ``gt`` (``[..., J, 3]`` each).

    Centres both by their joint means, finds the rotation (a reflection too when
    ``allow_reflection``, as the release) and scale minimising the error, returns the aligned
    prediction ``[..., J, 3]``.
    """
    mu_p = pred.mean(-2, keepdims=True)
    mu_g = gt.mean(-2, keepdims=True)
    Q, G = pred - mu_p, gt - mu_g
    nq = jnp.sqrt(jnp.sum(Q ** 2, axis=(-2, -1), keepdims=True))
    ng = jnp.sqrt(jnp.sum(G ** 2, axis=(-2, -1), keepdims=True))
    Qn, Gn = Q / jnp.maximum(nq, 1e-12), G / jnp.maximum(ng, 1e-12)
    M = jnp.swapaxes(Gn, -1, -2) @ Qn                      # [..., 3, 3]
    U, s, Vt = jnp.linalg.svd(M)
    V = jnp.swapaxes(Vt, -1, -2)
    if not allow_reflection:
        d = jnp.sign(jnp.linalg.det(V @ jnp.swapaxes(U, -1, -2)))
        d = jnp.where(d == 0, 1.0, d)
        V = V.at[..., :, 2].multiply(d[..., None])
        s = s.at[..., 2].multiply(d)
    R = V @ jnp.swapaxes(U, -1, -2)
    scale = jnp.sum(s, -1)[..., None, None] * ng / jnp.maximum(nq, 1e-12)
    return scale * (Q @ R) + mu_g


def pa_mpjpe(pred, gt, allow_reflection: bool = True):
    """MPJPE after similarity-Procrustes alignment (``[..., J, 3] -> [...]``)."""
    gt = _center_root(gt)
    aligned = procrustes_align(pred, gt, allow_reflection)
    return jnp.mean(jnp.linalg.norm(aligned - gt, axis=-1), axis=-1)


def n_mpjpe(pred, gt):
    """Scale-normalised MPJPE: both root-centred, ``pred`` scaled by ``<Q,G>/<Q,Q>``."""
    Q, G = _center_root(pred), _center_root(gt)
    s = jnp.sum(Q * G, axis=(-2, -1), keepdims=True) / jnp.maximum(
        jnp.sum(Q * Q, axis=(-2, -1), keepdims=True), 1e-12)
    return jnp.mean(jnp.linalg.norm(s * Q - G, axis=-1), axis=-1)


def pck(pred, gt, threshold: float = 0.15, recenter: bool = False):
    """Fraction of joints within ``threshold`` metres (``[..., J, 3] -> [...]``)."""
    gt = _center_root(gt)
    if recenter:
        pred = _center_root(pred)
    return jnp.mean(jnp.linalg.norm(pred - gt, axis=-1) <= threshold, axis=-1)


def auc(pred, gt, max_threshold: float = 0.15, num: int = 31, recenter: bool = False):
    """Area under the PCK curve: mean PCK over ``linspace(0, max_threshold, num)``."""
    gt = _center_root(gt)
    if recenter:
        pred = _center_root(pred)
    err = jnp.linalg.norm(pred - gt, axis=-1)
    th = jnp.linspace(0.0, max_threshold, num)
    return jnp.mean(jnp.mean(err[..., None] <= th, axis=-2), axis=-1)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Options of :func:`evaluate` (faithful defaults)."""

    recenter: bool = False
    allow_reflection: bool = True
    pck_threshold: float = 0.15


def _per_hypothesis(pred, gt, recenter: bool, allow_reflection: bool, pck_threshold: float):
    g = gt[:, None]
    out = {"mpjpe": mpjpe(pred, g, recenter),
           "pa_mpjpe": pa_mpjpe(pred, g, allow_reflection),
           "n_mpjpe": n_mpjpe(pred, g)}
    best = jnp.argmin(out["mpjpe"], axis=1)                 # hypothesis chosen by MPJPE
    chosen = jnp.take_along_axis(pred, best[:, None, None, None], axis=1)[:, 0]
    return out, {"pck": pck(chosen, gt, pck_threshold, recenter),
                 "auc": auc(chosen, gt, pck_threshold, recenter=recenter)}


def _evaluator(cfg: EvalConfig, pred, gt):
    """The compiled per-hypothesis metrics for these shapes, kept in the process and on disk
    between processes like the lifting program (:func:`zedo_jax.runtime.compile_cache.compiled_program`): a
    short ``launch.lift`` run would otherwise spend a third of a second compiling them."""
    fn = jax.jit(functools.partial(_per_hypothesis, recenter=cfg.recenter,
                                   allow_reflection=cfg.allow_reflection,
                                   pck_threshold=cfg.pck_threshold))
    return compiled_program(fn, (pred, gt), ("metrics", cfg))[0]


def evaluate(pred, gt, cfg: EvalConfig = EvalConfig(), groups=None) -> dict:
    """Per-frame errors, min over hypotheses per metric, and summaries.

    Args:
      pred: ``[N, S, J, 3]`` (or ``[N, J, 3]`` for one hypothesis) predictions, metres.
      gt: ``[N, J, 3]`` ground truth (absolute or root-relative), metres.
      groups: optional ``[N]`` labels (sequence or action); adds per-group means and their
        mean.
    Returns:
      dict with per-frame arrays ``mpjpe``, ``pa_mpjpe``, ``n_mpjpe`` (``[N]``, min over
      hypotheses), ``pck``, ``auc`` (of the MPJPE-best hypothesis), ``*_all`` (``[N, S]``), and
      ``summary``: means in millimetres (PCK/AUC in %), plus ``per_group`` when ``groups``.
    """
    pred = jnp.asarray(pred, jnp.float32)
    gt = jnp.asarray(gt, jnp.float32)
    if pred.ndim == 3:
        pred = pred[:, None]
    if pred.ndim != 4 or gt.ndim != 3 or pred.shape[0] != gt.shape[0] or \
            pred.shape[2:] != gt.shape[1:]:
        raise ValueError(f"pred must be [N, S, J, 3] and gt [N, J, 3] with matching N and J; "
                         f"got {list(pred.shape)} and {list(gt.shape)}")
    per, best = _evaluator(cfg, pred, gt)(pred, gt)
    out = {}
    for k, v in per.items():
        v = np.asarray(v)
        out[k + "_all"] = v
        out[k] = v.min(axis=1)
    out.update({k: np.asarray(v) for k, v in best.items()})
    summary = {f"{k}_mm": float(out[k].mean() * 1000) for k in ("mpjpe", "pa_mpjpe", "n_mpjpe")}
    summary.update({"pck_pct": float(out["pck"].mean() * 100),
                    "auc_pct": float(out["auc"].mean() * 100),
                    "frames": int(pred.shape[0]), "hypotheses": int(pred.shape[1])})
    if groups is not None:
        groups = np.asarray(groups)
        per_group = {}
        for g in np.unique(groups):
            m = groups == g
            per_group[str(g)] = {f"{k}_mm": float(out[k][m].mean() * 1000)
                                 for k in ("mpjpe", "pa_mpjpe", "n_mpjpe")}
            per_group[str(g)]["frames"] = int(m.sum())
        summary["per_group"] = per_group
        summary["group_mean"] = {
            f"{k}_mm": float(np.mean([v[f"{k}_mm"] for v in per_group.values()]))
            for k in ("mpjpe", "pa_mpjpe", "n_mpjpe")}
    out["summary"] = summary
    return out


#: Both thighs flexed beyond this (degrees, body frame) marks a frame as "flexed legs".
FLEXED_LEGS_DEG = 45.0


def flexed_legs(poses3d, min_flexion_deg: float = FLEXED_LEGS_DEG) -> np.ndarray:
    """``[N]`` bool: frames whose ground truth has both thighs flexed forward beyond
    ``min_flexion_deg`` (sitting, crouching, kneeling, squatting).

    The flexion is measured in each pose's own body frame
    (:func:`zedo_jax.core.skeleton.thigh_flexion_deg`: 0 = thigh straight down, 90 =
    horizontal), so the camera does not matter. These postures are rare in the CMU training poses (3%) and common in everyday
    motion (about 25%); the prior's errors on them are about 1.6x its average, so
    ``launch.evaluate`` reports them as their own row.

    Args:
      poses3d: ``[N, 17, 3]`` metres, Human3.6M-17 order, any axes.
    """
    poses3d = np.asarray(poses3d, np.float32)
    if poses3d.ndim != 3 or poses3d.shape[1:] != (17, 3):
        raise ValueError(f"poses3d must be [N, 17, 3]; got {list(poses3d.shape)}")
    if len(poses3d) == 0:
        return np.zeros(0, bool)
    return skeleton.thigh_flexion_deg(poses3d).min(axis=1) > min_flexion_deg


def subset_summary(result: dict, mask) -> dict | None:
    """Means (mm) of an :func:`evaluate` result's per-frame errors over the frames in ``mask``
    (``[N]`` bool); ``None`` when the mask is empty."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return None
    out = {f"{k}_mm": float(np.asarray(result[k])[mask].mean() * 1000)
           for k in ("mpjpe", "pa_mpjpe", "n_mpjpe")}
    out["frames"] = int(mask.sum())
    return out


#: The rule: left/right within ``SYMMETRY_TOL`` (relative to the longer one) for thighs, shins,
#: upper arms and forearms; shin/thigh and forearm/upper-arm ratios within these ranges. Every
#: ground-truth frame of the shared benchmarks passes it.
SYMMETRY_TOL = 0.15
SHIN_THIGH_RANGE = (0.8, 1.4)
FOREARM_UPPER_RANGE = (0.65, 1.2)


# ----------------------------------------------------------------------------------------------
# anatomical plausibility
# ----------------------------------------------------------------------------------------------

def plausibility(poses) -> dict:
    """Per-frame anatomical plausibility of poses ``[..., 17, 3]``.

    A frame is plausible when thigh, shin, upper arm and forearm differ left/right by at most
    15% (of the longer side), shin/thigh lies in [0.8, 1.4] and forearm/upper arm in [0.65, 1.2]
    on both sides.

    Returns:
      dict of boolean arrays ``[...]``: ``plausible`` and one per test (``sym_thigh``,
      ``sym_shin``, ``sym_upper_arm``, ``sym_forearm``, ``ratio_leg``, ``ratio_arm``), and float
      arrays ``asymmetry [..., 4]`` (relative left/right differences, thigh, shin, upper arm,
      forearm), ``shin_thigh [..., 2]`` and ``forearm_upper_arm [..., 2]`` (right, left).
    """
    L = skeleton.bone_lengths(np.asarray(poses, np.float64))
    limbs = {"thigh": anatomy.THIGH, "shin": anatomy.SHIN, "upper_arm": anatomy.UPPER_ARM,
             "forearm": anatomy.FOREARM}
    out, asym = {}, []
    for name, (r, l) in limbs.items():
        a = np.abs(L[..., r] - L[..., l]) / np.maximum(np.maximum(L[..., r], L[..., l]), 1e-9)
        out[f"sym_{name}"] = a <= SYMMETRY_TOL
        asym.append(a)

    def ratio(lower, upper):
        return np.stack([L[..., lower[i]] / np.maximum(L[..., upper[i]], 1e-9) for i in (0, 1)],
                        -1)

    leg, arm = ratio(anatomy.SHIN, anatomy.THIGH), ratio(anatomy.FOREARM, anatomy.UPPER_ARM)
    out["ratio_leg"] = ((leg >= SHIN_THIGH_RANGE[0]) & (leg <= SHIN_THIGH_RANGE[1])).all(-1)
    out["ratio_arm"] = ((arm >= FOREARM_UPPER_RANGE[0]) & (arm <= FOREARM_UPPER_RANGE[1])).all(-1)
    out["plausible"] = np.logical_and.reduce([out[k] for k in list(out)])
    out["asymmetry"] = np.stack(asym, -1)
    out["shin_thigh"] = leg
    out["forearm_upper_arm"] = arm
    return out


def plausibility_report(poses, gt=None) -> dict:
    """Summary of :func:`plausibility` over frames (poses ``[N, 17, 3]``): the share of plausible
    frames and of frames passing each test (percent), and with ``gt [N, 17, 3]`` the mean
    absolute bone-length error per bone (mm)."""
    p = plausibility(poses)
    rep = {"plausible_pct": float(100 * p["plausible"].mean())}
    for k in ("sym_thigh", "sym_shin", "sym_upper_arm", "sym_forearm", "ratio_leg", "ratio_arm"):
        rep[f"{k}_pct"] = float(100 * p[k].mean())
    if gt is not None:
        err = np.abs(skeleton.bone_lengths(np.asarray(poses, np.float64))
                     - skeleton.bone_lengths(np.asarray(gt, np.float64))) * 1000
        rep["bone_error_mm"] = dict(zip(skeleton.bone_names(), err.mean(0).round(1).tolist()))
        rep["bone_error_mean_mm"] = float(err.mean())
    return rep


# ----------------------------------------------------------------------------------------------
# temporal metrics: velocity and acceleration errors of sequences
# ----------------------------------------------------------------------------------------------

def mpjve(pred, gt):
    """Mean per-joint velocity error of one sequence, ``[..., T, J, 3] -> [..., T - 1]``.

    Both are root-centred; the error of frame pair ``(t, t+1)`` is the mean over joints of
    ``|(p[t+1] - p[t]) - (g[t+1] - g[t])|`` (metres per frame).
    """
    vp = jnp.diff(_center_root(pred), axis=-3)
    vg = jnp.diff(_center_root(gt), axis=-3)
    return jnp.mean(jnp.linalg.norm(vp - vg, axis=-1), axis=-1)


def acceleration_error(pred, gt):
    """Acceleration error of one sequence, ``[..., T, J, 3] -> [..., T - 2]``.

    Both are root-centred; the error at frame ``t`` (1 .. T-2) is the mean over joints of
    ``|(p[t+1] - 2 p[t] + p[t-1]) - (g[t+1] - 2 g[t] + g[t-1])|`` (metres per frame^2).
    """
    ap = jnp.diff(_center_root(pred), n=2, axis=-3)
    ag = jnp.diff(_center_root(gt), n=2, axis=-3)
    return jnp.mean(jnp.linalg.norm(ap - ag, axis=-1), axis=-1)


def temporal_metrics(pred, gt, seq=None, frame=None) -> dict:
    """Velocity (MPJVE) and acceleration errors over sequences, in millimetres.

    Args:
      pred: ``[N, J, 3]`` predictions (pick one hypothesis per frame first when ``S > 1``).
      gt: ``[N, J, 3]`` ground truth (absolute or root-relative), metres.
      seq: ``[N]`` sequence ids (``None``: one sequence); differences never cross sequences.
      frame: ``[N]`` frame index within the sequence (``None``: file order).
    Returns:
      ``{"mpjve_mm": mm/frame, "accel_error_mm": mm/frame^2, "sequences": G}``: the means
      over all frame pairs / triples of every sequence (sequences shorter than 2 / 3 frames
      contribute nothing; NaN when none is long enough).
    """
    pred = np.asarray(pred, np.float32)
    gt = np.asarray(gt, np.float32)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"pred and gt must both be [N, J, 3]; got {list(pred.shape)} and "
                         f"{list(gt.shape)}")
    order, starts = sequence_order(np.zeros(len(pred)) if seq is None else seq, frame)
    vel, acc = [], []
    for lo, hi in zip(starts[:-1], starts[1:]):
        idx = order[lo:hi]
        if hi - lo >= 2:
            vel.append(np.asarray(mpjve(pred[idx], gt[idx])))
        if hi - lo >= 3:
            acc.append(np.asarray(acceleration_error(pred[idx], gt[idx])))
    mean = lambda parts: float(np.concatenate(parts).mean() * 1000) if parts else float("nan")
    return {"mpjve_mm": mean(vel), "accel_error_mm": mean(acc), "sequences": len(starts) - 1}
