r"""Accuracy against cost of the loop's length (the README's figure).

    python -m experiments.schedules [--input A.npz,B.npz,...] [--steps 10,25,50,100,200,500,1000] \
        [--frames 500] [--json OUT.json] [--figure OUT.png] [--from_json OUT.json]

For every file (default: the clean, noisy and cross-skeleton benchmarks in data/) and
loop length M: S = 1 MPJPE and PA-MPJPE of the release's loop and of the default (no linear
drift, anatomy steps), M network evaluations per frame (experiments.benchmarks.accuracy_vs_cost).
--from_json redraws a figure from an earlier --json without lifting.
"""
import json
import os

from absl import app, flags, logging

from experiments import benchmarks
from launch import errors
from zedo_jax import viz
from zedo_jax.runtime.compile_cache import echo

FLAGS = flags.FLAGS
_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
flags.DEFINE_list("input", [os.path.join(_DATA, f"{n}.npz") for n in (
    "cmu_test_views", "cmu_test_views_noisy", "cmu_daz_test_views")],
    ".npz files with keypoints, K and poses3d.")
flags.DEFINE_list("steps", ["10", "25", "50", "100", "200", "500", "1000"], "Loop lengths.")
flags.DEFINE_integer("frames", 500, "Evenly spaced frames per file.")
flags.DEFINE_string("json", None, "Write the records here.")
flags.DEFINE_string("figure", None, "Draw the figure here (needs matplotlib).")
flags.DEFINE_string("from_json", None, "Draw --figure from these records instead of lifting.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.figure and not viz.available():
        errors.fail(f"--figure: {viz.MISSING_MATPLOTLIB}")
    if FLAGS.from_json:
        with open(FLAGS.from_json) as f:
            records = json.load(f)
    else:
        import numpy as np

        from zedo_jax import prior as prior_lib
        files = {}
        for path in FLAGS.input:
            if not os.path.isfile(path):
                errors.fail(f"--input {path}: file not found")
            with np.load(path) as d:
                if "poses3d" not in d.files:
                    errors.fail(f"--input {path} has no poses3d (ground truth) to score against")
                K = d["K"] if d["K"].ndim == 3 else np.broadcast_to(d["K"], (len(d["keypoints"]), 3, 3))
                files[os.path.splitext(os.path.basename(path))[0]] = (
                    d["keypoints"], K, d["poses3d"])
        steps = [int(s) for s in FLAGS.steps]
        records = benchmarks.accuracy_vs_cost(prior_lib.load_prior(), files, steps,
                                              FLAGS.frames, log=echo)
    for r in records:
        print(f"{r['variant']:8s} {r['evals_per_frame']:5d} evals/frame  {r['file']:24s} "
              f"MPJPE {r['mpjpe_mm']:6.1f}  PA-MPJPE {r['pa_mpjpe_mm']:6.1f} mm")
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(records, f, indent=1)
        print(f"Wrote {FLAGS.json}")
    if FLAGS.figure:
        viz.save_accuracy_cost(FLAGS.figure, records, marks={"fast": 100, "faithful": 1000})
        print(f"Wrote {FLAGS.figure}")


if __name__ == "__main__":
    errors.run_and_exit(main)
