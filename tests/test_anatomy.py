"""Anatomical consistency: the plausibility rule, target bone lengths, the skeleton rebuild and
the anatomy switch of the loop."""
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SHARED_DATA, require

from zedo_jax import lifting, prior as prior_lib
from zedo_jax.core import anatomy, camera, skeleton
from zedo_jax.core.config import ANATOMY, AnatomyConfig, LiftConfig
from zedo_jax.evaluation import metrics

# A hand-made standing skeleton (metres, camera axes: x right, y down, z forward).
_LEFT = {4: (.12, 0, -.02), 5: (.12, .45, -.1), 6: (.12, .92, .03), 11: (.17, -.47, .05),
         12: (.2, -.19, .15), 13: (.22, .06, .04)}
BASE = np.zeros((17, 3))
BASE[[7, 8, 9, 10]] = [[0, -.25, .03], [0, -.5, .02], [0, -.62, -.07], [0, -.73, 0]]
for _l, _xyz in _LEFT.items():
    BASE[_l] = _xyz
    BASE[skeleton.FLIP_PERMUTATION[_l]] = (-_xyz[0], _xyz[1], _xyz[2])


def _stretch(pose, child, factor):
    """Scale the bone ending at ``child`` by ``factor``, moving the child's subtree along."""
    pose = pose.copy()
    parent = skeleton.PARENTS[child]
    delta = (pose[child] - pose[parent]) * (factor - 1)
    sub = [child]
    for j in range(child + 1, 17):
        if skeleton.PARENTS[j] in sub:
            sub.append(j)
    pose[sub] += delta
    return pose


def test_plausibility_rule_on_hand_made_skeletons():
    ok = metrics.plausibility(BASE)
    assert ok["plausible"] and ok["sym_forearm"] and ok["ratio_leg"]
    long_forearm = metrics.plausibility(_stretch(BASE, 13, 1.2))     # left forearm +20%
    assert not long_forearm["sym_forearm"] and not long_forearm["plausible"]
    assert long_forearm["sym_upper_arm"] and long_forearm["ratio_arm"]
    long_shins = _stretch(_stretch(BASE, 3, 1.5), 6, 1.5)              # shin/thigh 1.55
    p = metrics.plausibility(long_shins)
    assert p["sym_shin"] and not p["ratio_leg"] and not p["plausible"]
    L = skeleton.bone_lengths(BASE)
    np.testing.assert_allclose(p["shin_thigh"], L[[2, 5]] * 1.5 / L[[1, 4]], rtol=1e-6)
    batch = metrics.plausibility(np.stack([BASE, long_shins]))
    assert batch["plausible"].tolist() == [True, False]
    rep = metrics.plausibility_report(np.stack([BASE, long_shins]), np.stack([BASE, BASE]))
    assert rep["plausible_pct"] == 50.0 and rep["sym_shin_pct"] == 100.0
    assert rep["bone_error_mm"]["r_knee-r_ankle"] == pytest.approx(0.5 * 0.5 * L[2] * 1000,
                                                                   rel=1e-4)


def test_target_lengths_are_symmetric_and_keep_limb_ratios():
    ref = skeleton.bone_lengths(BASE)
    L = np.asarray(ref).copy()
    L[11] *= 1.3                       # left upper arm longer
    L[2] *= 1.6                        # right shin far too long for its thigh
    t = np.asarray(anatomy.target_lengths(jnp.asarray(L), None))
    np.testing.assert_allclose(t, t[list(anatomy.MIRROR_BONE)], rtol=1e-6)
    t = np.asarray(anatomy.target_lengths(jnp.asarray(L), tuple(ref), prior_weight=0.0,
                                          ratio_tol=0.15))
    np.testing.assert_allclose(t, t[list(anatomy.MIRROR_BONE)], rtol=1e-6)
    for thigh, shin in zip(anatomy.THIGH, anatomy.SHIN):
        assert t[shin] / t[thigh] <= ref[shin] / ref[thigh] * 1.15 + 1e-6
    # the limb keeps its total length when its ratio is clipped
    sym_leg = 0.5 * (L[1] + L[4]) + 0.5 * (L[2] + L[5])
    assert t[1] + t[2] == pytest.approx(sym_leg, rel=1e-5)
    # reference lengths pass through unchanged, whatever the blend
    for w in (0.0, 0.5, 1.0):
        np.testing.assert_allclose(anatomy.target_lengths(jnp.asarray(ref), tuple(ref), w), ref,
                                   rtol=1e-5)


def _rays(Y, K):
    uv = camera.project(jnp.asarray(Y), jnp.asarray(K))
    n = camera.normalized_coordinates(uv, jnp.asarray(K))
    return uv, n / jnp.linalg.norm(n, axis=-1, keepdims=True)


def test_rebuild_on_rays_sets_lengths_and_keeps_the_2d():
    K = camera.intrinsics(1150.0, 1150.0, 500.0, 500.0)
    Y = BASE + np.array([0.1, -0.1, 4.5])
    uv, unit = _rays(Y, K)
    L = skeleton.bone_lengths(jnp.asarray(Y))
    same = anatomy.rebuild(jnp.asarray(Y), L, unit, jnp.ones(17))
    np.testing.assert_allclose(same, Y, atol=1e-3)   # float32; a bone near the image plane
    # is ill-conditioned in depth (a double root)
    # limbs 5% longer: every bone takes its new length, every joint stays on its ray
    target = L * jnp.where(jnp.arange(16) >= 10, 1.05, 1.0)
    new = anatomy.rebuild(jnp.asarray(Y), target, unit, jnp.ones(17))
    np.testing.assert_allclose(skeleton.bone_lengths(new), target, atol=1e-4)
    assert float(camera.reprojection_error(new, uv, jnp.asarray(K)).max()) < 1e-2
    # a missing joint keeps its bone direction instead
    mask = jnp.ones(17).at[13].set(0.0)
    new = anatomy.rebuild(jnp.asarray(Y), target, unit, mask)
    d_old = (Y[13] - Y[12]) / np.linalg.norm(Y[13] - Y[12])
    d_new = np.asarray(new[13] - new[12])
    np.testing.assert_allclose(d_new / np.linalg.norm(d_new), d_old, atol=1e-4)
    # rigid rebuild: directions kept, lengths set, pelvis fixed
    rigid = anatomy.rebuild(jnp.asarray(Y), target, unit, jnp.ones(17), on_rays=False)
    np.testing.assert_allclose(skeleton.bone_lengths(rigid), target, atol=1e-5)
    np.testing.assert_allclose(rigid[0], Y[0], atol=1e-6)


def test_anatomy_switch_makes_lifted_poses_plausible_and_keeps_the_2d():
    """Shipped prior on 24 benchmark frames with a short schedule: the final bone steps make
    every frame plausible, and the reprojection error stays within 1 px of the loop without
    them."""
    path = require(f"{SHARED_DATA}/cmu_test_views.npz")
    with np.load(path) as f:
        idx = np.arange(0, 1000, 41)[:24]
        kp, K, gt = f["keypoints"][idx], f["K"][idx], f["poses3d"][idx]
    prior = prior_lib.load_prior()
    short = LiftConfig().replace(**{"ipo.steps": 100, "loop.steps": 100,
                                    "loop.euler_dt": 0.01})
    plain = lifting.lift(prior, kp, K, config=short, log=None)
    fixed = lifting.lift(prior, kp, K, log=None, config=short.replace(**ANATOMY))
    assert metrics.plausibility(fixed.poses[:, 0])["plausible"].all()
    assert (np.median(fixed.reprojection_error_px)
            < np.median(plain.reprojection_error_px) + 1.0)
    before = metrics.evaluate(plain.poses, gt)["summary"]["pa_mpjpe_mm"]
    after = metrics.evaluate(fixed.poses, gt)["summary"]["pa_mpjpe_mm"]
    assert after < before + 2.0, (before, after)


def test_missing_bones_take_observed_mirror_or_reference():
    """A bone ending at a missing joint gets its detected mirror's length, or the reference
    length at the person's size (from the observed bones) when both sides are missing."""
    ref = np.linspace(0.1, 0.5, 16).astype(np.float32)
    L = (1.1 * ref).copy()
    L[1] = 0.9            # right thigh, detected
    L[4] = 0.2            # left thigh, its knee missing: unconstrained
    L[2], L[5] = 3.0, 0.05  # both shins missing
    observed = np.ones(16, np.float32)
    observed[[4, 2, 5]] = 0
    out = np.asarray(anatomy.target_lengths(jnp.asarray(L), ref, ratio_tol=10.0,
                                            observed=jnp.asarray(observed)))
    np.testing.assert_allclose(out[4], L[1], rtol=1e-5)
    np.testing.assert_allclose(out[1], L[1], rtol=1e-5)
    mirror = list(anatomy.MIRROR_BONE)
    sym = 0.5 * (L + L[mirror])
    sym[[1, 4]] = L[1]
    s = np.sum(np.delete(sym * ref, [2, 5])) / np.sum(np.delete(ref * ref, [2, 5]))
    np.testing.assert_allclose(out[[2, 5]], s * ref[[2, 5]], rtol=1e-4)
    # Everything observed: the plain symmetric average, as before.
    full = np.asarray(anatomy.target_lengths(jnp.asarray(L), ref, ratio_tol=10.0,
                                             observed=jnp.ones(16)))
    np.testing.assert_allclose(full, np.asarray(anatomy.target_lengths(jnp.asarray(L), ref,
                                                                       ratio_tol=10.0)), rtol=1e-6)
    # missing_size_weight: bones with neither side observed move from the person's size s
    # toward the training means (s ** (1 - w)); 1 gives the means exactly. Others unchanged.
    for w in (0.5, 1.0):
        pulled = np.asarray(anatomy.target_lengths(jnp.asarray(L), ref, ratio_tol=10.0,
                                                   observed=jnp.asarray(observed),
                                                   missing_size_weight=w))
        np.testing.assert_allclose(pulled[[2, 5]], s ** (1 - w) * ref[[2, 5]], rtol=1e-4)
        np.testing.assert_allclose(np.delete(pulled, [2, 5]), np.delete(out, [2, 5]), rtol=1e-6)
    with pytest.raises(ValueError, match=r"anatomy\.missing_size_weight"):
        AnatomyConfig(missing_size_weight=1.5)
    with pytest.raises(ValueError, match=r"anatomy\.missing_size_weight"):
        LiftConfig().replace(**{"anatomy.missing_size_weight": 1.5})
