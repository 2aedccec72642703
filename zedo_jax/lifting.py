"""Lifting any number of frames: input validation, fixed-size chunks sharded over all local
devices, progress output. The per-chunk work is :func:`zedo_jax.zedo.zedo_batch`, compiled once.

    from zedo_jax import checkpoint, lifting
    prior = checkpoint.load_prior()                      # the shipped prior
    out = lifting.lift(prior, keypoints, K, hypotheses=50)
    out["poses"]                                         # [N, 50, 17, 3] metres, camera axes
"""
from __future__ import annotations

import functools
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from . import camera, skeleton
from .checkpoint import Prior
from .utils import echo
from .zedo import ZeDOConfig, zedo_batch

OUTPUT_KEYS = ("poses", "translation", "reprojection_error_px", "ipo_poses", "ipo_translation")


def validate_keypoints(keypoints, confidence=None, name: str = "keypoints"):
    """Split and check 2D input.

    Args:
      keypoints: ``[N, 17, 2]`` pixels, or ``[N, 17, 3]`` with confidences in the last column.
      confidence: optional ``[N, 17]`` (overrides a third column).
    Returns:
      ``(uv [N, 17, 2] float32, conf [N, 17] float32)``.
    Raises:
      ValueError naming the field for wrong shapes, NaN/inf, or confidences outside [0, 1].
    """
    kp = np.asarray(keypoints)
    if kp.ndim == 2 and kp.shape[0] == skeleton.NUM_JOINTS:
        raise ValueError(f"{name} must be batched: [N, 17, 2|3]; got {list(kp.shape)} "
                         f"(add a leading frame axis, e.g. keypoints[None])")
    if kp.ndim != 3 or kp.shape[2] not in (2, 3):
        raise ValueError(f"{name} must have shape [N, 17, 2] or [N, 17, 3] (u, v[, confidence]) "
                         f"in pixels; got {list(kp.shape)}")
    if kp.shape[1] != skeleton.NUM_JOINTS:
        raise ValueError(f"{name} has {kp.shape[1]} joints, expected 17 in Human3.6M order; "
                         f"convert detector layouts with zedo_jax.keypoint_formats (or "
                         f"--format coco17|mediapipe|openpose)")
    if kp.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 frames)")
    kp = kp.astype(np.float64)
    uv = kp[..., :2]
    if confidence is not None:
        conf = np.asarray(confidence, np.float64)
        if conf.shape != uv.shape[:2]:
            raise ValueError(f"confidence must have shape {list(uv.shape[:2])}, "
                             f"got {list(conf.shape)}")
    elif kp.shape[2] == 3:
        conf = kp[..., 2]
    else:
        conf = np.ones(uv.shape[:2])
    cname = "confidence" if confidence is not None or kp.shape[2] == 2 else f"{name}[..., 2]"
    if not np.isfinite(conf).all():
        idx = np.argwhere(~np.isfinite(conf))[0]
        raise ValueError(f"{cname} has NaN/inf (frame {idx[0]}, joint {idx[1]})")
    if (conf < 0).any() or (conf > 1).any():
        idx = np.argwhere((conf < 0) | (conf > 1))[0]
        raise ValueError(
            f"{cname} must lie in [0, 1]; frame {idx[0]} joint {idx[1]} has "
            f"{conf[idx[0], idx[1]]:.4g} (is the third column a depth or a score on another "
            f"scale? rescale it to [0, 1])")
    # Missing joints (confidence 0) may carry NaN coordinates; other joints may not.
    bad = ~np.isfinite(uv).all(-1) & (conf > 0)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise ValueError(f"{name} has NaN/inf coordinates at frame {idx[0]}, joint {idx[1]} "
                         f"(give such joints confidence 0 to mark them missing)")
    if ((conf > 0).sum(-1) < 2).any():
        f = int(np.flatnonzero((conf > 0).sum(-1) < 2)[0])
        raise ValueError(f"frame {f} of {name} has fewer than 2 joints with confidence > 0; "
                         f"drop it or give it more keypoints")
    uv = np.where(np.isfinite(uv), uv, 0.0)
    return uv.astype(np.float32), conf.astype(np.float32)


def validate_intrinsics(K, n: int, name: str = "K") -> np.ndarray:
    """``[3, 3]`` or ``[N, 3, 3]`` -> ``[N, 3, 3]`` float32 (checked by
    :func:`zedo_jax.camera.check_intrinsics`)."""
    K = camera.check_intrinsics(K, name)
    if K.ndim == 2:
        K = np.broadcast_to(K, (n, 3, 3))
    elif K.shape[0] != n:
        raise ValueError(f"{name} has {K.shape[0]} matrices but there are {n} frames; give one "
                         f"[3, 3] matrix for all frames or one per frame")
    return np.ascontiguousarray(K, np.float32)


def validate_init_poses(init_poses, n: int, name: str = "init_poses") -> np.ndarray:
    """Initial poses -> ``[N, S, 17, 3]`` root-relative float32.

    ``[N, S, 17, 3]`` is per frame and hypothesis. A 3-D array ``[M, 17, 3]`` is per frame
    (refinement mode, ``S = 1``) when ``M == N``, otherwise ``M`` shared hypotheses (cluster
    centres) used for every frame. To use exactly ``N`` shared hypotheses, pass them
    broadcast as ``[N, N, 17, 3]``.
    """
    p = np.asarray(init_poses, np.float32)
    if p.ndim == 3 and p.shape[1:] == (17, 3):
        p = p[:, None] if p.shape[0] == n else np.broadcast_to(p[None], (n,) + p.shape)
    elif not (p.ndim == 4 and p.shape[0] == n and p.shape[2:] == (17, 3)):
        raise ValueError(f"{name} must be [S, 17, 3] (hypotheses), [N, 17, 3] or "
                         f"[N, S, 17, 3] (per frame) with N = {n} frames; got {list(p.shape)}")
    if p.shape[1] == 0:
        raise ValueError(f"{name} holds no poses")
    if not np.isfinite(p).all():
        raise ValueError(f"{name} contains NaN/inf")
    if np.abs(p - p[..., :1, :]).max() > 10:
        raise ValueError(f"{name} spans more than 10 m from the pelvis; poses must be in metres")
    return p - p[..., :1, :]


def default_chunk(n: int, S: int, n_dev: int, target_poses: int = 4096) -> int:
    """Frames per compiled chunk: about ``target_poses`` frame-hypotheses, a multiple of the
    device count, no more than needed for ``n`` frames."""
    c = max(1, target_poses // max(S, 1))
    c = min(c, n)
    return max(n_dev, int(math.ceil(c / n_dev)) * n_dev)


@functools.lru_cache(maxsize=16)
def _compiled(net_config, sde, cfg: ZeDOConfig, devices: tuple):
    mesh = Mesh(np.asarray(devices), ("batch",))
    batch = NamedSharding(mesh, P("batch"))
    rep = NamedSharding(mesh, P())
    fn = functools.partial(zedo_batch, net_config=net_config, sde=sde, cfg=cfg)
    return jax.jit(fn, in_shardings=(rep, batch, batch, batch, batch),
                   out_shardings=batch), rep, batch


_EXECUTABLES: dict = {}


def _executable(fn, args):
    """Ahead-of-time compiled ``fn`` for the shapes of ``args`` (cached), and the seconds the
    compilation took (0 when cached)."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    key = (fn, tree, tuple((tuple(a.shape), str(a.dtype)) for a in leaves))
    if key in _EXECUTABLES:
        return _EXECUTABLES[key], 0.0
    t0 = time.perf_counter()
    exe = fn.lower(*args).compile()
    if len(_EXECUTABLES) >= 32:
        _EXECUTABLES.clear()
    _EXECUTABLES[key] = exe
    return exe, time.perf_counter() - t0


def lift(prior: Prior, keypoints, K, *, confidence=None, hypotheses: int = 1, init_poses=None,
         config: ZeDOConfig | None = None, chunk_size: int | None = None, devices=None,
         log: Callable[[str], None] = echo, seq=None, frame=None, temporal=None) -> dict:
    """Lift 2D keypoints to 3D with ZeDO.

    Args:
      prior: a :class:`~zedo_jax.checkpoint.Prior` (``checkpoint.load_prior()``).
      keypoints: ``[N, 17, 2|3]`` pixels (Human3.6M order), optional confidence column.
      K: ``[3, 3]`` or ``[N, 3, 3]`` intrinsics (pixels).
      confidence: optional ``[N, 17]`` in [0, 1]; 0 marks a missing joint.
      hypotheses: ``S``, the number of cluster centres of the prior to start from.
      init_poses: instead of the prior's clusters: ``[S, 17, 3]`` shared initial poses, or
        per-frame poses ``[N, 17, 3]`` / ``[N, S, 17, 3]`` from another lifter (refinement);
        see :func:`validate_init_poses`.
      config: :class:`~zedo_jax.zedo.ZeDOConfig` (default: the release's; in temporal mode
        :data:`zedo_jax.temporal.SCHEDULE`, 200 loop iterations of a 5x Euler step).
      chunk_size: frames per compiled chunk (default: about 4096 frame-hypotheses), rounded up
        to a multiple of the device count. The last chunk is padded, so one compilation
        serves all chunks.
      devices: devices to shard the frames over (default: all local devices).
      log: progress callback (``zedo_jax.utils.silent`` to mute).
      seq, frame: optional ``[N]`` sequence ids and frame indices within them (temporal mode;
        ``None`` = one sequence in input order).
      temporal: a :class:`zedo_jax.temporal.TemporalConfig` to lift sequences as windows of
        consecutive frames (see :mod:`zedo_jax.temporal`); ``None`` (default) lifts every
        frame on its own. ``chunk_size`` then counts windows.
    Returns:
      dict of numpy arrays: ``poses [N, S, 17, 3]`` (root-relative metres, camera axes),
      ``translation [N, S, 3]`` (metres), ``reprojection_error_px [N, S, 17]``,
      ``ipo_poses [N, S, 17, 3]``, ``ipo_translation [N, S, 3]``, and ``seconds`` (wall time)
      and ``compile_seconds`` (ahead-of-time compilation, included in ``seconds``; 0 when
      a previous call compiled the same shapes).
    """
    uv, conf = validate_keypoints(keypoints, confidence)
    n = uv.shape[0]
    Ks = validate_intrinsics(K, n)
    if init_poses is None:
        init = np.broadcast_to(prior.hypotheses(hypotheses)[None], (n, hypotheses, 17, 3))
    else:
        init = validate_init_poses(init_poses, n)
    if temporal is not None:
        from .temporal import SCHEDULE, lift_temporal
        return lift_temporal(prior, uv, conf, Ks, np.ascontiguousarray(init, np.float32),
                             seq=seq, frame=frame, config=config or SCHEDULE, temporal=temporal,
                             windows_per_chunk=chunk_size, devices=devices, log=log)
    config = ZeDOConfig() if config is None else config
    S = init.shape[1]
    devices = tuple(jax.local_devices() if devices is None else devices)
    chunk = default_chunk(n, S, len(devices)) if chunk_size is None else \
        int(math.ceil(chunk_size / len(devices))) * len(devices)
    fn, rep, batch = _compiled(prior.config, prior.sde, config, devices)
    params = jax.device_put(prior.params, rep)

    n_chunks = int(math.ceil(n / chunk))
    outs = {k: [] for k in OUTPUT_KEYS}
    t_start = time.perf_counter()
    times = []
    compile_s = 0.0
    for c in range(n_chunks):
        lo, hi = c * chunk, min((c + 1) * chunk, n)
        idx = np.minimum(np.arange(lo, lo + chunk), n - 1)   # pad by repeating the last frame
        t0 = time.perf_counter()
        args = jax.device_put((init[idx], uv[idx], conf[idx], Ks[idx]), batch)
        if c == 0:
            exe, compile_s = _executable(fn, (params, *args))
        res = jax.device_get(exe(params, *args))
        times.append(time.perf_counter() - t0)
        for k in OUTPUT_KEYS:
            outs[k].append(np.asarray(res[k][: hi - lo]))
        if log is not None and (n_chunks > 1 or c == 0):
            done = time.perf_counter() - t_start
            steady = np.mean(times[1:]) if len(times) > 1 else max(times[0] - compile_s, 0.0)
            eta = steady * (n_chunks - c - 1)
            log(f"[lift] chunk {c + 1}/{n_chunks}: frames {lo}-{hi - 1} x {S} hypotheses "
                f"in {times[-1]:.1f}s"
                f"{f' (incl. {compile_s:.1f}s compile)' if c == 0 and compile_s else ''} | elapsed "
                f"{done:.0f}s, ETA {eta:.0f}s")
    out = {k: np.concatenate(v, 0) for k, v in outs.items()}
    out["seconds"] = time.perf_counter() - t_start
    out["compile_seconds"] = compile_s
    return out
