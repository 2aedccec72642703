"""The ZeDO program: the Initial Pose Optimizer (IPO), the optimisation loop and the outputs,
as one pure, jit-able function of a batch of windows of frames.

The building blocks work on **one frame and one hypothesis** (shapes ``[17, 3]``);
:func:`lift_program` vmaps them over hypotheses, frames and windows, so the whole inference
(IPO scan + loop scan) is one compiled program. A frame lifted on its own is a window of one
frame without coupling; a sequence's windows add the coupling steps of
:mod:`zedo_jax.core.temporal` to the same loop body. The network's time branch depends only on
``t`` and is evaluated for the whole time grid once, before the loop.

Faithful to the official release by default, including where it departs from the paper
(Euler step size, drift factor, least-squares weights, the sign flip of the translation, the
frozen-translation phase); each deviation is a field of :class:`~zedo_jax.core.config.LiftConfig`.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from zedo_jax.core import (anatomy as anatomy_lib, camera, model as model_lib, rotation,
                           sde as sde_lib, temporal as temporal_lib)
from zedo_jax.core.config import AnatomyConfig, IPOConfig, LiftConfig, LoopConfig, SelectionConfig
from zedo_jax.core.score import score_fn, time_biases_fn

# ----------------------------------------------------------------------------------------------
# single frame, single hypothesis
# ----------------------------------------------------------------------------------------------

def root_ray(unit_rays, mask):
    """Unit ray through the pelvis ``[3]``; if the pelvis is missing (mask 0), the normalised
    mean of the visible joints' rays."""
    visible = jnp.sum(unit_rays * mask[:, None], 0)
    visible = visible / jnp.maximum(jnp.linalg.norm(visible), 1e-12)
    return jnp.where(mask[0] > 0, unit_rays[0], visible)


def ipo_weights(mask, cfg: IPOConfig):
    """Per-joint weights ``[17]`` of the IPO loss: 1 on ``cfg.keypoints`` that are usable;
    if none is, every usable joint."""
    sel = jnp.zeros((17,), jnp.float32).at[jnp.asarray(cfg.keypoints)].set(1.0) * mask
    return jnp.where(jnp.sum(sel) > 0, sel, mask)


def ipo(init_pose, uv, mask, K, unit_rays, cfg: IPOConfig):
    """Initial Pose Optimizer for one frame and one hypothesis.

    Fits a rotation (quaternion with the components of ``cfg.rot_axes``) and a clamped depth
    scale along the pelvis ray by Adam on the mean L1 reprojection error of the IPO keypoints.

    Args:
      init_pose: ``[17, 3]`` root-relative initial pose (cluster centre), metres.
      uv: ``[17, 2]`` keypoints, pixels.  mask: ``[17]`` 1 for usable joints, 0 for missing.
      K: ``[3, 3]`` intrinsics.  unit_rays: ``[17, 3]`` unit back-projected rays.
    Returns:
      ``(pose, T)``: the rotated pose ``C R^T`` ``[17, 3]`` (still root-relative) and the
      translation ``[3]`` (metres).
    """
    T0 = cfg.distance * root_ray(unit_rays, mask)
    w = ipo_weights(mask, cfg)

    def rot(theta):
        return rotation.quaternion_to_matrix(rotation.partial_quaternion(theta["q"], cfg.rot_axes))

    def loss_fn(theta):
        s = jnp.clip(theta["s"], cfg.min_scale, cfg.max_scale)
        X = init_pose @ rot(theta).T + s * T0
        res = jnp.abs(camera.project(X, K) - uv) * w[:, None]
        return jnp.sum(res) / (2.0 * jnp.sum(w))

    dtype = init_pose.dtype
    theta = {"q": jnp.zeros((1 + len(cfg.rot_axes),), dtype).at[0].set(1.0),
             "s": jnp.ones((), dtype)}
    tx = optax.adam(cfg.lr)

    def step(carry, _):
        theta, opt = carry
        upd, opt = tx.update(jax.grad(loss_fn)(theta), opt, theta)
        return (optax.apply_updates(theta, upd), opt), None

    (theta, _), _ = jax.lax.scan(step, (theta, tx.init(theta)), None, length=cfg.steps)
    s = jnp.clip(theta["s"], cfg.min_scale, cfg.max_scale)
    return init_pose @ rot(theta).T, s * T0


def solve_translation(x, rays_n, weights, solver: str = "lstsq"):
    """Closed-form translation for one frame.

    Solves ``(X_j + T_x) = x_n (Z_j + T_z)``, ``(Y_j + T_y) = y_n (Z_j + T_z)`` for all joints in
    the weighted least-squares sense (row weights ``weights [17]``), then flips the sign of the
    whole vector if ``T_z < 0`` (as the release does, to keep the person in front).

    Args:
      x: ``[17, 3]`` root-relative pose.  rays_n: ``[17, 3]`` z-normalised rays ``(x_n, y_n, 1)``.
    Returns:
      ``T`` ``[3]``.
    """
    xn, yn = rays_n[:, 0], rays_n[:, 1]
    zero, one = jnp.zeros_like(xn), jnp.ones_like(xn)
    A = jnp.concatenate([jnp.stack([-one, zero, xn], -1), jnp.stack([zero, -one, yn], -1)], 0)
    b = jnp.concatenate([x[:, 0] - x[:, 2] * xn, x[:, 1] - x[:, 2] * yn], 0)
    w = jnp.concatenate([weights, weights], 0)
    A, b = A * w[:, None], b * w
    if solver == "lstsq":
        T = jnp.linalg.lstsq(A, b)[0]
    elif solver == "closed":
        T = solve_sym3(A.T @ A, A.T @ b)
    else:
        T = jnp.linalg.solve(A.T @ A, A.T @ b)
    return jnp.where(T[2] < 0, -T, T)


def solve_sym3(M, v):
    """``M^-1 v`` for a symmetric positive-definite ``[3, 3]`` ``M`` by the adjugate (Cramer's
    rule): a dozen multiply-adds, no LAPACK call, so it vectorises over frames and hypotheses
    like the rest of the loop (the batched SVD or LU of 3 x 3 matrices is one library call per
    matrix on the CPU). For the translation's normal equations (condition number a few
    hundred) it agrees with ``lstsq`` to float32 rounding (tested)."""
    a, b, c, d, e, f = M[0, 0], M[0, 1], M[0, 2], M[1, 1], M[1, 2], M[2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    adj = jnp.stack([jnp.stack([c00, c01, c02]), jnp.stack([c01, c11, c12]),
                     jnp.stack([c02, c12, c22])])
    return adj @ v / det


def ray_step(x, T, unit_rays, mask):
    """Move every (usable) joint of ``x + T`` orthogonally onto its camera ray.

    Returns the new root-relative pose ``x + G(x, T)`` ``[17, 3]``; afterwards ``x + T``
    reprojects exactly onto the keypoints.
    """
    Y = x + T
    g = jnp.sum(Y * unit_rays, -1, keepdims=True) * unit_rays - Y
    return x + g * mask[:, None]


# ----------------------------------------------------------------------------------------------
# per frame: geometry, bone steps, likelihood
# ----------------------------------------------------------------------------------------------

class Geometry(NamedTuple):
    """One frame's camera geometry: z-normalised rays ``rays_n [17, 3]``, unit rays ``unit``,
    usable-joint ``mask [17]``, least-squares weights ``w [17]`` and the ray step's per-joint
    fraction ``step [17]``."""

    rays_n: jax.Array
    unit: jax.Array
    mask: jax.Array
    w: jax.Array
    step: jax.Array


def frame_geometry(uv, conf, K, cfg: LoopConfig) -> Geometry:
    """:class:`Geometry` of one frame from keypoints ``uv [17, 2]``, confidences ``conf [17]``
    and intrinsics ``K [3, 3]``."""
    rays_n = camera.normalized_coordinates(uv, K)
    unit = rays_n / jnp.linalg.norm(rays_n, axis=-1, keepdims=True)
    if cfg.mask_zero_confidence:
        mask = (conf > 0).astype(jnp.float32)
    else:
        mask = jnp.ones_like(conf)
    w = jnp.clip(conf, cfg.conf_min, 1.0) ** cfg.ls_weight_power * mask
    step = mask
    if cfg.ray_step_size != 1.0 or cfg.ray_conf_power != 0.0:
        step = mask * cfg.ray_step_size * jnp.clip(conf, cfg.conf_min, 1.0) ** cfg.ray_conf_power
    return Geometry(rays_n, unit, mask, w, step)


def bone_step(x, T, unit, mask, strength, cfg: AnatomyConfig):
    """:func:`zedo_jax.core.anatomy.bone_step` with the settings of ``cfg``."""
    return anatomy_lib.bone_step(x, T, unit, mask, reference=cfg.reference_bones,
                                 prior_weight=cfg.prior_weight, ratio_tol=cfg.ratio_tol,
                                 size_weight=cfg.size_weight, strength=strength,
                                 on_rays=cfg.on_rays,
                                 missing_from_observed=cfg.missing_from_observed,
                                 missing_size_weight=cfg.missing_size_weight)


def final_bone_steps(x, T, geo: Geometry, cfg: AnatomyConfig, solver: str):
    """The anatomy steps after the loop for one pose ``x [17, 3]`` with translation ``T [3]``:
    ``cfg.final_iters`` bone steps with a ray step between two, ending on a bone step; the
    translation is re-solved after each. Returns ``(x, T)``."""
    for i in range(cfg.final_iters):
        if i:
            x = ray_step(x, T, geo.unit, geo.step)
            T = solve_translation(x, geo.rays_n, geo.w, solver)
        x = bone_step(x, T, geo.unit, geo.mask, 1.0, cfg)
        T = solve_translation(x, geo.rays_n, geo.w, solver)
    return x, T


def denoise_error(score, sde, x, t, noise):
    """How unlikely the prior finds a pose ``x [17, 3]``: the mean squared error of its noise
    estimate for ``x`` perturbed to diffusion time ``t`` by each of the draws ``noise
    [M, 17, 3]``, averaged (the denoising score-matching loss at ``t``; the diffusion ELBO
    integrates this over ``t``). Lower is more likely. ``score`` as
    :func:`zedo_jax.core.score.score_fn`."""
    mean, std = sde.marginal(jnp.asarray(t, x.dtype))
    eps = -score(mean * x + std * noise, t) * std
    return jnp.mean((eps - noise) ** 2)


def likelihood_draws(cfg: SelectionConfig, dtype=jnp.float32):
    """The fixed noise draws ``[cfg.likelihood_draws, 17, 3]`` of :func:`denoise_error`,
    shared by every hypothesis and frame."""
    return jax.random.normal(jax.random.PRNGKey(cfg.likelihood_seed),
                             (cfg.likelihood_draws, 17, 3), dtype)


def make_score_step(params, *, net_config: model_lib.ScoreNetConfig, sde, cfg: LoopConfig):
    """The loop's score step, ``(x [..., 17, 3], t, biases=None) -> x``: one Euler step of
    :func:`zedo_jax.core.score.score_fn`; the time branch is computed once per ``t`` for all
    poses (or taken from ``biases``)."""
    score = score_fn(params, net_config, sde)
    dt = cfg.dt(sde)

    def score_step(x, t, biases=None):
        x_new = sde_lib.euler_step(sde, x, t, score(x, t, biases), dt, cfg.drift_factor)
        if cfg.linear_drift != 1.0:
            # euler_step moved x by -f(x, t) dt; keep only `linear_drift` of that move.
            x_new = x_new + (1.0 - cfg.linear_drift) * sde.drift(x, t) * dt
        return x_new

    return score_step


# ----------------------------------------------------------------------------------------------
# the batched program
# ----------------------------------------------------------------------------------------------

#: Arrays computed by :func:`lift_program`, each ``[W, T, S, ...]``.
OUTPUT_KEYS = ("poses", "translation", "reprojection_error_px", "ipo_poses", "ipo_translation",
               "prior_residual", "loop_asymmetry", "denoise_error")


def _per_frame_hyp(f, *frame_axes):
    """vmap ``f`` over hypotheses (axis 0 of its first argument; ``frame_axes`` gives the
    others' hypothesis axis, ``None`` = shared) and then over frames (axis 0 of everything)."""
    return jax.vmap(jax.vmap(f, in_axes=(0,) + frame_axes), in_axes=0)


def lift_program(params, init_poses, uv, conf, K, valid, *, net_config: model_lib.ScoreNetConfig,
                 sde, cfg: LiftConfig):
    """IPO + optimisation loop + outputs for a batch of windows, as one program.

    A window is ``T`` consecutive frames of one sequence (``cfg.temporal``), or one frame
    lifted on its own (``T = 1``, ``cfg.temporal`` is ``None``).

    Args:
      params: score-network variables.
      init_poses: ``[W, T, S, 17, 3]`` root-relative initial poses (metres, camera axes).
      uv: ``[W, T, 17, 2]`` keypoints (pixels).  conf: ``[W, T, 17]`` in [0, 1].
      K: ``[W, T, 3, 3]`` intrinsics.  valid: ``[W, T]`` 1 for real frames, 0 for padding.
    Returns:
      dict of :data:`OUTPUT_KEYS`: ``poses [W, T, S, 17, 3]`` (final root-relative poses,
      metres), ``translation [W, T, S, 3]`` (least squares on the final pose; smoothed along
      a window), ``reprojection_error_px [W, T, S, 17]``, ``ipo_poses`` and
      ``ipo_translation`` (the IPO's result), ``prior_residual [W, T, S]`` (RMS of the
      network's noise estimate for the final pose at the last loop time: small for poses the
      prior finds likely), ``loop_asymmetry [W, T, S]`` (mean relative left/right limb
      difference at the end of the loop, before the anatomy steps) and ``denoise_error
      [W, T, S]`` (:func:`denoise_error` at ``cfg.selection.likelihood_t``; computed when
      S > 1 and the loop runs, else 0).
    """
    loop, anat, tcfg = cfg.loop, cfg.anatomy, cfg.temporal
    solver = loop.translation_solver
    dtype = init_poses.dtype
    S = init_poses.shape[2]
    score = score_fn(params, net_config, sde)
    score_step = make_score_step(params, net_config=net_config, sde=sde, cfg=loop)
    biases_of = jax.vmap(time_biases_fn(params, net_config, sde))
    ts = loop.time_grid(dtype)
    draws = likelihood_draws(cfg.selection, dtype) if S > 1 and loop.steps else None
    n_fix = loop.n_fixed
    n_anat = min(int(round(anat.loop_from * loop.steps)), loop.steps)

    geometry = jax.vmap(lambda u, c, k: frame_geometry(u, c, k, loop))
    ray = _per_frame_hyp(ray_step, 0, None, None)
    solve = _per_frame_hyp(lambda x, r, w: solve_translation(x, r, w, solver), None, None)

    def bones(x, T, unit, mask, strength):
        return _per_frame_hyp(lambda p, tt, u, m: bone_step(p, tt, u, m, strength, anat),
                              0, None, None)(x, T, unit, mask)

    ipo_all = _per_frame_hyp(lambda x, u, m, k, r: ipo(x, u, m, k, r, cfg.ipo),
                             None, None, None, None)
    # the score on all poses of a window; the time branch stays shared (t unbatched)
    score_all = jax.vmap(jax.vmap(score_step, in_axes=(0, None, None)), in_axes=(0, None, None))

    def coupling(geo: Geometry, valid, pos):
        """``(translation(x), couple(x), fill(x))`` of the frames at positions ``pos``: the
        translation by least squares (smoothed along the window) and the temporal coupling
        steps (identities for frames on their own)."""
        if tcfg is None:
            return (lambda x: solve(x, geo.rays_n, geo.w)), None, (lambda x: x)
        return temporal_lib.coupling(geo, valid, pos, tcfg, solve)

    def run_loop(x, geo, T_of, couple, T_fix, ts, biases, n_fix):
        """The loop on the frames of ``geo``: segments with static bodies (frozen IPO
        translation for the first ``n_fix`` iterations, the bone step from ``n_anat`` on)."""
        def body(fixed: bool, with_bones: bool):
            def f(x, t_biases):
                t, b = t_biases
                T = T_fix if fixed else T_of(x)
                x = ray(x, T, geo.unit, geo.step)
                if with_bones:
                    x = bones(x, T, geo.unit, geo.mask, anat.strength)
                if couple is not None:
                    x = couple(x)
                return score_all(x, t, b), None
            return f

        steps = ts.shape[0]
        cuts = sorted({0, min(n_fix, steps), min(n_anat, steps), steps})
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            x, _ = jax.lax.scan(body(lo < n_fix, anat.in_loop and lo >= n_anat), x,
                                (ts[lo:hi], jax.tree_util.tree_map(lambda b: b[lo:hi], biases)))
        return x

    def window(init, uv_in, conf, K, valid):
        n_frames = init.shape[0]
        keys = temporal_lib.key_frames(n_frames, tcfg.key_stride if tcfg else 1)
        uv = uv_in
        if tcfg is not None and tcfg.input_window > 0:
            uv = temporal_lib.smooth_keypoints(uv_in, conf, valid, tcfg)
        geo = geometry(uv, conf, K)
        pos = jnp.arange(n_frames, dtype=jnp.float32)
        # 1) key frames (every frame unless temporal.key_stride > 1): IPO and the full loop
        geo_k = geo if len(keys) == n_frames else Geometry(*(g[keys] for g in geo))
        sub = (lambda a: a) if len(keys) == n_frames else (lambda a: a[keys])
        x_ipo, T_ipo = ipo_all(sub(init), sub(uv), geo_k.mask, sub(K), geo_k.unit)
        T_of, couple, fill = coupling(geo_k, sub(valid), sub(pos))
        T_fix = T_ipo if tcfg is None else temporal_lib.smooth_translation(
            T_ipo, sub(valid), sub(pos), tcfg)
        x = fill(run_loop(x_ipo, geo_k, T_of, couple, T_fix, ts, biases_of(ts), n_fix))
        if len(keys) < n_frames:
            # 2) every frame: from the key frames' poses interpolated in time, a short
            #    schedule at low noise levels
            interp = jnp.asarray(temporal_lib.interpolation_matrix(n_frames, keys))
            x = jnp.tensordot(interp, x, axes=(1, 0))
            ts2 = jnp.linspace(tcfg.refine_t_start, loop.t_end, tcfg.refine_steps, dtype=dtype)
            T_of, couple, fill = coupling(geo, valid, pos)
            x = fill(run_loop(x, geo, T_of, couple, None, ts2, biases_of(ts2), 0))
            x_ipo = jnp.tensordot(interp, x_ipo, axes=(1, 0))
            T_ipo = jnp.tensordot(interp, T_ipo, axes=(1, 0))
        # the outputs
        T = T_of(x)
        loop_asymmetry = jax.vmap(jax.vmap(anatomy_lib.limb_asymmetry))(x)
        if anat.final:
            x, T = _per_frame_hyp(lambda p, tt, g: final_bone_steps(p, tt, g, anat, solver),
                                  0, None)(x, T, geo)
            T = T_of(x) if tcfg is not None else T
        if cfg.denoise.final_t > 0:
            # Tweedie: E[x_0 | x_t = x] = x + std(t)^2 score(x, t) (the mean factor of the
            # marginal, ~1 at small t, is left out: it would only rescale the pose).
            td = jnp.asarray(cfg.denoise.final_t, dtype)
            x = x + sde.marginal(td)[1] ** 2 * score(x, td)
            T = T_of(x)
            if anat.final:                 # the bone lengths again, bone directions kept
                x = bones(x, T, geo.unit, geo.mask, 1.0)
                T = T_of(x)
        if tcfg is not None and tcfg.post_filter == "savgol":
            M = temporal_lib.savgol_matrix(valid, tcfg.savgol_window, tcfg.savgol_order)
            x = jnp.tensordot(M, x, axes=(1, 0))
            T = T_of(x)
        err = _per_frame_hyp(lambda p, tt, u, k: camera.reprojection_error(p + tt, u, k),
                             0, None, None)(x, T, uv_in, K)
        # How far the prior finds the final pose from its training poses: the RMS of the
        # network's noise estimate at the last time of the grid (one more evaluation).
        if loop.steps:
            residual = jnp.sqrt(jnp.mean(score(x, ts[-1]) ** 2, axis=(-2, -1))) * \
                sde.marginal(ts[-1])[1]
        else:
            residual = jnp.zeros(x.shape[:2], dtype)
        if draws is not None:
            likelihood = _per_frame_hyp(
                lambda p: denoise_error(score, sde, p, cfg.selection.likelihood_t, draws))(x)
        else:
            likelihood = jnp.zeros(x.shape[:2], dtype)
        return {"poses": x, "translation": T, "reprojection_error_px": err,
                "ipo_poses": x_ipo, "ipo_translation": T_ipo, "prior_residual": residual,
                "loop_asymmetry": loop_asymmetry, "denoise_error": likelihood}

    args = (init_poses, uv, conf, K, valid)
    if tcfg is None:
        # Frames on their own: all frames of the batch as one uncoupled window, so that the
        # per-frame operations batch over [frames, hypotheses] with no window axis.
        W, T = init_poses.shape[:2]
        out = window(*(a.reshape((W * T,) + a.shape[2:]) for a in args))
        return {k: v.reshape((W, T) + v.shape[1:]) for k, v in out.items()}
    return jax.vmap(window)(*args)
