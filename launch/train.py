r"""Train (or resume) a ZeDO score prior.

    python -m launch.train --data ../shared/data/cmu_h36m17.npz --workdir runs/prior \
        --steps 100000 [--batch_size 1024] [--hidden_dim 1024 --embed_dim 512 --n_blocks 2]

The release's recipe (Human3.6M train subjects S1, S5-S8 in the four real cameras):

    python -m launch.train --data DIR/data_3d_h36m.npz --frame camera --workdir runs/h36m

Resumes from the latest checkpoint in --workdir; Ctrl-C saves a checkpoint before exiting.
Several processes or hosts (one optimiser state; each process computes its slice of the
global batch; process 0 logs and writes the metrics, all take part in checkpoints):

    python -m launch.train ... --coordinator_address HOST:PORT --num_processes N --process_id I

(no extra flags under SLURM's srun, mpirun or on a TPU pod; see README "Scaling out").
All work is done by ``zedo_jax.training.trainer.fit``.
"""
import dataclasses
import os
import sys

from absl import app, flags, logging

from launch import common, config_flags, errors
from zedo_jax.training import data as data_lib
from experiments import loso as gen
from zedo_jax.training import losses, trainer as train
from zedo_jax.core import model, sde as sde_lib
from zedo_jax import prior as prior_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Pose file (.npz/.npy); see zedo_jax.training.data.load_poses.")
flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics (resumed if present).")
flags.DEFINE_string("split", "train", "Split of --data: train, test or all.")
flags.DEFINE_enum("frame", "auto", ["auto", "world", "camera"],
                  "Frame of the poses (auto: from the file format). 'camera' with "
                  "VideoPose3D's data_3d_h36m.npz: the poses seen by the four real Human3.6M "
                  "cameras (the release's recipe).")
MODEL_FLAGS = {"hidden_dim": "Width of the residual trunk.",
               "embed_dim": "Size of the time embedding.",
               "n_blocks": "Residual blocks.",
               "dropout": "Dropout rate.",
               "embedding": "Time embedding.",
               "bone_features": "Also feed the pose's bone lengths to the input layer "
                                "(BUILD_NOTES §7.6; with --init_from, the new inputs start at "
                                "zero weight)."}
LOSS_FLAGS = {"reduce_mean": "Mean (not half-sum) over coordinates in the loss.",
              "loop_t_fraction": "Share of each batch trained at the loop's times "
                                 "U[eps_t, loop_t_max) (0 = the release; BUILD_NOTES §7.7).",
              "loop_t_max": "Upper end of those times (the loop starts at 0.1)."}
AUGMENT_FLAGS = {
    "flip_prob": "Probability of a horizontal flip augmentation.",
    "pitch_jitter_deg": "Virtual camera aim error in pitch (degrees).",
    "roll_deg": "Virtual camera roll range (degrees).",
    "bone_scale_range": "Skeleton variation: per bone group (left and right alike) scale "
                        "exp(U(-r, r)).",
    "body_scale_range": "Skeleton variation: body size exp(U(-r, r)).",
    "keep_size": "Skeleton variation keeps the sum of bone lengths (proportions vary, size not).",
    "size_total_m": "If > 0, every training pose is scaled to this sum of bone lengths (metres).",
    "joint_slide": "Spine, thorax, neck/nose slide along their segments by up to this fraction.",
    "posture_prob": "Fraction of samples whose posture (hips, knees, shoulders, elbows, trunk) "
                    "is re-drawn within ranges of motion.",
    "posture_dof_prob": "In those samples, probability that each degree of freedom is re-drawn.",
    "swap_prob": "Fraction of samples retargeted onto another training pose's skeleton.",
    "rebalance_power": "Sample poses with weight count^-power of their posture cluster "
                       "(0 = uniform).",
    "rebalance_clusters": "Posture clusters of the rebalancing."}
TRAIN_FLAGS = {"steps": "Total training steps.",
               "batch_size": "Poses per step (multiple of the device count).",
               "lr": "Adam learning rate.",
               "warmup_steps": "Linear learning-rate warm-up from 0.",
               "grad_clip": "Global-norm gradient clipping.",
               "ema_rate": "EMA decay.",
               "seed": "PRNG seed."}
config_flags.define(model.ScoreNetConfig, MODEL_FLAGS, enums={"embedding": ["positional",
                                                                         "fourier"]})
config_flags.define(losses.LossConfig, LOSS_FLAGS)
config_flags.define(data_lib.AugmentConfig, AUGMENT_FLAGS)
config_flags.define(train.TrainConfig, TRAIN_FLAGS)
flags.DEFINE_enum("sde", "subvp", sorted(sde_lib.SDES), "Diffusion SDE.")
flags.DEFINE_enum("recipe", None, sorted(gen.RECIPES), "Named training recipe "
                  "(experiments.loso.RECIPES; 'none' is the release's); explicit "
                  "augmentation and loss flags override its values.")
flags.DEFINE_string("init_from", None, "Prior directory or training workdir whose weights "
                    "start a new run (fine-tuning); ignored when resuming.")
flags.DEFINE_integer("log_every", 100, "Steps between log lines.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("keep", 3, "Checkpoints to keep.")
flags.mark_flags_as_required(["data", "workdir"])
common.define_distributed_flags()


def with_recipe(cls, helps: dict, from_recipe):
    """``cls`` built from the flags of ``helps``, on top of ``from_recipe(--recipe)`` when a
    recipe is given: flags set on the command line override the recipe's values (a recipe sets
    augmentation, ``gen.recipe``, and may set the training times, ``gen.recipe_loss``)."""
    cfg = config_flags.build(cls, helps)
    if not FLAGS.recipe:
        return cfg
    explicit = {k: getattr(cfg, k) for k in helps if FLAGS[k].present}
    return dataclasses.replace(from_recipe(FLAGS.recipe), **explicit)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # keep Orbax's per-save INFO lines out of the log
    common.init_distributed()
    for name in ("steps", "batch_size", "log_every", "checkpoint_every", "keep"):
        if getattr(FLAGS, name) < 1:
            errors.fail(f"--{name} must be >= 1; got {getattr(FLAGS, name)}")
    for name in ("lr", "ema_rate"):
        if not 0 < getattr(FLAGS, name) < (1 if name == "ema_rate" else float("inf")):
            errors.fail(f"--{name} must be positive{' and below 1' * (name == 'ema_rate')}; "
                        f"got {getattr(FLAGS, name)}")
    if not 0 <= FLAGS.dropout < 1:
        errors.fail(f"--dropout must lie in [0, 1); got {FLAGS.dropout}")
    if os.path.exists(FLAGS.workdir) and not os.path.isdir(FLAGS.workdir):
        errors.fail(f"--workdir {FLAGS.workdir} is a file; give a folder")
    if FLAGS.init_from and not os.path.exists(FLAGS.init_from):
        errors.fail(f"--init_from {FLAGS.init_from}: no such prior directory or workdir")
    poses = data_lib.load_poses(FLAGS.data, split=FLAGS.split, frame=FLAGS.frame)
    for w in data_lib.check_training_poses(poses):
        print(f"Warning: {w}", file=sys.stderr)
    cfg = config_flags.build(
        train.TrainConfig, TRAIN_FLAGS,
        model=config_flags.build(model.ScoreNetConfig, MODEL_FLAGS),
        sde=sde_lib.make_sde(FLAGS.sde),
        loss=with_recipe(losses.LossConfig, LOSS_FLAGS, gen.recipe_loss),
        augment=with_recipe(data_lib.AugmentConfig, AUGMENT_FLAGS, gen.recipe))
    init = None
    if FLAGS.init_from:
        init = tuple(prior_lib.load_prior(FLAGS.init_from, weights=w).params
                     for w in ("raw", "ema"))
        if model.has_experts(init[0]):
            print(f"[train] {FLAGS.init_from} holds noise-level experts: starting from its "
                  f"high (all-times) network", file=sys.stderr)
            init = tuple(model.expert(p, "high") for p in init)
    try:
        train.fit(cfg, poses, FLAGS.workdir, log_every=FLAGS.log_every,
                  checkpoint_every=FLAGS.checkpoint_every, keep=FLAGS.keep, init_params=init)
    except KeyboardInterrupt:
        raise SystemExit(130)


if __name__ == "__main__":
    app.run(errors.guard(main))
