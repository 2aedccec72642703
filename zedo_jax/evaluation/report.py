"""The tables and records of an evaluated lift: the result against ground truth, the same on
frames with flexed legs, the IPO-only and mean-pose baselines, plausibility."""
from __future__ import annotations

import numpy as np

from zedo_jax.evaluation import metrics


def short(summary: dict) -> dict:
    """MPJPE, PA-MPJPE and N-MPJPE (mm) of a summary."""
    return {k: summary[k] for k in ("mpjpe_mm", "pa_mpjpe_mm", "n_mpjpe_mm")}


def format_table(rows: list[tuple[str, dict]]) -> str:
    """A plain-text table of ``(label, summary)`` rows (mm; a ``plausible_pct`` entry adds a
    column)."""
    width = max([34] + [len(label) + 2 for label, _ in rows])
    plaus = any(s.get("plausible_pct") is not None for _, s in rows)
    head = (f"{'':<{width}}{'MPJPE':>9}{'PA-MPJPE':>10}{'N-MPJPE':>9}{'frames':>8}"
            + (f"{'plausible':>11}" if plaus else ""))
    lines = [head, "-" * len(head)]
    for label, s in rows:
        p = s.get("plausible_pct")
        lines.append(f"{label:<{width}}{s['mpjpe_mm']:>9.1f}{s['pa_mpjpe_mm']:>10.1f}"
                     f"{s['n_mpjpe_mm']:>9.1f}{s['frames']:>8d}"
                     + (f"{p:>10.1f}%" if p is not None else ""))
    return "\n".join(lines)


def evaluate_lift(poses, best_poses, ipo_poses, poses3d, *, groups=None, mean_pose=None,
                  cfg: metrics.EvalConfig = metrics.EvalConfig()) -> tuple[dict, list, list]:
    """Errors of a lift against ground truth.

    Args:
      poses: ``[N, S, 17, 3]`` lifted poses; best_poses ``[N, 17, 3]`` the hypotheses chosen
        without ground truth; ipo_poses ``[N, S, 17, 3]`` the IPO's; poses3d ``[N, 17, 3]``
        ground truth (metres); groups ``[N]`` optional sequence ids; mean_pose ``[17, 3]``
        the prior's mean training pose (a baseline).
    Returns:
      ``(record, rows, main_rows)``: a JSON-ready record, every table row and the ZeDO rows
      (``(label, summary)`` pairs for :func:`format_table`).
    """
    S = poses.shape[1]
    res = metrics.evaluate(poses, poses3d, cfg, groups=groups)
    plaus = metrics.plausibility_report(best_poses)
    main = [(f"ZeDO S={S}" + (" (min, oracle)" if S > 1 else ""),
             {**res["summary"], "plausible_pct": plaus["plausible_pct"] if S == 1 else None})]
    results = [res]
    if S > 1:
        results.append(metrics.evaluate(best_poses, poses3d, cfg))
        main.append((f"ZeDO S={S} (selected, no GT)",
                     {**results[1]["summary"], "plausible_pct": plaus["plausible_pct"]}))
    record = {**short(res["summary"]), "frames": len(poses3d), "hypotheses": S,
              "pck_pct": res["summary"]["pck_pct"], "auc_pct": res["summary"]["auc_pct"],
              "plausibility": plaus, "recenter": cfg.recenter,
              "allow_reflection": cfg.allow_reflection}
    if S > 1:
        record["selected"] = short(results[1]["summary"])
    flexed = metrics.flexed_legs(poses3d)
    rows = list(main)
    if flexed.any() and not flexed.all():   # both thighs > 45 degrees forward (sitting etc.)
        flex = [(f"{label}, flexed legs", metrics.subset_summary(r, flexed))
                for (label, _), r in zip(main, results)]
        rows += flex
        record["flexed_legs"] = {"min_flexion_deg": metrics.FLEXED_LEGS_DEG,
                                 "frames": int(flexed.sum()), **short(flex[0][1])}
        if S > 1:
            record["flexed_legs"]["selected"] = short(flex[1][1])
    ipo = metrics.evaluate(ipo_poses, poses3d, cfg)["summary"]
    rows.append((f"IPO-only initial pose S={S}" + (" (min)" if S > 1 else ""), ipo))
    record["baselines"] = {"ipo_only": short(ipo)}
    if mean_pose is not None:
        mp = metrics.evaluate(np.broadcast_to(mean_pose, (len(poses3d), 1, 17, 3)), poses3d,
                              cfg)["summary"]
        rows.append(("mean training pose (S=1 hypothesis)", mp))
        record["baselines"]["mean_pose"] = short(mp)
    if "per_group" in res["summary"]:
        record["per_sequence"] = res["summary"]["per_group"]
        record["sequence_mean"] = res["summary"]["group_mean"]
    record["mpjpe_all"] = res["mpjpe_all"]
    return record, rows, main
