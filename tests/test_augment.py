"""Training augmentations that widen the prior: skeleton variation, posture variation within
ranges of motion, rebalanced sampling (zedo_jax.training.augment, zedo_jax.training.data)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zedo_jax.core import skeleton
from zedo_jax.training import augment, clustering, data

LEFT = [skeleton.BONES.index(b) for b in skeleton.LEFT_BONES]
RIGHT = [skeleton.BONES.index(b) for b in skeleton.RIGHT_BONES]


@pytest.fixture(scope="module")
def poses(cmu_poses_path):
    ps = data.load_poses(cmu_poses_path, split="train")
    return data.PoseSet(ps.poses[::20], ps.frame, ps.source)       # ~2,700 poses


def _run(cfg, x, frame="world", seed=0):
    fn = jax.jit(lambda k, p: data.augment(k, p, frame, cfg))
    return np.asarray(fn(jax.random.PRNGKey(seed), jnp.asarray(x)))


def test_off_is_identity(poses):
    x = poses.poses[:500]
    cfg = data.AugmentConfig()
    # Off: exactly what the release's training sees (virtual camera only).
    ref = np.asarray(jax.jit(lambda k, p: data.augment(k, p, "world", cfg))(
        jax.random.PRNGKey(3), jnp.asarray(x)))
    np.testing.assert_array_equal(_run(cfg, x, seed=3), ref)
    np.testing.assert_array_equal(_run(cfg, x, "camera"), x)


def test_scale_bones_identity_and_lengths():
    rng = np.random.default_rng(0)
    p = rng.normal(0, 0.3, (17, 3)).astype(np.float32)
    p -= p[:1]
    np.testing.assert_allclose(augment.scale_bones(jnp.asarray(p), jnp.ones(16)), p, atol=1e-6)
    f = rng.uniform(0.7, 1.3, 16).astype(np.float32)
    q = np.asarray(augment.scale_bones(jnp.asarray(p), jnp.asarray(f)))
    np.testing.assert_allclose(skeleton.bone_lengths(q), skeleton.bone_lengths(p) * f, rtol=1e-5)
    # Directions of the bones are unchanged.
    par = np.asarray(skeleton.PARENTS[1:])
    u = (q[1:] - q[par]) / np.linalg.norm(q[1:] - q[par], axis=1, keepdims=True)
    v = (p[1:] - p[par]) / np.linalg.norm(p[1:] - p[par], axis=1, keepdims=True)
    np.testing.assert_allclose(u, v, atol=1e-5)


def test_skeleton_variation_keeps_symmetry_and_ranges(poses):
    x = poses.poses[:2000]
    cfg = data.AugmentConfig(bone_scale_range=0.15, body_scale_range=0.1)
    y = _run(cfg, x, "camera")
    assert y.shape == x.shape and np.isfinite(y).all()
    np.testing.assert_allclose(y[:, 0], 0.0, atol=1e-6)
    ratio = skeleton.bone_lengths(y) / skeleton.bone_lengths(x)
    # Left and right bones of a pair get the same factor; all factors within the ranges.
    np.testing.assert_allclose(ratio[:, LEFT], ratio[:, RIGHT], rtol=1e-4)
    assert ratio.min() >= np.exp(-0.25) - 1e-4 and ratio.max() <= np.exp(0.25) + 1e-4
    # Each bone group gets its own factor (not one global scale).
    assert np.std(ratio[:, 1] / ratio[:, 11]) > 0.05
    assert 0.08 < np.std(np.log(ratio[:, 1])) < 0.16


def test_keep_size_varies_proportions_not_size(poses):
    x = poses.poses[:1000]
    y = _run(data.AugmentConfig(bone_scale_range=0.15, keep_size=True), x, "camera")
    lx, ly = skeleton.bone_lengths(x), skeleton.bone_lengths(y)
    # The sum of the bone lengths is each pose's own; the proportions are not.
    np.testing.assert_allclose(ly.sum(-1), lx.sum(-1), rtol=1e-5)
    ratio = ly / lx
    np.testing.assert_allclose(ratio[:, LEFT], ratio[:, RIGHT], rtol=1e-4)
    assert np.std(np.log(ratio[:, 1])) > 0.05
    # With a body factor on top, the size varies by that factor only.
    z = _run(data.AugmentConfig(bone_scale_range=0.15, keep_size=True, body_scale_range=0.1),
             x, "camera")
    size = skeleton.bone_lengths(z).sum(-1) / lx.sum(-1)
    assert np.exp(-0.1) - 1e-4 <= size.min() and size.max() <= np.exp(0.1) + 1e-4
    assert size.std() > 0.03


def test_size_total_scales_every_pose_to_one_size(poses):
    x = poses.poses[:500]
    y = _run(data.AugmentConfig(size_total_m=4.2, bone_scale_range=0.1), x, "camera")
    np.testing.assert_allclose(skeleton.bone_lengths(y).sum(-1), 4.2, rtol=1e-5)
    np.testing.assert_allclose(y[:, 0], 0.0, atol=1e-6)
    # A uniform scale: bone directions are those of the varied skeleton.
    z = _run(data.AugmentConfig(size_total_m=4.2), x, "camera")
    scale = 4.2 / skeleton.bone_lengths(x).sum(-1)
    np.testing.assert_allclose(z, x * scale[:, None, None], rtol=1e-5, atol=1e-6)


def test_joint_slide_moves_only_the_ambiguous_joints(poses):
    x = poses.poses[:500]
    y = _run(data.AugmentConfig(joint_slide=0.1), x, "camera")
    moved = np.abs(y - x).max(axis=(0, 2)) > 1e-6
    assert set(np.flatnonzero(moved)) == {7, 8, 9}
    # The spine moves along the pelvis-thorax segment by at most 10% of it.
    span = np.linalg.norm(x[:, 8] - x[:, 0], axis=1)
    shift = np.linalg.norm(y[:, 7] - x[:, 7], axis=1)
    assert (shift <= 0.1 * span + 1e-5).all() and shift.max() > 0.05 * span.mean()


def test_posture_variation_keeps_bones_and_respects_ranges(poses):
    x = poses.poses[:2000]
    cfg = data.AugmentConfig(posture_prob=1.0, posture_dof_prob=1.0)
    y = _run(cfg, x, "camera")
    assert np.isfinite(y).all()
    np.testing.assert_allclose(skeleton.bone_lengths(y), skeleton.bone_lengths(x), atol=1e-5)
    r = augment.PostureRanges()
    # Every degree of freedom re-drawn: thigh flexion relative to the trunk lies in the range
    # (abduction drawn first can move it by a few degrees out of the sagittal plane).
    flex = skeleton.thigh_flexion_deg(y)
    assert np.percentile(flex, 1) > r.hip_flexion[0] - 10
    assert np.percentile(flex, 99) < r.hip_flexion[1] + 10
    # Knees bend within their range and backward (the shin never passes in front of the thigh
    # line by more than the range allows).
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        d1, d2 = y[:, knee] - y[:, hip], y[:, ankle] - y[:, knee]
        ang = np.degrees(np.arccos(np.clip(np.sum(d1 * d2, 1) / np.linalg.norm(d1, axis=1)
                                           / np.linalg.norm(d2, axis=1), -1, 1)))
        assert ang.max() < r.knee_flexion[1] + 1.0
    # Sitting, crouching and kneeling become common: both thighs flexed beyond 60 degrees.
    both = np.mean((flex > 60).all(1))
    assert both > 4 * np.mean((skeleton.thigh_flexion_deg(x) > 60).all(1)) and both > 0.1


def test_posture_prob_gates_samples(poses):
    x = poses.poses[:2000]
    y = _run(data.AugmentConfig(posture_prob=0.3), x, "camera")
    changed = np.abs(y - x).max(axis=(1, 2)) > 1e-6
    assert 0.2 < changed.mean() < 0.35


def test_rebalance_weights(poses):
    w = clustering.rebalance_weights(poses, clusters=16, power=0.5, key=jax.random.PRNGKey(0))
    assert w.shape == (len(poses),) and np.isclose(w.sum(), 1.0) and (w > 0).all()
    assert w.max() / w.min() > 2.0
    np.testing.assert_allclose(clustering.rebalance_weights(poses, power=0.0), 1.0 / len(poses))
    idx = np.asarray(data.weighted_batch_indices(jax.random.PRNGKey(0), 5,
                                                 jnp.asarray(w, jnp.float32), 4096))
    # Rare poses (high weight) are drawn more often than their share of the data.
    rare = w > np.median(w)
    assert rare[idx].mean() > rare.mean() + 0.1


def test_skeleton_swap_takes_a_real_skeleton_and_keeps_angles(poses):
    x = poses.poses[::5]                                    # all three CMU skeletons
    cfg = data.AugmentConfig(swap_prob=1.0)
    y = _run(cfg, x, "camera")
    Lx, Ly = skeleton.bone_lengths(x), skeleton.bone_lengths(y)
    # Every output skeleton is one of the batch's own (left/right averaged), not a made-up one.
    sym = np.asarray(augment.symmetric_lengths(Lx))
    dist = np.abs(Ly[:, None, :] - sym[None]).max(-1).min(1)
    assert dist.max() < 1e-5
    np.testing.assert_allclose(Ly[:, LEFT], Ly[:, RIGHT], atol=1e-6)
    # Sizes really change (three skeletons: 3.9, 4.4 and 4.7 m of bones) and bone directions
    # (the joint angles) are kept.
    assert np.mean(np.abs(Ly.sum(1) - Lx.sum(1)) > 0.1) > 0.3
    par = np.asarray(skeleton.PARENTS[1:])
    u = y[:, 1:] - y[:, par]
    v = x[:, 1:] - x[:, par]
    cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    assert cos.min() > 1 - 1e-5
    np.testing.assert_array_equal(y[:, 0], 0.0)


def test_skeleton_swap_prob_gates_samples(poses):
    x = poses.poses[:1000]
    y = _run(data.AugmentConfig(swap_prob=0.3), x, "camera")
    changed = np.abs(y - x).max((1, 2)) > 1e-6
    # Gated samples whose partner has the same skeleton barely change; the share is at most 0.3.
    assert 0.05 < changed.mean() < 0.36
    np.testing.assert_array_equal(_run(data.AugmentConfig(swap_prob=0.0), x, "camera"), x)


def test_convention_range_widens_only_hip_neck_and_head(poses):
    x = poses.poses[:2000]
    y = _run(data.AugmentConfig(bone_scale_range=0.05, convention_range=0.3), x, "camera")
    log_ratio = np.log(skeleton.bone_lengths(y) / skeleton.bone_lengths(x))
    wide = [skeleton.BONES.index(b) for b in ((0, 1), (0, 4), (8, 9), (9, 10))]  # hips, neck, head
    narrow = [k for k in range(16) if k not in wide]
    assert np.abs(log_ratio[:, narrow]).max() <= 0.05 + 1e-4
    assert np.abs(log_ratio[:, wide]).max() <= 0.3 + 1e-4
    assert np.abs(log_ratio[:, wide]).max() > 0.28          # the whole range is used
    np.testing.assert_allclose(log_ratio[:, wide[0]], log_ratio[:, wide[1]], atol=1e-4)
    # Off (or not wider than the bone range): the draws of the plain skeleton variation.
    same = data.AugmentConfig(bone_scale_range=0.05, convention_range=0.05)
    np.testing.assert_array_equal(_run(same, x, "camera"),
                                  _run(data.AugmentConfig(bone_scale_range=0.05), x, "camera"))


def test_combined_files_fill_their_shares_of_every_batch():
    a = data.PoseSet(np.zeros((100, 17, 3), np.float32), "world", "a")
    b = data.PoseSet(np.ones((900, 17, 3), np.float32), "world", "b")
    c = data.combine([a, b], (1, 1))
    assert len(c) == 1000 and c.source == "a 50% + b 50%"
    assert c.weights[:100].sum() == pytest.approx(0.5) and c.weights[100:].sum() == pytest.approx(.5)
    cdf = data.cumulative_weights(jnp.asarray(c.weights / c.weights.sum(), jnp.float32))
    idx = np.concatenate([np.asarray(data.cdf_batch_indices(jax.random.PRNGKey(0), s, cdf, 512))
                          for s in range(8)])
    assert 0.46 < np.mean(idx < 100) < 0.54                  # half from the small file
    drawn = data.resample(c, jax.random.PRNGKey(1))
    assert drawn.weights is None and 0.46 < np.mean(drawn.poses[:, 0, 0] == 0) < 0.54
    pooled = data.combine([a, b])
    assert pooled.weights is None and len(pooled) == 1000
    assert data.combine([a]) is a
    with pytest.raises(ValueError, match="one positive share per pose file"):
        data.combine([a, b], (1,))
    with pytest.raises(ValueError, match="different frames"):
        data.combine([a, data.PoseSet(b.poses, "camera", "b")])
