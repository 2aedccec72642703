"""The PyTorch reference of ZeDO (zedo_jax.official.torch_reference, launch/torch_lift.py).

A zedo_jax prior's Flax weights in the release's PyTorch network give the Flax network's output;
torch_zedo with the ``fast`` settings lifts as zedo_jax's fast schedule (without anatomy) does;
the baseline CLI runs end to end. Tests that need PyTorch skip without it.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zedo_jax.core import model as model_lib, sde as sde_lib
from zedo_jax.core.config import make_config
from zedo_jax.official import torch_port, torch_reference

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest: JAX and PyTorch share 2 cores


@pytest.fixture(scope="module")
def small_prior(tiny_prior):
    """A random 128-wide prior (GroupNorm affine parameters away from 1 / 0) with the tiny
    prior's hypotheses."""
    import jax
    cfg = model_lib.ScoreNetConfig(hidden_dim=128, embed_dim=64)
    params = model_lib.init_params(cfg, jax.random.PRNGKey(3))
    rng = np.random.default_rng(3)

    def perturb(tree, name=""):
        if isinstance(tree, dict):
            return {k: perturb(v, k if "gnorm" in k else name) for k, v in tree.items()}
        if "gnorm" in name:
            return np.asarray(tree) + 0.5 * rng.standard_normal(np.shape(tree)).astype(np.float32)
        return tree
    params = jax.tree_util.tree_map(np.asarray, perturb(jax.device_get(params)))
    return dataclasses.replace(tiny_prior, config=cfg, params=params, path="<small>")


def test_flax_to_state_dict_inverts_state_dict_to_flax(small_prior):
    cfg = small_prior.config
    sd = torch_port.flax_to_state_dict(small_prior.params, cfg)
    assert list(sd) == torch_port.official_parameter_names(cfg.n_blocks)
    assert sd["pre_dense.weight"].shape == (128, 51)
    np.testing.assert_array_equal(sd["b2_dense1_t.weight"],
                                  small_prior.params["params"]["blocks_1"]["dense1_t"]["kernel"].T)
    np.testing.assert_array_equal(sd["pre_gnorm.weight"],
                                  small_prior.params["params"]["pre_gnorm"]["scale"])
    back = torch_port.state_dict_to_flax(sd, cfg)
    import jax
    a, b = (jax.tree_util.tree_flatten_with_path(t)[0] for t in (back, small_prior.params))
    assert [p for p, _ in a] == [p for p, _ in b]
    for (_, x), (_, y) in zip(a, b):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="no PyTorch ScoreModelFC_Adv counterpart"):
        torch_port.flax_to_state_dict(small_prior.params,
                                           dataclasses.replace(cfg, embedding="fourier"))


def test_torch_net_from_prior_matches_flax(small_prior):
    torch = pytest.importorskip("torch")
    net = torch_port.torch_net_from_prior(small_prior)
    assert not net.training
    flax_net = model_lib.ScoreNet(small_prior.config)
    rng = np.random.default_rng(0)
    for t in (0.01, 0.05, 0.1):
        x = (0.3 * rng.standard_normal((5, 17, 3))).astype(np.float32)
        labels = np.full((5,), 999.0 * t, np.float32)
        want = np.asarray(flax_net.apply(small_prior.params, x, labels))
        with torch.no_grad():
            got = net(torch.from_numpy(x), torch.from_numpy(labels)).numpy()
        assert np.abs(got - want).max() < 1e-4, t
        assert np.abs(want).max() > 0.1                        # a non-trivial output


def test_schedules_are_zedo_jax_schedules():
    for name, s in torch_reference.SCHEDULES.items():
        cfg = make_config(schedule=name, anatomy=False)
        ipo, loop = cfg.ipo, cfg.loop
        assert (ipo.steps, loop.steps, loop.linear_drift) == \
            (s["ipo_steps"], s["oil_steps"], s["linear_drift"]), name
        assert loop.dt(sde_lib.make_sde("subvp")) == \
            (1e-3 if s["euler_dt"] is None else s["euler_dt"]), name
        # what torch_zedo has built in
        assert (ipo.lr, ipo.keypoints, ipo.rot_axes, ipo.distance) == (0.1, (0, 1, 4), "z", 3.0)
        assert (ipo.min_scale, ipo.max_scale, loop.t_start, loop.t_end) == (0.5, 2.0, 0.1, 0.01)
        assert (loop.drift_factor, loop.ls_weight_power, loop.conf_min, loop.ray_step_size,
                loop.ray_conf_power, loop.fixed_translation_steps, cfg.anatomy.in_loop) == \
            (1.0, 2.0, 1e-4, 1.0, 0.0, None, False)


def test_fast_settings_lift_like_zedo_jax(small_prior, cmu_views):
    """euler_dt and linear_drift enter torch_zedo as in zedo_jax (short run, 2 frames)."""
    pytest.importorskip("torch")
    from zedo_jax import lifting
    from zedo_jax.runtime import compile_cache as utils
    frames = [0, 500]
    kp, K = cmu_views["keypoints"][frames], cmu_views["K"][frames]
    cfg = make_config(schedule="fast", anatomy=False,   # the loop only (torch_zedo has no tail)
                      overrides={"ipo.steps": 20, "loop.steps": 20, "denoise.final_t": 0.0})
    got = lifting.lift(small_prior, kp, K, config=cfg, log=utils.silent).poses
    net = torch_port.torch_net_from_prior(small_prior)
    fast = torch_reference.SCHEDULES["fast"]
    want = torch_reference.torch_zedo(net, small_prior.hypotheses(1), kp, K, 20, 20,
                                      euler_dt=fast["euler_dt"],
                                      linear_drift=fast["linear_drift"])
    assert got.shape == want.shape == (2, 1, 17, 3)
    assert np.linalg.norm(got - want, axis=-1).max() < 1e-3          # < 1 mm per joint
    # the settings matter: the faithful loop is elsewhere
    other = torch_reference.torch_zedo(net, small_prior.hypotheses(1), kp, K, 20, 20,
                                       host_copy_per_step=False)
    assert np.linalg.norm(other - want, axis=-1).max() > 1e-2


def test_torch_missing_message(monkeypatch, small_prior):
    monkeypatch.setitem(sys.modules, "torch", None)              # `import torch` -> ImportError
    for call in (lambda: torch_port.torch_net_from_prior(small_prior),
                 lambda: torch_reference.torch_reference_net(128, 64)):
        with pytest.raises(ImportError, match=r"pip install 'zedo_jax\[torch\]'"):
            call()


def test_torch_lift_cli(tmp_path, cmu_views):
    pytest.importorskip("torch")
    frames = [10, 700]
    inp = tmp_path / "two.npz"
    np.savez(inp, keypoints=cmu_views["keypoints"][frames], K=cmu_views["K"][frames],
             poses3d=cmu_views["poses3d"][frames])
    out = tmp_path / "out.npz"
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.torch_lift", "--input", str(inp), "--schedule", "fast",
         "--ipo_steps", "5", "--oil_steps", "5", "--threads", "1", "--output", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Time: imports " in proc.stdout and ", prior loading " in proc.stdout \
        and ", lifting " in proc.stdout, proc.stdout
    assert "MPJPE " in proc.stdout and "PA-MPJPE " in proc.stdout, proc.stdout
    assert "5 IPO steps, 5 iterations" in proc.stdout, proc.stdout
    with np.load(out) as f:
        poses = f["poses"]
    assert poses.shape == (2, 1, 17, 3) and np.isfinite(poses).all()
    # a bad input is one line on stderr
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.torch_lift", "--input", str(tmp_path / "missing.npz")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Error: --input" in proc.stderr, proc.stderr[-2000:]


def test_torch_lift_export_and_pth(tmp_path, cmu_views):
    """--export writes the shipped prior (its low expert) as an official .pth + initial pose;
    --pth lifts with them (without importing JAX) exactly as the default mode does with the
    prior; the checkpoint converter reads the .pth back to the prior's parameters."""
    pytest.importorskip("torch")
    import jax

    from zedo_jax import prior as prior_lib
    frames = [10, 700]
    inp = tmp_path / "two.npz"
    np.savez(inp, keypoints=cmu_views["keypoints"][frames], K=cmu_views["K"][frames],
             poses3d=cmu_views["poses3d"][frames])
    env = dict(os.environ, JAX_PLATFORMS="cpu")

    def run(*args, python_flags=()):
        proc = subprocess.run([sys.executable, *python_flags, "-m", "experiments.torch_lift", *args],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    prefix = tmp_path / "export" / "zedo"
    proc = run("--export", str(prefix))
    pth, hyp = tmp_path / "export" / "zedo.pth", tmp_path / "export" / "zedo_hypothesis.npy"
    assert f"Wrote {pth}" in proc.stdout and f"Wrote {hyp}" in proc.stdout, proc.stdout
    prior = prior_lib.load_prior()
    init = np.load(hyp)
    assert init.dtype == np.float32
    np.testing.assert_array_equal(init, prior.hypotheses(1))

    # the official format: model_state_dict with the DataParallel prefix (and the sigmas buffer)
    import torch
    ckpt = torch.load(pth, map_location="cpu", weights_only=True)
    assert list(ckpt) == ["model_state_dict"]
    names = torch_port.official_parameter_names(prior.config.n_blocks)
    assert list(ckpt["model_state_dict"]) == ["module.sigmas"] + [f"module.{n}" for n in names]
    # ... which launch.convert_checkpoint's reader turns back into the prior's parameters
    config, variables = torch_port.convert_official_checkpoint(str(pth))
    # (a .pth carries no dropout rate: the release's 0.25 comes back; it acts only in training)
    assert config.dropout == 0.25
    assert dataclasses.replace(config, dropout=prior.config.dropout) == prior.config
    # (the shipped prior holds noise-level experts: the export is the low one, the network
    # every time the release's loop asks about is answered by)
    assert "exporting the low one" in proc.stdout
    low = model_lib.expert(prior.params, "low")
    a, b = (jax.tree_util.tree_flatten_with_path(t)[0] for t in (variables, low))
    assert [p for p, _ in a] == [p for p, _ in b]
    for (_, x), (_, y) in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))

    flags = ["--input", str(inp), "--schedule", "fast", "--ipo_steps", "5", "--oil_steps", "5",
             "--threads", "1"]
    proc = run(*flags, "--pth", str(pth), "--output", str(tmp_path / "pth.npz"),
               python_flags=("-X", "importtime"))
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "torch" in imported                                # the import log is there
    assert not [m for m in imported if m.split(".")[0] in ("jax", "flax", "orbax")
                or (m.startswith("zedo_jax.") and m not in (
                    "zedo_jax.official", "zedo_jax.official.torch_reference",
                    "zedo_jax.runtime", "zedo_jax.runtime.compile_cache",
                    "zedo_jax.runtime.files"))], imported
    pth_out = proc.stdout
    proc = run(*flags, "--output", str(tmp_path / "prior.npz"))
    with np.load(tmp_path / "pth.npz") as f, np.load(tmp_path / "prior.npz") as g:
        got, want = f["poses"], g["poses"]
    assert got.shape == want.shape == (2, 1, 17, 3)
    np.testing.assert_allclose(got, want, atol=1e-4)

    # the numpy metrics of --pth mode are zedo_jax.evaluation.metrics' (printed to 0.1 mm)
    def metrics_line(out):
        line = [x for x in out.splitlines() if x.startswith("MPJPE ")]
        assert len(line) == 1, out
        return [float(v) for v in line[0].replace(",", " ").split() if v[0].isdigit()][:2]
    for x, y in zip(metrics_line(pth_out), metrics_line(proc.stdout)):
        assert abs(x - y) <= 0.15, (pth_out, proc.stdout)

    # a .pth without its initial pose is one line on stderr
    (tmp_path / "alone.pth").write_bytes(pth.read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.torch_lift", *flags, "--pth", str(tmp_path / "alone.pth")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "alone_hypothesis.npy" in proc.stderr, proc.stderr[-2000:]
