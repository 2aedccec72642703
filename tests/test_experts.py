"""Noise-level experts: one prior holding two networks, the low one for the
diffusion times ZeDO's loop uses (t <= split_t), the high one above (sampling from noise)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_train import SMALL, run

from zedo_jax import lifting, prior as prior_lib
from zedo_jax.core import model, sampling, sde as sde_lib
from zedo_jax.core.config import make_config
from zedo_jax.core.score import score_fn, time_biases_fn

CFG = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
SDE = sde_lib.make_sde("subvp")


def nets():
    return (model.init_params(CFG, jax.random.PRNGKey(0)),
            model.init_params(CFG, jax.random.PRNGKey(1)))


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_combine_and_pick_experts():
    low, high = nets()
    p = model.combine_experts(low, high, 0.1)
    assert model.has_experts(p) and not model.has_experts(low)
    assert model.expert(p, "low") is low and model.expert(p, "high") is high
    assert model.expert(low, "low") is low                    # a single network is both
    assert float(p["split_t"]) == pytest.approx(0.1)
    shapes = model.expert_shapes(CFG)
    assert jax.tree_util.tree_structure(shapes) == jax.tree_util.tree_structure(p)
    assert [s.shape for s in jax.tree_util.tree_leaves(shapes)] == \
        [x.shape for x in jax.tree_util.tree_leaves(p)]
    with pytest.raises(ValueError, match="single networks"):
        model.combine_experts(p, high, 0.1)
    with pytest.raises(ValueError, match="split_t must lie in"):
        model.combine_experts(low, high, 0.0)
    other = model.init_params(model.ScoreNetConfig(hidden_dim=96, embed_dim=32),
                              jax.random.PRNGKey(2))
    with pytest.raises(ValueError, match="different architectures"):
        model.combine_experts(low, other, 0.1)
    with pytest.raises(ValueError, match="'low' or 'high'"):
        model.expert(p, "middle")


def test_score_is_the_low_network_up_to_split_and_the_high_one_above():
    low, high = nets()
    p = model.combine_experts(low, high, 0.1)
    x = 0.2 * jax.random.normal(jax.random.PRNGKey(3), (5, 17, 3))
    s, s_low, s_high = (score_fn(v, CFG, SDE) for v in (p, low, high))
    biases = time_biases_fn(p, CFG, SDE)
    for t, ref in ((0.01, s_low), (0.05, s_low), (0.1, s_low), (0.1001, s_high),
                   (0.5, s_high), (1.0, s_high)):
        t = jnp.float32(t)
        want = np.asarray(ref(x, t))
        tol = 1e-3 * np.abs(want).max()            # float32 rounding of differently fused code
        np.testing.assert_allclose(np.asarray(s(x, t)), want, rtol=0, atol=tol)
        np.testing.assert_allclose(np.asarray(s(x, t, biases(t))), want, rtol=0, atol=tol)
    assert not np.allclose(np.asarray(s_low(x, 0.05)), np.asarray(s_high(x, 0.05)))
    # jitted and vmapped over poses (the loop's form) and over times (cond becomes select)
    one_t = jax.jit(jax.vmap(lambda xi: s(xi, jnp.float32(0.05))))(x)
    want = np.asarray(s_low(x, 0.05))
    np.testing.assert_allclose(np.asarray(one_t), want, rtol=0, atol=1e-3 * np.abs(want).max())
    ts = jnp.asarray([0.05, 0.5], jnp.float32)
    per_t = jax.vmap(lambda t: s(x, t))(ts)
    want = np.asarray(s_high(x, 0.5))
    np.testing.assert_allclose(np.asarray(per_t[1]), want, rtol=0, atol=1e-3 * np.abs(want).max())
    with pytest.raises(ValueError, match="one time per call"):
        s(x, ts)


def test_lifting_runs_only_the_low_expert_and_sampling_starts_with_the_high_one(cmu_views):
    """ZeDO's loop (t <= 0.1) gives the low network's result whatever the high one holds;
    sampling from t = 1 depends on the high network."""
    low, high = nets()
    junk = jax.tree_util.tree_map(lambda a: 5.0 * jnp.ones_like(a), high)
    hyp = {1: np.asarray(cmu_views["poses3d"][:1] - cmu_views["poses3d"][:1, :1], np.float32)}
    kp, K = cmu_views["keypoints"][:3], cmu_views["K"][:3]
    cfg = make_config(schedule="fast", overrides={"ipo.steps": 5, "loop.steps": 8,
                                                  "denoise.final_t": 0.02})
    out = {}
    for name, params in (("low", low), ("experts", model.combine_experts(low, junk, 0.1))):
        pr = prior_lib.Prior(config=CFG, sde=SDE, params=params, clusters=hyp)
        out[name] = np.asarray(lifting.lift(pr, kp, K, config=cfg, log=lambda s: None).poses)
    np.testing.assert_allclose(out["experts"], out["low"], rtol=0, atol=1e-5)   # 0.01 mm
    key = jax.random.PRNGKey(0)
    draw = lambda p: np.asarray(sampling.sample(p, key, net_config=CFG, sde=SDE, n=4, steps=20))
    np.testing.assert_allclose(draw(model.combine_experts(high, high, 0.1)), draw(high),
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(draw(model.combine_experts(low, high, 0.1)),
                           draw(model.combine_experts(low, junk, 0.1)))


def test_export_with_a_high_expert(trained_small_prior, tmp_path):
    """``launch.export_prior --high_expert PRIOR``: the workdir's network is the low expert,
    the prior's (same weight set) the high one, for both sets; clusters and statistics come
    along; official-format conversion refuses the pair."""
    high = str(tmp_path / "high")
    prior_lib.export_workdir(trained_small_prior, high, "both", default="ema")
    out = str(tmp_path / "experts")
    proc = run(["launch.export_prior", "--workdir", trained_small_prior, "--output", out,
                "--default_weights", "ema", "--high_expert", high, "--split_t", "0.1"])
    assert "low expert for t <= 0.1" in proc.stdout + proc.stderr
    with open(os.path.join(out, "prior.json")) as f:
        meta = json.load(f)
    assert meta["experts"]["split_t"] == pytest.approx(0.1) and meta["weights"] == "ema"
    for label in ("ema", "raw"):
        p = prior_lib.load_prior(out, weights=label)
        assert model.has_experts(p.params)
        for which in ("low", "high"):
            src = trained_small_prior if which == "low" else high
            for a, b in zip(leaves(model.expert(p.params, which)),
                            leaves(prior_lib.load_prior(src, weights=label).params)):
                np.testing.assert_array_equal(a, b)
    p = prior_lib.load_prior(out)
    assert p.hypotheses(4).shape == (4, 17, 3) and p.stats
    assert p.info["info"]["experts"]["split_t"] == pytest.approx(0.1)
    again, _ = prior_lib.export_workdir(trained_small_prior, str(tmp_path / "again"),
                                        high_expert=out)      # experts: their high network
    for a, b in zip(leaves(model.expert(prior_lib.load_prior(again).params, "high")),
                    leaves(prior_lib.load_prior(high, weights="raw").params)):
        np.testing.assert_array_equal(a, b)
    # Dropout acts only in training: a high expert trained at another rate pairs; another
    # normalisation does not.
    meta_path = os.path.join(high, "prior.json")
    with open(meta_path) as f:
        high_meta = json.load(f)
    for key, value, ok in (("dropout", 0.1, True), ("gn_eps", 1e-3, False)):
        with open(meta_path, "w") as f:
            json.dump({**high_meta, "model": {**high_meta["model"], key: value}}, f)
        if ok:
            prior_lib.export_workdir(trained_small_prior, str(tmp_path / key), high_expert=high)
        else:
            with pytest.raises(ValueError, match="high expert's .* differ"):
                prior_lib.export_workdir(trained_small_prior, str(tmp_path / key),
                                         high_expert=high)
    with pytest.raises(FileNotFoundError, match="not a prior directory"):
        prior_lib.export_workdir(trained_small_prior, str(tmp_path / "x"),
                                 high_expert=str(tmp_path / "none"))
    from zedo_jax.official import torch_port
    with pytest.raises(ValueError, match="two networks"):
        torch_port.flax_to_state_dict(p.params, p.config)


@pytest.mark.parametrize("which", ["high", "low"])
def test_training_from_a_prior_with_experts_starts_from_the_chosen_network(cmu_poses_path,
                                                                           tmp_path, which):
    low, high = nets()
    src = str(tmp_path / "experts")
    prior_lib.save_prior(src, CFG, SDE, model.combine_experts(low, high, 0.1), weights="raw",
                         other_weights={"ema": model.combine_experts(low, high, 0.1)})
    work = str(tmp_path / "ft")
    flag = [] if which == "high" else ["--init_expert", "low"]       # high: the default
    proc = run(["launch.train", "--data", cmu_poses_path, "--workdir", work, "--config.steps=1",
                "--init_from", src, "--config.lr=1e-9", *flag, *SMALL])
    assert f"starting from its {which} network" in proc.stderr
    trained = prior_lib.load_prior(work, weights="raw").params
    for a, b in zip(leaves(trained), leaves(high if which == "high" else low)):
        np.testing.assert_allclose(a, b, atol=1e-6)
