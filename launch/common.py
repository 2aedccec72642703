"""What the launchers share: start-up (XLA defaults, compilation cache, processes), the input,
prior and lifting flags, and the lifting configuration built from the generated
``--config.*`` flags (launch/config_flags.py)."""
from __future__ import annotations

import os
import sys

import numpy as np
from absl import flags, logging

from zedo_jax import inputs, lifting, prior as prior_lib
from zedo_jax.core import config as config_lib
from zedo_jax.evaluation import metrics
from zedo_jax.inputs import layouts
from zedo_jax.runtime import compile_cache, distributed, files
from zedo_jax.training import data as data_lib

from . import config_flags, errors

FLAGS = flags.FLAGS


def define_distributed_flags():
    """``--coordinator_address --num_processes --process_id`` (one program over several
    processes/hosts, see zedo_jax.runtime.distributed), ``--distributed`` and ``--heartbeat_timeout``."""
    flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0's coordinator "
                        "for a multi-process run (with --num_processes and --process_id). "
                        "Not needed on SLURM, Open MPI or TPU pods: JAX detects those.")
    flags.DEFINE_integer("num_processes", None, "Processes in a multi-process run.")
    flags.DEFINE_integer("process_id", None, "This process's index in [0, --num_processes).")
    flags.DEFINE_enum("distributed", "auto", ["auto", "on", "off"],
                      "auto: initialise jax.distributed from the flags above, else from a "
                      "detected SLURM / Open MPI / TPU-pod environment, else run as one process; "
                      "on: always call jax.distributed.initialize(); off: one process.")
    flags.DEFINE_integer("heartbeat_timeout", None, "Seconds after which a silent process is "
                         "declared dead and the others stop (JAX default 100).")


def define_pose_data_flags():
    """``--data`` (pose files), ``--data_shares``, ``--split``, ``--frame``: training poses."""
    flags.DEFINE_list("data", None, "Pose file(s) (.npz/.npy, comma-separated); see "
                      "zedo_jax.training.data.load_poses.")
    flags.DEFINE_list("data_shares", None, "Share of every batch drawn from each --data file "
                      "(e.g. 1,1: half and half); default: in proportion to their sizes.")
    flags.DEFINE_string("split", "train", "Split of --data: train, test or all.")
    flags.DEFINE_enum("frame", "auto", ["auto", "world", "camera"],
                      "Frame of the poses (auto: from the file format). 'camera' with "
                      "VideoPose3D's data_3d_h36m.npz: the poses seen by the four real "
                      "Human3.6M cameras (the release's recipe).")


def pose_data() -> data_lib.PoseSet:
    """The poses of ``--data`` with ``--data_shares`` (``zedo_jax.training.data.combine``)."""
    shares = FLAGS.data_shares
    if shares is not None:
        if len(shares) != len(FLAGS.data):
            errors.fail(f"--data_shares needs one value per --data file ({len(FLAGS.data)}); "
                        f"got {len(shares)}")
        try:
            shares = [float(s) for s in shares]
        except ValueError:
            errors.fail(f"--data_shares must be numbers; got {','.join(FLAGS.data_shares)}")
    return data_lib.combine([data_lib.load_poses(path, split=FLAGS.split, frame=FLAGS.frame)
                             for path in FLAGS.data], shares)


def start():
    """Before any JAX computation: quiet logs, the CPU XLA defaults, the on-disk cache of
    compiled programs, and jax.distributed from the flags (a one-line error on inconsistent
    flags)."""
    logging.set_verbosity(logging.WARNING)
    compile_cache.apply_xla_defaults()
    compile_cache.enable_compilation_cache()
    try:
        distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes,
                               FLAGS.process_id, mode=FLAGS.distributed,
                               heartbeat_timeout_seconds=FLAGS.heartbeat_timeout)
    except ValueError as e:
        sys.exit(f"Error: {e}")


def define_lift_flags(input_required: bool = False):
    flags.DEFINE_string("input", None, "Input .npz (keypoints, K, optional poses3d), .json "
                        "(frames schema, COCO keypoint results, OpenPose) or a directory of "
                        "OpenPose JSON files; see zedo_jax.inputs. launch.evaluate takes several, "
                        "separated by commas." + ("" if input_required else
                                              " Default: the bundled demo."))
    flags.DEFINE_string("checkpoint", None, "Prior directory or training workdir "
                        "(default: the prior shipped with zedo_jax).")
    flags.DEFINE_enum("weights", None, ["raw", "ema"], "Weights to use: default = a prior "
                      "directory's default set (the shipped prior: ema), raw for a training "
                      "workdir, and raw with --schedule faithful (the release's inference).")
    flags.DEFINE_string("init_poses", None, ".npy initial poses: [S,17,3] hypotheses or "
                        "[N,17,3] per frame (refinement mode). Default: the prior's clusters.")
    flags.DEFINE_integer("hypotheses", 1, "S: number of cluster centres to start from.")
    flags.DEFINE_integer("start_candidates", 1, "Start each frame from the --hypotheses of "
                         "this many cluster centres (e.g. 50) that the IPO fits best over all "
                         "joints: helps bent legs (sitting) at 2.5x the time. 1 = the prior's "
                         "cluster centres as they are.")
    flags.DEFINE_enum("preset", "h36m", sorted(config_lib.PRESETS),
                      "Release configuration to start from (per-dataset settings).")
    flags.DEFINE_enum("schedule", None, sorted(config_lib.SCHEDULES),
                      "'fast' (the default: 100 IPO steps, 100 loop iterations, anatomy and "
                      "denoising steps), 'faithful' (the release's 500 + 1000) or 'temporal' "
                      "(sequences as windows of consecutive frames; same as --temporal).")
    flags.DEFINE_bool("temporal", False, "Lift sequences as windows of consecutive frames "
                      "(the 'temporal' schedule): the input's 'seq' / 'frame', else all frames "
                      "in file order.")
    flags.DEFINE_bool("anatomy", None, "Final bone steps that make limbs symmetric and "
                      "proportioned (default: as the schedule has them).")
    config_flags.define("config", config_lib.LiftConfig, "Lifting setting")
    flags.DEFINE_integer("limit", None, "Only the first N frames.")
    flags.DEFINE_integer("chunk_size", None, "Frames per compiled chunk.")
    flags.DEFINE_bool("recenter", False, "Root-centre predictions before MPJPE (the release "
                      "does not).")
    flags.DEFINE_bool("proper_rotations", False, "PA-MPJPE without reflections (the release "
                      "allows them).")
    # Input layout and camera (see zedo_jax.inputs).
    flags.DEFINE_enum("format", None, list(layouts.FORMATS),
                      "Keypoint layout of the input: h36m (Human3.6M-17 order), coco17 (MMPose / "
                      "RTMPose / Detectron2 / YOLO-pose), mediapipe (33 landmarks), openpose "
                      "(BODY_25 or COCO-18). Default: the JSON file's 'format', else h36m "
                      "(COCO result files: coco17; OpenPose files: openpose).")
    flags.DEFINE_string("image_size", None, "W,H image size in pixels for a default camera "
                        "(overrides the file's image_size; frames with K in the file keep it).")
    flags.DEFINE_float("fov_deg", 55.0, "Field of view (degrees, across the larger image side) "
                       "of the default camera used when the input has no K.")
    flags.DEFINE_float("focal", None, "Focal length (pixels) of the default camera used when "
                       "the input has no K (overrides --fov_deg).")
    flags.DEFINE_bool("normalized", None, "Keypoint coordinates are fractions of the image size "
                      "(MediaPipe); they are scaled by the image size. Default: the JSON file's "
                      "'normalized', else false.")
    flags.DEFINE_float("min_confidence", 0.0, "Detector joints below this confidence are "
                       "treated as missing (confidence 0). 0 keeps every detected joint.")
    flags.DEFINE_enum("confidence_mode", "auto", list(layouts.CONFIDENCE_MODES),
                      "How to read the detector's score column: score ([0, 1]), visibility "
                      "(COCO 0/1/2 flags), sigmoid (logits, e.g. Detectron2), auto.")
    flags.DEFINE_integer("max_people", None, "Several people per frame (JSON 'people', COCO, "
                         "OpenPose): keep the best N per frame (default: all).")
    flags.DEFINE_float("min_person_score", 0.0, "Drop detected people scoring below this.")


def lift_config(default_schedule: str = "fast") -> config_lib.LiftConfig:
    """The :class:`~zedo_jax.core.config.LiftConfig` of the flags: ``--preset``, ``--schedule``
    (``temporal`` with ``--temporal``, else ``default_schedule``), ``--anatomy``, then every
    ``--config.*`` override."""
    schedule = FLAGS.schedule or ("temporal" if FLAGS.temporal else default_schedule)
    if FLAGS.temporal and schedule != "temporal":
        errors.fail(f"--temporal is the 'temporal' schedule; drop --schedule {schedule} or "
                    f"--temporal")
    overrides = config_flags.overrides("config", config_lib.LiftConfig)
    stray = [k for k in overrides if k.startswith("temporal.")]
    if stray and schedule != "temporal":
        errors.fail(f"--config.{stray[0]} applies to sequences; add --temporal or drop it")
    return config_lib.make_config(FLAGS.preset, schedule, FLAGS.anatomy, overrides)


def check_lift_flags():
    """Numeric and conflicting flags shared by lift and evaluate (before reading anything)."""
    if FLAGS.limit is not None and FLAGS.limit < 1:
        errors.fail(f"--limit must be >= 1 (the number of frames to lift); got {FLAGS.limit}")
    if FLAGS.chunk_size is not None and FLAGS.chunk_size < 1:
        errors.fail(f"--chunk_size must be >= 1 frames; got {FLAGS.chunk_size}")
    if FLAGS.hypotheses < 1:
        errors.fail(f"--hypotheses must be >= 1; got {FLAGS.hypotheses}")
    if FLAGS.start_candidates < 1:
        errors.fail(f"--start_candidates must be >= 1; got {FLAGS.start_candidates}")
    if FLAGS.start_candidates > 1 and (FLAGS.hypotheses > FLAGS.start_candidates
                                       or FLAGS.init_poses is not None
                                       or FLAGS.temporal):
        errors.fail(f"--start_candidates picks the --hypotheses starts of a per-frame lift among "
                    f"that many cluster centres: need --hypotheses <= --start_candidates "
                    f"(got {FLAGS.hypotheses} > {FLAGS.start_candidates}) and no --init_poses "
                    f"or --temporal; or drop --start_candidates")
    if FLAGS.init_poses is not None and FLAGS["hypotheses"].present:
        errors.fail("--init_poses gives the initial poses, so --hypotheses would be ignored; "
                    "drop one of them")
    if not 0 < FLAGS.fov_deg < 180:
        errors.fail(f"--fov_deg must lie in (0, 180) degrees; got {FLAGS.fov_deg}")
    if FLAGS.focal is not None and not FLAGS.focal > 0:
        errors.fail(f"--focal must be a positive number of pixels; got {FLAGS.focal}")
    if FLAGS.focal is not None and FLAGS["fov_deg"].present:
        errors.fail("--focal and --fov_deg both set the default camera; drop one of them")
    if not 0 <= FLAGS.min_confidence <= 1:
        errors.fail(f"--min_confidence must lie in [0, 1]; got {FLAGS.min_confidence}")
    lift_config()


def output_path(path: str, suffixes) -> str:
    """``--output``: ``.npz`` appended to an unknown suffix, then :func:`check_output`."""
    if os.path.splitext(path)[1].lower() not in suffixes:
        path += ".npz"
    return check_output(path, "--output")


def check_output(path: str, flag: str) -> str:
    """Refuse an output path that cannot be written or is one of the inputs (a user's file is
    never replaced by results)."""
    errors.check_writable(path, flag)
    for name in ("input", "init_poses", "checkpoint"):
        given = FLAGS[name].value if name in FLAGS else None
        for other in (given or "").split(","):
            if other and files.same_file(path, other):
                errors.fail(f"{flag} {path} is the --{name} file; give another output path")
    return path


def world(output: str):
    """``--world``: ``None``, ``'y'``, ``'feet'`` or a pitch in degrees (JSON, CSV and BVH
    outputs only)."""
    if FLAGS.world is not None and output.lower().endswith(".npz"):
        errors.fail("--world applies to .json, .csv and .bvh outputs; the .npz keeps camera "
                    "axes (drop --world)")
    if FLAGS.world in (None, "y", "feet"):
        return FLAGS.world
    try:
        return float(FLAGS.world)
    except ValueError:
        errors.fail(f"--world must be 'y', 'feet' or the camera's pitch in degrees; got "
                    f"{FLAGS.world!r}")


def eval_config() -> metrics.EvalConfig:
    return metrics.EvalConfig(recenter=FLAGS.recenter,
                              allow_reflection=not FLAGS.proper_rotations)


def parse_image_size(text: str | None):
    """``'W,H'`` (or ``'WxH'``) -> ``(W, H)`` floats; ``None`` passes through."""
    if text is None:
        return None
    parts = text.lower().replace("x", ",").split(",")
    try:
        w, h = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--image_size must be W,H in pixels (e.g. 1920,1080); got {text!r}") \
            from None
    if w <= 0 or h <= 0:
        raise ValueError(f"--image_size must be positive; got {text!r}")
    return (w, h)


def input_options() -> inputs.InputOptions:
    """:class:`zedo_jax.inputs.InputOptions` from the input/camera flags."""
    return inputs.InputOptions(image_size=parse_image_size(FLAGS.image_size),
                               fov_deg=FLAGS.fov_deg, focal=FLAGS.focal,
                               normalized=FLAGS.normalized, min_confidence=FLAGS.min_confidence,
                               confidence_mode=FLAGS.confidence_mode,
                               max_people=FLAGS.max_people,
                               min_person_score=FLAGS.min_person_score)


def load_input(path: str, ground_truth: bool = False) -> inputs.LiftInput:
    """The input file with the input flags (``--limit`` frames); with ``ground_truth`` it
    must hold ``poses3d``."""
    inp = inputs.load_input(path, format=FLAGS.format, options=input_options())
    if ground_truth and inp.poses3d is None:
        errors.fail(f"{path} has no 'poses3d' ground truth to evaluate against "
                    f"(use launch.lift to lift it)")
    if FLAGS.limit is not None:
        inp = inp.subset(slice(0, FLAGS.limit))
    return inp


def load_prior(default_schedule: str = "fast"):
    """The prior of --checkpoint, checked against --hypotheses (unless --init_poses). Without
    --weights, the faithful schedule takes the raw weights where the prior holds them (the
    release's inference, spec Q3); otherwise the prior's default set."""
    weights = FLAGS.weights
    if weights is None and (FLAGS.schedule or default_schedule) == "faithful" and \
            "raw" in prior_lib.weight_sets(FLAGS.checkpoint):
        weights = "raw"
    prior = prior_lib.load_prior(FLAGS.checkpoint, weights=weights)
    if FLAGS.init_poses is None:           # raises naming the counts the prior holds
        prior.hypotheses(FLAGS.start_candidates if FLAGS.start_candidates > 1
                         else FLAGS.hypotheses)
    return prior


def lift(prior, inp: inputs.LiftInput, init, cfg: config_lib.LiftConfig):
    """:func:`zedo_jax.lifting.lift` of an input file with the lifting flags."""
    return lifting.lift(prior, inp.keypoints, inp.K, confidence=inp.confidence,
                        hypotheses=FLAGS.hypotheses, init_poses=init,
                        start_candidates=FLAGS.start_candidates, config=cfg,
                        chunk_size=FLAGS.chunk_size, seq=inp.seq, frame=inp.frame)


def init_poses(num_frames: int | None = None):
    """The --init_poses array (checked against the number of frames when given)."""
    if FLAGS.init_poses is None:
        return None
    if not os.path.isfile(FLAGS.init_poses):
        errors.fail(f"--init_poses {FLAGS.init_poses}: file not found (an .npy of [S, 17, 3] "
                    f"hypotheses or [N, 17, 3] per-frame poses, metres)")
    try:
        poses = np.load(FLAGS.init_poses, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        errors.fail(f"--init_poses {FLAGS.init_poses}: not a readable .npy array ({e})")
    if not isinstance(poses, np.ndarray):
        errors.fail(f"--init_poses {FLAGS.init_poses}: expected an .npy array, not an archive")
    if num_frames is not None:
        try:
            inputs.validate_init_poses(poses, num_frames)
        except ValueError as e:
            errors.fail(f"--init_poses {FLAGS.init_poses}: {e}")
    return poses


def print_temporal_metrics(pred, inp, best=None) -> dict | None:
    """Velocity / acceleration errors of sequence inputs (``inp.frame`` or an fps set, or
    ``--temporal``; a ``seq`` alone only groups frames, e.g. views of unrelated frames);
    ``pred`` ``[N, S, 17, 3]``, ``best`` ``[N]`` the hypothesis per frame.
    Prints one line and returns the numbers (``None`` when not a sequence input)."""
    is_sequence = (inp.frame is not None or inp.info.get("fps") is not None
                   or FLAGS.temporal or FLAGS.schedule == "temporal")
    if inp.poses3d is None or not is_sequence:
        return None
    pred = np.asarray(pred)
    chosen = pred[np.arange(len(pred)), 0 if best is None else np.asarray(best)]
    tm = metrics.temporal_metrics(chosen, inp.poses3d, inp.seq, inp.frame)
    print(f"MPJVE {tm['mpjve_mm']:.1f} mm/frame, acceleration error "
          f"{tm['accel_error_mm']:.1f} mm/frame^2 ({tm['sequences']} sequences)")
    return tm


def write_json(path: str | None, record: dict | None) -> None:
    """Write ``record`` to ``path`` as JSON (tuples and arrays as lists); nothing when either
    is ``None``."""
    if path is None or record is None:
        return
    files.save_json(path, record, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist")
                    else list(o) if isinstance(o, tuple) else str(o))
    print(f"Wrote {path}")
