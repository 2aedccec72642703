r"""Compute ZeDO hypotheses (k-means cluster centres of camera-axes training poses) and store
them with a prior or training workdir as clusters_<S>.npy.

    python -m launch.compute_clusters --data ../shared/data/cmu_h36m17.npz \
        --prior runs/prior --S 1 --S 50

With several files and --data_shares (as in training), the poses are first drawn by their
shares, so the hypotheses and statistics describe what the prior was trained on.
"""
import jax
from absl import flags, logging

from zedo_jax import prior as prior_lib
from zedo_jax.runtime.compile_cache import echo

from . import common, errors

FLAGS = flags.FLAGS
common.define_pose_data_flags()
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
    poses = common.pose_data()
    written = prior_lib.store_hypotheses(FLAGS.prior, poses, FLAGS.S,
                                         jax.random.PRNGKey(FLAGS.seed), s1=FLAGS.s1,
                                         iters=FLAGS.iters)
    for what, path in written.items():
        echo(f"[clusters] {'' if what == 'training_stats' else f'S={what}: '}{path}")


if __name__ == "__main__":
    errors.run_and_exit(main)
