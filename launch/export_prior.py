r"""Export the network weights of a training workdir as a prior directory (what inference and
the package ship: no optimiser state), copying its cluster files.

    python -m launch.export_prior --workdir runs/prior --output zedo_jax/assets/prior \
        [--weights raw|ema|both] [--default_weights raw|ema] [--step N] \
        [--high_expert PRIOR --split_t 0.1]     # noise-level experts (a low-noise and an all-times network)
"""
from absl import flags, logging

from zedo_jax import prior as prior_lib
from zedo_jax.runtime.compile_cache import echo

from . import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir.")
flags.DEFINE_string("output", None, "Prior directory to write.")
flags.DEFINE_enum("weights", "both", ["raw", "ema", "both"], "Which weights to export; both = "
                  "raw as the default set (what the release's inference uses) plus ema.")
flags.DEFINE_enum("default_weights", "raw", ["raw", "ema"], "With --weights both: the set "
                  "load_prior() returns when not told which (the shipped prior: ema).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.DEFINE_string("high_expert", None, "A prior directory: the workdir's network becomes the "
                    "low noise-level expert (t <= --split_t, the times ZeDO's loop uses) and this "
                    "prior's network answers above (sampling from noise).")
flags.DEFINE_float("split_t", 0.1, "With --high_expert: the boundary time between the experts.")
flags.DEFINE_bool("overwrite", False, "Replace an existing prior directory at --output (whole: "
                  "nothing of the old prior remains).")
flags.mark_flags_as_required(["workdir", "output"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    path, step = prior_lib.export_workdir(FLAGS.workdir, FLAGS.output, FLAGS.weights, FLAGS.step,
                                          default=FLAGS.default_weights,
                                          high_expert=FLAGS.high_expert, split_t=FLAGS.split_t,
                                          overwrite=FLAGS.overwrite)
    what = (f"raw and ema weights, {FLAGS.default_weights} by default"
            if FLAGS.weights == "both" else f"{FLAGS.weights} weights")
    if FLAGS.high_expert:
        what += f"; low expert for t <= {FLAGS.split_t:g}, {FLAGS.high_expert} above"
    echo(f"[export] step {step} ({what}) -> {path}")


if __name__ == "__main__":
    errors.run_and_exit(main)
