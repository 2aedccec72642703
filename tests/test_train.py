"""Training the prior: launcher resume, data-parallel equivalence, data loading and errors."""
import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zedo_jax.training import checkpoint, data, trainer as train
from zedo_jax.core import model, skeleton
from zedo_jax import prior as prior_lib

from conftest import ROOT

SMALL = ["--config.model.hidden_dim=64", "--config.model.embed_dim=32", "--config.batch_size=128",
         "--log_every", "20", "--config.warmup_steps=20", "--checkpoint_every", "100"]


def run(args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return proc


def read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(l) for l in f]


def test_launcher_trains_and_resumes(cmu_poses_path, tmp_path):
    w = str(tmp_path / "w")
    out = run(["launch.train", "--data", cmu_poses_path, "--workdir", w, "--config.steps=200",
               *SMALL])
    m = read_metrics(w)
    assert m[-1]["step"] == 200
    assert m[-1]["loss"] < 0.8 * m[0]["loss"], m           # the loss falls
    assert "ETA" in out.stderr and "poses/s" in out.stderr
    out = run(["launch.train", "--data", cmu_poses_path, "--workdir", w, "--config.steps=300",
               *SMALL])
    assert "resumed" in out.stderr and "at step 200" in out.stderr
    m = read_metrics(w)
    assert [r["step"] for r in m][-5:] == [220, 240, 260, 280, 300]
    assert checkpoint.TrainCheckpoints(w).latest_step() == 300
    prior = prior_lib.load_prior(w, weights="ema")
    assert prior.config.hidden_dim == 64


def test_workdir_of_another_network_size_is_refused(cmu_poses_path, tmp_path):
    w = str(tmp_path / "w")
    run(["launch.train", "--data", cmu_poses_path, "--workdir", w, "--config.steps=2", *SMALL])
    bad = SMALL.copy()
    bad[0] = "--config.model.hidden_dim=128"
    proc = run(["launch.train", "--data", cmu_poses_path, "--workdir", w, "--config.steps=4",
                *bad], check=False)
    assert proc.returncode != 0
    assert "hidden_dim: 64 in the checkpoint vs 128 requested" in proc.stderr
    assert "new --workdir" in proc.stderr


def test_recipe_sets_the_training_times(cmu_poses_path, tmp_path):
    w = str(tmp_path / "w")
    run(["launch.train", "--data", cmu_poses_path, "--workdir", w, "--config.steps=2", *SMALL,
         "--recipe", "swap_loop_t", "--config.loss.loop_t_fraction=0.3"])
    meta = checkpoint.TrainCheckpoints(w).read_meta()["train"]
    assert meta["loss"]["loop_t_fraction"] == 0.3                # the explicit flag wins
    assert meta["augment"]["swap_prob"] == 0.5                   # the recipe's augmentation
    proc = run(["launch.train", "--data", cmu_poses_path, "--workdir", str(tmp_path / "b"),
                "--config.steps=2", *SMALL, "--config.loss.loop_t_fraction=2"], check=False)
    assert proc.returncode != 0 and "loop_t_fraction must lie in [0, 1]" in proc.stderr
    assert "Traceback" not in proc.stderr


MULTI = r"""
import sys, json, jax, numpy as np
from zedo_jax.core import model
from zedo_jax.training import data, trainer as train
poses = data.PoseSet(np.load(sys.argv[1]), "world", "test")
cfg = train.TrainConfig(model=model.ScoreNetConfig(hidden_dim=64, embed_dim=32), batch_size=64,
                        warmup_steps=1)
mesh = train.make_mesh()
step = train.make_train_step(cfg, "world", mesh)
state = jax.device_put(train.create_state(cfg), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
p = jax.numpy.asarray(poses.poses)
losses = []
order = train.DataOrder(cfg, p.shape[0], mesh=mesh)
for i in range(3):
    state, m = step(state, p, order(i))
    losses.append(float(m["loss"]))
leaf = np.asarray(jax.tree_util.tree_leaves(state.params)[0]).ravel()[:8].tolist()
print(json.dumps({"devices": jax.device_count(), "losses": losses, "leaf": leaf}))
"""


def test_data_parallel_matches_single_device(cmu_poses_path, tmp_path):
    poses = data.load_poses(cmu_poses_path, split="test").poses[:2000]
    np.save(tmp_path / "p.npy", poses)
    res = {}
    for n in (1, 4):
        env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
               "JAX_PLATFORMS": "cpu"}
        proc = subprocess.run([sys.executable, "-c", MULTI, str(tmp_path / "p.npy")], cwd=ROOT,
                              capture_output=True, text=True, env={**os.environ, **env},
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        res[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res[1]["devices"] == 1 and res[4]["devices"] == 4
    # Steps 1-2 see identical parameters (the first update has lr 0): same loss.
    np.testing.assert_allclose(res[4]["losses"][:2], res[1]["losses"][:2], rtol=1e-6)
    # Step 3 follows one real Adam update; Adam normalises each coordinate, so reduction-order
    # rounding in near-zero gradients moves parameters by a fraction of lr (2e-4).
    np.testing.assert_allclose(res[4]["losses"][2], res[1]["losses"][2], rtol=1e-4)
    np.testing.assert_allclose(res[4]["leaf"], res[1]["leaf"], atol=5e-5)


def test_optimizer_schedule_clip_and_ema():
    cfg = train.TrainConfig(lr=2e-4, warmup_steps=5000)
    tx = train.make_optimizer(cfg)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    upd, state = tx.update({"w": jnp.full(3, 100.0)}, state, params)
    np.testing.assert_array_equal(upd["w"], 0.0)              # first update uses lr = 0 (Q6)
    upd, state = tx.update({"w": jnp.full(3, 100.0)}, state, params)
    assert abs(float(upd["w"][0]) + 2e-4 / 5000) < 1e-9       # lr_1 = 2e-4 * 1/5000, Adam ~ sign
    # Cosine decay: the full rate at the end of warm-up, half mid-way, zero at the last step.
    lr = train.learning_rate(train.TrainConfig(warmup_steps=100, steps=1100, decay="cosine"))
    np.testing.assert_allclose([float(lr(c)) for c in (0, 50, 100, 600, 1100, 1200)],
                               [0, 1e-4, 2e-4, 1e-4, 0, 0], atol=1e-10)
    with pytest.raises(ValueError, match="decay"):
        train.TrainConfig(decay="linear")
    ema = train.ema_update({"w": jnp.zeros(1)}, {"w": jnp.ones(1)}, 1, 0.9999)
    assert abs(float(ema["w"][0]) - (1 - 2 / 11)) < 1e-7      # d_1 = min(0.9999, 2/11)
    ema = train.ema_update({"w": jnp.zeros(1)}, {"w": jnp.ones(1)}, 10 ** 6, 0.9999)
    assert abs(float(ema["w"][0]) - 1e-4) < 1e-7              # d = 0.9999 (float32)


def test_virtual_camera_augmentation_gives_upright_camera_poses(cmu_poses_path):
    ps = data.load_poses(cmu_poses_path, split="train")
    assert ps.frame == "world" and len(ps) == 54502
    cam = np.asarray(data.augment(jax.random.PRNGKey(0), jnp.asarray(ps.poses[:4000]), "world",
                                  data.AugmentConfig()))
    # Rotations preserve bone lengths; the torso points up the image (y down) within the
    # pitch range of the rig.
    np.testing.assert_allclose(skeleton.bone_lengths(cam), skeleton.bone_lengths(ps.poses[:4000]),
                               atol=1e-5)
    up = cam[:, 8] - cam[:, 0]
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    assert np.median(-up[:, 1]) > 0.9
    flipped = np.asarray(data.augment(jax.random.PRNGKey(0), jnp.asarray(cam), "camera",
                                      data.AugmentConfig(flip_prob=1.0)))
    np.testing.assert_allclose(flipped, skeleton.flip_pose(cam), atol=1e-6)
    np.testing.assert_allclose(skeleton.flip_pose(skeleton.flip_pose(cam)), cam)


def test_videopose3d_format_and_camera_frame_files(tmp_path):
    rng = np.random.default_rng(0)
    pos = {s: {"Walk": rng.normal(0, 0.3, (5, 32, 3)).astype(np.float32)}
           for s in ("S1", "S5", "S9")}
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=pos)
    ps = data.load_poses(str(tmp_path / "data_3d_h36m.npz"), split="train")
    assert ps.frame == "world" and ps.poses.shape == (10, 17, 3)
    np.testing.assert_allclose(ps.poses[0, 4], pos["S1"]["Walk"][0, 6] - pos["S1"]["Walk"][0, 0],
                               atol=1e-6)
    assert len(data.load_poses(str(tmp_path / "data_3d_h36m.npz"), split="test")) == 5
    np.save(tmp_path / "cam.npy", rng.normal(0, 0.3, (7, 17, 3)).astype(np.float32))
    ps = data.load_poses(str(tmp_path / "cam.npy"), split="all")
    assert ps.frame == "camera" and np.allclose(ps.poses[:, 0], 0)


@pytest.mark.parametrize("make, match", [
    (lambda r: {"poses": r.normal(0, .3, (10, 16, 3))}, "16 joints per pose, expected 17"),
    (lambda r: {"poses": np.where(np.arange(10)[:, None, None] == 4, np.nan,
                                  r.normal(0, .3, (10, 17, 3)))}, "NaN/inf values in 1 poses"),
    (lambda r: {"poses": r.normal(0, 300, (10, 17, 3))}, "millimetres"),
    (lambda r: {"poses": r.normal(0, .3, (4, 17, 3)), "seq": np.zeros(4, int),
                "seq_split": np.array(["train"])}, "split 'test' .* is empty"),
    (lambda r: {"something": np.zeros(3)}, "none of the known pose keys"),
])
def test_bad_pose_files_get_clear_errors(tmp_path, make, match):
    path = str(tmp_path / "bad.npz")
    np.savez(path, **make(np.random.default_rng(0)))
    with pytest.raises(ValueError, match=match):
        data.load_poses(path, split="test" if "empty" in match else "train")


def test_batch_must_divide_devices(cmu_poses_path, tmp_path):
    ps = data.PoseSet(np.zeros((8, 17, 3), np.float32), "camera", "zeros")
    with pytest.raises(ValueError, match="batch_size"):   # refused when the config is made
        cfg = train.TrainConfig(model=model.ScoreNetConfig(hidden_dim=64, embed_dim=32),
                                batch_size=0, steps=1)
        train.fit(cfg, ps, str(tmp_path / "w"))


def test_prior_directory_with_two_weight_sets(tmp_path):
    cfg = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
    raw = model.init_params(cfg, jax.random.PRNGKey(0))
    ema = model.init_params(cfg, jax.random.PRNGKey(1))
    path = str(tmp_path / "prior")
    prior_lib.save_prior(path, cfg, train.TrainConfig().sde, raw, weights="raw",
                          other_weights={"ema": ema}, clusters={1: np.zeros((1, 17, 3))})
    leaf = lambda p: np.asarray(jax.tree_util.tree_leaves(p)[0])
    default = prior_lib.load_prior(path)
    assert default.info["weights"] == "raw"
    np.testing.assert_array_equal(leaf(default.params), leaf(raw))
    np.testing.assert_array_equal(leaf(prior_lib.load_prior(path, weights="ema").params),
                                  leaf(ema))
    only_ema = str(tmp_path / "ema_only")
    prior_lib.save_prior(only_ema, cfg, train.TrainConfig().sde, ema, weights="ema")
    assert prior_lib.load_prior(only_ema).info["weights"] == "ema"
    with pytest.raises(ValueError, match="holds only its \\['ema'\\] weights, not 'raw'"):
        prior_lib.load_prior(only_ema, weights="raw")


def test_shipped_prior_defaults_to_ema_and_faithful_launch_takes_raw(tmp_path):
    """The shipped prior's default set is EMA, raw is kept; ``weight_sets`` lists
    them default first; ``launch.lift --schedule faithful`` uses raw (the release), the
    default lift EMA."""
    assert prior_lib.weight_sets() == ("ema", "raw")
    assert prior_lib.weight_sets(str(tmp_path)) == ("raw", "ema")       # a workdir's
    leaf = lambda p: np.asarray(jax.tree_util.tree_leaves(p)[0])
    default, raw = prior_lib.load_prior(), prior_lib.load_prior(weights="raw")
    assert default.info["weights"] == "ema" and raw.info["weights"] == "raw"
    assert not np.array_equal(leaf(default.params), leaf(raw.params))
    from absl import flags
    from absl.testing import flagsaver
    import launch.lift  # noqa: F401  (defines the lift flags)
    from launch import common
    with flagsaver.flagsaver():
        flags.FLAGS(["lift"])
        assert common.load_prior().info["weights"] == "ema"
        assert common.load_prior(default_schedule="faithful").info["weights"] == "raw"
        flags.FLAGS.schedule = "faithful"
        assert common.load_prior().info["weights"] == "raw"
        flags.FLAGS.weights = "ema"
        assert common.load_prior().info["weights"] == "ema"            # --weights wins


def test_export_with_ema_as_the_default_set(trained_small_prior, tmp_path):
    """``export_workdir(..., default='ema')`` (``launch.export_prior --default_weights ema``,
    how the shipped prior was written): EMA is the set ``load_prior()`` returns, raw is
    kept, both equal the workdir's; clusters and statistics come along."""
    leaf = lambda p: np.asarray(jax.tree_util.tree_leaves(p)[0])
    out = str(tmp_path / "exported")
    path, step = prior_lib.export_workdir(trained_small_prior, out, "both", default="ema")
    assert prior_lib.weight_sets(out) == ("ema", "raw") and step == 600
    for label in ("ema", "raw"):
        np.testing.assert_array_equal(
            leaf(prior_lib.load_prior(out, weights=label).params),
            leaf(prior_lib.load_prior(trained_small_prior, weights=label).params))
    p = prior_lib.load_prior(out)
    assert p.info["weights"] == "ema" and p.hypotheses(4).shape == (4, 17, 3) and p.stats
    with pytest.raises(ValueError, match="default"):
        prior_lib.export_workdir(trained_small_prior, out, "both", default="best")


def test_data_order_draws_what_the_whole_set_draws_and_changes_with_the_epoch():
    """The step takes its batch from a precomputed order: the epoch's permutation (recomputed
    when the epoch changes) or the running sum of the weights; either gives the indices of a
    draw over the whole set (``jax.random.permutation`` / ``jax.random.choice(p=...)``)."""
    n, b = 1000, 128                                     # 8 steps per epoch, the last wraps
    cfg = train.TrainConfig(batch_size=b, seed=5)
    key = train._keys(cfg)[0]
    order = train.DataOrder(cfg, n)
    seen = []
    for step in (0, 7, 8, 17):
        perm = order(step)
        np.testing.assert_array_equal(data.permutation_batch_indices(perm, step, b),
                                      data.epoch_batch_indices(key, step, n, b))
        seen.append(np.asarray(perm))
    assert (seen[0] == seen[1]).all() and not (seen[1] == seen[2]).all()
    assert sorted(seen[2]) == list(range(n)) and order.epoch(17) == 2
    w = np.random.default_rng(0).random(n).astype(np.float32)
    w /= w.sum()
    cdf = train.DataOrder(dataclasses.replace(
        cfg, augment=data.AugmentConfig(rebalance_power=0.5)), n, w)(3)
    for step in (0, 3):
        np.testing.assert_array_equal(
            data.cdf_batch_indices(key, step, cdf, b),
            jax.random.choice(jax.random.fold_in(key, step), n, (b,), replace=True,
                              p=jnp.asarray(w)))


@pytest.mark.parametrize("net_kw", [{}, {"bone_features": True, "embedding": "fourier"}])
def test_train_apply_is_the_module_bit_for_bit(net_kw):
    """The training step's network (model.train_apply: loop-free Threefry dropout masks, one
    matmul for the time branch, GroupNorm+SiLU+dropout with a written-out backward) gives the
    Flax module's outputs and gradients exactly, so fixed-seed training runs are unchanged."""
    cfg = model.ScoreNetConfig(hidden_dim=64, embed_dim=32, **net_kw)
    net = model.ScoreNet(cfg)
    params = model.init_params(cfg, jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (24, 17, 3)) * 0.3
    label = jax.random.uniform(jax.random.PRNGKey(2), (24,)) * 999.0
    k = jax.random.PRNGKey(3)
    for shape, p in (((24, 64), 0.75), ((7, 130), 0.4)):
        np.testing.assert_array_equal(model.dropout_keep(k, shape, p),
                                      jax.random.bernoulli(k, p, shape))
    ref = lambda p: net.apply(p, x, label, train=True, rngs={"dropout": k})
    new = lambda p: model.train_apply(p, cfg, x, label, k)
    np.testing.assert_array_equal(jax.jit(new)(params), jax.jit(ref)(params))
    np.testing.assert_array_equal(jax.jit(lambda p: model.train_apply(p, cfg, x, label))(params),
                                  jax.jit(lambda p: net.apply(p, x, label))(params))
    sq = lambda f: jax.jit(jax.grad(lambda p: jnp.sum(f(p) ** 2)))(params)
    for a, b in zip(jax.tree_util.tree_leaves(sq(new)), jax.tree_util.tree_leaves(sq(ref))):
        np.testing.assert_array_equal(a, b)
