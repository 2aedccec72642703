"""The release's evaluation protocols as named presets, their metrics and a paper-style table.

A :class:`Protocol` fixes the frame selection (loader arguments), the ZeDO preset
(:data:`zedo_jax.core.program.PRESETS`), the joint sets evaluated, how per-frame errors are averaged
(per action / activity first, or over frames) and the paper's numbers to print beside ours.

Errors follow the release: ground truth root-centred, prediction **not** re-centred
(``EvalConfig.recenter`` changes that), Procrustes with reflections allowed, minimum over
hypotheses taken per metric. For a joint subset (3DPW's 14 joints) the Procrustes alignment and
the N-MPJPE scale are fitted on all 17 joints and the error is averaged over the subset.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from zedo_jax.datasets import h36m, mpi_inf_3dhp, pw3d, skipose
from zedo_jax.datasets.base import EvalSet
from zedo_jax.evaluation import metrics

ALL_17 = tuple(range(17))
METRICS = ("MPJPE", "PA-MPJPE", "N-MPJPE")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One dataset's evaluation protocol.

    Attributes:
      name: dataset name (``--dataset``).  title: for the table.
      preset: key of :data:`zedo_jax.core.program.PRESETS` (IPO keypoints, rotation axes, depth range).
      sample_interval: keep every n-th frame (after the valid-frame filter).
      release_frames: frames the release evaluated (its own preprocessed files).
      aggregate: ``'group'`` (mean over actions / activities of per-group means) or
        ``'frames'`` (mean over frames).
      joint_sets: ``(label, joint indices)`` pairs; the first is the headline.
      pck: also report PCK@150 mm and AUC (MPI-INF-3DHP).
      keypoints: accepted ``--keypoints`` values (first = default).
      paper: ``{(metric, joint label, S): mm}`` from the paper (metric ``'MPJPE'``,
        ``'PA-MPJPE'``, ``'N-MPJPE'``).
      init_hint: the release's initial-pose file, for the notes under the table.
    """

    name: str
    title: str
    preset: str
    sample_interval: int
    release_frames: int | None
    aggregate: str
    joint_sets: tuple
    pck: bool = False
    keypoints: tuple = ("gt",)
    paper: dict = dataclasses.field(default_factory=dict)
    init_hint: str = ""


PROTOCOLS = {
    "h36m": Protocol(
        "h36m", "Human3.6M (S9, S11)", "h36m", 640, 886, "group", (("17", ALL_17),),
        keypoints=("gt", "cpn", "proj"),
        paper={("PA-MPJPE", "17", 1): 35.8, ("N-MPJPE", "17", 1): 46.9,
               ("MPJPE", "17", 50): 51.4},
        init_hint="h36m_cluster{S}.npy (k-means of Human3.6M training poses)"),
    "3dpw": Protocol(
        "3dpw", "3DPW (test)", "3dpw", 35, 1015, "frames",
        (("17", ALL_17), ("14", pw3d.JOINTS_14)), keypoints=("gt", "openpose"),
        paper={("PA-MPJPE", "17", 1): 40.3, ("MPJPE", "17", 1): 69.7,
               ("PA-MPJPE", "14", 1): 43.1, ("MPJPE", "14", 1): 76.6},
        init_hint="h36m_cluster{S}.npy"),
    "3dhp": Protocol(
        "3dhp", "MPI-INF-3DHP (test, valid frames)", "3dhp", 3, 959, "group",
        (("17", ALL_17),), pck=True, init_hint="3dhp_cluster{S}.npy (3DHP training poses)"),
    "ski": Protocol(
        "ski", "Ski-Pose (test)", "ski", 1, 1716, "frames", (("17", ALL_17),),
        paper={("PA-MPJPE", "17", 1): 81.0},
        init_hint="h36m_sitting_cluster{S}.npy (Human3.6M Sitting poses)"),
}

_LOADERS = {"h36m": h36m.load, "3dpw": pw3d.load, "3dhp": mpi_inf_3dhp.load,
            "ski": skipose.load}


def get(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def load(name: str, data_dir: str, keypoints: str | None = None, **kwargs) -> EvalSet:
    """Load dataset ``name`` from ``data_dir`` with its protocol's frame selection.

    ``keypoints`` defaults to the protocol's first choice; ``kwargs`` go to the loader (e.g.
    ``sample_interval``, 3DPW ``joints``, 3DHP ``gt3d``, Human3.6M ``subjects``).
    """
    p = get(name)
    kp = p.keypoints[0] if keypoints is None else keypoints
    if kp not in p.keypoints and not (name == "h36m"):
        raise ValueError(f"--keypoints {kp!r} is not available for {name}; choose from "
                         f"{', '.join(p.keypoints)}")
    kwargs.setdefault("sample_interval", p.sample_interval)
    return _LOADERS[name](data_dir, keypoints=kp, **kwargs)


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------

@jax.jit
def _errors(pred, gt, joints_mask, recenter, allow_reflection_sign):
    """Per frame and hypothesis errors ``[N, S]`` over the joints where ``joints_mask``."""
    G = gt - gt[..., :1, :]
    Q = jnp.where(recenter, pred - pred[..., :1, :], pred)
    G = jnp.broadcast_to(G[:, None], Q.shape)
    w = joints_mask / jnp.sum(joints_mask)

    def avg(diff):
        return jnp.sum(jnp.linalg.norm(diff, axis=-1) * w, axis=-1)

    with_refl = metrics.procrustes_align(pred, G, True)
    without = metrics.procrustes_align(pred, G, False)
    aligned = jnp.where(allow_reflection_sign, with_refl, without)
    Qc = pred - pred[..., :1, :]
    s = jnp.sum(Qc * G, axis=(-2, -1), keepdims=True) / jnp.maximum(
        jnp.sum(Qc * Qc, axis=(-2, -1), keepdims=True), 1e-12)
    return {"MPJPE": avg(Q - G), "PA-MPJPE": avg(aligned - G), "N-MPJPE": avg(s * Qc - G),
            "_err": jnp.linalg.norm(Q - G, axis=-1)}


def _aggregate(values, groups, how: str) -> float:
    if how == "frames":
        return float(np.mean(values))
    return float(np.mean([values[groups == g].mean() for g in np.unique(groups)]))


def evaluate(pred, evalset: EvalSet, protocol: Protocol,
             cfg: metrics.EvalConfig = metrics.EvalConfig()) -> dict:
    """Protocol metrics of predictions.

    Args:
      pred: ``[N, S, 17, 3]`` (or ``[N, 17, 3]``) root-relative camera-frame metres.
    Returns:
      ``{"metrics": {joint label: {metric: mm, ...}}, "per_group": {group: {metric: mm}},
      "per_frame": {joint label: {metric: [N] metres (min over hypotheses)}}, "frames": N,
      "hypotheses": S}``; with ``protocol.pck`` also ``PCK`` and ``AUC`` (percent) for the
      MPJPE-best hypothesis.
    """
    pred = np.asarray(pred, np.float32)
    if pred.ndim == 3:
        pred = pred[:, None]
    gt = np.asarray(evalset.poses3d, np.float32)
    if pred.ndim != 4 or pred.shape[0] != len(gt) or pred.shape[2:] != (17, 3):
        raise ValueError(f"predictions must be [N={len(gt)}, S, 17, 3]; got {list(pred.shape)}")
    out = {"metrics": {}, "per_frame": {}, "per_group": {}, "frames": int(len(gt)),
           "hypotheses": int(pred.shape[1]), "aggregate": protocol.aggregate}
    for label, joints in protocol.joint_sets:
        mask = np.zeros(17, np.float32)
        mask[list(joints)] = 1
        e = _errors(jnp.asarray(pred), jnp.asarray(gt), jnp.asarray(mask), cfg.recenter,
                    cfg.allow_reflection)
        per = {k: np.asarray(e[k]).min(axis=1) for k in METRICS}
        out["per_frame"][label] = per
        out["metrics"][label] = {k: 1000 * _aggregate(v, evalset.group, protocol.aggregate)
                                 for k, v in per.items()}
        if protocol.pck:
            err = np.asarray(e["_err"])[..., list(joints)]                 # [N, S, J]
            best = np.asarray(e["MPJPE"]).argmin(axis=1)
            eb = err[np.arange(len(err)), best]                            # [N, J]
            th = np.linspace(0, cfg.pck_threshold, 31)
            pck = (eb <= cfg.pck_threshold).mean(-1)
            auc = (eb[..., None] <= th).mean(-2).mean(-1)
            out["metrics"][label]["PCK"] = 100 * _aggregate(pck, evalset.group,
                                                            protocol.aggregate)
            out["metrics"][label]["AUC"] = 100 * _aggregate(auc, evalset.group,
                                                            protocol.aggregate)
        if label == protocol.joint_sets[0][0]:
            for g in np.unique(evalset.group):
                m = evalset.group == g
                out["per_group"][str(g)] = {k: float(1000 * v[m].mean())
                                            for k, v in per.items()}
                out["per_group"][str(g)]["frames"] = int(m.sum())
    return out


def _every(n: int) -> str:
    if n == 1:
        return "all"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"every {n}{suffix}"


def format_table(result: dict, protocol: Protocol, evalset: EvalSet, *, keypoints: str,
                 hypotheses: int, label: str = "ZeDO") -> str:
    """A table laid out like the paper's: one row per metric and joint set, the paper's number
    (when it reports one for this S) beside this run's."""
    S = hypotheses
    rel = f"; release: {protocol.release_frames}" if protocol.release_frames else ""
    agg = "mean of per-action/activity means" if protocol.aggregate == "group" else \
        "mean over frames"
    lines = [f"{protocol.title} — {label}, S={S}{' (min over hypotheses)' if S > 1 else ''}, "
             f"2D: {keypoints}",
             f"{len(evalset)} frames ({_every(protocol.sample_interval)} of "
             f"{evalset.total_frames}{rel}); {agg}; errors in mm",
             f"{'metric':<10}{'joints':>7}{'paper':>9}{'this run':>10}",
             "-" * 36]
    for jl, _ in protocol.joint_sets:
        for metric, value in result["metrics"][jl].items():
            paper = protocol.paper.get((metric, jl, S))
            unit = "%" if metric in ("PCK", "AUC") else ""
            ptxt = "—" if paper is None else f"{paper:.1f}"
            lines.append(f"{metric + unit:<10}{jl:>7}{ptxt:>9}{value:>10.1f}")
    return "\n".join(lines)
