"""SDE coefficients, the score network and the DSM loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zedo_jax.core import model, sde as sde_lib
from zedo_jax.training import losses


@pytest.mark.parametrize("t, alpha, sigma, beta, g2", [
    (0.1, 0.946722, 0.103718, 2.09, 0.411058),
    (0.01, 0.999003, 0.001993, 0.299, 0.0011906),
])
def test_subvp_appendix_a(t, alpha, sigma, beta, g2):
    s = sde_lib.SubVPSDE()
    a, sd = s.marginal(jnp.float32(t))
    assert abs(float(a) - alpha) < 2e-6
    assert abs(float(sd) - sigma) < 2e-6
    assert abs(float(s.beta(t)) - beta) < 1e-6
    assert abs(float(s.diffusion(jnp.float32(t)) ** 2) - g2) < 2e-6 * max(g2, 1.0)


def test_vp_ve_marginals_and_reverse_drift():
    vp, ve, sub = sde_lib.VPSDE(), sde_lib.VESDE(), sde_lib.SubVPSDE()
    t = jnp.float32(0.3)
    B = 0.1 * 0.3 + 0.5 * 19.9 * 0.09
    assert abs(float(vp.marginal(t)[1]) - np.sqrt(1 - np.exp(-B))) < 1e-6
    assert abs(float(sub.marginal(t)[1]) - (1 - np.exp(-B))) < 1e-6
    assert abs(float(ve.marginal(t)[1]) - 0.01 * 5000 ** 0.3) < 1e-4
    x = jnp.ones((2, 17, 3))
    score = -x
    # The release's "probability flow" keeps factor 1.0 on g^2 * score.
    full = sub.reverse_drift(x, t, score, 1.0)
    half = sub.reverse_drift(x, t, score, 0.5)
    g2 = sub.diffusion(t) ** 2
    np.testing.assert_allclose(full - half, -0.5 * g2 * score, rtol=1e-6)
    # One ZeDO Euler step in closed form.
    eps = jnp.full((2, 17, 3), 0.2)
    step = sde_lib.euler_step(sub, x, t, sde_lib.eps_to_score(sub, eps, t), 1e-3)
    expect = x * (1 + sub.beta(t) / 2000) - g2 / (1000 * sub.marginal(t)[1]) * eps
    np.testing.assert_allclose(step, expect, rtol=1e-5)


def test_default_network_has_official_parameter_count():
    cfg = model.ScoreNetConfig()
    shapes = model.param_shapes(cfg)
    assert model.count_params(shapes) == 7_203_379 == model.num_parameters(cfg)
    p = shapes["params"]
    assert p["pre_dense"]["kernel"].shape == (51, 1024)
    assert p["blocks_1"]["dense2_t"]["kernel"].shape == (512, 1024)
    assert p["post_dense"]["kernel"].shape == (1024, 51)
    small = model.ScoreNetConfig(hidden_dim=128, embed_dim=64, n_blocks=3)
    assert model.count_params(model.param_shapes(small)) == model.num_parameters(small)


def test_positional_embedding_appendix_a():
    pe0 = model.positional_embedding(jnp.float32(0.0), 512)
    np.testing.assert_array_equal(pe0, np.r_[np.zeros(256), np.ones(256)])
    pe = model.positional_embedding(jnp.float32(2.0), 512)
    assert abs(float(pe[0]) - np.sin(2.0)) < 1e-6                # omega_0 = 1
    assert abs(float(pe[255]) - np.sin(2e-4)) < 1e-8              # omega_255 = 1e-4


def test_time_branch_split_matches_full_call_and_groupnorm_eps():
    cfg = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
    net = model.ScoreNet(cfg)
    params = model.init_params(cfg, jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 17, 3))
    full = net.apply(params, x, jnp.full((5,), 42.0))
    biases = net.apply(params, jnp.float32(42.0), method=model.ScoreNet.time_biases)
    split = net.apply(params, x, biases, method=model.ScoreNet.trunk)
    np.testing.assert_allclose(full, split, atol=1e-5)
    # The plain-function trunk the lifting loop uses is the module's trunk (128 wide: groups
    # of 4 features; with groups of 2 float32 rounding is amplified to ~2e-5).
    cfg = model.ScoreNetConfig(hidden_dim=128, embed_dim=64)
    net, params = model.ScoreNet(cfg), model.init_params(cfg, jax.random.PRNGKey(4))
    biases = net.apply(params, jnp.float32(42.0), method=model.ScoreNet.time_biases)
    split = net.apply(params, x, biases, method=model.ScoreNet.trunk)
    np.testing.assert_allclose(model.trunk_apply(params, cfg, x, biases), split, atol=1e-5)
    x4 = x.reshape(5, 1, 17, 3)                                 # any leading shape
    np.testing.assert_allclose(model.trunk_apply(params, cfg, x4, biases)[:, 0], split, atol=1e-5)
    net = model.ScoreNet(model.ScoreNetConfig(hidden_dim=64, embed_dim=32))
    params = model.init_params(net.config, jax.random.PRNGKey(0))
    # GroupNorm epsilon is PyTorch's 1e-5 (Flax's default is 1e-6).
    assert net.bind(params).pre_gnorm.epsilon == 1e-5
    # Dropout is active only in training and needs an rng.
    y1 = net.apply(params, x, 42.0, train=True, rngs={"dropout": jax.random.PRNGKey(2)})
    y2 = net.apply(params, x, 42.0, train=True, rngs={"dropout": jax.random.PRNGKey(3)})
    assert float(jnp.abs(y1 - y2).max()) > 0
    np.testing.assert_array_equal(net.apply(params, x, 42.0), net.apply(params, x, 42.0))


@pytest.mark.parametrize("cfg", [model.ScoreNetConfig(), model.ScoreNetConfig(
    hidden_dim=64, embed_dim=32, n_blocks=3, embedding="fourier"), model.ScoreNetConfig(
    hidden_dim=64, embed_dim=32, bone_features=True)])
def test_param_shapes_match_init(cfg):
    assert model.count_params(model.param_shapes(cfg)) == model.num_parameters(cfg)
    traced = jax.eval_shape(lambda k: model.init_params(cfg, k), jax.random.PRNGKey(0))
    assert jax.tree_util.tree_structure(model.param_shapes(cfg)) == \
        jax.tree_util.tree_structure(traced)
    for a, b in zip(jax.tree_util.tree_leaves(model.param_shapes(cfg)),
                    jax.tree_util.tree_leaves(traced)):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)


def test_perfect_eps_predictor_has_zero_loss():
    sde = sde_lib.SubVPSDE()
    x0 = jax.random.normal(jax.random.PRNGKey(0), (1, 17, 3)) * 0.3
    batch = jnp.broadcast_to(x0, (64, 17, 3))

    def oracle(params, xt, label, train, rngs):        # eps = (x_t - alpha x0) / sigma
        t = label / 999.0
        a, s = sde.marginal(t)
        return (xt - a[:, None, None] * x0) / s[:, None, None]

    loss = losses.dsm_loss(oracle, None, batch, jax.random.PRNGKey(1), sde,
                           losses.LossConfig(eps_t=1e-3))
    assert float(loss) < 1e-6
    # A zero predictor has loss 1/2 * E|z|^2 = 25.5 (reduce_mean=False).
    zero = lambda *a: jnp.zeros_like(a[1])
    big = jnp.broadcast_to(x0, (4096, 17, 3))
    assert abs(float(losses.dsm_loss(zero, None, big, jax.random.PRNGKey(2), sde)) - 25.5) < 0.5
    mean = losses.dsm_loss(zero, None, big, jax.random.PRNGKey(2), sde,
                           losses.LossConfig(reduce_mean=True))
    assert abs(float(mean) - 1.0) < 0.02


def test_loop_time_sampling():
    sde = sde_lib.SubVPSDE()
    key = jax.random.PRNGKey(3)
    base = losses.LossConfig()
    # Off: the release's draw, bit for bit.
    release = jax.random.uniform(key, (4096,), jnp.float32) * (sde.T - base.eps_t) + base.eps_t
    np.testing.assert_array_equal(np.asarray(losses.sample_times(key, 4096, sde, base)),
                                  np.asarray(release))
    # All in the loop's window.
    t = np.asarray(losses.sample_times(key, 4096, sde, losses.LossConfig(loop_t_fraction=1.0)))
    assert t.min() >= base.eps_t and t.max() < 0.1
    # Half: 50% + 50% * 9.99% of the samples below 0.1, the rest spread up to T.
    t = np.asarray(losses.sample_times(key, 20000, sde, losses.LossConfig(loop_t_fraction=0.5)))
    assert abs(np.mean(t < 0.1) - (0.5 + 0.5 * 0.1)) < 0.015
    assert t.max() > 0.99 and t.min() >= base.eps_t
    for bad in (dict(loop_t_fraction=1.5), dict(loop_t_fraction=-0.1), dict(loop_t_max=1e-6)):
        with pytest.raises(ValueError, match="loop_t"):
            losses.LossConfig(**bad)


def test_bone_features_input_and_adapt_params():
    from zedo_jax.core import skeleton
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 17, 3)) * 0.3
    off = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
    on = model.ScoreNetConfig(hidden_dim=64, embed_dim=32, bone_features=True)
    assert (off.input_dim, on.input_dim) == (51, 67)
    assert model.num_parameters(on) - model.num_parameters(off) == 16 * 64
    np.testing.assert_array_equal(model.network_input(x, off), x.reshape(5, 51))
    np.testing.assert_allclose(model.network_input(x, on)[:, 51:],
                               skeleton.bone_lengths(np.asarray(x)), rtol=1e-5)
    # Zero-padded input rows: the adapted network computes what the original one did.
    params = model.init_params(off, jax.random.PRNGKey(0))
    adapted = model.adapt_params(params, on)
    assert adapted["params"]["pre_dense"]["kernel"].shape == (67, 64)
    label = jnp.full((5,), 300.0)
    np.testing.assert_allclose(model.ScoreNet(on).apply(adapted, x, label),
                               model.ScoreNet(off).apply(params, x, label), atol=1e-6)
    assert model.adapt_params(adapted, on) is adapted            # already adapted: unchanged
    assert model.adapt_params(params, off) is params
    net = model.ScoreNet(on)
    biases = net.apply(adapted, jnp.float32(300.0), method=model.ScoreNet.time_biases)
    np.testing.assert_allclose(model.trunk_apply(adapted, on, x, biases),
                               net.apply(adapted, x, biases, method=model.ScoreNet.trunk),
                               atol=1e-4)                       # groups of 2: see above
    with pytest.raises(ValueError, match="17-joint"):
        model.ScoreNetConfig(num_joints=16, bone_features=True)
