r"""Build the bundled demo input (zedo_jax/assets/demo.npz) from the lifting benchmark's test
split: a few dozen frames of keypoints + K (+ ground truth for the metrics).

    python -m launch.make_demo --views ../shared/data/cmu_test_views.npz [--frames 32]
"""
import os

import numpy as np
from absl import flags

from zedo_jax import inputs, prior as prior_lib
from zedo_jax.runtime import files

from . import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("views", None, "Benchmark file (e.g. ../shared/data/cmu_test_views.npz).")
flags.mark_flag_as_required("views")
flags.DEFINE_integer("frames", 32, "Number of frames (spread evenly over the file).")
flags.DEFINE_string("output", os.path.join(prior_lib.ASSET_DIR, "demo.npz"), "Output .npz.")


def main(argv):
    del argv
    if FLAGS.frames < 1:
        errors.fail(f"--frames must be >= 1; got {FLAGS.frames}")
    if not os.path.isfile(FLAGS.views):
        errors.fail(f"--views {FLAGS.views}: file not found (a benchmark .npz with keypoints, "
                    f"K, poses3d, seq)")
    with np.load(FLAGS.views) as f:
        idx = np.linspace(0, len(f["keypoints"]) - 1, FLAGS.frames).round().astype(int)
        seq = f["seq"][idx]
        arrays = {"keypoints": f["keypoints"][idx].astype(np.float32),
                  "K": f["K"][idx].astype(np.float32),
                  "poses3d": f["poses3d"][idx].astype(np.float32),
                  "seq": seq.astype(np.int32),
                  "frame_ids": idx.astype(np.int32),
                  "image_size": np.array([1000, 1000], np.float32),
                  "seq_name": np.array([os.path.basename(str(n)) for n in f["seq_name"][seq]])}
    inputs.make_input(arrays["keypoints"], arrays["K"], poses3d=arrays["poses3d"])  # validate
    files.save_npz(FLAGS.output, arrays, compressed=True)
    print(f"wrote {FLAGS.output}: {FLAGS.frames} frames from {FLAGS.views}")


if __name__ == "__main__":
    errors.run_and_exit(main)
