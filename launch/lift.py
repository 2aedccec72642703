r"""Lift 2D keypoints to 3D poses with ZeDO.

    python -m launch.lift                                   # the bundled demo, shipped prior
    python -m launch.lift --input IN.npz|IN.json|OPENPOSE_DIR --output OUT.npz \
        [--format h36m|coco17|mediapipe|openpose] [--image_size W,H] [--fov_deg 55] \
        [--focal F] [--normalized] [--min_confidence C] [--plot DIR --plot_every K] \
        [--figure PATH | --nofigure] [--checkpoint PRIOR] [--hypotheses 50] \
        [--init_poses POSES.npy] [--ipo_steps 500] [--oil_steps 1000] \
        [--temporal [--temporal_window 120 --temporal_overlap 24 --post_filter savgol]]

Inputs (zedo_jax.inputs): .npz (keypoints [N,17,2|3] pixels + confidence, K [3,3] or [N,3,3] or
image_size, optional poses3d [N,17,3] metres -> the metrics are printed), JSON frames
({"format", "image_size", "K", "frames": [{"id", "keypoints", ...}]}), COCO keypoint results,
OpenPose JSON. Detector layouts are converted to Human3.6M-17 (zedo_jax.inputs.layouts).
Without K the camera is a default one from the image size (principal point at the centre,
--fov_deg field of view, or --focal).

Outputs: OUT.npz (poses [N,S,17,3] root-relative metres in camera axes, translation [N,S,3],
reprojection_error_px [N,S,17]); with --figure PATH a summary figure (2D input beside the 3D
result for a few frames; the demo writes OUT.png unless --nofigure); with --plot DIR one PNG per
frame and an animated GIF (and an MP4 when ffmpeg is installed).

Several processes/hosts split every chunk of frames (--coordinator_address HOST:PORT
--num_processes N --process_id I, or nothing extra under srun / mpirun / on a TPU pod); every
process reads the input, process 0 prints and writes the outputs.

Sequences (--temporal): .npz inputs with 'seq' (and 'frame', 'fps'), a JSON file or an
OpenPose directory (one sequence), or a VideoPose3D data_2d_custom_*.npz (one per video) are
lifted as windows of consecutive frames (zedo_jax.core.temporal); the output adds fps, seq, frame
and 'translation' is the smoothed camera-frame trajectory of the pelvis.
"""
import time

_T_START = time.perf_counter()           # before the heavy imports: their time is reported

import os  # noqa: E402

import numpy as np  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from launch import common, errors  # noqa: E402
from zedo_jax.runtime import distributed
from zedo_jax import lifting, prior as prior_lib, viz
from zedo_jax.evaluation import metrics, quality  # noqa: E402

import launch  # noqa: E402

_T_IMPORTS = time.perf_counter() - min(_T_START, launch.T_START)
FLAGS = flags.FLAGS
common.define_lift_flags()
common.define_distributed_flags()
common.define_temporal_flags()
flags.DEFINE_string("output", "zedo_lift.npz", "Output .npz (.npz is appended when missing).")
flags.DEFINE_string("figure", None, "Write a summary figure PNG here (2D input beside the 3D "
                    "result for a few frames). Written by default (the output path with .png) "
                    "only for the bundled demo: matplotlib costs a second and a half.")
flags.DEFINE_bool("nofigure", False, "Do not write the demo's summary figure.")
flags.DEFINE_integer("figure_frames", 4, "Frames shown in the summary figure.")
flags.DEFINE_string("plot", None, "Directory for one PNG per frame (see --plot_every) and, for "
                    "more than one frame, an animation (animation.gif; also animation.mp4 when "
                    "ffmpeg is installed), frames in sequence order.")
flags.DEFINE_integer("plot_every", 1, "With --plot: draw every k-th frame.")
flags.DEFINE_float("gif_fps", 8.0, "With --plot: frames per second of the GIF (default for "
                   "sequence inputs: their fps / --plot_every).")

DEMO = os.path.join(prior_lib.ASSET_DIR, "demo.npz")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    common.init_distributed()
    print_ = print if distributed.is_primary() else (lambda *a, **k: None)
    # Everything checkable is checked before the prior is loaded or anything compiles.
    common.check_lift_flags()
    if FLAGS.figure and FLAGS.nofigure:
        errors.fail("--figure and --nofigure contradict each other; drop one of them")
    if FLAGS.figure_frames < 1:
        errors.fail(f"--figure_frames must be >= 1; got {FLAGS.figure_frames}")
    if FLAGS.plot and FLAGS.plot_every < 1:
        errors.fail(f"--plot_every must be >= 1, got {FLAGS.plot_every}")
    if FLAGS.plot and not FLAGS.gif_fps > 0:
        errors.fail(f"--gif_fps must be positive; got {FLAGS.gif_fps}")
    if FLAGS.plot and not viz.available():
        errors.fail(f"--plot: {viz.MISSING_MATPLOTLIB}")
    if FLAGS.plot and os.path.exists(FLAGS.plot) and not os.path.isdir(FLAGS.plot):
        errors.fail(f"--plot {FLAGS.plot} is a file; give a folder for the frame plots")
    output = FLAGS.output if FLAGS.output.endswith(".npz") else FLAGS.output + ".npz"
    errors.check_writable(output, "--output")
    fig_path = None
    if FLAGS.figure or not (FLAGS.nofigure or FLAGS.input):      # asked for, or the demo
        fig_path = FLAGS.figure or os.path.splitext(output)[0] + ".png"
        errors.check_writable(fig_path, "--figure")
    path = FLAGS.input or DEMO
    inp = common.load_input(path)
    init = common.init_poses(len(inp))
    t_prior = time.perf_counter()
    prior = common.load_prior()
    t_prior = time.perf_counter() - t_prior
    cfg = common.lift_config()
    print_(f"Lifting {len(inp)} frames from {path} ({inp.info.get('format', 'h36m')} keypoints) "
          f"with the prior at {prior.path} ({prior.config.hidden_dim}-wide, "
          f"{prior.info.get('weights', FLAGS.weights)} weights)")
    print_(f"Camera: {inp.info.get('camera', 'K from the input')}")
    for w in inp.info.get("warnings", []):
        print_(f"Warning: {w}")
    out = lifting.lift(prior, inp.keypoints, inp.K, confidence=inp.confidence,
                       hypotheses=FLAGS.hypotheses, init_poses=init,
                       start_candidates=FLAGS.start_candidates, config=cfg,
                       chunk_size=FLAGS.chunk_size, seq=inp.seq, frame=inp.frame,
                       temporal=common.temporal_config())
    if not distributed.is_primary():          # every process holds the results; one writes
        return
    q = quality.assess(out.poses, out.translation, out.reprojection_error_px, inp.keypoints,
                       inp.confidence, prior.stats)
    lifting.save_result(output, out, inp, extra=q)
    S = out["poses"].shape[1]
    print(f"Wrote {output}: poses {list(out['poses'].shape)}, mean reprojection error "
          f"{out['reprojection_error_px'].mean():.2f} px, {out.timings.seconds:.1f}s")
    print(f"Time: imports {_T_IMPORTS:.1f}s, prior loading {t_prior:.1f}s, compilation "
          f"{out.timings.compile_seconds:.1f}s (0 when cached), lifting "
          f"{out.timings.seconds - out.timings.compile_seconds:.1f}s")
    if q["suspect"].any():
        print(f"Warning: {int(q['suspect'].sum())} of {q['suspect'].size} frame-hypotheses look "
              f"implausible (see the 'suspect' field and the quality fields in {output})")
    if inp.poses3d is not None:
        res = metrics.evaluate(out["poses"], inp.poses3d, common.eval_config())
        label = f"ZeDO S={S}" + (" (min over hypotheses, oracle)" if S > 1 else "")
        rows = [(label, res["summary"])]
        if S > 1:           # what a user without ground truth gets: the `best` hypothesis
            rows.append((f"ZeDO S={S} (best, no ground truth)", metrics.evaluate(
                out.best_poses, inp.poses3d, common.eval_config())["summary"]))
        print(common.format_table(rows))
        common.print_temporal_metrics(out["poses"], inp, np.argmin(res["mpjpe_all"], axis=1))
    if fig_path:
        if viz.available():
            viz.save_summary(fig_path, inp, out, max_frames=FLAGS.figure_frames)
            print(f"Wrote {fig_path} (summary figure)")
        else:
            print("Note: matplotlib is not installed, so no summary figure "
                  "(pip install 'zedo_jax[viz]')")
    if FLAGS.plot:
        paths = viz.save_frames(FLAGS.plot, inp, out, every=FLAGS.plot_every)
        msg = f"Wrote {len(paths)} frame plots to {FLAGS.plot}"
        if len(paths) > 1:
            # sequences play in order at the input's frame rate; GIF, and MP4 with ffmpeg
            seq_input = FLAGS.temporal or inp.info.get("fps") is not None
            fps = FLAGS.gif_fps if FLAGS["gif_fps"].present or not seq_input else None
            anims = viz.save_animation(os.path.join(FLAGS.plot, "animation"), inp, out,
                                       every=FLAGS.plot_every, fps=fps)
            msg += " and " + ", ".join(anims)
        print(msg)


if __name__ == "__main__":
    errors.run_and_exit(main)
