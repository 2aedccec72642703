"""Temporal lifting: sequence metrics against hand-computed values, the temporal
operators, window planning / blending, and temporal mode on a short real sequence."""
from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SHARED_DATA, require

from zedo_jax import inputs
from zedo_jax.core import temporal
from zedo_jax.core.config import LiftConfig, TemporalConfig, make_config
from zedo_jax.evaluation import metrics

CMU_SEQUENCES = os.path.join(SHARED_DATA, "cmu_test_sequences.npz")


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------

def _toy():
    """Two joints (root at the origin); joint 1 of the prediction moves 0, 1, 5 m along x,
    the ground truth stands still."""
    pred = np.zeros((3, 2, 3), np.float32)
    pred[:, 1, 0] = [0.0, 1.0, 5.0]
    return pred, np.zeros_like(pred)


def test_acceleration_error_and_mpjve_hand_computed():
    pred, gt = _toy()
    # accel at frame 1: |5 - 2*1 + 0| = 3 for joint 1, 0 for the root -> mean 1.5 m/frame^2
    np.testing.assert_allclose(metrics.acceleration_error(pred, gt), [1.5], rtol=1e-6)
    # velocities 1 and 4 for joint 1 -> per pair 0.5, 2.0
    np.testing.assert_allclose(metrics.mpjve(pred, gt), [0.5, 2.0], rtol=1e-6)
    res = metrics.temporal_metrics(pred, gt)
    assert res["accel_error_mm"] == pytest.approx(1500.0)
    assert res["mpjve_mm"] == pytest.approx(1250.0)
    assert res["sequences"] == 1


def test_temporal_metrics_root_relative_and_gt_motion():
    pred, gt = _toy()
    # moving both poses rigidly changes nothing (root-relative); the same motion in gt and
    # prediction cancels
    assert metrics.temporal_metrics(pred + np.arange(3)[:, None, None] ** 2, gt)[
        "accel_error_mm"] == pytest.approx(1500.0)
    assert metrics.temporal_metrics(pred, pred)["accel_error_mm"] == pytest.approx(0.0)
    # a diagonal difference: accel (3, 4, 0) -> |.| = 5 for joint 1 -> 2.5 m
    p2 = pred.copy()
    p2[:, 1, 1] = [0.0, 2.0, 8.0]                       # second difference 4 along y
    assert metrics.temporal_metrics(p2, gt)["accel_error_mm"] == pytest.approx(2500.0)


def test_temporal_metrics_orders_frames_and_separates_sequences():
    pred, gt = _toy()
    # two copies as two sequences, shuffled, with frame indices: the same numbers
    P = np.concatenate([pred, pred])
    G = np.concatenate([gt, gt])
    seq = np.array([0, 0, 0, 1, 1, 1])
    frame = np.array([0, 1, 2, 0, 1, 2])
    perm = np.array([4, 2, 0, 5, 1, 3])
    res = metrics.temporal_metrics(P[perm], G[perm], seq[perm], frame[perm])
    assert res["accel_error_mm"] == pytest.approx(1500.0)
    assert res["mpjve_mm"] == pytest.approx(1250.0)
    assert res["sequences"] == 2
    # without frame indices the (shuffled) file order is used: a different, larger value
    assert metrics.temporal_metrics(P[perm], G[perm], seq[perm])["accel_error_mm"] != \
        pytest.approx(1500.0)
    # sequences too short for a second difference contribute nothing
    assert np.isnan(metrics.temporal_metrics(pred[:2], gt[:2])["accel_error_mm"])
    with pytest.raises(ValueError, match="pred and gt"):
        metrics.temporal_metrics(pred[:, None], gt)


def test_sequence_order():
    order, starts = temporal.sequence_order(np.array([5, 2, 5, 2]), np.array([1, 9, 0, 3]))
    np.testing.assert_array_equal(order, [3, 1, 2, 0])
    np.testing.assert_array_equal(starts, [0, 2, 4])


# ----------------------------------------------------------------------------------------------
# temporal operators and window plans
# ----------------------------------------------------------------------------------------------

def test_smoothing_keeps_constants_and_ignores_padding():
    valid = jnp.array([1.0] * 6 + [0.0] * 2)
    G = temporal.gaussian_kernel(valid, 2.0)
    x = jnp.ones((8, 1, 17, 3)) * jnp.arange(17.0)[None, None, :, None]
    x = x.at[6:].set(100.0)                               # padding must not leak in
    w = jnp.ones((8, 17)) * valid[:, None]
    y = temporal.smooth_trajectory(x, G, w)
    np.testing.assert_allclose(y[:6], x[:6], atol=1e-5)
    # a missing joint (weight ~0 at frame 2) takes its neighbours' value
    x2 = x.at[2, 0, 5].set(-50.0)
    w2 = w.at[2, 5].set(1e-6)
    np.testing.assert_allclose(temporal.smooth_trajectory(x2, G, w2)[2, 0, 5], 5.0, atol=1e-3)


def test_savgol_reproduces_quadratics_at_edges_and_with_padding():
    valid = jnp.array([1.0] * 10 + [0.0] * 3)
    M = temporal.savgol_matrix(valid, 7, 2)
    t = np.arange(13.0)
    q = 0.3 * t ** 2 - 2 * t + 1
    q[10:] = 1e3                                          # padding
    np.testing.assert_allclose(np.asarray(M @ q)[:10], q[:10], rtol=1e-3, atol=1e-3)
    # it smooths: white noise loses most of its variance
    e = np.random.default_rng(0).normal(size=13)
    e[10:] = 0
    assert np.var(np.asarray(M @ e)[2:8]) < 0.6 * np.var(e[:10])


def test_rescale_bones_sets_lengths_and_keeps_directions():
    from zedo_jax.core import skeleton
    x = np.random.default_rng(1).normal(size=(17, 3)).astype(np.float32)
    L = np.linspace(0.1, 0.5, 16).astype(np.float32)
    y = np.asarray(temporal.rescale_bones(jnp.asarray(x), jnp.asarray(L)))
    np.testing.assert_allclose(np.asarray(skeleton.bone_lengths(y)), L, rtol=1e-5)
    for p, c in skeleton.BONES:
        a, b = x[c] - x[p], y[c] - y[p]
        assert np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) == pytest.approx(1, abs=1e-5)


def test_plan_windows_covers_sequences_in_order():
    seq = np.array([1] * 5 + [0] * 23)
    frame = np.concatenate([np.arange(5)[::-1], np.arange(23)])
    plan = temporal.plan_windows(seq, frame, window=10, overlap=3)
    W, T = plan.index.shape
    assert T == 10
    # sequence 0 (23 frames): starts 0, 7, 13 (the last aligned with the end); sequence 1 padded
    assert W == 4
    np.testing.assert_array_equal(plan.index[0], np.arange(5, 15))
    np.testing.assert_array_equal(plan.index[2], np.arange(18, 28))
    np.testing.assert_array_equal(plan.index[3][:5], [4, 3, 2, 1, 0])   # ordered by frame
    np.testing.assert_array_equal(plan.valid[3], [1] * 5 + [0] * 5)
    # every frame is covered with positive weight; blending constants gives the constants
    vals = plan.index.astype(np.float32)[..., None]
    np.testing.assert_allclose(temporal.blend(vals, plan, 28)[:, 0], np.arange(28))
    # one long sequence: windows every window - overlap frames (a wide batch)
    long = temporal.plan_windows(np.zeros(10_000), window=120, overlap=24)
    assert long.index.shape == (104, 120)
    assert long.computed_frames / 10_000 < 1.3


def test_config_errors():
    with pytest.raises(ValueError, match="overlap"):
        TemporalConfig(window=10, overlap=10)
    with pytest.raises(ValueError, match="post_filter"):
        TemporalConfig(post_filter="kalman")
    # the windows' program needs the 3 x 3 normal equations (no batched SVD)
    with pytest.raises(ValueError, match="translation_solver"):
        LiftConfig(temporal=TemporalConfig())


# ----------------------------------------------------------------------------------------------
# temporal mode on a short real sequence
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_sequence():
    with np.load(require(CMU_SEQUENCES)) as f:
        m = (f["seq"] == 3) & (f["frame"] < 24)
        return {k: f[k][m] for k in ("keypoints_noisy", "K", "poses3d", "seq", "frame")}


def test_temporal_mode_on_a_real_sequence(short_sequence):
    """Temporal mode with tiny step counts: smoother trajectories (accel error, translation)
    than per-frame lifting with the same schedule, same output layout, input order kept."""
    from zedo_jax import lifting, prior as prior_lib
    from zedo_jax.runtime.compile_cache import silent
    d = short_sequence
    prior = prior_lib.load_prior()
    cfg = LiftConfig().replace(**{"ipo.steps": 40, "loop.steps": 10})
    # the same schedule in windows (which solve the translation's normal equations in closed
    # form, as before)
    t_cfg = cfg.replace(**{"loop.translation_solver": "closed", "temporal.window": 16,
                           "temporal.overlap": 4})
    assert t_cfg.temporal == TemporalConfig(window=16, overlap=4)
    perm = np.random.default_rng(0).permutation(len(d["seq"]))   # shuffled frames
    kp, K, gt = d["keypoints_noisy"][perm], d["K"][perm], d["poses3d"][perm]
    frame = d["frame"][perm]
    t_out = lifting.lift(prior, kp, K, seq=d["seq"][perm], frame=frame, config=t_cfg,
                         log=silent)
    p_out = lifting.lift(prior, kp, K, config=cfg, log=silent)
    for k in lifting.RESULT_KEYS:
        assert getattr(t_out, k).shape == getattr(p_out, k).shape
        assert np.isfinite(getattr(t_out, k)).all()
    assert t_out.temporal.windows == 2 and t_out.temporal.network_evals_per_frame == \
        pytest.approx(10 * 32 / 24)
    assert isinstance(t_out, lifting.LiftResult)
    assert t_out.temporal is not None and p_out.temporal is None
    tm = metrics.temporal_metrics(t_out.poses[:, 0], gt, frame=frame)
    pm = metrics.temporal_metrics(p_out.poses[:, 0], gt, frame=frame)
    assert tm["accel_error_mm"] < 0.5 * pm["accel_error_mm"]
    order = np.argsort(frame)
    jump = lambda T: np.abs(np.diff(T[order, 0, 2])).mean()
    assert jump(t_out.translation) < 0.5 * jump(p_out.translation)
    # accuracy stays in the same range (tiny schedule: loose bound)
    e_t = metrics.evaluate(t_out.poses, gt)["summary"]["pa_mpjpe_mm"]
    e_p = metrics.evaluate(p_out.poses, gt)["summary"]["pa_mpjpe_mm"]
    assert e_t < e_p + 10.0


def test_cli_temporal_lift_writes_trajectory_fps_and_animation(short_sequence, tmp_path):
    """``launch.lift --temporal`` on a 24-frame sequence .npz (tiny schedule): the output
    carries fps / seq / frame and a translation trajectory, the temporal metrics are printed
    and the animation plays the frames in order."""
    import subprocess
    import sys

    from zedo_jax import viz
    d = short_sequence
    perm = np.random.default_rng(1).permutation(len(d["seq"]))
    path = tmp_path / "clip.npz"
    np.savez(path, keypoints=d["keypoints_noisy"][perm], K=d["K"][perm],
             poses3d=d["poses3d"][perm], seq=d["seq"][perm], frame=d["frame"][perm], fps=30.0)
    out = tmp_path / "out.npz"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    plots = ["--plot", str(tmp_path / "plots"), "--plot_every", "6"] if viz.available() else []
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-m", "launch.lift", "--input", str(path),
                          "--output", str(out), "--temporal", "--config.temporal.window=12",
                          "--config.temporal.overlap=4", "--config.ipo.steps=10",
                          "--config.loop.steps=4",
                          "--nofigure", *plots], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "acceleration error" in res.stdout and "MPJVE" in res.stdout
    with np.load(out) as f:
        assert float(f["fps"]) == 30.0
        np.testing.assert_array_equal(f["frame"], d["frame"][perm])
        assert f["poses"].shape == (24, 1, 17, 3) and f["translation"].shape == (24, 1, 3)
        assert (f["translation"][..., 2] > 0).all()
        assert int(f["windows"]) == 3
    if plots:
        from PIL import Image
        with Image.open(tmp_path / "plots" / "animation.gif") as gif:
            assert gif.n_frames == 4                       # frames 0, 6, 12, 18 in order
        assert viz.sequence_frames(inputs.load_input(str(path)), 6) == \
            [int(np.flatnonzero(d["frame"][perm] == k)[0]) for k in (0, 6, 12, 18)]


def test_local_polynomial_smooth_weighted_per_joint():
    t = np.arange(20.0)
    x = np.stack([0.2 * t ** 2 - t, 3 * t + 1], -1)[:, None, :].repeat(2, 1)   # [20, 2, 2]
    w = np.ones((20, 2))
    x_bad = x.copy()
    x_bad[7, 1] = 1e3                                     # a missing joint: not a source
    w[7, 1] = 0.0
    y = np.asarray(temporal.local_polynomial_smooth(jnp.asarray(x_bad), jnp.asarray(w), 9, 2))
    np.testing.assert_allclose(y, x, rtol=1e-3, atol=1e-2)   # quadratics kept, gap filled


def test_key_frames_and_interpolation():
    keys = temporal.key_frames(10, 4)
    np.testing.assert_array_equal(keys, [0, 4, 8, 9])
    M = temporal.interpolation_matrix(10, keys)
    np.testing.assert_allclose(M @ (2.0 * keys + 1), 2.0 * np.arange(10) + 1, atol=1e-5)
    np.testing.assert_array_equal(temporal.key_frames(5, 1), np.arange(5))
    cfg = make_config(schedule="temporal")
    assert cfg.loop.steps == 200 and cfg.temporal == TemporalConfig()
    assert temporal.network_evals_per_window(cfg.loop.steps, TemporalConfig(key_stride=4), 10) \
        == cfg.loop.steps * 4 + 50 * 10
    # frames on their own: one evaluation per loop iteration and frame
    assert temporal.network_evals_per_window(cfg.loop.steps, None, 1) == cfg.loop.steps
