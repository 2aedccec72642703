r"""Convert an official ZeDO PyTorch checkpoint into a zedo_jax prior directory.

    python -m launch.convert_checkpoint --pth checkpoint/concatebb/checkpoint_1500.pth \
        --output priors/zedo_official [--weights raw|ema] \
        [--clusters clusters/h36m_cluster1.npy --clusters clusters/h36m_cluster50.npy]

The result is accepted by ``python -m launch.lift --checkpoint DIR`` and
``python -m launch.evaluate --checkpoint DIR``. Needs PyTorch (``pip install 'zedo_jax[torch]'``).
Official cluster files ``h36m_cluster{S}.npy`` ([>= S, 17, 3]) are stored as
``clusters_<S>.npy``. All work is done by ``zedo_jax.official.torch_port.convert_to_prior``.
"""
from absl import flags, logging

from zedo_jax import prior as prior_lib
from zedo_jax.official import torch_port
from zedo_jax.runtime.compile_cache import echo

from . import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("pth", None, "Official PyTorch checkpoint (.pth).")
flags.DEFINE_string("output", None, "Prior directory to write.")
flags.DEFINE_enum("weights", "raw", ["raw", "ema"],
                  "raw = model_state_dict (what the official inference uses); "
                  "ema = ema.shadow_params.")
flags.DEFINE_multi_string("clusters", [], "Official cluster file(s) h36m_cluster{S}.npy "
                          "(repeat the flag or separate with commas).")
flags.DEFINE_bool("overwrite", False, "Replace an existing prior directory at --output whole.")
flags.mark_flags_as_required(["pth", "output"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    clusters = [f for item in FLAGS.clusters for f in item.split(",") if f]
    path = torch_port.convert_to_prior(FLAGS.pth, FLAGS.output, weights=FLAGS.weights,
                                       clusters=clusters, overwrite=FLAGS.overwrite)
    prior = prior_lib.load_prior(path, weights=FLAGS.weights)
    c = prior.config
    echo(f"[convert] {FLAGS.pth} ({FLAGS.weights} weights): hidden {c.hidden_dim}, embedding "
         f"{c.embed_dim}, {c.n_blocks} blocks, clusters S={sorted(prior.clusters) or '-'} "
         f"-> {path}")


if __name__ == "__main__":
    errors.run_and_exit(main)
