r"""Leave-one-subset-out generalisation table: for each subset of the CMU file, train a small
prior on the other two with each augmentation recipe and evaluate it (S = 1, faithful loop) on
views of the held-out subset's test sequences.

    python -m experiments.loso_main --data ../shared/data/cmu_h36m17.npz --workdir runs/loso \
        --recipes none,skeleton,posture,rebalance,all [--steps 5000] [--frames 300]
    python -m experiments.loso_main --workdir runs/loso_swap --recipes none,none:1,swap,swap:1 \
        --weights raw,ema

The table ends with each recipe's PA-MPJPE against ``none`` per held-out subset (seeds
averaged) and whether it is better on every one.

Resumable: finished cells are kept in WORKDIR/loso.json and trainings resume from their
checkpoints. All work is done by ``experiments.loso.run_loso``.
"""
from absl import app, flags, logging

from experiments import loso as gen
from zedo_jax.core.config import make_config

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "CMU pose file with seq_source (cmu_h36m17.npz).")
flags.mark_flag_as_required("data")
flags.DEFINE_string("workdir", None, "Directory for the trainings and loso.json.")
flags.DEFINE_list("recipes", ["none", "all"], f"Recipes among {sorted(gen.RECIPES)}, each "
                  "optionally with a training seed (swap:1).")
flags.DEFINE_list("weights", ["raw"], "Weight sets to evaluate each prior with (raw, ema).")
flags.DEFINE_enum("schedule", "faithful", ["faithful", "fast"],
                  "Lifting loop: the release's (faithful) or the project's default.")
flags.DEFINE_list("subsets", None, "Held-out subsets (default: all three).")
flags.DEFINE_integer("steps", 5000, "Training steps per prior.")
flags.DEFINE_integer("frames", 300, "Evaluation views per held-out subset.")
flags.DEFINE_integer("hidden_dim", 256, "Network width of the small priors.")
flags.DEFINE_integer("embed_dim", 128, "Time-embedding size of the small priors.")
flags.DEFINE_integer("batch_size", 512, "Training batch.")
flags.mark_flag_as_required("workdir")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    try:
        for r in FLAGS.recipes:
            gen.parse_recipe_spec(r)
        config = make_config(schedule=FLAGS.schedule)
        table = gen.run_loso(FLAGS.data, FLAGS.workdir, recipes=FLAGS.recipes,
                             subsets=FLAGS.subsets, steps=FLAGS.steps, frames=FLAGS.frames,
                             config=config, weights=FLAGS.weights,
                             hidden_dim=FLAGS.hidden_dim, embed_dim=FLAGS.embed_dim,
                             batch_size=FLAGS.batch_size)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"Error: {e}")
    print(gen.format_loso(table))


if __name__ == "__main__":
    app.run(main)
