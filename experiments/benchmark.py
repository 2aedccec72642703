r"""Throughput of training and lifting, against a matmul peak measured in the same process.

    python -m experiments.benchmark [--json OUT.json] [--what train,lift,train_profile] \
        [--batches 1,64,1024] [--schedule fast|faithful] [--hidden_dim 512 --embed_dim 256] \
        [--train_data ../shared/data/cmu_full_h36m17.npz] [--train_recipes none,swap]

Reports training poses/s and lifting pose-iterations/s with the default 7.2M network (random
weights: speed does not depend on them), achieved FLOP/s (matmul FLOPs of the network) as a
fraction of the float32 matmul peak, compile times apart from steady state, and the machine.
Training: the network alone, then each named recipe on --train_data (or synthetic poses of
its size), and the release's PyTorch loop on the same poses when PyTorch is installed, all in
this one process; ``train_profile`` adds the milliseconds of the pieces of a step.
"""
import json

from absl import app, flags, logging

from experiments import benchmarks
from zedo_jax.runtime.compile_cache import echo

FLAGS = flags.FLAGS
flags.DEFINE_string("json", None, "Write the results to this JSON file.")
flags.DEFINE_list("what", ["train", "lift"], "Benchmarks to run.")
flags.DEFINE_list("batches", ["1", "64", "1024"], "Lifting batch sizes (frames).")
flags.DEFINE_integer("hypotheses", 1, "Hypotheses per frame in the lifting benchmark.")
flags.DEFINE_enum("schedule", None, ["fast", "faithful"], "Lift with this named schedule "
                  "(and its anatomy steps) instead of --ipo_steps/--oil_steps.")
flags.DEFINE_integer("ipo_steps", 50, "IPO steps in the lifting benchmark (release: 500).")
flags.DEFINE_integer("oil_steps", 100, "Loop iterations in the lifting benchmark (release: 1000).")
flags.DEFINE_integer("train_batch", 1024, "Training batch size.")
flags.DEFINE_integer("train_steps", 20, "Timed training steps.")
flags.DEFINE_integer("hidden_dim", 1024, "Network width.")
flags.DEFINE_integer("embed_dim", 512, "Time-embedding size.")
flags.DEFINE_list("train_recipes", None, "Training recipes to time (default: all of "
                  "zedo_jax.training.recipes.RECIPES).")
flags.DEFINE_string("train_data", None, "Pose file for the recipes and the PyTorch loop "
                    "(its train split); default: --train_poses synthetic world-frame poses.")
flags.DEFINE_integer("train_poses", 455_152, "Synthetic poses without --train_data.")
flags.DEFINE_bool("torch", True, "Also time the PyTorch training loop (when installed).")
flags.DEFINE_enum("translation_solver", None, ["lstsq", "normal", "closed"],
                  "Least-squares solver (default: the schedule's; lstsq without one).")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    res = benchmarks.run_all(
        what=FLAGS.what, batches=[int(b) for b in FLAGS.batches], hypotheses=FLAGS.hypotheses,
        ipo_steps=FLAGS.ipo_steps, oil_steps=FLAGS.oil_steps, train_batch=FLAGS.train_batch,
        train_steps=FLAGS.train_steps, hidden_dim=FLAGS.hidden_dim, embed_dim=FLAGS.embed_dim,
        translation_solver=FLAGS.translation_solver, schedule=FLAGS.schedule,
        train_recipes=FLAGS.train_recipes, train_data=FLAGS.train_data,
        train_n=FLAGS.train_poses, torch_loop=FLAGS.torch, log=echo)
    print(benchmarks.format_report(res))
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(res, f, indent=2)
        print(f"Wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
