"""Choosing one hypothesis without ground truth, and the named configurations."""
import numpy as np
import pytest

from zedo_jax.core import program as zedo, selection
from zedo_jax.core.config import LiftConfig, make_config


def _hypotheses(rng, n_good=30, n_bad=20):
    """One frame: ``n_good`` hypotheses near a pose, ``n_bad`` scattered far from it."""
    pose = rng.normal(0, 0.2, (17, 3))
    good = pose + rng.normal(0, 0.01, (n_good, 17, 3))
    bad = pose + rng.normal(0, 0.3, (n_bad, 17, 3))
    return np.concatenate([bad, good])[None], n_bad


def test_consensus_picks_a_hypothesis_of_the_crowd():
    rng = np.random.default_rng(0)
    poses, n_bad = _hypotheses(rng)
    S = poses.shape[1]
    err = np.ones((1, S, 17))
    conf = np.ones((1, 17))
    score, best = selection.rank(poses, err, conf)
    assert score.shape == (1, S) and best.shape == (1,)
    assert best[0] >= n_bad                         # one of the agreeing hypotheses
    t = selection.terms(poses, err, conf)
    assert t["consensus"][0, n_bad:].max() < t["consensus"][0, :n_bad].min()


def test_prior_and_asymmetry_terms_break_ties_and_weights_switch_terms():
    rng = np.random.default_rng(1)
    poses = np.broadcast_to(rng.normal(0, .2, (1, 1, 17, 3)), (1, 5, 17, 3))  # all agree
    err, conf = np.ones((1, 5, 17)), np.ones((1, 17))
    residual = np.array([[0.5, 0.4, 0.1, 0.6, 0.7]])
    asym = np.array([[0.3, 0.0, 0.2, 0.3, 0.3]])
    _, best = selection.rank(poses, err, conf, residual, asym,
                             selection.SelectionWeights(asymmetry=0.0))
    assert best[0] == 2
    _, best = selection.rank(poses, err, conf, residual, asym,
                             selection.SelectionWeights(prior=0.0))
    assert best[0] == 1
    # reprojection only: the hypothesis that explains the 2D best (missing joints ignored)
    err = np.ones((1, 5, 17))
    err[0, 3] = 0.2
    err[0, 0, 5] = -100.0                          # a missing joint's error does not count
    conf = np.ones((1, 17))
    conf[0, 5] = 0.0
    _, best = selection.rank(poses, err, conf, weights=selection.SelectionWeights(
        consensus=0.0, prior=0.0, asymmetry=0.0, reprojection=1.0))
    assert best[0] == 3


def test_single_hypothesis_scores_zero():
    poses = np.zeros((4, 1, 17, 3))
    score, best = selection.rank(poses, np.zeros((4, 1, 17)), np.ones((4, 17)))
    assert (score == 0).all() and (best == 0).all()


def test_named_configurations():
    faithful = make_config(schedule="faithful")
    assert faithful == LiftConfig()                    # the release, exactly
    fast = make_config()
    assert (fast.ipo.steps, fast.loop.steps, fast.loop.euler_dt) == (100, 100, 0.01)
    assert fast.anatomy.final and not fast.anatomy.in_loop
    assert fast.loop.t_start == faithful.loop.t_start and fast.loop.t_end == faithful.loop.t_end
    assert not make_config(schedule="fast", anatomy=False).anatomy.final
    pw3d = make_config("3dpw", "fast", overrides={"loop.steps": 50})
    assert pw3d.ipo.distance == 8.0 and pw3d.loop.steps == 50 and pw3d.ipo.steps == 100
    with pytest.raises(ValueError, match="unknown schedule"):
        make_config(schedule="turbo")
    with pytest.raises(ValueError, match="unknown preset"):
        make_config("mars")


def test_likelihood_term_breaks_ties():
    poses = np.broadcast_to(np.random.default_rng(2).normal(0, .2, (1, 1, 17, 3)), (1, 4, 17, 3))
    err, conf = np.ones((1, 4, 17)), np.ones((1, 17))
    dn = np.array([[0.3, 0.2, 0.05, 0.4]])
    _, best = selection.rank(poses, err, conf, denoise_error=dn)
    assert best[0] == 2
    assert "likelihood" in selection.terms(poses, err, conf, denoise_error=dn)
    assert (selection.rank(poses, err, conf, weights=selection.SelectionWeights(
        likelihood=0.0))[0] == 0).all()            # all else equal: no preference


def test_denoise_error_prefers_real_poses_to_broken_ones(cmu_views):
    """The shipped prior's denoising error at likelihood_t is lower for real test poses than
    for the same poses with one shin stretched by 40% or the arms' depths mirrored."""
    import jax
    import jax.numpy as jnp

    from zedo_jax import prior as prior_lib
    from zedo_jax.core import score as score_lib
    P = prior_lib.load_prior()
    cfg = make_config()
    gt = cmu_views["poses3d"][::20].astype(np.float32)
    gt = gt - gt[:, :1]
    long_shin = gt.copy()
    long_shin[:, 3] = gt[:, 2] + 1.4 * (gt[:, 3] - gt[:, 2])          # right ankle
    bent = gt.copy()
    bent[:, 11:17, 2] = 2 * gt[:, 8:9, 2] - gt[:, 11:17, 2]         # arms' depth mirrored
    score = score_lib.score_fn(P.params, P.config, P.sde)
    draws = zedo.likelihood_draws(cfg.selection)
    f = jax.jit(jax.vmap(lambda x: zedo.denoise_error(score, P.sde, x,
                                                      cfg.selection.likelihood_t, draws)))
    real, shin, arms = (np.asarray(f(jnp.asarray(p))) for p in (gt, long_shin, bent))
    assert (real < shin).mean() > 0.9, (real.mean(), shin.mean())
    assert (real < arms).mean() > 0.7, (real.mean(), arms.mean())
