r"""Lift 2D keypoints to 3D poses with ZeDO.

    python -m launch.lift                                   # the bundled demo, shipped prior
    python -m launch.lift --input IN.npz|IN.json|OPENPOSE_DIR --output OUT.npz \
        [--format h36m|coco17|mediapipe|openpose] [--image_size W,H] [--hypotheses 50] \
        [--schedule fast|faithful | --temporal] [--config.loop.steps=200 ...] [--plot DIR]

Inputs and outputs: README ("Lifting your keypoints"); every setting is a --config.STAGE.FIELD
flag. Several processes (--coordinator_address --num_processes --process_id) split the work.
"""
import os

import numpy as np
from absl import flags

from zedo_jax import lifting, prior as prior_lib, viz
from zedo_jax.evaluation import metrics, quality, report
from zedo_jax.runtime import distributed

from . import common, errors

FLAGS = flags.FLAGS
common.define_lift_flags()
common.define_distributed_flags()
flags.adopt_module_key_flags(common)                # --help lists them with our own
flags.DEFINE_string("output", "zedo_lift.npz", "Output file: .npz (every array), .json, .csv or "
                    ".bvh (each frame's best hypothesis and the root trajectory).")
flags.DEFINE_string("world", None, "JSON / CSV / BVH in a y-up world frame: 'y' (level camera), "
                    "the camera's pitch in degrees (tilted down > 0), or 'feet' (estimated).")
flags.DEFINE_string("figure", None, "Summary figure PNG (2D input beside the 3D result for a "
                    "few frames); written by default for the bundled demo.")
flags.DEFINE_bool("nofigure", False, "Do not write the demo's summary figure.")
flags.DEFINE_integer("figure_frames", 4, "Frames shown in the summary figure.")
flags.DEFINE_string("plot", None, "Folder for one PNG per frame and an animation.")
flags.DEFINE_integer("plot_every", 1, "With --plot: draw every k-th frame.")
flags.DEFINE_float("gif_fps", 8.0, "With --plot: frames per second of the animation.")

DEMO = os.path.join(prior_lib.ASSET_DIR, "demo.npz")


def check_flags() -> tuple[str, str | None]:
    """Everything checkable before any work; returns the output and figure paths."""
    common.check_lift_flags()
    if FLAGS.figure and FLAGS.nofigure:
        errors.fail("--figure and --nofigure contradict each other; drop one of them")
    for name in ("figure_frames", "plot_every"):
        if getattr(FLAGS, name) < 1:
            errors.fail(f"--{name} must be >= 1; got {getattr(FLAGS, name)}")
    if not FLAGS.gif_fps > 0 or not FLAGS.plot and (FLAGS["gif_fps"].present or
                                                    FLAGS["plot_every"].present):
        errors.fail("--plot_every and --gif_fps (> 0) go with --plot")
    if FLAGS.plot and (not viz.available() or os.path.isfile(FLAGS.plot)):
        errors.fail(f"--plot {FLAGS.plot}: " + (viz.MISSING_MATPLOTLIB if not viz.available()
                                                else "a file; give a folder for the frame plots"))
    output = common.output_path(FLAGS.output, lifting.OUTPUT_SUFFIXES)
    figure = None
    if FLAGS.figure or not (FLAGS.nofigure or FLAGS.input):      # asked for, or the demo
        figure = errors.check_writable(FLAGS.figure or os.path.splitext(output)[0] + ".png",
                                       "--figure")
    return output, figure


def main(argv):
    del argv
    common.start()
    output, figure = check_flags()
    world = common.world(output)
    path = FLAGS.input or DEMO
    inp = common.load_input(path)
    init = common.init_poses(len(inp))
    prior = common.load_prior()
    cfg = common.lift_config()
    say = print if distributed.is_primary() else (lambda *a, **k: None)
    say(f"Lifting {len(inp)} {'person-frames' if inp.person is not None else 'frames'} from {path} ({inp.info.get('format', 'h36m')} keypoints) "
        f"with the prior at {prior.path} ({prior.config.hidden_dim}-wide, "
        f"{prior.info.get('weights', FLAGS.weights)} weights)")
    say(f"Camera: {inp.info.get('camera', 'K from the input')}")
    for w in inp.info.get("warnings", []):
        say(f"Warning: {w}")
    out = common.lift(prior, inp, init, cfg)
    if not distributed.is_primary():          # every process holds the results; one writes
        return
    q = quality.assess(out.poses, out.translation, out.reprojection_error_px, inp.keypoints,
                       inp.confidence, prior.stats)
    lifting.save_result(output, out, inp, extra=q, world=world)
    err = np.where(inp.confidence[:, None] > 0, out.reprojection_error_px, np.nan)
    print(f"Wrote {output}: poses {list(out.poses.shape)}, mean reprojection error "
          f"{np.nanmean(err):.2f} px (visible joints), {out.timings.seconds:.1f}s "
          f"(compilation {out.timings.compile_seconds:.1f}s, 0 when cached)")
    if q["suspect"].any():
        print(f"Warning: {int(q['suspect'].sum())} of {q['suspect'].size} frame-hypotheses look "
              f"implausible (see the 'suspect' field and the quality fields in {output})")
    if inp.poses3d is not None:
        S = out.num_hypotheses
        res = metrics.evaluate(out.poses, inp.poses3d, common.eval_config())
        rows = [(f"ZeDO S={S}" + (" (min over hypotheses, oracle)" if S > 1 else ""),
                 res["summary"])]
        if S > 1:           # what a user without ground truth gets: the `best` hypothesis
            rows.append((f"ZeDO S={S} (best, no ground truth)", metrics.evaluate(
                out.best_poses, inp.poses3d, common.eval_config())["summary"]))
        print(report.format_table(rows))
        common.print_temporal_metrics(out.poses, inp, np.argmin(res["mpjpe_all"], axis=1))
    if figure and not viz.available():
        print("Note: no summary figure without matplotlib (pip install 'zedo_jax[viz]')")
    elif figure:
        viz.save_summary(figure, inp, out, max_frames=FLAGS.figure_frames)
        print(f"Wrote {figure} (summary figure)")
    if FLAGS.plot:           # sequences play at the input's frame rate unless --gif_fps
        seq_input = cfg.temporal is not None or inp.info.get("fps") is not None
        print(viz.save_plots(FLAGS.plot, inp, out, every=FLAGS.plot_every,
                             fps=FLAGS.gif_fps if FLAGS["gif_fps"].present or not seq_input
                             else None, log=print))


if __name__ == "__main__":
    errors.run_and_exit(main)
