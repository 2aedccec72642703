"""Coupling consecutive frames: the temporal operators of a window (pure, jit-able) and the
plan that cuts sequences into windows and blends them back (numpy).

A sequence is cut into windows of ``TemporalConfig.window`` consecutive frames (overlapping by
``overlap`` frames when a sequence is longer than one window). :func:`zedo_jax.core.program.lift_program`
optimises each window as one unit, with these couplings in its loop:

* **translation trajectory**: every iteration the per-frame least-squares translations are
  smoothed along the window (Gaussian, ``translation_sigma`` frames);
* **joint trajectories**: after the ray step each joint's trajectory is pulled towards its
  Gaussian-smoothed version (``smooth_sigma``, ``smooth_weight``); joints the detector missed
  (confidence 0) take the smoothed value of their visible neighbours in time;
* optionally **one bone-length profile** per window (``bone_lengths``);
* a **post-filter** (Savitzky-Golay, ``post_filter``) on the final trajectories.

Windows of one sequence are blended back with linear cross-fades over their overlap.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from zedo_jax.core import skeleton
from zedo_jax.core.config import TemporalConfig


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


def smooth_translation(T, valid, pos, cfg: TemporalConfig):
    """Translations ``T [F, S, 3]`` of the frames at positions ``pos [F]`` smoothed along time
    (Gaussian, ``cfg.translation_sigma`` frames; padding is no source)."""
    G = gaussian_kernel(valid, cfg.translation_sigma, pos)
    return smooth_trajectory(T[:, :, None, :], G, valid[:, None])[:, :, 0]


def smooth_keypoints(uv, conf, valid, cfg: TemporalConfig):
    """Keypoint trajectories ``uv [F, 17, 2]`` denoised by a confidence-weighted
    Savitzky-Golay fit (``cfg.input_window`` frames); missing joints get the fitted value."""
    src = valid[:, None] * (conf > 0)
    fitted = local_polynomial_smooth(uv, src, cfg.input_window, cfg.savgol_order)
    return jnp.where(src[..., None] > 0, fitted, uv)


def coupling(geo, valid, pos, cfg: TemporalConfig, solve):
    """The temporal steps of a window's loop for the frames at positions ``pos [F]``.

    Args:
      geo: the frames' :class:`zedo_jax.core.program.Geometry` (``[F, ...]`` fields).
      valid: ``[F]`` 1 for real frames.  solve: ``(x [F, S, 17, 3], rays_n, w) -> [F, S, 3]``
        least-squares translations.
    Returns:
      ``(translation, couple, fill)``: ``translation(x)`` the smoothed least-squares
      trajectory ``[F, S, 3]``; ``couple(x)`` the in-loop pull of joint trajectories to their
      smoothed versions (and the bone-length profile); ``fill(x)`` missing joints from their
      visible neighbours in time.
    """
    mask = geo.mask
    Gx = gaussian_kernel(valid, cfg.smooth_sigma, pos)
    src = valid[:, None] * (mask + 1e-3)       # visible joints of real frames as sources
    lam = jnp.where(mask > 0, cfg.smooth_weight,
                    1.0 if cfg.fill_missing else cfg.smooth_weight)[:, None, :, None]
    G_fill = gaussian_kernel(valid, max(cfg.smooth_sigma, 1.0), pos)

    def translation(x):
        return smooth_translation(solve(x, geo.rays_n, geo.w), valid, pos, cfg)

    def fill(x):
        if not cfg.fill_missing:
            return x
        return jnp.where(mask[:, None, :, None] > 0, x, smooth_trajectory(x, G_fill, src))

    def couple(x):
        if cfg.smooth_sigma > 0 and cfg.smooth_weight > 0:
            x = x + lam * (smooth_trajectory(x, Gx, src) - x)
        else:
            x = fill(x)
        if cfg.bone_lengths:
            x = rescale_bones(x, _bone_profile(x, valid)[None])
        return x

    return translation, couple, fill


# ----------------------------------------------------------------------------------------------
# host side: windows of sequences, blending
# ----------------------------------------------------------------------------------------------

def sequence_order(seq, frame=None):
    """Indices ``[N]`` that sort frames by sequence, then by ``frame`` (stable: file order when
    ``frame`` is ``None``), and the start offsets ``[G + 1]`` of the ``G`` sequences in that
    order."""
    seq = np.asarray(seq)
    n = len(seq)
    key = np.arange(n) if frame is None else np.asarray(frame)
    _, seq_codes = np.unique(seq, return_inverse=True)
    order = np.lexsort((np.arange(n), key, seq_codes.reshape(-1)))
    codes = seq_codes.reshape(-1)[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1, [n]])
    return order, starts


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


def network_evals_per_window(loop_steps: int, cfg: TemporalConfig | None, T: int) -> int:
    """Score-network evaluations (per hypothesis) of one window of ``T`` frames whose loop
    runs ``loop_steps`` iterations."""
    if cfg is None:
        return loop_steps * T
    k = len(key_frames(T, cfg.key_stride))
    return loop_steps * k + (cfg.refine_steps * T if k < T else 0)


def single_frames(n: int) -> WindowPlan:
    """The plan of ``n`` frames lifted on their own: one window of one frame each."""
    ones = np.ones((n, 1), np.float32)
    return WindowPlan(np.arange(n)[:, None], ones, ones)


def plan_windows(seq, frame=None, window: int = 120, overlap: int = 24) -> WindowPlan:
    """Cut sequences into windows of one common length.

    Frames are ordered by ``seq`` then ``frame`` (file order when ``frame`` is None). The
    window length is ``min(window, longest sequence)``; a sequence longer than that gets windows
    every ``length - overlap`` frames, the last one aligned with its end; a shorter one gets one
    padded window.
    """
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
    if values.shape[1] == 1 and np.array_equal(plan.index[:, 0], np.arange(n)):
        return np.asarray(values)[:, 0]                  # frames on their own: no blending
    values = np.asarray(values, np.float64)
    w = plan.weight.reshape(plan.weight.shape + (1,) * (values.ndim - 2))
    num = np.zeros((n,) + values.shape[2:])
    den = np.zeros((n,) + (1,) * (values.ndim - 2))
    np.add.at(num, plan.index.reshape(-1), (values * w).reshape((-1,) + values.shape[2:]))
    np.add.at(den, plan.index.reshape(-1), w.reshape((-1,) + w.shape[2:]))
    return (num / np.maximum(den, 1e-12)).astype(np.float32)
