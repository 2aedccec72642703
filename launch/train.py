r"""Train (or resume) a ZeDO score prior.

    python -m launch.train --data ../shared/data/cmu_h36m17.npz --workdir runs/prior \
        [--recipe swap_skeleton] [--config.steps=100000 --config.model.hidden_dim=1024 ...]

Several pose files, each filling a share of every batch: ``--data A.npz,B.npz
--data_shares 1,1``.

The release's recipe (Human3.6M train subjects S1, S5-S8 in the four real cameras):

    python -m launch.train --data DIR/data_3d_h36m.npz --frame camera --workdir runs/h36m

Resumes from the latest checkpoint in --workdir; Ctrl-C saves a checkpoint before exiting.
Several processes or hosts (one optimiser state; each process computes its slice of the
global batch; process 0 logs and writes the metrics, all take part in checkpoints):

    python -m launch.train ... --coordinator_address HOST:PORT --num_processes N --process_id I

All work is done by ``zedo_jax.training.trainer.fit``.
"""
import contextlib
import dataclasses
import os
import sys

from absl import flags

from zedo_jax import prior as prior_lib
from zedo_jax.core import config as config_lib, model, sde as sde_lib
from zedo_jax.runtime import distributed, files
from zedo_jax.training import data as data_lib, recipes, trainer

from . import common, config_flags, errors

FLAGS = flags.FLAGS
common.define_pose_data_flags()
flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics (resumed if present).")
flags.DEFINE_enum("sde", "subvp", sorted(sde_lib.SDES), "Diffusion SDE.")
flags.DEFINE_enum("recipe", None, sorted(recipes.RECIPES), "Named training recipe "
                  "(zedo_jax.training.recipes; 'none' is the release's); --config.augment.* "
                  "and --config.loss.* flags override its values.")
flags.DEFINE_string("init_from", None, "Prior directory or training workdir whose weights "
                    "start a new run (fine-tuning); ignored when resuming.")
flags.DEFINE_enum("init_expert", "high", ["high", "low"], "Which network of an --init_from "
                  "prior with noise-level experts to start from.")
flags.DEFINE_integer("log_every", 100, "Steps between log lines.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("keep", 3, "Checkpoints to keep.")
flags.mark_flags_as_required(["data", "workdir"])
config_flags.define("config", trainer.TrainConfig, "Training setting")
common.define_distributed_flags()
flags.adopt_module_key_flags(common)


def train_config(net=None) -> trainer.TrainConfig:
    """The TrainConfig of --recipe, then the --config.* flags (explicit flags win); ``net``:
    the network of an --init_from prior, the default for --config.model.*."""
    cfg = trainer.TrainConfig(sde=sde_lib.make_sde(FLAGS.sde))
    if net is not None:
        cfg = dataclasses.replace(cfg, model=net)
    if FLAGS.recipe:
        cfg = config_lib.apply_overrides(cfg, {"augment": recipes.augment_config(FLAGS.recipe),
                                               "loss": recipes.loss_config(FLAGS.recipe)})
    return config_lib.apply_overrides(cfg, config_flags.overrides("config", trainer.TrainConfig))


def main(argv):
    del argv
    common.start()
    for name in ("log_every", "checkpoint_every", "keep"):
        if getattr(FLAGS, name) < 1:
            errors.fail(f"--{name} must be >= 1; got {getattr(FLAGS, name)}")
    if os.path.exists(FLAGS.workdir) and not os.path.isdir(FLAGS.workdir):
        errors.fail(f"--workdir {FLAGS.workdir} is a file; give a folder")
    if FLAGS.init_from and not os.path.exists(FLAGS.init_from):
        errors.fail(f"--init_from {FLAGS.init_from}: no such prior directory or workdir")
    poses = common.pose_data()
    for w in data_lib.check_training_poses(poses):
        print(f"Warning: {w}", file=sys.stderr)
    init, net = None, None
    if FLAGS.init_from:
        start = [prior_lib.load_prior(FLAGS.init_from, weights=w) for w in ("raw", "ema")]
        init, net = tuple(p.params for p in start), start[0].config
        if model.has_experts(init[0]):
            print(f"[train] {FLAGS.init_from} holds noise-level experts: starting from its "
                  f"{FLAGS.init_expert} network", file=sys.stderr)
            init = tuple(model.expert(p, FLAGS.init_expert) for p in init)
    cfg = train_config(net)
    # One training per workdir: process 0 holds the lock (several processes share it).
    with files.WorkdirLock(FLAGS.workdir) if distributed.is_primary() else \
            contextlib.nullcontext():
        try:
            trainer.fit(cfg, poses, FLAGS.workdir, log_every=FLAGS.log_every,
                        checkpoint_every=FLAGS.checkpoint_every, keep=FLAGS.keep,
                        init_params=init)
        except KeyboardInterrupt:
            raise SystemExit(130)


if __name__ == "__main__":
    errors.run_and_exit(main)
