r"""Evaluate ZeDO lifting against ground truth.

    python -m launch.evaluate --input ../shared/data/cmu_test_views.npz [--hypotheses 50] \
        [--checkpoint PRIOR] [--limit N] [--json OUT.json] [--schedule fast|faithful] \
        [--temporal [--temporal_window 120 --temporal_overlap 24]]   # sequences (seq/frame)
    python -m launch.evaluate --input A.npz,B.npz,C.npz     # several files, one summary table
    python -m launch.evaluate --dataset h36m --data_dir DIR [--keypoints gt|cpn|proj] \
        [--hypotheses 50] [--init_poses VIDEOPOSE3D.npz]     # the paper's protocols

Prints a table per input (ZeDO; with S > 1 the oracle minimum over hypotheses and the
hypothesis selected without ground truth; the same on the frames with flexed legs when the
input has some: both thighs more than 45 degrees forward in the ground truth, as in sitting,
crouching, kneeling; the IPO-only initial pose of the same run; the mean training pose)
with the share of anatomically plausible skeletons, and for several inputs one
summary table. JSON: mpjpe_mm, pa_mpjpe_mm, n_mpjpe_mm (min over hypotheses when S > 1), the
selected hypothesis' errors, plausibility, frames, hypotheses, seconds, baselines and
per-sequence means (several inputs: {"inputs": [...]}).

Multi-process (frames split across processes, process 0 reports): add --coordinator_address
HOST:PORT --num_processes N --process_id I, or nothing under srun / mpirun / on a TPU pod.
"""
import dataclasses
import json
import os

import numpy as np
from absl import app, flags, logging

from launch import common, errors
from zedo_jax import datasets, lifting
from zedo_jax.runtime import distributed
from zedo_jax.evaluation import metrics

FLAGS = flags.FLAGS
common.define_lift_flags(input_required=True)
common.define_distributed_flags()
common.define_temporal_flags()
flags.DEFINE_string("json", None, "Write the results to this JSON file.")
flags.DEFINE_string("save_poses", None, "Also write the lifted poses to this .npz.")
# --- official datasets (zedo_jax.datasets) ---------------------------------------------------
flags.DEFINE_enum("dataset", None, list(datasets.PROTOCOLS), "Evaluate an official test set "
                  "with the release's protocol (frames, preset, joints, metrics) instead of "
                  "--input; needs --data_dir.")
flags.DEFINE_string("data_dir", None, "Folder with the dataset's files (see README, "
                    "'Reproducing the paper').")
flags.DEFINE_string("keypoints", None, "2D for --dataset: h36m gt|cpn|proj (or a "
                    "data_2d_h36m_*.npz), 3dpw gt|openpose; default gt.")
flags.DEFINE_enum("pw3d_joints", "smpl24", ["smpl24", "regressor"], "3DPW ground-truth joints.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    common.init_distributed()
    common.check_lift_flags()                   # everything checkable, before any work
    for flag in ("json", "save_poses"):
        if getattr(FLAGS, flag):
            errors.check_writable(getattr(FLAGS, flag), f"--{flag}")
    if FLAGS.dataset:
        return _evaluate_dataset()
    if not FLAGS.input:
        errors.fail("give --input FILE, or --dataset NAME --data_dir DIR")
    if FLAGS.data_dir or FLAGS.keypoints:
        errors.fail("--data_dir / --keypoints belong to --dataset; with --input drop them")
    paths = [p for p in FLAGS.input.split(",") if p]
    loaded = []
    for path in paths:                          # every file is checked before any lifting
        inp = common.load_input(path)
        if inp.poses3d is None:
            errors.fail(f"{path} has no 'poses3d' ground truth to evaluate against "
                        f"(use launch.lift to lift it)")
        loaded.append((path, inp, common.init_poses(len(inp))))
    prior = common.load_prior()
    cfg = common.lift_config()
    results, summary_rows = [], []
    primary = distributed.is_primary()
    for path, inp, init in loaded:
        if len(loaded) > 1 and primary:
            print(f"== {path}")
        result, main_rows = _evaluate_input(path, inp, init, prior, cfg)
        results.append(result)
        summary_rows += [(f"{os.path.basename(path)}: {label}", s) for label, s in main_rows]
    if not primary:
        return
    if len(loaded) > 1:
        print("== all inputs")
        print(common.format_table(summary_rows))
    _write_json(results[0] if len(results) == 1 else {"inputs": results})


def _evaluate_input(path, inp, init, prior, cfg):
    """Lift one input file, print its table; returns the JSON record and the ZeDO rows."""
    ecfg = common.eval_config()
    for w in inp.info.get("warnings", []):
        print(f"Warning: {w}")
    out = lifting.lift(prior, inp.keypoints, inp.K, confidence=inp.confidence,
                       hypotheses=FLAGS.hypotheses, init_poses=init,
                       start_candidates=FLAGS.start_candidates, config=cfg,
                       chunk_size=FLAGS.chunk_size, seq=inp.seq, frame=inp.frame,
                       temporal=common.temporal_config())
    if not distributed.is_primary():          # every process holds the results; one reports
        return None, []
    S = out["poses"].shape[1]
    res = metrics.evaluate(out["poses"], inp.poses3d, ecfg, groups=inp.seq)
    chosen = out.best_poses
    plaus = metrics.plausibility_report(chosen)
    main_rows = [(f"ZeDO S={S}" + (" (min, oracle)" if S > 1 else ""),
                  {**res["summary"], "plausible_pct": plaus["plausible_pct"] if S == 1 else None})]
    selected = sel_res = None
    if S > 1:
        sel_res = metrics.evaluate(chosen, inp.poses3d, ecfg)
        selected = sel_res["summary"]
        main_rows.append((f"ZeDO S={S} (selected, no GT)",
                          {**selected, "plausible_pct": plaus["plausible_pct"]}))
    flexed = metrics.flexed_legs(inp.poses3d)
    flexed_rows = []
    if flexed.any() and not flexed.all():
        for label, r in [(main_rows[0][0], res)] + ([(main_rows[1][0], sel_res)]
                                                    if S > 1 else []):
            flexed_rows.append((f"{label}, flexed legs", metrics.subset_summary(r, flexed)))
    ipo = metrics.evaluate(out["ipo_poses"], inp.poses3d, ecfg)
    rows = main_rows + flexed_rows + [(f"IPO-only initial pose S={S}" + (" (min)" if S > 1 else ""),
                         ipo["summary"])]
    baselines = {"ipo_only": _short(ipo["summary"])}
    if 1 in prior.clusters:
        mean_pose = np.broadcast_to(prior.hypotheses(1)[None], (len(inp), 1, 17, 3))
        mp = metrics.evaluate(mean_pose, inp.poses3d, ecfg)
        rows.append(("mean training pose (S=1 hypothesis)", mp["summary"]))
        baselines["mean_pose"] = _short(mp["summary"])
    print(common.format_table(rows))
    print(f"{len(inp)} frames x {S} hypotheses in {out.timings.seconds:.1f}s "
          f"(compile {out.timings.compile_seconds:.1f}s); plausible skeletons (left/right "
          f"limbs within 15%, limb ratios in range): {plaus['plausible_pct']:.1f}%"
          + (f"; temporal mode: {out.temporal.network_evals_per_frame:.0f} network "
             f"evaluations per frame" if out.temporal is not None else ""))
    tm = common.print_temporal_metrics(out["poses"], inp, np.argmin(res["mpjpe_all"], axis=1))
    result = {**_short(res["summary"]), "frames": len(inp), "hypotheses": S,
              "seconds": out.timings.seconds, "compile_seconds": out.timings.compile_seconds,
              "pck_pct": res["summary"]["pck_pct"], "auc_pct": res["summary"]["auc_pct"],
              "plausibility": plaus,
              "baselines": baselines, "input": path, "prior": prior.path,
              "weights": prior.info.get("weights", FLAGS.weights),
              "config": {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in dataclasses.asdict(cfg).items()},
              "recenter": ecfg.recenter, "allow_reflection": ecfg.allow_reflection}
    if selected is not None:
        result["selected"] = _short(selected)
    if flexed_rows:        # both thighs flexed > 45 degrees in the ground truth (sitting etc.)
        result["flexed_legs"] = {"min_flexion_deg": metrics.FLEXED_LEGS_DEG,
                                 "frames": int(flexed.sum()),
                                 **_short(flexed_rows[0][1])}
        if S > 1:
            result["flexed_legs"]["selected"] = _short(flexed_rows[1][1])
    if tm is not None:
        result.update({"mpjve_mm": tm["mpjve_mm"], "accel_error_mm": tm["accel_error_mm"]})
    if out.temporal is not None:
        result["temporal"] = dataclasses.asdict(common.temporal_config())
        result["network_evals_per_frame"] = out.temporal.network_evals_per_frame
    if "per_group" in res["summary"]:
        result["per_sequence"] = res["summary"]["per_group"]
        result["sequence_mean"] = res["summary"]["group_mean"]
    if FLAGS.save_poses:
        save = FLAGS.save_poses if len(FLAGS.input.split(",")) == 1 else \
            f"{os.path.splitext(FLAGS.save_poses)[0]}_{os.path.splitext(os.path.basename(path))[0]}.npz"
        np.savez(save, **dict(out))
    return result, main_rows


def _evaluate_dataset():
    """--dataset: load the protocol's frames, lift them, print the paper-style table."""
    proto = datasets.get(FLAGS.dataset)
    if not FLAGS.data_dir:
        errors.fail(f"--dataset {FLAGS.dataset} needs --data_dir DIR")
    if FLAGS.input:
        errors.fail("--input and --dataset both name the frames to evaluate; drop one of them")
    kw = {"joints": FLAGS.pw3d_joints} if FLAGS.dataset == "3dpw" else {}
    ev = datasets.load(FLAGS.dataset, FLAGS.data_dir, FLAGS.keypoints, **kw)
    init, per_frame = (datasets.load_init_poses(FLAGS.init_poses, ev)
                       if FLAGS.init_poses else (None, False))
    if FLAGS.limit is not None:
        ev = ev.subset(slice(0, FLAGS.limit))
        init = init[:FLAGS.limit] if per_frame else init
    if not FLAGS["preset"].present:           # the dataset's own release settings
        FLAGS.preset = proto.preset
    cfg = common.zedo_config(default_schedule="faithful")   # the paper's protocol
    prior = common.load_prior(default_schedule="faithful")
    out = lifting.lift(prior, ev.keypoints, ev.K, hypotheses=FLAGS.hypotheses,
                       init_poses=init, start_candidates=FLAGS.start_candidates, config=cfg,
                       chunk_size=FLAGS.chunk_size)
    if not distributed.is_primary():
        return
    S = out["poses"].shape[1]
    kp = FLAGS.keypoints or proto.keypoints[0]
    res = datasets.evaluate(out["poses"], ev, proto, common.eval_config())
    label = "ZeDO refining --init_poses" if per_frame else "ZeDO"
    print(datasets.format_table(res, proto, ev, keypoints=kp, hypotheses=S, label=label))
    if per_frame:
        base = datasets.evaluate(init[:, None], ev, proto, common.eval_config())
        print(datasets.format_table(base, proto, ev, keypoints=kp, hypotheses=1,
                                    label="initial poses (before refinement)"))
    print(f"source: {ev.source}; {out.timings.seconds:.1f}s")
    result = {"dataset": FLAGS.dataset, "keypoints": kp, "frames": len(ev), "hypotheses": S,
              "total_frames": ev.total_frames, "metrics_mm": res["metrics"],
              "per_group_mm": res["per_group"], "source": ev.source, "prior": prior.path,
              "seconds": out.timings.seconds, "refinement": bool(per_frame),
              "config": {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in dataclasses.asdict(cfg).items()}}
    if per_frame:
        result["initial_poses_metrics_mm"] = base["metrics"]
    _write_json(result)
    if FLAGS.save_poses:
        np.savez(FLAGS.save_poses, poses=out["poses"], seq=ev.seq, frame=ev.frame,
                 poses3d=ev.poses3d)


def _write_json(result: dict):
    if FLAGS.json:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.json)), exist_ok=True)
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"Wrote {FLAGS.json}")


def _short(summary: dict) -> dict:
    return {k: summary[k] for k in ("mpjpe_mm", "pa_mpjpe_mm", "n_mpjpe_mm")}


if __name__ == "__main__":
    errors.run_and_exit(main)
