"""The ZeDO optimiser: the Initial Pose Optimizer (IPO) + the optimization loop.

Everything here is pure and jit-able. The building blocks work on **one frame and one
hypothesis** (shapes ``[17, 3]``); :func:`zedo_batch` vmaps them over hypotheses and frames, so
the whole inference (IPO scan + loop scan) is one compiled program. The network's time branch
depends only on ``t`` and is therefore evaluated once per iteration for the whole batch.

Faithful to the official release by default, including where it departs from the paper
(Euler step size, drift factor, least-squares weights, the sign flip of the translation, the
frozen-translation phase); each deviation from the release is a field of :class:`ZeDOConfig`.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from zedo_jax.core import (anatomy as anatomy_lib, camera, model as model_lib, rotation, sde as sde_lib)
from zedo_jax.core.score import score_fn, time_biases_fn


@dataclasses.dataclass(frozen=True)
class ZeDOConfig:
    """Hyper-parameters of IPO + optimization loop (defaults: the release's H36M / wild config).

    IPO:
      ipo_steps: Adam iterations (500).  ipo_lr: Adam learning rate (0.1).
      ipo_keypoints: joints in the reprojection loss ((0, 1, 4) = pelvis and hips; all 17 for
        3DPW / Ski).
      rot_axes: quaternion components learned: 'z' (roll about the optical axis), 'y', 'xyz'.
      ipo_distance: initial root distance along the pelvis ray, metres (IPO_T = 3).
      min_scale, max_scale: clamp of the depth scale (root distance in [1.5, 6] m by default).
    Loop:
      oil_steps: iterations (1000).  t_start, t_end: time grid ``linspace(0.1, 0.01, M)``.
      fixed_translation_steps: iterations with the IPO translation frozen; ``None`` = M // 5
        (as the release).
      euler_dt: '1/N' (the release: 1e-3 whatever the time grid), 'grid' (the grid spacing),
        or a number.
      drift_factor: factor on ``g^2 * score`` (1.0 as the release; 0.5 = the true probability-flow ODE).
      linear_drift: factor on the SDE's own drift ``f(x, t)`` in the loop's step (1.0 as the
        release). For the VP and sub-VP SDEs ``f = -beta(t) x / 2`` only rescales the
        root-relative pose: each step enlarges it by ``beta dt / 2``, which the prior's score
        must undo. A prior that knows the size does; one trained on varied skeletons pushes
        back weakly and the pose grows to the largest size it finds plausible. ``0`` leaves
        the size to the score alone (BUILD_NOTES §7).
      ls_weight_power: least-squares row weight ``c^power`` (2 as the release).
      conf_min: confidences are clamped to [conf_min, 1] for the least squares (1e-4).
      translation_solver: 'lstsq' (``jnp.linalg.lstsq`` on the 2J x 3 system), 'normal'
        (3 x 3 normal equations by ``jnp.linalg.solve``, as the release) or 'closed' (the same
        normal equations by the adjugate, no LAPACK call: :func:`solve_sym3`; the ``fast``
        schedule's). Identical solutions up to float32 rounding.
      mask_zero_confidence: joints with confidence exactly 0 are treated as missing: they get
        zero least-squares weight, are not moved onto their (meaningless) rays, and are left
        out of the IPO loss. With confidences > 0 (every official dataset) this changes nothing;
        ``False`` reproduces the release exactly.
    Ray step (noise-aware switches; the release moves every joint all the way onto its ray):
      ray_step_size: fraction of the way to the ray each iteration (1.0 release).
      ray_conf_power: the fraction is further multiplied by ``confidence ** ray_conf_power``
        (0: confidence ignored, the release).
    Anatomy (see :mod:`zedo_jax.core.anatomy`; off in the release):
      anatomy: after the ray step, rebuild the skeleton with symmetric bone lengths.
      anatomy_prior_weight: blend of those lengths toward the training means scaled to the
        person (0: only the pose's own left/right average).
      anatomy_ratio_tol: shin/thigh and forearm/upper-arm ratios are kept within this fraction
        of the training means' ratios (needs reference bones).
      anatomy_size_weight: pull of the person's size toward the training mean (0: none; 1: the
        mean size; the 2D cannot tell size from distance).
      anatomy_strength: fraction of the way to the rebuilt skeleton each iteration.
      anatomy_on_rays: keep visible joints on their rays while rebuilding (else keep bone
        directions).
      anatomy_final: apply full bone steps to the returned pose: ``anatomy_final_iters`` of
        them, with a ray step between two.
      anatomy_from: fraction of the loop's iterations after which the bone step runs (0: all).
      anatomy_missing_from_observed: a bone ending at a missing joint (confidence 0) takes
        the length of its detected mirror bone, or the reference length at the person's size
        when both are missing, instead of the length the prior gave it.
      anatomy_missing_size_weight: with ``anatomy_missing_from_observed``, the size given to
        bones with neither side detected: ``s ** (1 - w)`` times the training means, ``s`` the
        person's size from the detected bones (0: the person's size; 1: the training means
        exactly; the default lift's :data:`ANATOMY` uses 0.5, BUILD_NOTES §10).
      reference_bones: ``[16]`` training-mean bone lengths (metres); ``None`` = filled in by
        :func:`zedo_jax.lifting.lift` from the prior's training statistics.
    Noisy 2D:
      final_denoise_t: after everything else, one Tweedie denoising step of the returned pose
        at this diffusion time (``x + std(t)^2 score(x, t)``; 0 = off, the release). The
        ray steps put every joint on its observed ray, pixel noise included; this step lets
        the prior pull the joints off by about the noise's size: 0.02-0.03 matches 2-5 px at
        5 m (BUILD_NOTES §10). With ``anatomy_final`` one more bone step follows (lengths
        only, bone directions kept).
    Choosing among hypotheses (S > 1; :mod:`zedo_jax.core.selection`):
      likelihood_t: diffusion time of the ``denoise_error`` output, the prior's likelihood
        term of the selection score (noise std 3 cm at 0.05: larger than the jitter that
        pixel noise leaves in a pose, smaller than the differences between hypotheses).
      likelihood_draws: noise draws averaged for it (the same draws for every hypothesis
        and frame, so that hypotheses are compared on equal noise).
      likelihood_seed: PRNG seed of those draws.
    """

    ipo_steps: int = 500
    ipo_lr: float = 0.1
    ipo_keypoints: tuple = (0, 1, 4)
    rot_axes: str = "z"
    ipo_distance: float = 3.0
    min_scale: float = 0.5
    max_scale: float = 2.0
    oil_steps: int = 1000
    t_start: float = 0.1
    t_end: float = 0.01
    fixed_translation_steps: int | None = None
    euler_dt: Any = "1/N"
    drift_factor: float = 1.0
    linear_drift: float = 1.0
    ls_weight_power: float = 2.0
    conf_min: float = 1e-4
    translation_solver: str = "lstsq"
    mask_zero_confidence: bool = True
    ray_step_size: float = 1.0
    ray_conf_power: float = 0.0
    anatomy: bool = False
    anatomy_prior_weight: float = 0.0
    anatomy_ratio_tol: float = 0.2
    anatomy_size_weight: float = 0.0
    anatomy_strength: float = 1.0
    anatomy_on_rays: bool = True
    anatomy_final: bool = False
    anatomy_from: float = 0.0
    anatomy_final_iters: int = 1
    anatomy_missing_from_observed: bool = False
    anatomy_missing_size_weight: float = 0.0
    reference_bones: tuple | None = None
    final_denoise_t: float = 0.0
    likelihood_t: float = 0.05
    likelihood_draws: int = 8
    likelihood_seed: int = 0

    def __post_init__(self):
        rotation.axes_indices(self.rot_axes)
        if self.translation_solver not in ("lstsq", "normal", "closed"):
            raise ValueError(f"translation_solver must be 'lstsq', 'normal' or 'closed', "
                             f"got {self.translation_solver!r}")
        if not (0 < self.min_scale <= self.max_scale) and self.min_scale != 0:
            raise ValueError(f"need 0 <= min_scale <= max_scale, got {self.min_scale}, "
                             f"{self.max_scale}")
        if self.oil_steps < 0 or self.ipo_steps < 0:
            raise ValueError("ipo_steps and oil_steps must be >= 0")
        if any(not 0 <= j < 17 for j in self.ipo_keypoints) or not self.ipo_keypoints:
            raise ValueError(f"ipo_keypoints must be joint indices in [0, 16]; "
                             f"got {self.ipo_keypoints}")
        if not 0.0 < self.likelihood_t <= 1.0 or self.likelihood_draws < 1:
            raise ValueError(f"need 0 < likelihood_t <= 1 and likelihood_draws >= 1; got "
                             f"{self.likelihood_t}, {self.likelihood_draws}")
        if not 0.0 <= self.anatomy_missing_size_weight <= 1.0:
            raise ValueError(f"anatomy_missing_size_weight must be in [0, 1] (0: the person's "
                             f"size, 1: the training means); got "
                             f"{self.anatomy_missing_size_weight}")

    @property
    def n_fixed(self) -> int:
        if self.fixed_translation_steps is None:
            return self.oil_steps // 5
        return min(self.fixed_translation_steps, self.oil_steps)

    def dt(self, sde) -> float:
        if self.euler_dt == "1/N":
            return 1.0 / sde.N
        if self.euler_dt == "grid":
            return (self.t_start - self.t_end) / max(self.oil_steps - 1, 1)
        return float(self.euler_dt)

    def time_grid(self, dtype=jnp.float32):
        return jnp.linspace(self.t_start, self.t_end, self.oil_steps, dtype=dtype)


#: Per-dataset settings of the release's configuration files.
PRESETS = {
    "h36m": ZeDOConfig(),
    "wild": ZeDOConfig(),
    "3dhp": ZeDOConfig(),
    "3dpw": ZeDOConfig(ipo_keypoints=tuple(range(17)), ipo_distance=8.0, min_scale=0.2),
    "ski": ZeDOConfig(ipo_keypoints=tuple(range(17)), rot_axes="y", ipo_distance=20.0),
}


#: Named schedules: how many IPO and loop iterations, the loop's Euler step, and how the step
#: treats the pose's size. ``faithful`` is the release's (500 IPO steps, 1000 loop iterations,
#: dt = 1e-3 on t in [0.1, 0.01], the full SDE drift); ``fast`` reaches the same or better
#: accuracy with a tenth of the network evaluations (BUILD_NOTES, issue 11): the same t range
#: in 100 iterations of dt = 0.01, and without the linear drift that inflates the pose
#: (``linear_drift = 0``, BUILD_NOTES §7.3), ending with one denoising step at t = 0.02
#: (``final_denoise_t``, BUILD_NOTES §10: detector keypoints are never exact).
SCHEDULES = {
    "faithful": {},
    "fast": {"ipo_steps": 100, "oil_steps": 100, "euler_dt": 0.01, "linear_drift": 0.0,
             "translation_solver": "closed", "final_denoise_t": 0.02},
}

#: The anatomy switches of the default lift (BUILD_NOTES, issue 17): two bone steps after
#: the loop (symmetric lengths, limb ratios near the training means, bone directions kept),
#: with a ray step between them; bones ending at undetected joints sized from the detected
#: ones, limbs missing on both sides half way (geometrically) from the visible body's size to
#: the training means (BUILD_NOTES §10).
ANATOMY = {"anatomy_final": True, "anatomy_on_rays": False, "anatomy_final_iters": 2,
           "anatomy_missing_from_observed": True, "anatomy_missing_size_weight": 0.5}


def make_config(preset: str = "h36m", schedule: str = "fast", anatomy: bool | None = None,
                **overrides) -> ZeDOConfig:
    """A :class:`ZeDOConfig` from names: a dataset ``preset`` (:data:`PRESETS`), a
    ``schedule`` (:data:`SCHEDULES`) and the ``anatomy`` switches (:data:`ANATOMY`; default:
    on, except with the ``faithful`` schedule, which reproduces the release), then any field
    ``overrides``.

    ``make_config()`` is what :func:`zedo_jax.lifting.lift` uses by default;
    ``make_config(schedule="faithful")`` is exactly the release.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {sorted(SCHEDULES)}")
    if anatomy is None:
        anatomy = schedule != "faithful"
    fields = {**SCHEDULES[schedule], **(ANATOMY if anatomy else {}), **overrides}
    return dataclasses.replace(PRESETS[preset], **fields)


# ----------------------------------------------------------------------------------------------
# single frame, single hypothesis
# ----------------------------------------------------------------------------------------------

def root_ray(unit_rays, mask):
    """Unit ray through the pelvis ``[3]``; if the pelvis is missing (mask 0), the normalised
    mean of the visible joints' rays."""
    visible = jnp.sum(unit_rays * mask[:, None], 0)
    visible = visible / jnp.maximum(jnp.linalg.norm(visible), 1e-12)
    return jnp.where(mask[0] > 0, unit_rays[0], visible)


def ipo_weights(mask, cfg: ZeDOConfig):
    """Per-joint weights ``[17]`` of the IPO loss: 1 on ``cfg.ipo_keypoints`` that are usable;
    if none is, every usable joint."""
    sel = jnp.zeros((17,), jnp.float32).at[jnp.asarray(cfg.ipo_keypoints)].set(1.0) * mask
    return jnp.where(jnp.sum(sel) > 0, sel, mask)


def ipo(init_pose, uv, mask, K, unit_rays, cfg: ZeDOConfig):
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
    T0 = cfg.ipo_distance * root_ray(unit_rays, mask)
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
    tx = optax.adam(cfg.ipo_lr)

    def step(carry, _):
        theta, opt = carry
        upd, opt = tx.update(jax.grad(loss_fn)(theta), opt, theta)
        return (optax.apply_updates(theta, upd), opt), None

    (theta, _), _ = jax.lax.scan(step, (theta, tx.init(theta)), None, length=cfg.ipo_steps)
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
# batched program
# ----------------------------------------------------------------------------------------------

def _frame_geometry(uv, conf, K, cfg: ZeDOConfig):
    """Rays, usable-joint mask and least-squares weights of one frame."""
    rays_n = camera.normalized_coordinates(uv, K)
    unit = rays_n / jnp.linalg.norm(rays_n, axis=-1, keepdims=True)
    if cfg.mask_zero_confidence:
        mask = (conf > 0).astype(jnp.float32)
    else:
        mask = jnp.ones_like(conf)
    w = jnp.clip(conf, cfg.conf_min, 1.0) ** cfg.ls_weight_power * mask
    return rays_n, unit, mask, w


def _bone_step(x, T, unit, mask, strength, cfg: ZeDOConfig):
    return anatomy_lib.bone_step(x, T, unit, mask, reference=cfg.reference_bones,
                                 prior_weight=cfg.anatomy_prior_weight,
                                 ratio_tol=cfg.anatomy_ratio_tol,
                                 size_weight=cfg.anatomy_size_weight, strength=strength,
                                 on_rays=cfg.anatomy_on_rays,
                                 missing_from_observed=cfg.anatomy_missing_from_observed,
                                 missing_size_weight=cfg.anatomy_missing_size_weight)


def final_bone_steps(x, T, rays_n, unit, mask, w, step, cfg: ZeDOConfig):
    """The anatomy steps after the loop (``cfg.anatomy_final``) for one pose ``x [17, 3]``
    with translation ``T [3]``: ``cfg.anatomy_final_iters`` bone steps with a ray step between
    two, ending on a bone step; the translation is re-solved after each. Returns ``(x, T)``."""
    for i in range(cfg.anatomy_final_iters):
        if i:
            x = ray_step(x, T, unit, step)
            T = solve_translation(x, rays_n, w, cfg.translation_solver)
        x = _bone_step(x, T, unit, mask, 1.0, cfg)
        T = solve_translation(x, rays_n, w, cfg.translation_solver)
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


def likelihood_draws(cfg: ZeDOConfig, dtype=jnp.float32):
    """The fixed noise draws ``[cfg.likelihood_draws, 17, 3]`` of :func:`denoise_error` (seed
    ``cfg.likelihood_seed``), shared by every hypothesis and frame."""
    return jax.random.normal(jax.random.PRNGKey(cfg.likelihood_seed),
                             (cfg.likelihood_draws, 17, 3), dtype)


def zedo_batch(params, init_poses, uv, conf, K, *, net_config: model_lib.ScoreNetConfig,
               sde, cfg: ZeDOConfig):
    """IPO + optimization loop for a batch of frames and hypotheses, as one program.

    Args:
      params: score-network variables.
      init_poses: ``[B, S, 17, 3]`` root-relative initial poses (metres, camera axes).
      uv: ``[B, 17, 2]`` keypoints (pixels).  conf: ``[B, 17]`` confidences in [0, 1].
      K: ``[B, 3, 3]`` intrinsics.
    Returns:
      dict of ``poses [B, S, 17, 3]`` (final root-relative poses, metres), ``translation
      [B, S, 3]`` (least squares on the final pose), ``reprojection_error_px [B, S, 17]``,
      ``ipo_poses [B, S, 17, 3]`` and ``ipo_translation [B, S, 3]`` (the IPO result), and
      ``prior_residual [B, S]`` (RMS of the network's noise estimate for the final pose at
      the last loop time: small for poses the prior finds likely) and ``loop_asymmetry
      [B, S]`` (mean relative left/right limb difference at the end of the loop, before the
      anatomy steps) and ``denoise_error [B, S]`` (:func:`denoise_error` of the final pose at
      ``cfg.likelihood_t``; computed only when S > 1 and the loop runs, else 0).
    """
    ts = cfg.time_grid(init_poses.dtype)
    draws = (likelihood_draws(cfg, init_poses.dtype)
             if init_poses.shape[1] > 1 and cfg.oil_steps else None)
    n_fix = cfg.n_fixed
    n_anat = min(int(round(cfg.anatomy_from * cfg.oil_steps)), cfg.oil_steps)
    # One pose per call here; vmap turns the trunk into one matmul over all frames and
    # hypotheses, while the time branch (independent of the pose) runs once per iteration.
    score = score_fn(params, net_config, sde)
    score_step = make_score_step(params, net_config=net_config, sde=sde, cfg=cfg)
    # The time branch for the whole grid at once, before the loop: [steps, hidden] arrays
    # that each iteration slices, instead of a few one-row matmuls per iteration.
    grid_biases = jax.vmap(time_biases_fn(params, net_config, sde))(ts)

    def one(init_pose, uv, conf, K):
        rays_n, unit, mask, w = _frame_geometry(uv, conf, K, cfg)
        x, T_ipo = ipo(init_pose, uv, mask, K, unit, cfg)
        step = mask
        if cfg.ray_step_size != 1.0 or cfg.ray_conf_power != 0.0:
            step = mask * cfg.ray_step_size * jnp.clip(conf, cfg.conf_min, 1.0) ** cfg.ray_conf_power

        def body(fixed: bool, anat: bool):
            def f(x, t_biases):
                t, biases = t_biases
                T = T_ipo if fixed else solve_translation(x, rays_n, w, cfg.translation_solver)
                x = ray_step(x, T, unit, step)
                if anat:
                    x = _bone_step(x, T, unit, mask, cfg.anatomy_strength, cfg)
                return score_step(x, t, biases), None
            return f

        x_ipo = x
        # The loop in segments with static bodies: frozen IPO translation for the first
        # n_fix iterations, least squares afterwards; the bone step from n_anat on.
        cuts = sorted({0, n_fix, n_anat, cfg.oil_steps})
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            x, _ = jax.lax.scan(body(lo < n_fix, cfg.anatomy and lo >= n_anat), x,
                                (ts[lo:hi], jax.tree_util.tree_map(lambda b: b[lo:hi], grid_biases)))
        T = solve_translation(x, rays_n, w, cfg.translation_solver)
        loop_asymmetry = anatomy_lib.limb_asymmetry(x)
        if cfg.anatomy_final:
            x, T = final_bone_steps(x, T, rays_n, unit, mask, w, step, cfg)
        if cfg.final_denoise_t > 0:
            # Tweedie: E[x_0 | x_t = x] = x + std(t)^2 score(x, t) (the mean factor of the
            # marginal, ~1 at small t, is left out: it would only rescale the pose).
            td = jnp.asarray(cfg.final_denoise_t, x.dtype)
            x = x + sde.marginal(td)[1] ** 2 * score(x, td)
            T = solve_translation(x, rays_n, w, cfg.translation_solver)
            if cfg.anatomy_final:            # the bone lengths again, bone directions kept
                x = _bone_step(x, T, unit, mask, 1.0, cfg)
                T = solve_translation(x, rays_n, w, cfg.translation_solver)
        err = camera.reprojection_error(x + T, uv, K)
        # How far the prior finds the final pose from its training poses: the RMS of the
        # network's noise estimate at the last time of the grid (one more evaluation).
        residual = (jnp.sqrt(jnp.mean(score(x, ts[-1]) ** 2)) * sde.marginal(ts[-1])[1]
                    if cfg.oil_steps else jnp.zeros((), x.dtype))
        likelihood = (denoise_error(score, sde, x, cfg.likelihood_t, draws)
                      if draws is not None else jnp.zeros((), x.dtype))
        return {"poses": x, "translation": T, "reprojection_error_px": err,
                "ipo_poses": x_ipo, "ipo_translation": T_ipo, "prior_residual": residual,
                "loop_asymmetry": loop_asymmetry, "denoise_error": likelihood}

    over_hyps = jax.vmap(one, in_axes=(0, None, None, None))
    return jax.vmap(over_hyps, in_axes=(0, 0, 0, 0))(init_poses, uv, conf, K)


def make_score_step(params, *, net_config: model_lib.ScoreNetConfig, sde, cfg: ZeDOConfig):
    """The loop's score step, ``(x [..., 17, 3], t, biases=None) -> x``: one Euler step of
    :func:`zedo_jax.core.score.score_fn` (spec §7.1). Used by :func:`zedo_batch` and by other
    programs built from these blocks (:mod:`zedo_jax.core.temporal`); under ``vmap`` over poses the
    time branch stays computed once per ``t``."""
    score = score_fn(params, net_config, sde)
    dt = cfg.dt(sde)

    def score_step(x, t, biases=None):
        x_new = sde_lib.euler_step(sde, x, t, score(x, t, biases), dt, cfg.drift_factor)
        if cfg.linear_drift != 1.0:
            # euler_step moved x by -f(x, t) dt; keep only `linear_drift` of that move.
            x_new = x_new + (1.0 - cfg.linear_drift) * sde.drift(x, t) * dt
        return x_new

    return score_step
