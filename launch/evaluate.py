r"""Evaluate ZeDO lifting against ground truth.

    python -m launch.evaluate --input ../shared/data/cmu_test_views.npz [--hypotheses 50] \
        [--checkpoint PRIOR] [--limit N] [--json OUT.json]

Prints a table (ZeDO, the IPO-only initial pose of the same run, and the mean training pose)
and writes JSON with mpjpe_mm, pa_mpjpe_mm, n_mpjpe_mm (min over hypotheses when S > 1),
frames, hypotheses, seconds, plus the baselines and per-sequence means.
"""
import dataclasses
import json
import sys

import numpy as np
from absl import app, flags, logging

from launch import common
from zedo_jax import lifting, metrics

FLAGS = flags.FLAGS
common.define_lift_flags(input_required=True)
flags.DEFINE_string("json", None, "Write the results to this JSON file.")
flags.DEFINE_string("save_poses", None, "Also write the lifted poses to this .npz.")
flags.mark_flag_as_required("input")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    try:
        inp = common.load_input(FLAGS.input)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f"Error: {e}")                 # the message names the file, frame and field
    if inp.poses3d is None:
        sys.exit(f"Error: {FLAGS.input} has no 'poses3d' ground truth to evaluate against "
                 f"(use launch.lift to lift it)")
    prior = common.load_prior()
    cfg = common.zedo_config()
    ecfg = common.eval_config()
    out = lifting.lift(prior, inp.keypoints, inp.K, confidence=inp.confidence,
                       hypotheses=FLAGS.hypotheses, init_poses=common.init_poses(), config=cfg,
                       chunk_size=FLAGS.chunk_size)
    S = out["poses"].shape[1]
    res = metrics.evaluate(out["poses"], inp.poses3d, ecfg, groups=inp.seq)
    ipo = metrics.evaluate(out["ipo_poses"], inp.poses3d, ecfg)
    rows = [(f"ZeDO S={S}" + (" (min)" if S > 1 else ""), res["summary"]),
            (f"IPO-only initial pose S={S}" + (" (min)" if S > 1 else ""), ipo["summary"])]
    baselines = {"ipo_only": _short(ipo["summary"])}
    if 1 in prior.clusters:
        mean_pose = np.broadcast_to(prior.hypotheses(1)[None], (len(inp), 1, 17, 3))
        mp = metrics.evaluate(mean_pose, inp.poses3d, ecfg)
        rows.append(("mean training pose (S=1 hypothesis)", mp["summary"]))
        baselines["mean_pose"] = _short(mp["summary"])
    print(common.format_table(rows))
    print(f"{len(inp)} frames x {S} hypotheses in {out['seconds']:.1f}s "
          f"(compile {out['compile_seconds']:.1f}s)")
    result = {**_short(res["summary"]), "frames": len(inp), "hypotheses": S,
              "seconds": out["seconds"], "compile_seconds": out["compile_seconds"],
              "pck_pct": res["summary"]["pck_pct"], "auc_pct": res["summary"]["auc_pct"],
              "baselines": baselines, "input": FLAGS.input, "prior": prior.path,
              "weights": prior.info.get("weights", FLAGS.weights),
              "config": {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in dataclasses.asdict(cfg).items()},
              "recenter": ecfg.recenter, "allow_reflection": ecfg.allow_reflection}
    if "per_group" in res["summary"]:
        result["per_sequence"] = res["summary"]["per_group"]
        result["sequence_mean"] = res["summary"]["group_mean"]
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"Wrote {FLAGS.json}")
    if FLAGS.save_poses:
        np.savez(FLAGS.save_poses, **{k: out[k] for k in lifting.OUTPUT_KEYS})


def _short(summary: dict) -> dict:
    return {k: summary[k] for k in ("mpjpe_mm", "pa_mpjpe_mm", "n_mpjpe_mm")}


if __name__ == "__main__":
    app.run(main)
