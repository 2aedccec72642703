"""The PyTorch reference of ZeDO (zedo_jax.torch_reference, launch/torch_lift.py).

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

from zedo_jax import model as model_lib, torch_port, torch_reference, zedo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """PyTorch's intra-op threads fight with JAX's on small CPU machines."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
    sd = torch_reference.flax_to_state_dict(small_prior.params, cfg)
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
        torch_reference.flax_to_state_dict(small_prior.params,
                                           dataclasses.replace(cfg, embedding="fourier"))


def test_torch_net_from_prior_matches_flax(small_prior):
    torch = pytest.importorskip("torch")
    net = torch_reference.torch_net_from_prior(small_prior)
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
        cfg = zedo.make_config(schedule=name, anatomy=False)
        assert (cfg.ipo_steps, cfg.oil_steps, cfg.linear_drift) == \
            (s["ipo_steps"], s["oil_steps"], s["linear_drift"]), name
        assert cfg.dt(zedo.sde_lib.make_sde("subvp")) == \
            (1e-3 if s["euler_dt"] is None else s["euler_dt"]), name
        # what torch_zedo has built in
        assert (cfg.ipo_lr, cfg.ipo_keypoints, cfg.rot_axes, cfg.ipo_distance) == \
            (0.1, (0, 1, 4), "z", 3.0)
        assert (cfg.min_scale, cfg.max_scale, cfg.t_start, cfg.t_end) == (0.5, 2.0, 0.1, 0.01)
        assert (cfg.drift_factor, cfg.ls_weight_power, cfg.conf_min, cfg.ray_step_size,
                cfg.ray_conf_power, cfg.fixed_translation_steps, cfg.anatomy) == \
            (1.0, 2.0, 1e-4, 1.0, 0.0, None, False)


def test_fast_settings_lift_like_zedo_jax(small_prior, cmu_views):
    """euler_dt and linear_drift enter torch_zedo as in zedo_jax (short run, 2 frames)."""
    pytest.importorskip("torch")
    from zedo_jax import lifting, utils
    frames = [0, 500]
    kp, K = cmu_views["keypoints"][frames], cmu_views["K"][frames]
    cfg = zedo.make_config(schedule="fast", anatomy=False, ipo_steps=20, oil_steps=20)
    got = lifting.lift(small_prior, kp, K, config=cfg, log=utils.silent)["poses"]
    net = torch_reference.torch_net_from_prior(small_prior)
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
    for call in (lambda: torch_reference.torch_net_from_prior(small_prior),
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
        [sys.executable, "-m", "launch.torch_lift", "--input", str(inp), "--schedule", "fast",
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
        [sys.executable, "-m", "launch.torch_lift", "--input", str(tmp_path / "missing.npz")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Error: --input" in proc.stderr, proc.stderr[-2000:]
