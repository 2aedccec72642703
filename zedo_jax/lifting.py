"""Lifting any number of frames: fixed-size chunks sharded over all devices (of every process
in a ``jax.distributed`` run: each feeds its slice of every chunk and the results are gathered
on all), progress output, a typed result. Frames lifted on their own and windows of
sequences go through the same driver and the same compiled program,
:func:`zedo_jax.core.program.lift_program` (compiled once per process and kept on disk between
processes, :func:`zedo_jax.runtime.compile_cache.compiled_program`); inputs are checked by
:mod:`zedo_jax.inputs.validation`.

    import zedo_jax
    prior = zedo_jax.load_prior()                        # the shipped prior
    out = zedo_jax.lift(prior, keypoints, K, hypotheses=50)
    out.poses                                            # [N, 50, 17, 3] metres, camera axes
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zedo_jax import export
from zedo_jax.core import camera, selection, skeleton, temporal
from zedo_jax.core.config import LiftConfig, ipo_only, make_config
from zedo_jax.core.program import OUTPUT_KEYS, lift_program
from zedo_jax.evaluation import metrics
from zedo_jax.inputs.types import LiftInput
from zedo_jax.inputs.validation import validate_init_poses, validate_intrinsics, validate_keypoints
from zedo_jax.prior import Prior
from zedo_jax.runtime import distributed, files
from zedo_jax.runtime.compile_cache import compiled_program, echo

#: Every array of a :class:`LiftResult` (the program's, then those computed from them).
RESULT_KEYS = OUTPUT_KEYS + ("selection_score", "best", "plausible")


@dataclasses.dataclass(frozen=True)
class LiftTimings:
    """Wall-clock seconds of one :func:`lift` call.

    Attributes:
      seconds: the whole call.  compile_seconds: ahead-of-time compilation, or loading the
        program compiled by an earlier process (included in ``seconds``; 0 when a previous
        call of this process compiled the same shapes).
    """

    seconds: float = 0.0
    compile_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class TemporalStats:
    """What a lift of sequences (``config.temporal``) adds to a :class:`LiftResult`.

    Attributes:
      windows: windows lifted.  computed_frames: window slots (padding and overlaps
        included).  network_evals_per_frame: score-network evaluations per input frame and
        hypothesis.
    """

    windows: int
    computed_frames: int
    network_evals_per_frame: float


@dataclasses.dataclass(frozen=True)
class LiftResult:
    """What :func:`lift` returns: numpy arrays, plus the timings apart.

    Attributes:
      poses: ``[N, S, 17, 3]`` root-relative metres, camera axes (x right, y down, z forward).
      translation: ``[N, S, 3]`` metres, the camera-frame position of the root.
      reprojection_error_px: ``[N, S, 17]`` pixels.
      ipo_poses: ``[N, S, 17, 3]`` the initial pose after the IPO.  ipo_translation: ``[N, S, 3]``.
      prior_residual: ``[N, S]`` RMS of the network's noise estimate for the final pose (small
        when the prior finds it likely).
      loop_asymmetry: ``[N, S]`` mean relative left/right limb-length difference at the end of
        the loop (before the anatomy steps).
      denoise_error: ``[N, S]`` the prior's denoising error for the final pose at the diffusion
        time ``config.selection.likelihood_t`` (lower = more likely); 0 when S = 1.
      selection_score: ``[N, S]`` lower is better (:func:`zedo_jax.core.selection.rank`).
      best: ``[N]`` int, the hypothesis chosen without ground truth (0 when S = 1).
      plausible: ``[N, S]`` bool, the anatomical rule of
        :func:`zedo_jax.evaluation.metrics.plausibility`.
      timings: :class:`LiftTimings`.
      temporal: :class:`TemporalStats` of a lift of sequences, else ``None``.
    """

    poses: np.ndarray
    translation: np.ndarray
    reprojection_error_px: np.ndarray
    ipo_poses: np.ndarray
    ipo_translation: np.ndarray
    prior_residual: np.ndarray
    loop_asymmetry: np.ndarray
    denoise_error: np.ndarray
    selection_score: np.ndarray
    best: np.ndarray
    plausible: np.ndarray
    timings: LiftTimings = LiftTimings()
    temporal: TemporalStats | None = None

    @property
    def num_hypotheses(self) -> int:
        return self.poses.shape[1]

    @property
    def best_poses(self) -> np.ndarray:
        """``[N, 17, 3]`` each frame's ``best`` hypothesis (chosen without ground truth)."""
        return np.take_along_axis(self.poses, self.best[:, None, None, None], 1)[:, 0]

    def arrays(self) -> dict:
        """The per-frame arrays (:data:`RESULT_KEYS`) by name."""
        return {k: getattr(self, k) for k in RESULT_KEYS}


def _stored(a):
    a = np.asarray(a)
    return a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a


#: File suffixes :func:`save_result` writes.
OUTPUT_SUFFIXES = (".npz", ".json", ".csv", ".bvh")


def save_result(path: str, result: LiftResult, inp: LiftInput | None = None,
                extra: dict | None = None, world=None) -> str:
    """Write a lifting result to ``path``, in the format of its suffix (written to a temporary
    file and renamed into place); returns ``path``.

    ``.npz``: the :class:`LiftResult` arrays but ``ipo_translation`` (``poses [N, S, 17, 3]``
    root-relative metres in camera axes, ``translation [N, S, 3]`` metres, ...), ``extra``
    further per-frame arrays (e.g. the quality fields of
    :func:`zedo_jax.evaluation.quality.assess`) and, with ``inp``, ``K``, ``keypoints`` (the
    Human3.6M input, with confidences), ``frame_ids``, ``image_size``, ``seq``, ``frame`` and
    ``fps`` when known. A temporal result adds ``windows`` and ``network_evals_per_frame``.
    ``.json`` / ``.csv`` / ``.bvh``: each frame's ``best`` hypothesis and the root trajectory
    (:mod:`zedo_jax.export`), in camera axes or, with ``world`` (``"y"``: a level camera, a
    pitch in degrees, or ``"feet"``: estimated), in a y-up world frame.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"output {path}: unknown format {suffix or '(no suffix)'!r}; use one "
                         f"of {', '.join(OUTPUT_SUFFIXES)}")
    fps = None if inp is None else inp.info.get("fps")
    fps = float(np.ravel(fps)[0]) if fps is not None and np.size(fps) else None
    rows = {} if inp is None else {"frame_ids": inp.frame_ids, "frame_index": inp.frame_index,
                                   "person": inp.person}
    if suffix == ".json":
        return export.write_json(path, result, fps=fps, world=world, **rows)
    if suffix == ".csv":
        return export.write_csv(path, result, world=world, **rows)
    if suffix == ".bvh":
        return _save_bvh(path, result, inp, fps or 30.0, "camera" if world is None else world)
    arrays = {k: _stored(v) for k, v in result.arrays().items() if k != "ipo_translation"}
    if result.temporal is not None:
        arrays["windows"] = np.asarray(result.temporal.windows)
        arrays["network_evals_per_frame"] = np.asarray(result.temporal.network_evals_per_frame)
    if inp is not None:
        arrays["K"] = inp.K
        for k in ("seq", "frame", "frame_index", "person"):
            if getattr(inp, k) is not None:
                arrays[k] = getattr(inp, k)
        if inp.person is not None:
            arrays["frames"] = np.asarray(inp.info["frames"])
        if inp.info.get("fps") is not None:
            arrays["fps"] = np.asarray(inp.info["fps"], np.float32)
        arrays["keypoints"] = np.concatenate([inp.keypoints, inp.confidence[..., None]], -1)
        if inp.frame_ids is not None:
            arrays["frame_ids"] = inp.frame_ids
        if inp.image_size is not None:
            arrays["image_size"] = inp.image_size
    arrays.update({k: np.asarray(v) for k, v in (extra or {}).items()})
    return files.save_npz(path, arrays)


def bucket(c: int) -> int:
    """``c`` rounded up to one of a few sizes (powers of two up to 256, then multiples of 256),
    so that inputs of other lengths reuse the programs compiled for earlier ones."""
    return 1 << (c - 1).bit_length() if c <= 256 else -(-c // 256) * 256


def _save_bvh(path: str, result: LiftResult, inp: LiftInput | None, fps: float, up) -> str:
    """One BVH per person: ``path`` itself for one person, else ``STEM_person<ID>.bvh``
    (a BVH holds one skeleton); returns the first path written."""
    poses, root = export.best_hypothesis(result)
    if inp is None or inp.person is None:
        return export.write_bvh(path, poses, root, fps=fps, up=up)
    stem = os.path.splitext(path)[0]
    written = []
    for p in np.unique(inp.person):
        rows = np.flatnonzero(inp.person == p)
        rows = rows[np.argsort(inp.frame_index[rows], kind="stable")]
        written.append(export.write_bvh(f"{stem}_person{int(p)}.bvh", poses[rows], root[rows],
                                        fps=fps, up=up))
    return written[0]


def default_chunk(n: int, S: int, n_dev: int, target_poses: int = 4096) -> int:
    """Windows (frames, when lifted on their own) per compiled chunk for ``n`` of them with
    ``S`` poses each: about ``target_poses`` poses at most, equal chunks (4,800 frames at
    S = 1 are two chunks of 2,400, not 4,096 + 704), rounded up to a :func:`bucket` size and
    to a multiple of the device count. The last chunk is padded."""
    c = max(1, target_poses // max(S, 1))
    c = min(c, n)
    c = bucket(int(math.ceil(n / math.ceil(n / c))))
    return max(n_dev, int(math.ceil(c / n_dev)) * n_dev)


@functools.lru_cache(maxsize=16)
def _compiled(net_config, sde, cfg: LiftConfig, devices: tuple):
    mesh = Mesh(np.asarray(devices), ("batch",))
    batch = NamedSharding(mesh, P("batch"))
    rep = NamedSharding(mesh, P())
    fn = functools.partial(lift_program, net_config=net_config, sde=sde, cfg=cfg)
    return jax.jit(fn, in_shardings=(rep,) + (batch,) * 5, out_shardings=batch), rep, batch


def with_reference_bones(config: LiftConfig, prior: Prior) -> LiftConfig:
    """``config`` with ``anatomy.reference_bones`` taken from the prior's training statistics
    when the anatomy steps need them and none are set (without statistics the steps use only
    the pose's own left/right averages)."""
    if not config.anatomy.enabled or config.anatomy.reference_bones is not None:
        return config
    ref = (prior.stats or {}).get("bone_length_mean_m")
    if ref is None or len(ref) != len(skeleton.BONES):
        return config
    return config.replace(**{"anatomy.reference_bones": tuple(float(v) for v in ref)})


def lift(prior: Prior, keypoints, K, *, confidence=None, hypotheses: int = 1, init_poses=None,
         start_candidates: int = 1, config: LiftConfig | None = None,
         seq=None, frame=None, chunk_size: int | None = None, devices=None,
         log: Callable[[str], None] = echo) -> LiftResult:
    """Lift 2D keypoints to 3D with ZeDO.

    Args:
      prior: a :class:`~zedo_jax.prior.Prior` (``load_prior()``).
      keypoints: ``[N, 17, 2|3]`` pixels (Human3.6M order), optional confidence column.
      K: ``[3, 3]`` or ``[N, 3, 3]`` intrinsics (pixels).
      confidence: optional ``[N, 17]`` in [0, 1]; 0 marks a missing joint.
      hypotheses: ``S``, the number of cluster centres of the prior to start from.
      init_poses: instead of the prior's clusters: ``[S, 17, 3]`` shared initial poses, or
        per-frame poses ``[N, 17, 3]`` / ``[N, S, 17, 3]`` from another lifter (refinement);
        see :func:`zedo_jax.inputs.validate_init_poses`.
      start_candidates: fit the IPO from each of this many cluster centres (e.g. 50) and
        start the loop from the ``hypotheses`` of them whose IPO pose reprojects best over
        all visible joints (:func:`rank_starts`); ``best`` then chooses among those. 1 = the
        prior's ``hypotheses`` cluster centres as they are.
      config: a :class:`~zedo_jax.core.config.LiftConfig`; default ``make_config()`` (the
        ``fast`` schedule with the anatomy steps). ``make_config(schedule="faithful")`` is the
        release exactly; ``make_config(schedule="temporal")`` lifts sequences as windows of
        consecutive frames (``config.temporal``).
      seq, frame: optional ``[N]`` sequence ids and frame indices within them, for a lift of
        sequences (``None`` = one sequence in input order).
      chunk_size: windows (frames, when lifted on their own) per compiled chunk (default:
        about 4096 poses), rounded up to a multiple of the device count. The last chunk is
        padded, so one compilation serves all chunks.
      devices: devices to shard the chunks over (default: ``jax.devices()``, every device of
        every process; in a multi-process run every process calls ``lift`` with the same
        inputs, feeds its devices' share and receives all results).
      log: progress callback (``zedo_jax.runtime.compile_cache.silent`` to mute); process 0 only.
    Returns:
      a :class:`LiftResult`.
    """
    uv, conf = validate_keypoints(keypoints, confidence)
    n = uv.shape[0]
    Ks = validate_intrinsics(K, n)
    config = with_reference_bones(make_config() if config is None else config, prior)
    if chunk_size is not None and (int(chunk_size) != chunk_size or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive number of frames; got {chunk_size}")
    if init_poses is not None and hypotheses != 1:
        raise ValueError(f"init_poses are the initial poses, so hypotheses={hypotheses} would be "
                         f"ignored; pass one of them")
    if int(start_candidates) != start_candidates or start_candidates < 1:
        raise ValueError(f"start_candidates must be a positive number of cluster centres; got "
                         f"{start_candidates}")
    if start_candidates > 1 and (hypotheses > start_candidates or init_poses is not None or
                                 config.temporal is not None):
        raise ValueError(f"start_candidates chooses the {hypotheses} start(s) of a per-frame "
                         f"lift among {start_candidates} cluster centres: need hypotheses <= "
                         f"start_candidates and no init_poses or temporal config, or set "
                         f"start_candidates=1")
    if start_candidates > 1:
        centres, err = rank_starts(prior, uv, conf, Ks, int(start_candidates), config=config,
                                   chunk_size=chunk_size, devices=devices, log=log)
        init = centres[np.argsort(err, 1, kind="stable")[:, :hypotheses]]
    elif init_poses is None:
        init = np.broadcast_to(prior.hypotheses(hypotheses)[None], (n, hypotheses, 17, 3))
    else:
        init = validate_init_poses(init_poses, n)
    init = np.ascontiguousarray(init, np.float32)
    tcfg = config.temporal
    if tcfg is None:
        plan = temporal.single_frames(n)
    else:
        seq = np.zeros(n, np.int64) if seq is None else np.asarray(seq)
        if seq.shape != (n,) or (frame is not None and np.shape(frame) != (n,)):
            raise ValueError(f"seq and frame must have one entry per frame ({n}); got "
                             f"{list(seq.shape)} and {list(np.shape(frame))}")
        plan = temporal.plan_windows(seq, frame, tcfg.window, tcfg.overlap)
    W, T = plan.index.shape
    S = init.shape[1]
    devices = tuple(jax.devices() if devices is None else devices)
    log = distributed.primary_only(log)
    nd = len(devices)
    per = default_chunk(W, T * S, nd) if chunk_size is None else \
        int(math.ceil(chunk_size / nd)) * nd
    fn, rep, batch = _compiled(prior.config, prior.sde, config, devices)
    params = distributed.put_replicated(prior.params, rep)
    what = "frames" if tcfg is None else f"windows of {T} frames,"

    n_chunks = int(math.ceil(W / per))
    outs = {k: [] for k in OUTPUT_KEYS}
    t_start = time.perf_counter()
    times = []
    compile_s = 0.0
    for c in range(n_chunks):
        lo, hi = c * per, min((c + 1) * per, W)
        rows = np.minimum(np.arange(lo, lo + per), W - 1)   # pad by repeating the last window
        idx = plan.index[rows]
        t0 = time.perf_counter()
        args = distributed.put_sharded((init[idx], uv[idx], conf[idx], Ks[idx],
                                        plan.valid[rows].astype(np.float32)), batch)
        if c == 0:
            exe, compile_s = compiled_program(fn, (params, *args),
                                              key=("lift", prior.config, prior.sde, config))
        res = distributed.gather(exe(params, *args))
        files.check_stop()
        times.append(time.perf_counter() - t0)
        for k in OUTPUT_KEYS:
            outs[k].append(np.asarray(res[k][: hi - lo]))
        if log is not None and (n_chunks > 1 or c == 0):
            done = time.perf_counter() - t_start
            steady = np.mean(times[1:]) if len(times) > 1 else max(times[0] - compile_s, 0.0)
            eta = steady * (n_chunks - c - 1)
            log(f"[lift] chunk {c + 1}/{n_chunks}: {what} {lo}-{hi - 1} x {S} hypotheses "
                f"in {times[-1]:.1f}s"
                f"{f' (incl. {compile_s:.1f}s compile)' if c == 0 and compile_s else ''} | elapsed "
                f"{done:.0f}s, ETA {eta:.0f}s")
    arrays = {k: temporal.blend(np.concatenate(v, 0), plan, n) for k, v in outs.items()}
    stats = None if tcfg is None else TemporalStats(
        W, plan.computed_frames,
        temporal.network_evals_per_window(config.loop.steps, tcfg, T) * W / n)
    return make_result(arrays, conf, LiftTimings(time.perf_counter() - t_start, compile_s),
                       stats)


def ipo_fit_error(ipo_poses, ipo_translation, uv, conf, K) -> np.ndarray:
    """Mean reprojection error (pixels) over the visible joints of the IPO's poses.

    Args:
      ipo_poses: ``[N, S, 17, 3]`` root-relative, ipo_translation ``[N, S, 3]`` (metres).
      uv: ``[N, 17, 2]`` pixels.  conf: ``[N, 17]`` (joints with confidence 0 do not count).
      K: ``[N, 3, 3]``.
    Returns:
      ``[N, S]`` pixels.
    """
    X = np.asarray(ipo_poses) + np.asarray(ipo_translation)[:, :, None]
    err = np.asarray(camera.reprojection_error(X, np.asarray(uv)[:, None],
                                               np.asarray(K)[:, None]))
    w = (np.asarray(conf) > 0).astype(np.float32)
    return (err * w[:, None]).sum(-1) / np.maximum(w.sum(-1), 1.0)[:, None]


def rank_starts(prior: Prior, uv, conf, Ks, candidates: int, *,
                config: LiftConfig | None = None, chunk_size: int | None = None, devices=None,
                log=echo):
    """How well the IPO fits each of ``prior.hypotheses(candidates)`` to every frame.

    Runs the IPO alone (:func:`zedo_jax.core.config.ipo_only`) from each cluster centre and
    measures how close its fitted pose (rotation and translation from the IPO's joints, the
    pelvis and hips by default) reprojects to *all* visible joints: the limbs' layout in the
    image tells the posture family (legs bent or straight) before the loop starts.

    Args:
      uv: ``[N, 17, 2]`` pixels.  conf: ``[N, 17]``.  Ks: ``[N, 3, 3]``.
      candidates: the number of cluster centres (a count the prior stores, e.g. 50).
    Returns:
      ``(centres [candidates, 17, 3], error [N, candidates] pixels)``.
    """
    cfg = ipo_only(make_config() if config is None else config)
    centres = prior.hypotheses(candidates)
    out = lift(prior, uv, Ks, confidence=conf, hypotheses=candidates, config=cfg,
               chunk_size=chunk_size, devices=devices, log=log)
    err = ipo_fit_error(out.ipo_poses, out.ipo_translation, uv, conf, Ks)
    return centres, err.astype(np.float32)


def choose_starts(prior: Prior, uv, conf, Ks, candidates: int, *,
                  config: LiftConfig | None = None, chunk_size: int | None = None, devices=None,
                  log=echo):
    """Per frame, the cluster centre the IPO fits best (:func:`rank_starts`): a start for an
    S = 1 lift.

    Returns:
      ``(starts [N, 17, 3], choice [N] int, error [N, candidates] pixels)``.
    """
    centres, err = rank_starts(prior, uv, conf, Ks, candidates, config=config,
                               chunk_size=chunk_size, devices=devices, log=log)
    choice = np.argmin(err, 1)
    return centres[choice], choice, err


def make_result(arrays: dict, conf, timings: LiftTimings,
                temporal_stats: TemporalStats | None = None) -> LiftResult:
    """A :class:`LiftResult` from the program's :data:`OUTPUT_KEYS` arrays (``[N, S, ...]``)
    and the confidences ``[N, 17]``: adds the selection and plausibility arrays."""
    arrays = dict(arrays)
    arrays["selection_score"], arrays["best"] = selection.rank(
        arrays["poses"], arrays["reprojection_error_px"], conf, arrays["prior_residual"],
        arrays["loop_asymmetry"], denoise_error=arrays["denoise_error"])
    arrays["plausible"] = metrics.plausibility(arrays["poses"])["plausible"]
    return LiftResult(**arrays, timings=timings, temporal=temporal_stats)
