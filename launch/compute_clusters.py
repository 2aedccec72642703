r"""Compute ZeDO hypotheses (k-means cluster centres of camera-axes training poses) and store
them with a prior or training workdir as clusters_<S>.npy.

    python -m launch.compute_clusters --data ../shared/data/cmu_h36m17.npz \
        --prior runs/prior --S 1 --S 50
"""
from absl import app, flags, logging
import jax

from zedo_jax import checkpoint, clustering, data as data_lib
from zedo_jax.utils import echo

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Training pose file (see zedo_jax.data.load_poses).")
flags.DEFINE_string("split", "train", "Split of --data.")
flags.DEFINE_enum("frame", "auto", ["auto", "world", "camera"], "Frame of the poses.")
flags.DEFINE_string("prior", None, "Prior directory or training workdir to store them in.")
flags.DEFINE_multi_integer("S", [1, 50], "Numbers of hypotheses.")
flags.DEFINE_integer("iters", 100, "Lloyd iterations.")
flags.DEFINE_integer("seed", 0, "PRNG seed (virtual cameras and k-means++).")
flags.DEFINE_enum("s1", "front", ["front", "kmeans"], "S = 1 hypothesis: the mean pose facing "
                  "the camera (default) or the literal k-means centre of all views.")
flags.mark_flags_as_required(["data", "prior"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    poses = data_lib.load_poses(FLAGS.data, split=FLAGS.split, frame=FLAGS.frame)
    key = jax.random.PRNGKey(FLAGS.seed)
    cam = data_lib.camera_frame_poses(poses, jax.random.fold_in(key, 0))
    echo(f"[clusters] {checkpoint.save_training_stats(FLAGS.prior, checkpoint.training_stats(cam))}")
    for S in FLAGS.S:
        centres = clustering.hypotheses(poses, S, key, s1=FLAGS.s1, iters=FLAGS.iters)
        echo(f"[clusters] S={S}: {checkpoint.save_clusters(FLAGS.prior, centres)}")


if __name__ == "__main__":
    app.run(main)
