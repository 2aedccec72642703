r"""Export the network weights of a training workdir as a prior directory (what inference and
the package ship: no optimiser state), copying its cluster files.

    python -m launch.export_prior --workdir runs/prior --output zedo_jax/assets/prior \
        [--weights raw|ema] [--step N]
"""
import json
import os

from absl import app, flags, logging

from zedo_jax import checkpoint
from zedo_jax.utils import echo

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir.")
flags.DEFINE_string("output", None, "Prior directory to write.")
flags.DEFINE_enum("weights", "both", ["raw", "ema", "both"], "Which weights to export; both = "
                  "raw as the default set (the release's inference, quirk Q3) plus ema.")
flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
flags.mark_flags_as_required(["workdir", "output"])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    mngr = checkpoint.TrainCheckpoints(FLAGS.workdir)
    primary = "raw" if FLAGS.weights == "both" else FLAGS.weights
    meta, params = mngr.restore_params(FLAGS.step, weights=primary)
    other = {}
    if FLAGS.weights == "both":
        other["ema"] = mngr.restore_params(FLAGS.step, weights="ema")[1]
    step = FLAGS.step if FLAGS.step is not None else mngr.latest_step()
    mngr.close()
    metrics_path = os.path.join(FLAGS.workdir, "metrics.jsonl")
    last = None
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            lines = [json.loads(l) for l in f if l.strip()]
        last = next((l for l in reversed(lines) if l["step"] <= step), None)
    info = {"step": step, "data": meta.get("data"), "train": meta.get("train"),
            "final_loss": None if last is None else last["loss"]}
    from zedo_jax import model
    cfg = model.ScoreNetConfig.from_dict(meta["model"])
    path = checkpoint.save_prior(FLAGS.output, cfg, checkpoint.sde_from_dict(meta["sde"]),
                                 params, weights=primary, other_weights=other,
                                 clusters=checkpoint.load_clusters(FLAGS.workdir), info=info,
                                 stats=checkpoint.load_training_stats(FLAGS.workdir) or None)
    echo(f"[export] step {step} ({FLAGS.weights} weights) -> {path}")


if __name__ == "__main__":
    app.run(main)
