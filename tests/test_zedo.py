"""IPO + optimization loop: spec Appendix A identities and parity with a plain Python loop."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zedo_jax import lifting
from zedo_jax.core import camera, model, program as zedo, rotation, sde as sde_lib
from zedo_jax.core.config import IPOConfig, LiftConfig, LoopConfig, make_config

K = np.array([[1145.0, 0, 512.5], [0, 1144.0, 501.9], [0, 0, 1]], np.float32)


def random_pose(rng, scale=0.5):
    p = rng.normal(0, scale, (17, 3)).astype(np.float32)
    return p - p[:1]


def test_least_squares_returns_true_translation():
    rng = np.random.default_rng(0)
    for solver in ("lstsq", "normal", "closed"):
        for _ in range(5):
            P = random_pose(rng)
            T = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(3, 8)], np.float32)
            uv = camera.project(jnp.asarray(P + T), jnp.asarray(K))
            rays = camera.normalized_coordinates(uv, jnp.asarray(K))
            T_hat = zedo.solve_translation(jnp.asarray(P), rays, jnp.ones(17), solver)
            np.testing.assert_allclose(T_hat, T, atol=2e-4 * T[2])


def test_closed_form_solver_equals_lstsq_with_weights():
    """The adjugate solve of the normal equations (no LAPACK) gives lstsq's translation for
    weighted rows, including zero weights, to float32 rounding."""
    rng = np.random.default_rng(3)
    for _ in range(10):
        P = random_pose(rng, 0.3)
        T = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(3, 8)], np.float32)
        uv = np.array(camera.project(jnp.asarray(P + T), jnp.asarray(K)))
        uv += rng.normal(0, 3.0, uv.shape)                  # inconsistent rows: a real fit
        w = rng.uniform(0.0, 1.0, 17).astype(np.float32) ** 2
        w[rng.integers(0, 17, 3)] = 0.0
        rays = camera.normalized_coordinates(jnp.asarray(uv, jnp.float32), jnp.asarray(K))
        a = zedo.solve_translation(jnp.asarray(P), rays, jnp.asarray(w), "lstsq")
        b = zedo.solve_translation(jnp.asarray(P), rays, jnp.asarray(w), "closed")
        np.testing.assert_allclose(b, a, atol=2e-5 * float(a[2]))
    M = np.array([[2.0, 0.3, -0.4], [0.3, 1.5, 0.2], [-0.4, 0.2, 1.1]], np.float32)
    v = np.array([1.0, -2.0, 0.5], np.float32)
    np.testing.assert_allclose(zedo.solve_sym3(jnp.asarray(M), jnp.asarray(v)),
                               np.linalg.solve(M, v), rtol=1e-5)


def test_least_squares_sign_flip_and_zero_weights():
    rng = np.random.default_rng(1)
    P = random_pose(rng)
    T = np.array([0.1, -0.2, 4.0], np.float32)
    uv = np.array(camera.project(jnp.asarray(P + T), jnp.asarray(K)))
    uv[3] += 300.0                                   # a wrong joint ...
    w = np.ones(17, np.float32)
    w[3] = 0.0                                       # ... with zero weight does not pull
    rays = camera.normalized_coordinates(jnp.asarray(uv), jnp.asarray(K))
    np.testing.assert_allclose(zedo.solve_translation(jnp.asarray(P), rays, jnp.asarray(w)), T,
                               atol=1e-3)
    # Q12: a solution with negative depth is negated as a whole.
    rays_flip = rays.at[:, :2].multiply(-1.0)
    T_neg = zedo.solve_translation(-jnp.asarray(P), rays_flip, jnp.ones(17), "normal")
    assert T_neg[2] > 0


def test_ray_step_zeroes_reprojection_error():
    rng = np.random.default_rng(2)
    P = random_pose(rng)
    T = jnp.array([0.3, 0.1, 5.0])
    uv = camera.project(jnp.asarray(random_pose(rng)) + T, jnp.asarray(K))
    unit = camera.unit_rays(uv, jnp.asarray(K))
    x = zedo.ray_step(jnp.asarray(P), T, unit, jnp.ones(17))
    err = camera.reprojection_error(x + T, uv, jnp.asarray(K))
    assert float(err.max()) < 1e-3                  # pixels (float32)
    # Joints with mask 0 are not moved.
    mask = jnp.ones(17).at[5].set(0.0)
    x2 = zedo.ray_step(jnp.asarray(P), T, unit, mask)
    np.testing.assert_array_equal(x2[5], P[5])


def test_quaternion_z_example():
    R = rotation.quaternion_to_matrix(rotation.partial_quaternion(jnp.array([0.8, 0.3]), "z"))
    th = 2 * math.atan2(0.3, 0.8)
    expect = np.array([[math.cos(th), -math.sin(th), 0], [math.sin(th), math.cos(th), 0],
                       [0, 0, 1]])
    np.testing.assert_allclose(R, expect, atol=1e-6)
    q = jax.random.normal(jax.random.PRNGKey(0), (4,))
    Rq = rotation.quaternion_to_matrix(q)
    np.testing.assert_allclose(Rq @ Rq.T, np.eye(3), atol=1e-5)
    assert abs(float(jnp.linalg.det(Rq)) - 1) < 1e-5
    with pytest.raises(ValueError, match="rot_axes"):
        rotation.axes_indices("w")


def test_time_grid_and_fixed_steps():
    cfg = LoopConfig()
    ts = cfg.time_grid()
    assert ts.shape == (1000,) and abs(ts[0] - 0.1) < 1e-7 and abs(ts[-1] - 0.01) < 1e-7
    assert abs(float(ts[0] - ts[1]) - 9.009e-5) < 1e-7
    assert cfg.n_fixed == 200
    assert cfg.dt(sde_lib.SubVPSDE()) == 1e-3
    assert abs(dataclasses.replace(cfg, euler_dt="grid").dt(sde_lib.SubVPSDE()) - 0.09 / 999) < 1e-12


def test_ipo_recovers_roll_and_depth():
    """With the true pose as the hypothesis, the IPO finds the roll about z and the depth."""
    rng = np.random.default_rng(3)
    C = random_pose(rng, 0.3)
    th = 0.4
    Rz = np.array([[math.cos(th), -math.sin(th), 0], [math.sin(th), math.cos(th), 0], [0, 0, 1]],
                  np.float32)
    T = np.array([0.2, 0.1, 4.5], np.float32)
    uv = camera.project(jnp.asarray(C @ Rz.T + T), jnp.asarray(K))
    unit = camera.unit_rays(uv, jnp.asarray(K))
    cfg = IPOConfig(keypoints=tuple(range(17)))
    x, T_hat = zedo.ipo(jnp.asarray(C), uv, jnp.ones(17), jnp.asarray(K), unit, cfg)
    err = camera.reprojection_error(x + T_hat, uv, jnp.asarray(K))
    # Adam (lr 0.1) on an L1 loss ends in a small oscillation, hence pixel-level tolerances.
    assert float(err.mean()) < 5.0                   # pixels, at ~1150 px focal length
    np.testing.assert_allclose(x, C @ Rz.T, atol=2e-2)
    assert abs(float(T_hat[2]) - 4.5) < 0.1


# ------------------------------------------------------------------------------------------
# Parity: the fused, vmapped program vs a plain per-step Python loop over the spec's formulas.
# ------------------------------------------------------------------------------------------

def reference_zedo(params, net_cfg, C, uv, conf, Kf, ipo_steps, oil_steps):
    """The IPO and the optimization loop for one frame and one hypothesis, one Python iteration per step."""
    net = model.ScoreNet(net_cfg)
    Kinv = np.linalg.inv(Kf.astype(np.float64))
    d = np.concatenate([uv, np.ones((17, 1))], 1) @ Kinv.T          # z-normalised rays
    unit = d / np.linalg.norm(d, axis=1, keepdims=True)
    T0 = 3.0 * unit[0]
    keys = [0, 1, 4]

    def loss(theta):
        w, qz, s = theta[0], theta[1], theta[2]
        q = jnp.stack([w, 0.0, 0.0, qz])
        R = rotation.quaternion_to_matrix(q)
        X = jnp.asarray(C[keys]) @ R.T + jnp.clip(s, 0.5, 2.0) * jnp.asarray(T0)
        proj = X @ jnp.asarray(Kf).T
        return jnp.mean(jnp.abs(proj[:, :2] / proj[:, 2:] - jnp.asarray(uv[keys])))

    grad = jax.jit(jax.grad(loss))
    dt = C.dtype
    theta = np.array([1.0, 0.0, 1.0], dt)
    m, v = np.zeros(3), np.zeros(3)
    for k in range(1, ipo_steps + 1):                                 # Adam, lr 0.1
        g = np.asarray(grad(jnp.asarray(theta)), np.float64)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta = theta - 0.1 * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
        theta = theta.astype(dt)
    w, qz, s = (float(t) for t in theta)
    n2 = w * w + qz * qz
    R = np.array([[1 - 2 * qz * qz / n2, -2 * qz * w / n2, 0],
                  [2 * qz * w / n2, 1 - 2 * qz * qz / n2, 0], [0, 0, 1]])
    x = C @ R.T
    T = np.clip(s, 0.5, 2.0) * T0
    cw = np.clip(conf, 1e-4, 1.0) ** 2
    ts = np.linspace(0.1, 0.01, oil_steps)
    apply = jax.jit(lambda p, x, l: net.apply(p, x, l))
    for i, t in enumerate(ts):
        if i >= oil_steps // 5:
            A = np.zeros((34, 3))
            b = np.zeros(34)
            for j in range(17):
                A[2 * j] = cw[j] * np.array([-1, 0, d[j, 0]])
                b[2 * j] = cw[j] * (x[j, 0] - x[j, 2] * d[j, 0])
                A[2 * j + 1] = cw[j] * np.array([0, -1, d[j, 1]])
                b[2 * j + 1] = cw[j] * (x[j, 1] - x[j, 2] * d[j, 1])
            T = np.linalg.solve(A.T @ A, A.T @ b)
            if T[2] < 0:
                T = -T
        Y = x + T
        x = x + (np.sum(Y * unit, 1, keepdims=True) * unit - Y)
        Bt = 0.1 * t + 0.5 * 19.9 * t * t
        beta = 0.1 + 19.9 * t
        sigma = 1 - math.exp(-Bt)
        g2 = beta * (1 - math.exp(-2 * Bt))
        eps = np.asarray(apply(params, jnp.asarray(x[None], dt), jnp.full((1,), 999.0 * t, dt))[0])
        x = x * (1 + beta / 2000.0) - g2 / (1000.0 * sigma) * eps
    return x


def test_fused_matches_python_loop(cmu_views):
    """Run in float64 on both sides, so the comparison measures the formulas, not float32
    rounding (which a random network's dynamics amplify over many iterations)."""
    with jax.enable_x64(True):
        net_cfg = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64),
                                        model.init_params(net_cfg, jax.random.PRNGKey(7)))
        idx = np.array([0, 5, 11])
        uv = cmu_views["keypoints"][idx, :, :2].astype(np.float64)
        conf = np.array([1.0, 0.5, 0.9])[:, None] * np.ones((1, 17))
        Kf = cmu_views["K"][idx].astype(np.float64)
        rng = np.random.default_rng(0)
        C = np.stack([random_pose(rng, 0.25), random_pose(rng, 0.25)]).astype(np.float64)
        cfg = LiftConfig().replace(**{"ipo.steps": 60, "loop.steps": 100})
        init = np.broadcast_to(C[None], (3, 2, 17, 3))
        # frames on their own: W = 3 windows of T = 1 frame
        out = jax.jit(lambda p, i, u, c, k, v: zedo.lift_program(
            p, i, u, c, k, v, net_config=net_cfg, sde=sde_lib.SubVPSDE(), cfg=cfg))(
                params, init[:, None], uv[:, None], conf[:, None], Kf[:, None], np.ones((3, 1)))
        out = {k: v[:, 0] for k, v in out.items()}
        assert out["poses"].dtype == jnp.float64
        for b in range(3):
            for s in range(2):
                ref = reference_zedo(params, net_cfg, C[s], uv[b], conf[b], Kf[b],
                                     cfg.ipo.steps, cfg.loop.steps)
                np.testing.assert_allclose(np.asarray(out["poses"][b, s]), ref, atol=1e-5)


def test_lift_chunking_and_padding_are_invisible(tiny_prior, cmu_views):
    cfg = LiftConfig().replace(**{"ipo.steps": 20, "loop.steps": 30})
    kp, Kf = cmu_views["keypoints"][:7], cmu_views["K"][:7]
    a = lifting.lift(tiny_prior, kp, Kf, hypotheses=3, config=cfg, chunk_size=3, log=None)
    b = lifting.lift(tiny_prior, kp, Kf, hypotheses=3, config=cfg, chunk_size=8, log=None)
    assert a.poses.shape == (7, 3, 17, 3)
    np.testing.assert_allclose(a.poses, b.poses, atol=1e-5)
    assert np.isfinite(a.reprojection_error_px).all()
    # the selection's likelihood term: computed for S > 1, the same whatever the chunking
    assert a.denoise_error.shape == (7, 3) and (a.denoise_error > 0).all()
    np.testing.assert_allclose(a.denoise_error, b.denoise_error, rtol=1e-4)
    np.testing.assert_array_equal(a.best_poses, a.poses[np.arange(7), a.best])


def test_refinement_mode_and_init_pose_shapes(tiny_prior, cmu_views):
    cfg = LiftConfig().replace(**{"ipo.steps": 10, "loop.steps": 10})
    kp, Kf = cmu_views["keypoints"][:4], cmu_views["K"][:4]
    per_frame = cmu_views["poses3d"][:4]
    out = lifting.lift(tiny_prior, kp, Kf, init_poses=per_frame, config=cfg, log=None)
    assert out.poses.shape == (4, 1, 17, 3)
    shared = lifting.lift(tiny_prior, kp, Kf, init_poses=per_frame[:2], config=cfg, log=None)
    assert shared.poses.shape == (4, 2, 17, 3)
    with pytest.raises(ValueError, match="init_poses"):
        lifting.lift(tiny_prior, kp, Kf, init_poses=np.zeros((4, 16, 3)), config=cfg, log=None)
    with pytest.raises(ValueError, match="S=7"):
        lifting.lift(tiny_prior, kp, Kf, hypotheses=7, config=cfg, log=None)


@pytest.mark.parametrize("bad, match", [
    (lambda kp, K: (kp[:, :16], K), "16 joints"),
    (lambda kp, K: (kp[0], K), "batched"),
    (lambda kp, K: (np.where(np.arange(17)[None, :, None] == 3, np.nan, kp), K), "NaN"),
    (lambda kp, K: (np.concatenate([kp[..., :2], 2 * np.ones_like(kp[..., :1])], -1), K),
     r"\[0, 1\]"),
    (lambda kp, K: (kp, np.zeros((3, 3))), "singular"),
    (lambda kp, K: (kp, K * np.array([[-1.0], [1.0], [1.0]])), "behind the camera"),
    (lambda kp, K: (kp, K[:2]), "2 matrices"),
    (lambda kp, K: (kp, np.full((3, 3), np.inf)), "NaN/inf"),
])
def test_bad_input_errors_name_the_field(tiny_prior, cmu_views, bad, match):
    kp, Kf = bad(cmu_views["keypoints"][:3].copy(), cmu_views["K"][:3])
    with pytest.raises(ValueError, match=match):
        lifting.lift(tiny_prior, kp, Kf, config=LiftConfig().replace(**{"ipo.steps": 1, "loop.steps": 1}),
                     log=None)


def test_zero_confidence_joint_does_not_pull(tiny_prior, cmu_views):
    """A joint with confidence 0 and garbage 2D changes nothing but itself."""
    cfg = LiftConfig().replace(**{"ipo.steps": 50, "loop.steps": 50})
    kp = cmu_views["keypoints"][:2].copy()
    Kf = cmu_views["K"][:2]
    kp[:, 13, 2] = 0.0
    a = lifting.lift(tiny_prior, kp, Kf, config=cfg, log=None)
    kp[:, 13, :2] = [-5000.0, 9000.0]
    b = lifting.lift(tiny_prior, kp, Kf, config=cfg, log=None)
    np.testing.assert_allclose(a.translation, b.translation, atol=1e-5)
    np.testing.assert_allclose(a.poses, b.poses, atol=1e-5)


SHARDED = r"""
import sys, json, jax, numpy as np
from zedo_jax import lifting, prior as prior_lib
from zedo_jax.core import model, sde
from zedo_jax.core.config import LiftConfig
cfg = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
prior = prior_lib.Prior(cfg, sde.SubVPSDE(), model.init_params(cfg, jax.random.PRNGKey(0)),
                         {2: np.load(sys.argv[1])})
v = np.load(sys.argv[2])
out = lifting.lift(prior, v["keypoints"], v["K"], hypotheses=2, chunk_size=4, log=None,
                   config=LiftConfig().replace(**{"ipo.steps": 20, "loop.steps": 40}))
print(json.dumps({"devices": jax.device_count(), "poses": out.poses.ravel().tolist()}))
"""


def test_lift_sharded_over_four_devices_matches_one(cmu_views, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT
    rng = np.random.default_rng(0)
    np.save(tmp_path / "c.npy", np.stack([random_pose(rng, 0.25), random_pose(rng, 0.25)]))
    np.savez(tmp_path / "v.npz", keypoints=cmu_views["keypoints"][:7], K=cmu_views["K"][:7])
    res = {}
    for n in (1, 4):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}",
               "JAX_PLATFORMS": "cpu"}
        proc = subprocess.run([sys.executable, "-c", SHARDED, str(tmp_path / "c.npy"),
                               str(tmp_path / "v.npz")], cwd=ROOT, capture_output=True,
                              text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        res[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (res[1]["devices"], res[4]["devices"]) == (1, 4)
    np.testing.assert_allclose(res[4]["poses"], res[1]["poses"], atol=1e-4)


def test_linear_drift_switch_removes_only_the_rescaling(tiny_prior):
    """``linear_drift`` scales the SDE's drift ``-beta x / 2`` in the loop's step: 1 is the
    release's Euler step, 0 the score term alone; the difference is a pure rescaling of x."""
    pr = tiny_prior
    x = jnp.asarray(random_pose(np.random.default_rng(3), 0.3))
    t = jnp.float32(0.05)
    make = lambda ld: zedo.make_score_step(pr.params, net_config=pr.config, sde=pr.sde,
                                           cfg=LoopConfig(linear_drift=ld))
    full, none, half = make(1.0)(x, t), make(0.0)(x, t), make(0.5)(x, t)
    dt = LoopConfig().dt(pr.sde)
    beta = float(pr.sde.beta(t))
    np.testing.assert_allclose(full - none, 0.5 * beta * dt * x, atol=1e-6)
    np.testing.assert_allclose(half, (full + none) / 2, atol=1e-6)
    ref = sde_lib.euler_step(pr.sde, x, t, jnp.zeros_like(x), dt)   # the drift term alone
    np.testing.assert_allclose(ref - x, 0.5 * beta * dt * x, atol=1e-7)


def test_final_denoise_is_one_tweedie_step(cmu_views):
    """``final_denoise_t`` adds ``std(t)^2 score(x, t)`` to the otherwise identical result and
    re-solves the translation; with the anatomy steps a last bone step keeps the skeleton
    plausible."""
    from zedo_jax import lifting, prior as prior_lib
    from zedo_jax.core import score as score_lib
    from zedo_jax.evaluation import metrics
    from zedo_jax.runtime import compile_cache as utils
    pr = prior_lib.load_prior()
    kp, Kf = cmu_views["keypoints"][:3], cmu_views["K"][:3]
    with_anatomy = make_config(overrides={"ipo.steps": 10, "loop.steps": 10,
                                          "loop.euler_dt": 0.1, "denoise.final_t": 0.03})
    out = lifting.lift(pr, cmu_views["keypoints"][:8], cmu_views["K"][:8], config=with_anatomy,
                       log=utils.silent)
    assert metrics.plausibility(out.poses)["plausible"].all()
    base = make_config(anatomy=False, overrides={"ipo.steps": 10, "loop.steps": 10,
                                                  "loop.euler_dt": 0.1, "denoise.final_t": 0.0})
    a = lifting.lift(pr, kp, Kf, config=base, log=utils.silent)
    b = lifting.lift(pr, kp, Kf, config=base.replace(**{"denoise.final_t": 0.02}),
                     log=utils.silent)
    score = score_lib.score_fn(pr.params, pr.config, pr.sde)
    t = jnp.float32(0.02)
    want = a.poses + float(pr.sde.marginal(t)[1]) ** 2 * np.asarray(score(a.poses, t))
    np.testing.assert_allclose(b.poses, want, atol=2e-6)
    moved = np.linalg.norm(b.poses - a.poses, axis=-1)
    assert 1e-4 < moved.mean() < 0.02                          # a denoising-sized move
    assert np.abs(b.translation - a.translation).max() > 0
