r"""Evaluate lifting against ground truth: a table per input, one summary for several, --json.

    python -m launch.evaluate --input A.npz[,B.npz...] [--hypotheses 50] [--json OUT.json] \
        [--schedule fast|faithful | --temporal] [--config.loop.steps=200 ...]
    python -m launch.evaluate --dataset h36m --data_dir DIR [--keypoints gt|cpn|proj]"""
import dataclasses
import os

import numpy as np
from absl import flags

from zedo_jax import datasets, lifting
from zedo_jax.evaluation import report
from zedo_jax.runtime import distributed, files

from . import common, errors

FLAGS = flags.FLAGS
common.define_lift_flags(input_required=True)
common.define_distributed_flags()
flags.adopt_module_key_flags(common)                # --help lists them with our own
flags.DEFINE_string("json", None, "Write the results to this JSON file.")
flags.DEFINE_string("save_poses", None, "Also write the lifted poses to this .npz.")
flags.DEFINE_enum("dataset", None, list(datasets.PROTOCOLS), "Evaluate an official test set "
                  "with the release's protocol instead of --input; needs --data_dir.")
flags.DEFINE_string("data_dir", None, "Folder with the dataset's files.")
flags.DEFINE_string("keypoints", None, "2D for --dataset: h36m gt|cpn|proj (or a "
                    "data_2d_h36m_*.npz), 3dpw gt|openpose; default gt.")
flags.DEFINE_enum("pw3d_joints", "smpl24", ["smpl24", "regressor"], "3DPW ground-truth joints.")


def main(argv):
    del argv
    common.start()
    common.check_lift_flags()                   # everything checkable, before any work
    for flag in [f for f in ("json", "save_poses") if getattr(FLAGS, f)]:
        common.check_output(getattr(FLAGS, flag), f"--{flag}")
    if FLAGS.dataset:
        return common.write_json(FLAGS.json, evaluate_dataset())
    if not FLAGS.input or FLAGS.data_dir or FLAGS.keypoints:
        errors.fail("give --input FILE[,FILE...], or --dataset NAME --data_dir DIR "
                    "(--data_dir and --keypoints belong to --dataset)")
    loaded = [(path, common.load_input(path, ground_truth=True))   # all read before lifting
              for path in FLAGS.input.split(",") if path]
    loaded = [(path, inp, common.init_poses(len(inp))) for path, inp in loaded]
    prior, cfg = common.load_prior(), common.lift_config()
    records, summary = [], []
    for path, inp, init in loaded:
        out = common.lift(prior, inp, init, cfg)
        if not distributed.is_primary():      # every process holds the results; one reports
            continue
        rec, rows, main_rows = report.evaluate_lift(
            out.poses, out.best_poses, out.ipo_poses, inp.poses3d, groups=inp.seq,
            mean_pose=prior.hypotheses(1) if 1 in prior.clusters else None,
            cfg=common.eval_config())
        print(f"== {path}\n{report.format_table(rows)}")
        print(f"{len(inp)} frames x {out.num_hypotheses} hypotheses in "
              f"{out.timings.seconds:.1f}s (compile {out.timings.compile_seconds:.1f}s)")
        tm = common.print_temporal_metrics(out.poses, inp, np.argmin(rec.pop("mpjpe_all"), 1))
        rec.update(input=path, prior=prior.path, seconds=out.timings.seconds,
                   config=dataclasses.asdict(cfg), **(tm and {
                       "mpjve_mm": tm["mpjve_mm"], "accel_error_mm": tm["accel_error_mm"]} or {}))
        if out.temporal is not None:
            rec["network_evals_per_frame"] = out.temporal.network_evals_per_frame
        records.append(rec)
        summary += [(f"{os.path.basename(path)}: {label}", s) for label, s in main_rows]
        if FLAGS.save_poses:                  # several inputs: OUT_<input name>.npz
            stem = os.path.splitext(os.path.basename(path))[0]
            lifting.save_result(FLAGS.save_poses if len(loaded) == 1 else
                                f"{os.path.splitext(FLAGS.save_poses)[0]}_{stem}.npz", out, inp)
    if distributed.is_primary():
        if len(loaded) > 1:
            print(f"== all inputs\n{report.format_table(summary)}")
        common.write_json(FLAGS.json, records[0] if len(records) == 1 else {"inputs": records})


def evaluate_dataset() -> dict:
    """--dataset: the protocol's frames, lifted with the release's schedule; the paper's table."""
    proto = datasets.get(FLAGS.dataset)
    if not FLAGS.data_dir or FLAGS.input:
        errors.fail(f"--dataset {FLAGS.dataset} needs --data_dir DIR and no --input")
    ev = datasets.load(FLAGS.dataset, FLAGS.data_dir, FLAGS.keypoints,
                       **({"joints": FLAGS.pw3d_joints} if FLAGS.dataset == "3dpw" else {}))
    init, per_frame = (datasets.load_init_poses(FLAGS.init_poses, ev)
                       if FLAGS.init_poses else (None, False))
    ev = ev.subset(slice(0, FLAGS.limit))
    init = init[:FLAGS.limit] if per_frame else init
    if not FLAGS["preset"].present:           # the dataset's own release settings
        FLAGS.preset = proto.preset
    cfg = common.lift_config(default_schedule="faithful")   # the paper's protocol
    prior = common.load_prior(default_schedule="faithful")
    out = lifting.lift(prior, ev.keypoints, ev.K, hypotheses=FLAGS.hypotheses, init_poses=init,
                       start_candidates=FLAGS.start_candidates, config=cfg,
                       chunk_size=FLAGS.chunk_size)
    kp, S, ecfg = FLAGS.keypoints or proto.keypoints[0], out.num_hypotheses, common.eval_config()
    res = datasets.evaluate(out.poses, ev, proto, ecfg)
    print(datasets.format_table(res, proto, ev, keypoints=kp, hypotheses=S,
                                label="ZeDO refining --init_poses" if per_frame else "ZeDO"))
    result = {"dataset": FLAGS.dataset, "keypoints": kp, "frames": len(ev), "hypotheses": S,
              "total_frames": ev.total_frames, "metrics_mm": res["metrics"],
              "per_group_mm": res["per_group"], "source": ev.source, "prior": prior.path,
              "seconds": out.timings.seconds, "refinement": bool(per_frame),
              "config": dataclasses.asdict(cfg)}
    if per_frame:
        base = datasets.evaluate(init[:, None], ev, proto, ecfg)
        print(datasets.format_table(base, proto, ev, keypoints=kp, hypotheses=1,
                                    label="initial poses (before refinement)"))
        result["initial_poses_metrics_mm"] = base["metrics"]
    print(f"source: {ev.source}; {out.timings.seconds:.1f}s")
    if FLAGS.save_poses:
        files.save_npz(FLAGS.save_poses, dict(poses=out.poses, seq=ev.seq, frame=ev.frame,
                                              poses3d=ev.poses3d))
    return result if distributed.is_primary() else None


if __name__ == "__main__":
    errors.run_and_exit(main)
