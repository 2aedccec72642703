"""Training the score prior: Optax optimiser, EMA, a jit-ed data-parallel step, and a resumable
training loop with Orbax checkpoints (the release's recipe).

Library use (what ``python -m launch.train`` does)::

    from zedo_jax import data, train
    poses = data.load_poses("cmu_h36m17.npz", split="train")
    state = train.fit(train.TrainConfig(steps=20000), poses, workdir="runs/prior")
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import threading
import time
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zedo_jax.training import checkpoint as ckpt_lib, clustering
from zedo_jax.training import data as data_lib
from zedo_jax.runtime import distributed
from zedo_jax.training import losses
from zedo_jax.core import model as model_lib, sde as sde_lib
from zedo_jax.runtime.compile_cache import echo


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (defaults = the release's).

    Attributes:
      model: network architecture.
      sde: the diffusion (sub-VP, beta in [0.1, 20], T = 1).
      loss: DSM loss options.
      augment: virtual-camera augmentation (used for world-frame data).
      steps: total optimisation steps of the run.
      batch_size: poses per step (1024, supplementary Table 5); divisible by the device count.
      lr, warmup_steps: Adam learning rate 2e-4 with linear warm-up from 0 over 5000 steps.
      decay: ``"none"`` (the release's constant rate after warm-up) or ``"cosine"`` (from
        ``lr`` at the end of warm-up to 0 at ``steps``: a closing anneal of a fine-tune).
      beta1, beta2, adam_eps: Adam moments (0.9, 0.999, 1e-8).
      grad_clip: global-norm clipping (1.0).
      ema_rate: EMA decay (0.9999) with the ``(1+n)/(10+n)`` warm-up.
      seed: PRNG seed for initialisation, data order, augmentation, noise and dropout.
    """

    model: model_lib.ScoreNetConfig = model_lib.ScoreNetConfig()
    sde: Any = sde_lib.SubVPSDE()
    loss: losses.LossConfig = losses.LossConfig()
    augment: data_lib.AugmentConfig = data_lib.AugmentConfig()
    steps: int = 100_000
    batch_size: int = 1024
    lr: float = 2e-4
    warmup_steps: int = 5000
    decay: str = "none"
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8
    grad_clip: float = 1.0
    ema_rate: float = 0.9999
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1; got {self.steps}, "
                             f"{self.batch_size}")
        if not self.lr > 0 or not 0 < self.ema_rate < 1:
            raise ValueError(f"need lr > 0 and 0 < ema_rate < 1; got {self.lr}, {self.ema_rate}")
        if self.decay not in ("none", "cosine"):
            raise ValueError(f"decay must be 'none' or 'cosine'; got {self.decay!r}")
        if not 0 <= self.model.dropout < 1:
            raise ValueError(f"model.dropout must lie in [0, 1); got {self.model.dropout}")


@flax.struct.dataclass
class TrainState:
    """Pytree of everything that changes during training."""

    step: jax.Array
    params: Any
    ema_params: Any
    opt_state: Any


def learning_rate(cfg: TrainConfig):
    """The learning rate at Adam's update count: ``lr * min(count / warmup, 1)`` (first update
    lr 0), times ``(1 + cos(pi * progress)) / 2`` after warm-up when ``cfg.decay == "cosine"``
    (progress 0 at the end of warm-up, 1 at ``cfg.steps``)."""
    warmup = max(cfg.warmup_steps, 1)

    def schedule(count):
        lr = cfg.lr * jnp.minimum(count / warmup, 1.0)
        if cfg.decay == "cosine":
            progress = jnp.clip((count - warmup) / max(cfg.steps - warmup, 1), 0.0, 1.0)
            lr = lr * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
        return lr
    return schedule


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """``clip_by_global_norm`` then Adam at :func:`learning_rate`."""
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                       optax.adam(learning_rate(cfg), b1=cfg.beta1, b2=cfg.beta2,
                                  eps=cfg.adam_eps))


def ema_update(ema_params, params, num_updates, rate: float):
    """``ema <- ema - (1 - d)(ema - params)`` with ``d = min(rate, (1 + n) / (10 + n))``, ``n``
    counting this update (n = 1 at the first call), as in the release's ``ema.py``."""
    n = jnp.asarray(num_updates, jnp.float32)
    d = jnp.minimum(rate, (1.0 + n) / (10.0 + n))
    return jax.tree_util.tree_map(lambda e, p: e - (1.0 - d) * (e - p), ema_params, params)


def create_state(cfg: TrainConfig, key=None) -> TrainState:
    """A fresh :class:`TrainState` (EMA initialised to the initial weights)."""
    key = jax.random.PRNGKey(cfg.seed) if key is None else key
    params = model_lib.init_params(cfg.model, key)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      ema_params=jax.tree_util.tree_map(jnp.copy, params),
                      opt_state=make_optimizer(cfg).init(params))


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh with axis ``'batch'`` over ``devices`` (by default every device of every
    process: the local devices in a single-process run, see :mod:`zedo_jax.runtime.distributed`)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("batch",))


def _apply_fn(net_cfg):
    """The network in the loss: :func:`zedo_jax.model.train_apply` (the module's training
    forward, written out; the same dropout masks)."""
    def apply(params, x, label, train, rngs):
        return model_lib.train_apply(params, net_cfg, x, label,
                                     rngs["dropout"] if train else None)
    return apply


def make_train_step(cfg: TrainConfig, frame: str, mesh: Mesh, weighted: bool | None = None):
    """A jit-ed ``step(state, poses, order) -> (state, metrics)``.

    ``poses`` ``[F, 17, 3]`` is the whole (root-relative) training set, replicated on every
    device; ``order`` ``[F]`` is what the batch is drawn from, given by :class:`DataOrder`: the
    step's epoch permutation (uniform epochs), or the running sum of the sampling weights
    (with replacement: ``weighted``, by default when ``cfg.augment.rebalance_power > 0``; a
    set combined from several files with shares is weighted too). The step touches only the
    ``batch_size`` entries it draws, so its cost does not depend on ``F``. It applies the
    augmentations and shards the batch over the mesh's ``'batch'`` axis. Parameters and
    optimiser state are replicated; the state is donated. All randomness derives from
    ``(cfg.seed, step)``.
    """
    tx = make_optimizer(cfg)
    apply = _apply_fn(cfg.model)
    batch_sharding = NamedSharding(mesh, P("batch"))
    replicated = NamedSharding(mesh, P())
    k_data, k_aug, k_loss = _keys(cfg)
    weighted = cfg.augment.rebalance_power > 0 if weighted is None else weighted

    def step_fn(state: TrainState, poses, order):
        if weighted:
            idx = data_lib.cdf_batch_indices(k_data, state.step, order, cfg.batch_size)
        else:
            idx = data_lib.permutation_batch_indices(order, state.step, cfg.batch_size)
        x0 = jax.lax.with_sharding_constraint(poses[idx], batch_sharding)
        x0 = data_lib.augment(jax.random.fold_in(k_aug, state.step), x0, frame, cfg.augment)
        x0 = jax.lax.with_sharding_constraint(x0, batch_sharding)
        key = jax.random.fold_in(k_loss, state.step)
        loss, grads = jax.value_and_grad(
            lambda p: losses.dsm_loss(apply, p, x0, key, cfg.sde, cfg.loss))(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema = ema_update(state.ema_params, params, state.step + 1, cfg.ema_rate)
        grad_norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
        metrics = {"loss": loss, "grad_norm": grad_norm}
        return TrainState(step=state.step + 1, params=params, ema_params=ema,
                          opt_state=opt_state), metrics

    return jax.jit(step_fn, in_shardings=(replicated, replicated, replicated),
                   out_shardings=(replicated, replicated), donate_argnums=(0,))


def _keys(cfg: TrainConfig):
    """The data-order, augmentation and loss keys of a run."""
    base = jax.random.PRNGKey(cfg.seed)
    return tuple(jax.random.fold_in(base, i) for i in (1, 2, 3))


class DataOrder:
    """The ``order`` argument of the step of :func:`make_train_step` at each step.

    ``DataOrder(cfg, num_poses, weights, mesh)(step)`` is, for uniform epochs (``weights``
    None), the permutation of the epoch of ``step`` (computed on device when the epoch changes,
    once per ``ceil(F / batch_size)`` steps, and kept until the next), and with sampling
    weights ``[F]`` their running sum (computed once). Both derive from ``(cfg.seed, step)`` only, so
    a resumed run sees the same data order.
    """

    def __init__(self, cfg: TrainConfig, num_poses: int, weights=None,
                 mesh: Mesh | None = None):
        mesh = make_mesh() if mesh is None else mesh
        self._replicated = NamedSharding(mesh, P())
        self._weighted = weights is not None
        self._steps_per_epoch = data_lib.steps_per_epoch(num_poses, cfg.batch_size)
        self._epoch, self._order = None, None
        k_data = _keys(cfg)[0]
        if self._weighted:
            if len(weights) != num_poses:
                raise ValueError(f"weighted sampling needs {num_poses} weights; got "
                                 f"{len(weights)}")
            w = distributed.put_replicated(np.asarray(weights, np.float32), self._replicated)
            self._order = jax.jit(data_lib.cumulative_weights,
                                  out_shardings=self._replicated)(w)
        else:
            self._permutation = jax.jit(
                lambda epoch: data_lib.epoch_permutation(k_data, epoch, num_poses),
                out_shardings=self._replicated)

    def epoch(self, step: int) -> int:
        return step // self._steps_per_epoch

    def __call__(self, step: int) -> jax.Array:
        if self._weighted:
            return self._order
        epoch = self.epoch(step)
        if epoch != self._epoch:
            self._order = self._permutation(
                distributed.put_replicated(np.int32(epoch), self._replicated))
            self._epoch = epoch
        return self._order


def flops_per_pose(net_cfg: model_lib.ScoreNetConfig, training: bool = True,
                   time_branch: bool = True) -> float:
    """Matmul FLOPs of one network evaluation per pose (x3 for forward + backward in training).

    ``time_branch=False`` leaves out the layers that depend only on t (shared across a batch
    at inference).
    """
    h, e, p = net_cfg.hidden_dim, net_cfg.embed_dim, net_cfg.pose_dim
    trunk = p * h + 2 * net_cfg.n_blocks * h * h + h * p
    tbranch = e * e + (1 + 2 * net_cfg.n_blocks) * e * h
    f = 2.0 * (trunk + (tbranch if time_branch else 0))
    return 3.0 * f if training else f


def _check_batch(cfg: TrainConfig, mesh: Mesh, num_poses: int):
    n_dev = mesh.devices.size
    if cfg.batch_size <= 0 or cfg.batch_size % n_dev:
        raise ValueError(f"batch_size={cfg.batch_size} must be a positive multiple of the "
                         f"number of devices ({n_dev})")
    if num_poses == 0:
        raise ValueError("the training split is empty")


def fit(cfg: TrainConfig, poses: data_lib.PoseSet, workdir: str, *, log_every: int = 100,
        checkpoint_every: int = 1000, keep: int = 3, mesh: Mesh | None = None,
        init_params: tuple | None = None, log: Callable[[str], None] = echo) -> TrainState:
    """Train (or resume) a prior in ``workdir`` until ``cfg.steps``.

    ``init_params``: ``(params, ema_params)`` to start a new run from (fine-tuning an existing
    prior, e.g. with new augmentations); the optimiser starts fresh. Ignored when resuming.

    Resumes from the latest checkpoint in ``workdir/checkpoints`` (the network/SDE recorded
    there must match ``cfg``). Saves every ``checkpoint_every`` steps, at the end, and on
    Ctrl-C / SIGTERM (then re-raises ``KeyboardInterrupt``); keeps the last ``keep``. Logs loss,
    steps/s, poses/s and ETA every ``log_every`` steps, and appends them to
    ``workdir/metrics.jsonl``.
    """
    mesh = make_mesh() if mesh is None else mesh
    log = distributed.primary_only(log)          # several processes: log and write once
    primary = distributed.is_primary()
    _check_batch(cfg, mesh, len(poses))
    os.makedirs(workdir, exist_ok=True)
    manager = ckpt_lib.TrainCheckpoints(workdir, keep=keep)
    meta = ckpt_lib.run_metadata(cfg, poses)
    replicated = NamedSharding(mesh, P())
    state = manager.restore_latest(lambda: create_state(cfg), meta, replicated)
    if state is None:
        state = create_state(cfg)
        if init_params is not None:
            params, ema = (model_lib.adapt_params(p, cfg.model) for p in init_params)
            if jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(
                    state.params) or any(a.shape != b.shape for a, b in zip(
                        jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(
                            state.params))):
                raise ValueError("init_params do not match the network of the training config "
                                 "(use the same --config.model.* sizes)")
            state = state.replace(params=params, ema_params=ema)
            log("[train] starting from the given weights (fine-tuning)")
        state = distributed.put_replicated(state, replicated)
        log(f"[train] new run in {workdir}: {model_lib.count_params(state.params):,} parameters, "
            f"{len(poses):,} poses ({poses.source}, {poses.frame} frame), "
            f"{mesh.devices.size} device(s) [{jax.default_backend()}]"
            + (f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""))
    else:
        log(f"[train] resumed {workdir} at step {int(state.step)}")
    start = int(state.step)
    if start >= cfg.steps:
        log(f"[train] already at step {start} >= steps={cfg.steps}; nothing to do")
        return state

    device_poses = distributed.put_replicated(np.asarray(poses.poses), replicated)
    aug = cfg.augment
    weights = poses.weights
    if aug.rebalance_power > 0:
        rebalance = clustering.rebalance_weights(poses, aug.rebalance_clusters,
                                                 aug.rebalance_power, jax.random.PRNGKey(cfg.seed))
        log(f"[train] rebalanced sampling: weights from {aug.rebalance_clusters} posture "
            f"clusters, power {aug.rebalance_power} (max/min weight "
            f"{rebalance.max() / rebalance.min():.1f})")
        weights = rebalance if weights is None else rebalance * weights
    if weights is not None:
        weights = np.asarray(weights, np.float64) / np.sum(weights)
    step_fn = make_train_step(cfg, poses.frame, mesh, weighted=weights is not None)
    order = DataOrder(cfg, len(poses), weights, mesh)
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    fpp = flops_per_pose(cfg.model, training=True)

    # Ctrl-C / SIGTERM only set a flag, so the state is saved at a step boundary (a second
    # Ctrl-C interrupts at once).
    interrupted = []

    def on_signal(signum, frame):
        if interrupted and signum == signal.SIGINT:
            raise KeyboardInterrupt
        interrupted.append(signal.Signals(signum).name)

    handlers = {}
    if threading_is_main():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, on_signal)

    multi, agreed = distributed.is_multiprocess(), []
    t_last, s_last, losses_acc = time.perf_counter(), start, []
    t_compile = None
    step = start
    try:
        while step < cfg.steps:
            if interrupted and not multi:
                raise KeyboardInterrupt(interrupted[0])
            t0 = time.perf_counter()
            state, m = step_fn(state, device_poses, order(step))
            step += 1
            if t_compile is None:  # the first call compiles; time steady state from here
                jax.block_until_ready(m["loss"])
                t_compile = time.perf_counter() - t0
                t_last, s_last = time.perf_counter(), step
            losses_acc.append(m["loss"])
            if step % log_every == 0 or step == cfg.steps:
                loss = float(np.mean(jax.device_get(losses_acc)))
                if not np.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at step {step}; lower --lr or "
                                             f"check the data")
                now = time.perf_counter()
                # Speed from the steps after the compiling one; none yet: unknown, not zero.
                sps = (step - s_last) / max(now - t_last, 1e-9) if step > s_last else None
                eta = (cfg.steps - step) / sps if sps else float("nan")
                rec = {"step": step, "loss": loss, "grad_norm": float(m["grad_norm"]),
                       "steps_per_s": sps, "poses_per_s": sps and sps * cfg.batch_size,
                       "gflops": sps and sps * cfg.batch_size * fpp / 1e9, "time": time.time()}
                speed = (f"{sps:.2f} steps/s ({sps * cfg.batch_size:,.0f} poses/s)" if sps
                         else "speed from the next log line on")
                log(f"[train] step {step}/{cfg.steps} loss {loss:.4f} | {speed} "
                    f"| ETA {_fmt_time(eta)}"
                    + (f" | first step (compile) {t_compile:.1f}s" if step - start <= log_every
                       else ""))
                if primary:
                    with open(metrics_path, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                losses_acc, t_last, s_last = [], now, step
            if multi and (step % log_every == 0 or step % checkpoint_every == 0) and \
                    distributed.any_process(bool(interrupted)):
                # Processes stop together: a signal seen by one is agreed on at a boundary.
                agreed.append(step)
                raise KeyboardInterrupt(interrupted[0] if interrupted else "peer")
            if step % checkpoint_every == 0 or step == cfg.steps:
                manager.save(step, state, meta)
    except KeyboardInterrupt:
        if multi and not agreed:   # a second Ctrl-C: saving needs every process, so just exit
            raise
        step = int(state.step)
        log(f"[train] interrupted at step {step}; saving a checkpoint before exiting")
        manager.save(step, state, meta, force=True)
        manager.close()
        raise
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    manager.close()
    log(f"[train] done: step {int(state.step)}, checkpoints in {manager.directory}")
    return state


def threading_is_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _fmt_time(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"

