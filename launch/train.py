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
All work is done by ``zedo_jax.train.fit``.
"""
from absl import app, flags, logging

from launch import common
from zedo_jax import data as data_lib
from zedo_jax import losses, model, sde as sde_lib, train

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Pose file (.npz/.npy); see zedo_jax.data.load_poses.")
flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics (resumed if present).")
flags.DEFINE_string("split", "train", "Split of --data: train, test or all.")
flags.DEFINE_enum("frame", "auto", ["auto", "world", "camera"],
                  "Frame of the poses (auto: from the file format). 'camera' with "
                  "VideoPose3D's data_3d_h36m.npz: the poses seen by the four real Human3.6M "
                  "cameras (the release's recipe).")
flags.DEFINE_integer("steps", 100_000, "Total training steps.")
flags.DEFINE_integer("batch_size", 1024, "Poses per step (multiple of the device count).")
flags.DEFINE_integer("hidden_dim", 1024, "Width of the residual trunk.")
flags.DEFINE_integer("embed_dim", 512, "Size of the time embedding.")
flags.DEFINE_integer("n_blocks", 2, "Residual blocks.")
flags.DEFINE_float("dropout", 0.25, "Dropout rate.")
flags.DEFINE_enum("embedding", "positional", ["positional", "fourier"], "Time embedding.")
flags.DEFINE_enum("sde", "subvp", ["subvp", "vp", "ve"], "Diffusion SDE.")
flags.DEFINE_float("lr", 2e-4, "Adam learning rate.")
flags.DEFINE_integer("warmup_steps", 5000, "Linear learning-rate warm-up from 0.")
flags.DEFINE_float("grad_clip", 1.0, "Global-norm gradient clipping.")
flags.DEFINE_float("ema_rate", 0.9999, "EMA decay.")
flags.DEFINE_bool("reduce_mean", False, "Mean (not half-sum) over coordinates in the loss.")
flags.DEFINE_float("flip_prob", 0.0, "Probability of a horizontal flip augmentation.")
flags.DEFINE_float("pitch_jitter_deg", 5.0, "Virtual camera aim error in pitch (degrees).")
flags.DEFINE_float("roll_deg", 0.0, "Virtual camera roll range (degrees).")
flags.DEFINE_float("bone_scale_range", 0.0, "Skeleton variation: per bone group (left and right "
                   "alike) scale exp(U(-r, r)).")
flags.DEFINE_float("body_scale_range", 0.0, "Skeleton variation: body size exp(U(-r, r)).")
flags.DEFINE_float("joint_slide", 0.0, "Spine, thorax, neck/nose slide along their segments by "
                   "up to this fraction.")
flags.DEFINE_float("posture_prob", 0.0, "Fraction of samples whose posture (hips, knees, "
                   "shoulders, elbows, trunk) is re-drawn within ranges of motion.")
flags.DEFINE_float("posture_dof_prob", 0.5, "In those samples, probability that each degree of "
                   "freedom is re-drawn.")
flags.DEFINE_float("rebalance_power", 0.0, "Sample poses with weight count^-power of their "
                   "posture cluster (0 = uniform).")
flags.DEFINE_integer("rebalance_clusters", 64, "Posture clusters of the rebalancing.")
flags.DEFINE_string("init_from", None, "Prior directory or training workdir whose weights "
                    "start a new run (fine-tuning); ignored when resuming.")
flags.DEFINE_integer("seed", 0, "PRNG seed.")
flags.DEFINE_integer("log_every", 100, "Steps between log lines.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("keep", 3, "Checkpoints to keep.")
flags.mark_flags_as_required(["data", "workdir"])
common.define_distributed_flags()


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # keep Orbax's per-save INFO lines out of the log
    common.init_distributed()
    poses = data_lib.load_poses(FLAGS.data, split=FLAGS.split, frame=FLAGS.frame)
    cfg = train.TrainConfig(
        model=model.ScoreNetConfig(hidden_dim=FLAGS.hidden_dim, embed_dim=FLAGS.embed_dim,
                                   n_blocks=FLAGS.n_blocks, dropout=FLAGS.dropout,
                                   embedding=FLAGS.embedding),
        sde=sde_lib.make_sde(FLAGS.sde),
        loss=losses.LossConfig(reduce_mean=FLAGS.reduce_mean),
        augment=data_lib.AugmentConfig(flip_prob=FLAGS.flip_prob,
                                       pitch_jitter_deg=FLAGS.pitch_jitter_deg,
                                       roll_deg=FLAGS.roll_deg,
                                       bone_scale_range=FLAGS.bone_scale_range,
                                       body_scale_range=FLAGS.body_scale_range,
                                       joint_slide=FLAGS.joint_slide,
                                       posture_prob=FLAGS.posture_prob,
                                       posture_dof_prob=FLAGS.posture_dof_prob,
                                       rebalance_power=FLAGS.rebalance_power,
                                       rebalance_clusters=FLAGS.rebalance_clusters),
        steps=FLAGS.steps, batch_size=FLAGS.batch_size, lr=FLAGS.lr,
        warmup_steps=FLAGS.warmup_steps, grad_clip=FLAGS.grad_clip, ema_rate=FLAGS.ema_rate,
        seed=FLAGS.seed)
    init = None
    if FLAGS.init_from:
        from zedo_jax import checkpoint
        init = (checkpoint.load_prior(FLAGS.init_from, weights="raw").params,
                checkpoint.load_prior(FLAGS.init_from, weights="ema").params)
    try:
        train.fit(cfg, poses, FLAGS.workdir, log_every=FLAGS.log_every,
                  checkpoint_every=FLAGS.checkpoint_every, keep=FLAGS.keep, init_params=init)
    except KeyboardInterrupt:
        raise SystemExit(130)


if __name__ == "__main__":
    app.run(main)
