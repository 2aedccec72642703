"""Temporal lifting of keypoint sequences (issue 14): ZeDO on windows of consecutive frames.

A sequence is cut into windows of ``TemporalConfig.window`` consecutive frames (overlapping by
``overlap`` frames when a sequence is longer than one window). Each window is optimised as one
unit by the building blocks of :mod:`zedo_jax.core.program` (:func:`~zedo_jax.core.program.ipo`,
:func:`~zedo_jax.core.program.solve_translation`, :func:`~zedo_jax.core.program.ray_step`, the score step),
with temporal coupling inside the loop:

* **translation trajectory**: every iteration the per-frame least-squares translations are
  smoothed along the window (Gaussian, ``translation_sigma`` frames), so the distance to the
  camera cannot jump from frame to frame;
* **joint trajectories**: after the ray step each joint's trajectory is pulled towards its
  Gaussian-smoothed version (``smooth_sigma`` frames, weight ``smooth_weight``); joints the
  detector missed (confidence 0) take the smoothed value of their visible neighbours in time;
* optionally **one bone-length profile** per window (``bone_lengths``);
* a **post-filter** (Savitzky-Golay, ``post_filter``) on the final trajectories.

The whole thing, for a batch of windows (of one long video or of many sequences), is one
compiled program: ``vmap`` over windows of a ``lax.scan`` over iterations; the time branch of
the network is evaluated once per iteration for the whole batch. Windows of one sequence are
blended back with linear cross-fades over their overlap.

    from zedo_jax import lifting, prior, temporal
    out = lifting.lift(prior.load_prior(), keypoints, K, seq=seq, frame=frame,
                       temporal=temporal.TemporalConfig())   # config: temporal.SCHEDULE
    out.poses, out["poses"], out.temporal.windows           # a lifting.LiftResult

The result is a :class:`zedo_jax.lifting.LiftResult` like per-frame lifting's (hypothesis
selection and plausibility included), with :class:`zedo_jax.lifting.TemporalStats`. The
anatomy switches of :class:`~zedo_jax.core.program.ZeDOConfig` do not apply here (the loop is this
module's; see ``TemporalConfig.bone_lengths``).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zedo_jax.core import anatomy as anatomy_lib, camera, model as model_lib, skeleton
from zedo_jax.runtime import distributed
from zedo_jax.prior import Prior
from zedo_jax.core.score import score_fn
from zedo_jax.runtime.compile_cache import echo, enable_compilation_cache
from zedo_jax.core.program import (ANATOMY, ZeDOConfig, _frame_geometry, denoise_error, final_bone_steps, ipo, likelihood_draws, make_score_step, ray_step, solve_translation)


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """Options of temporal lifting (frames are video frames; sigmas in frames).

    window: frames per optimised window (sequences shorter than this use their own length
      when all sequences are; shorter ones are padded and the padding is ignored).
    overlap: frames shared by consecutive windows of a sequence longer than ``window``.
    translation_sigma: Gaussian sigma of the in-loop smoothing of the translation
      trajectory (0 = per-frame translations).
    smooth_sigma: Gaussian sigma of the in-loop smoothing of joint trajectories (0 = none).
    smooth_weight: fraction of the way each visible joint moves to its smoothed trajectory
      per iteration, in [0, 1].
    fill_missing: joints with confidence 0 take their smoothed trajectory (from the frames
      where they are visible) every iteration instead of staying at the prior's guess.
    bone_lengths: every iteration, rescale each bone to the window's mean length of that bone
      (one bone-length profile per person and window), keeping bone directions.
    post_filter: 'savgol' (Savitzky-Golay, ``savgol_window`` frames, polynomial order
      ``savgol_order``) or 'none', on the final poses and translations.
    input_window: Savitzky-Golay window (frames, order ``savgol_order``) applied to the 2D
      keypoint trajectories before lifting, weighted by confidence (missing joints are not
      sources, and get the fitted value); 0 = lift the raw keypoints.
    key_stride: > 1: only every ``key_stride``-th frame of a window (and its last) runs IPO
      and the full loop (``ZeDOConfig.oil_steps``); every frame then starts from the key
      frames' poses interpolated in time and runs ``refine_steps`` iterations on the time grid
      ``linspace(refine_t_start, t_end)``. Network evaluations per frame:
      ``oil_steps / key_stride + refine_steps`` (about).
    """

    window: int = 120
    overlap: int = 24
    translation_sigma: float = 8.0
    smooth_sigma: float = 2.0
    smooth_weight: float = 0.05
    fill_missing: bool = True
    bone_lengths: bool = False
    post_filter: str = "savgol"
    savgol_window: int = 15
    savgol_order: int = 2
    input_window: int = 0
    key_stride: int = 1
    refine_steps: int = 50
    refine_t_start: float = 0.03

    def __post_init__(self):
        if self.window < 1:
            raise ValueError(f"window must be >= 1 frame, got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise ValueError(f"overlap must be in [0, window - 1] = [0, {self.window - 1}], "
                             f"got {self.overlap}")
        if not 0.0 <= self.smooth_weight <= 1.0:
            raise ValueError(f"smooth_weight must be in [0, 1], got {self.smooth_weight}")
        if self.translation_sigma < 0 or self.smooth_sigma < 0:
            raise ValueError("translation_sigma and smooth_sigma must be >= 0 (frames)")
        if self.post_filter not in ("savgol", "none"):
            raise ValueError(f"post_filter must be 'savgol' or 'none', got {self.post_filter!r}")
        if self.key_stride < 1 or self.refine_steps < 1 or not 0 < self.refine_t_start <= 1:
            raise ValueError(f"need key_stride >= 1, refine_steps >= 1 and refine_t_start in "
                             f"(0, 1]; got {self.key_stride}, {self.refine_steps}, "
                             f"{self.refine_t_start}")
        if self.post_filter == "savgol" and (self.savgol_window < 3 or self.savgol_order < 0):
            raise ValueError(f"savgol_window must be >= 3 frames and savgol_order >= 0; got "
                             f"{self.savgol_window}, {self.savgol_order}")


#: The default schedule of temporal mode: a fifth of the release's 1000 loop iterations, each
#: with a 5x larger Euler step (0.005 = 5/N for the shipped N = 1000), so the loop integrates
#: over the same total time as the release's 1000 x 1/N. (Per-frame lifting with this schedule
#: matches the faithful 1000-step loop; BUILD_NOTES §12.) With the anatomy steps of the
#: per-frame default on the final trajectories. Unlike ``fast`` it keeps the SDE's linear drift
#: (``linear_drift = 1``): the smoothed translation trajectory already holds the size, and
#: dropping the drift measured 0.5 mm worse here (BUILD_NOTES §12).
SCHEDULE = ZeDOConfig(oil_steps=200, euler_dt=0.005, **ANATOMY)


# ----------------------------------------------------------------------------------------------
# temporal operators on one window (pure, jit-able)
# ----------------------------------------------------------------------------------------------

def gaussian_kernel(valid, sigma: float, positions=None):
    """``[T, T]`` Gaussian weights ``exp(-(t - s)^2 / (2 sigma^2))`` with columns of invalid
    frames (``valid [T]`` = 0) zeroed; rows are not normalised. ``positions [T]``: the frames'
    times in frames (default ``0 .. T-1``). ``sigma = 0``: identity on valid frames."""
    T = valid.shape[0]
    d = jnp.arange(T, dtype=jnp.float32) if positions is None else positions
    d = d[:, None] - d[None, :]
    if sigma <= 0:
        G = (d == 0).astype(jnp.float32)
    else:
        G = jnp.exp(-0.5 * (d / sigma) ** 2)
    return G * valid[None, :]


def smooth_trajectory(x, G, weights):
    """Weighted normalised convolution along time.

    Args:
      x: ``[T, ..., J, C]`` trajectories.  G: ``[T, T]`` kernel (:func:`gaussian_kernel`).
      weights: ``[T, J]`` per-frame, per-joint weights (0 = not a source).
    Returns:
      ``[T, ..., J, C]``: ``sum_s G[t, s] w[s, j] x[s] / sum_s G[t, s] w[s, j]``.
    """
    extra = x.ndim - 3
    w = weights.reshape(weights.shape[:1] + (1,) * extra + weights.shape[1:] + (1,))
    num = jnp.tensordot(G, x * w, axes=(1, 0))
    den = jnp.tensordot(G, w, axes=(1, 0))
    return num / jnp.maximum(den, 1e-12)


def savgol_matrix(valid, window: int, order: int):
    """``[T, T]`` Savitzky-Golay smoother over the valid frames of a window.

    Row ``t`` holds the weights that evaluate at ``t`` the least-squares polynomial of degree
    ``order`` fitted to the valid frames within ``window // 2`` of ``t`` (so the edges of a
    sequence use one-sided fits, and padding is ignored).
    """
    T = valid.shape[0]
    half = max(window // 2, 1)
    i = jnp.arange(T, dtype=jnp.float32)
    d = (i[None, :] - i[:, None]) / half                     # [t, s]
    w = (jnp.abs(d) <= 1.0 + 1e-6) * valid[None, :]
    V = d[..., None] ** jnp.arange(order + 1, dtype=jnp.float32)       # [t, s, p]
    A = jnp.einsum("tsp,ts,tsq->tpq", V, w, V) + 1e-6 * jnp.eye(order + 1)
    e0 = jnp.zeros((T, order + 1)).at[:, 0].set(1.0)
    c = jnp.linalg.solve(A, e0[..., None])[..., 0]         # [t, p]
    return jnp.einsum("tp,tsp,ts->ts", c, V, w)


def local_polynomial_smooth(x, weights, window: int, order: int):
    """Weighted Savitzky-Golay smoothing with per-joint weights.

    Args:
      x: ``[T, J, C]`` trajectories.  weights: ``[T, J]`` (0 = not a source: padding,
        missing joints).  window: frames of the local fit; order: polynomial degree.
    Returns:
      ``[T, J, C]``: at each frame and joint, the value at that frame of the weighted
      least-squares polynomial fitted to the joint's samples within ``window // 2`` frames.
    """
    T = x.shape[0]
    half = max(window // 2, 1)
    i = jnp.arange(T, dtype=jnp.float32)
    d = (i[None, :] - i[:, None]) / half                                # [t, s]
    V = d[..., None] ** jnp.arange(order + 1, dtype=jnp.float32)       # [t, s, p]
    w = (jnp.abs(d) <= 1.0 + 1e-6)[:, :, None] * weights[None, :, :]   # [t, s, j]
    A = jnp.einsum("tsp,tsj,tsq->tjpq", V, w, V) + 1e-6 * jnp.eye(order + 1)
    e0 = jnp.zeros(A.shape[:-1]).at[..., 0].set(1.0)
    c = jnp.linalg.solve(A, e0[..., None])[..., 0]                     # [t, j, p]
    M = jnp.einsum("tjp,tsp,tsj->tsj", c, V, w)
    return jnp.einsum("tsj,sjc->tjc", M, x)


def key_frames(T: int, stride: int) -> np.ndarray:
    """Static indices of a window's key frames: every ``stride``-th and the last."""
    if stride <= 1:
        return np.arange(T)
    return np.unique(np.r_[np.arange(0, T, stride), T - 1])


def interpolation_matrix(T: int, keys) -> np.ndarray:
    """``[T, len(keys)]`` linear interpolation from key frames to every frame."""
    keys = np.asarray(keys)
    M = np.zeros((T, len(keys)), np.float32)
    for t in range(T):
        j = int(np.clip(np.searchsorted(keys, t, side="right") - 1, 0, len(keys) - 1))
        if keys[j] == t or j == len(keys) - 1:
            M[t, j] = 1.0
        else:
            a = (t - keys[j]) / (keys[j + 1] - keys[j])
            M[t, j], M[t, j + 1] = 1.0 - a, a
    return M


def rescale_bones(x, lengths):
    """Set every bone of ``x`` ``[..., 17, 3]`` to ``lengths`` ``[..., 16]`` (in
    :data:`zedo_jax.core.skeleton.BONES` order), keeping the pelvis and each bone's direction."""
    out = [None] * skeleton.NUM_JOINTS
    out[0] = x[..., 0, :]
    for b, (p, c) in enumerate(skeleton.BONES):
        v = x[..., c, :] - x[..., p, :]
        n = jnp.linalg.norm(v, axis=-1, keepdims=True)
        out[c] = out[p] + v / jnp.maximum(n, 1e-9) * lengths[..., b:b + 1]
    return jnp.stack(out, -2)


def _bone_profile(x, valid):
    """Mean bone lengths over the valid frames of a window: ``[T, S, 17, 3] -> [S, 16]``."""
    L = skeleton.bone_lengths(x)                                         # [T, S, 16]
    v = valid[:, None, None]
    return jnp.sum(L * v, 0) / jnp.maximum(jnp.sum(v, 0), 1.0)


# ----------------------------------------------------------------------------------------------
# the batched program
# ----------------------------------------------------------------------------------------------

def temporal_batch(params, init_poses, uv, conf, K, valid, *, net_config: model_lib.ScoreNetConfig,
                   sde, cfg: ZeDOConfig, tcfg: TemporalConfig):
    """IPO + temporally coupled optimisation loop for a batch of windows, as one program.

    Args:
      params: score-network variables.
      init_poses: ``[W, T, S, 17, 3]`` root-relative initial poses (metres, camera axes).
      uv: ``[W, T, 17, 2]`` keypoints (pixels).  conf: ``[W, T, 17]`` in [0, 1].
      K: ``[W, T, 3, 3]`` intrinsics.  valid: ``[W, T]`` 1 for real frames, 0 for padding.
    Returns:
      dict of ``poses [W, T, S, 17, 3]`` (root-relative metres), ``translation [W, T, S, 3]``
      (the smoothed camera-frame trajectory, metres), ``reprojection_error_px [W, T, S, 17]``,
      ``ipo_poses [W, T, S, 17, 3]``, ``ipo_translation [W, T, S, 3]``, and, as
      :func:`zedo_jax.core.program.zedo_batch`, ``prior_residual [W, T, S]``, ``loop_asymmetry
      [W, T, S]`` and ``denoise_error [W, T, S]`` (0 when S = 1) of the final poses.
    """
    score_step = make_score_step(params, net_config=net_config, sde=sde, cfg=cfg)
    prior_score = score_fn(params, net_config, sde)
    # The 3 x 3 normal equations in closed form whatever ``cfg.translation_solver`` says (same
    # solution), for every solve of this program including the anatomy steps: here jaxlib's
    # batched SVD kernel behind ``lstsq`` can deadlock on the CPU (two SVD calls waiting on
    # each other's work in the intra-op thread pool; BUILD_NOTES §12).
    cfg = dataclasses.replace(cfg, translation_solver="closed")
    solver = cfg.translation_solver
    dtype = init_poses.dtype
    T_len = init_poses.shape[1]
    keys = key_frames(T_len, tcfg.key_stride)
    interp = jnp.asarray(interpolation_matrix(T_len, keys))            # [T, Tk]
    over_frames = lambda f, *axes: jax.vmap(f, in_axes=axes)
    # per frame (axis 0) and hypothesis (axis 1 of poses, shared geometry)
    per_fh = lambda f, *axes: jax.vmap(jax.vmap(f, in_axes=axes), in_axes=(0,) * len(axes))
    ray = per_fh(ray_step, 0, 0, None, None)
    solve = per_fh(lambda p, r, ww: solve_translation(p, r, ww, solver), 0, None, None)
    score = jax.vmap(jax.vmap(score_step, in_axes=(0, None)), in_axes=(0, None))
    ipo_fn = per_fh(lambda p, u, m, k, r: ipo(p, u, m, k, r, cfg), 0, None, None, None, None)

    def coupled_loop(x, geo, valid, pos, ts, n_fix, T_fix=None):
        """The loop on frames at positions ``pos`` (frames), coupled along time."""
        rays_n, unit, mask, w = geo
        Gx = gaussian_kernel(valid, tcfg.smooth_sigma, pos)
        Gt = gaussian_kernel(valid, tcfg.translation_sigma, pos)
        src = valid[:, None] * (mask + 1e-3)       # visible joints of real frames as sources
        lam = jnp.where(mask > 0, tcfg.smooth_weight,
                        1.0 if tcfg.fill_missing else tcfg.smooth_weight)[:, None, :, None]
        fill = gaussian_kernel(valid, max(tcfg.smooth_sigma, 1.0), pos)

        def smooth_T(T):                                   # [T, S, 3]
            return smooth_trajectory(T[:, :, None, :], Gt, valid[:, None])[:, :, 0]

        def couple(x):
            if tcfg.smooth_sigma > 0 and tcfg.smooth_weight > 0:
                x = x + lam * (smooth_trajectory(x, Gx, src) - x)
            elif tcfg.fill_missing:
                x = jnp.where(mask[:, None, :, None] > 0, x, smooth_trajectory(x, fill, src))
            if tcfg.bone_lengths:
                x = rescale_bones(x, _bone_profile(x, valid)[None])
            return x

        def fixed_body(x, t):
            return score(couple(ray(x, T_fix, unit, mask)), t), None

        def ls_body(x, t):
            T = smooth_T(solve(x, rays_n, w))
            return score(couple(ray(x, T, unit, mask)), t), None

        if n_fix:
            x, _ = jax.lax.scan(fixed_body, x, ts[:n_fix])
        x, _ = jax.lax.scan(ls_body, x, ts[n_fix:])
        if tcfg.fill_missing:                              # missing joints from neighbours
            x = jnp.where(mask[:, None, :, None] > 0, x, smooth_trajectory(x, fill, src))
        return x, smooth_T

    def window(init, uv_in, conf, K, valid):
        uv = uv_in
        if tcfg.input_window > 0:                          # denoise the 2D trajectories
            src2d = valid[:, None] * (conf > 0)
            uv = local_polynomial_smooth(uv_in, src2d, tcfg.input_window, tcfg.savgol_order)
            uv = jnp.where(src2d[..., None] > 0, uv, uv_in)
        geo = over_frames(lambda a, b, c: _frame_geometry(a, b, c, cfg), 0, 0, 0)(uv, conf, K)
        pos = jnp.arange(T_len, dtype=jnp.float32)
        # 1) key frames: IPO and the full schedule
        geo_k = tuple(g[keys] for g in geo)
        x_ipo, T_ipo = ipo_fn(init[keys], uv[keys], geo_k[2], K[keys], geo_k[1])
        Gt_k = gaussian_kernel(valid[keys], tcfg.translation_sigma, pos[keys])
        T_fix = smooth_trajectory(T_ipo[:, :, None, :], Gt_k, valid[keys][:, None])[:, :, 0]
        x, smooth_T = coupled_loop(x_ipo, geo_k, valid[keys], pos[keys],
                                   cfg.time_grid(dtype), cfg.n_fixed, T_fix)
        if len(keys) < T_len:
            # 2) every frame: start from the key frames' poses interpolated in time, a short
            #    schedule at low noise levels
            x = jnp.tensordot(interp, x, axes=(1, 0))
            ts2 = jnp.linspace(tcfg.refine_t_start, cfg.t_end, tcfg.refine_steps, dtype=dtype)
            x, smooth_T = coupled_loop(x, geo, valid, pos, ts2, 0)
            x_ipo = jnp.tensordot(interp, x_ipo, axes=(1, 0))
            T_ipo = jnp.tensordot(interp, T_ipo, axes=(1, 0))
        if cfg.anatomy_final:
            # The per-frame anatomy steps (symmetric, proportioned limbs; bone directions
            # kept) before the post-filter, which smooths what they change.
            rays_n, unit, mask, w = geo
            bones = per_fh(lambda p, tt, r, u, m, ww: final_bone_steps(p, tt, r, u, m, ww, m,
                                                                        cfg)[0],
                           0, 0, None, None, None, None)
            x = bones(x, smooth_T(solve(x, rays_n, w)), rays_n, unit, mask, w)
        if tcfg.post_filter == "savgol":
            M = savgol_matrix(valid, tcfg.savgol_window, tcfg.savgol_order)
            x = jnp.tensordot(M, x, axes=(1, 0))
        T = smooth_T(solve(x, geo[0], geo[3]))
        err = per_fh(lambda p, tt, u, k: camera.reprojection_error(p + tt, u, k),
                     0, 0, None, None)(x, T, uv_in, K)
        t_last = jnp.asarray(cfg.t_end, dtype)
        residual = jnp.sqrt(jnp.mean(prior_score(x, t_last) ** 2, axis=(-2, -1))) * \
            sde.marginal(t_last)[1]
        asym = jax.vmap(jax.vmap(anatomy_lib.limb_asymmetry))(x)
        if init_poses.shape[2] > 1:
            draws = likelihood_draws(cfg, dtype)
            likelihood = per_fh(lambda p: denoise_error(prior_score, sde, p, cfg.likelihood_t,
                                                        draws), 0)(x)
        else:
            likelihood = jnp.zeros(asym.shape, dtype)
        return {"poses": x, "translation": T, "reprojection_error_px": err,
                "ipo_poses": x_ipo, "ipo_translation": T_ipo, "prior_residual": residual,
                "loop_asymmetry": asym, "denoise_error": likelihood}

    return jax.vmap(window)(init_poses, uv, conf, K, valid)


# ----------------------------------------------------------------------------------------------
# host side: windows of sequences, compiled chunks, blending
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class WindowPlan:
    """Where the frames of every window come from.

    index: ``[W, T]`` input frame of each window slot (padding repeats a sequence's last
      frame).  valid: ``[W, T]`` 1 for real slots.  weight: ``[W, T]`` blending weight of each
      slot (linear cross-fade over overlaps, 0 on padding).
    """

    index: np.ndarray
    valid: np.ndarray
    weight: np.ndarray

    @property
    def computed_frames(self) -> int:
        return int(self.index.size)


def network_evals_per_window(cfg: ZeDOConfig, tcfg: TemporalConfig, T: int) -> int:
    """Score-network evaluations (per hypothesis) of one window of ``T`` frames."""
    k = len(key_frames(T, tcfg.key_stride))
    return cfg.oil_steps * k + (tcfg.refine_steps * T if k < T else 0)


def plan_windows(seq, frame=None, window: int = 120, overlap: int = 24) -> WindowPlan:
    """Cut sequences into windows of one common length.

    Frames are ordered by ``seq`` then ``frame`` (file order when ``frame`` is None). The
    window length is ``min(window, longest sequence)``; a sequence longer than that gets windows
    every ``length - overlap`` frames, the last one aligned with its end; a shorter one gets one
    padded window.
    """
    from zedo_jax.evaluation.metrics import sequence_order
    n = len(seq)
    order, starts = sequence_order(seq, frame)
    lengths = np.diff(starts)
    T = int(min(window, lengths.max()))
    ov = min(overlap, T - 1)
    stride = max(T - ov, 1)
    rows, valids, weights = [], [], []
    ramp = np.minimum(np.arange(1, T + 1), np.arange(T, 0, -1)).astype(np.float64)
    ramp = np.minimum(ramp / (ov + 1), 1.0)
    for lo, L in zip(starts[:-1], lengths):
        frames = order[lo:lo + L]
        if L <= T:
            begins = [0]
        else:
            begins = list(range(0, L - T, stride)) + [L - T]
        for b in begins:
            slot = np.arange(b, b + T)
            ok = slot < L
            rows.append(frames[np.minimum(slot, L - 1)])
            valids.append(ok.astype(np.float32))
            wgt = ramp.copy()
            if b == 0:
                wgt[:T // 2] = 1.0                       # no cross-fade at the sequence start
            if b + T >= L:
                wgt[T // 2:] = 1.0                       # ... nor at its end
            weights.append(np.where(ok, wgt, 0.0))
    del n
    return WindowPlan(np.asarray(rows), np.asarray(valids), np.asarray(weights))


def blend(values, plan: WindowPlan, n: int) -> np.ndarray:
    """Window outputs ``[W, T, ...]`` -> per-frame ``[n, ...]``: weighted mean of the windows
    that hold each frame."""
    values = np.asarray(values, np.float64)
    w = plan.weight.reshape(plan.weight.shape + (1,) * (values.ndim - 2))
    num = np.zeros((n,) + values.shape[2:])
    den = np.zeros((n,) + (1,) * (values.ndim - 2))
    np.add.at(num, plan.index.reshape(-1), (values * w).reshape((-1,) + values.shape[2:]))
    np.add.at(den, plan.index.reshape(-1), w.reshape((-1,) + w.shape[2:]))
    return (num / np.maximum(den, 1e-12)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _compiled(net_config, sde, cfg: ZeDOConfig, tcfg: TemporalConfig, devices: tuple):
    mesh = Mesh(np.asarray(devices), ("batch",))
    batch = NamedSharding(mesh, P("batch"))
    rep = NamedSharding(mesh, P())
    fn = functools.partial(temporal_batch, net_config=net_config, sde=sde, cfg=cfg, tcfg=tcfg)
    return jax.jit(fn, in_shardings=(rep,) + (batch,) * 5, out_shardings=batch), rep, batch


def lift_temporal(prior: Prior, uv, conf, Ks, init, *, seq=None, frame=None,
                  config: ZeDOConfig = SCHEDULE, temporal: TemporalConfig = TemporalConfig(),
                  windows_per_chunk: int | None = None, devices=None,
                  log: Callable[[str], None] = echo):
    """Temporal lifting of validated arrays (call :func:`zedo_jax.lifting.lift` with
    ``temporal=...`` instead; it validates and forwards here).

    Args:
      uv: ``[N, 17, 2]``, conf ``[N, 17]``, Ks ``[N, 3, 3]``, init ``[N, S, 17, 3]``.
      seq: ``[N]`` sequence ids (``None``: all frames are one sequence, in file order).
      frame: ``[N]`` frame index within its sequence (``None``: file order).
      windows_per_chunk: windows per compiled call (default: about 4096 frame-hypotheses).
      devices: as for :func:`zedo_jax.lifting.lift` (default ``jax.devices()``, every
        process's).
    Returns:
      a :class:`zedo_jax.lifting.LiftResult` (in input order) whose ``temporal`` holds the
      window count, ``computed_frames`` (window slots, padding and overlaps included) and
      ``network_evals_per_frame``.
    """
    from zedo_jax.lifting import OUTPUT_KEYS, LiftTimings, TemporalStats, make_result
    from zedo_jax.runtime.compile_cache import compiled_program
    n, S = init.shape[:2]
    seq = np.zeros(n, np.int64) if seq is None else np.asarray(seq)
    if seq.shape != (n,) or (frame is not None and np.shape(frame) != (n,)):
        raise ValueError(f"seq and frame must have one entry per frame ({n}); got "
                         f"{list(seq.shape)} and {list(np.shape(frame))}")
    plan = plan_windows(seq, frame, temporal.window, temporal.overlap)
    W, T = plan.index.shape
    devices = tuple(jax.devices() if devices is None else devices)
    log = distributed.primary_only(log)
    nd = len(devices)
    per = windows_per_chunk or max(1, 4096 // (T * S))
    per = min(per, W)
    per = int(math.ceil(W / math.ceil(W / per)))          # equal chunks: little padding
    per = int(math.ceil(per / nd)) * nd
    enable_compilation_cache()
    fn, rep, batch = _compiled(prior.config, prior.sde, config, temporal, devices)
    params = distributed.put_replicated(prior.params, rep)
    n_chunks = int(math.ceil(W / per))
    outs = {k: [] for k in OUTPUT_KEYS}
    t_start = time.perf_counter()
    compile_s = 0.0
    for c in range(n_chunks):
        lo, hi = c * per, min((c + 1) * per, W)
        rows = np.minimum(np.arange(lo, lo + per), W - 1)
        idx = plan.index[rows]
        t0 = time.perf_counter()
        args = distributed.put_sharded((init[idx], uv[idx], conf[idx], Ks[idx],
                                        plan.valid[rows].astype(np.float32)), batch)
        if c == 0:
            exe, compile_s = compiled_program(
                fn, (params, *args), key=("temporal", prior.config, prior.sde, config, temporal))
        res = distributed.gather(exe(params, *args))
        for k in OUTPUT_KEYS:
            outs[k].append(np.asarray(res[k][: hi - lo]))
        if log is not None and (n_chunks > 1 or c == 0):
            log(f"[lift --temporal] chunk {c + 1}/{n_chunks}: windows {lo}-{hi - 1} of {T} "
                f"frames x {S} hypotheses in {time.perf_counter() - t0:.1f}s"
                f"{f' (incl. {compile_s:.1f}s compile)' if c == 0 and compile_s else ''}")
    arrays = {k: blend(np.concatenate(v, 0), plan, n) for k, v in outs.items()}
    stats = TemporalStats(W, plan.computed_frames,
                          network_evals_per_window(config, temporal, T) * W / n)
    return make_result(arrays, conf, LiftTimings(time.perf_counter() - t_start, compile_s),
                       stats)
