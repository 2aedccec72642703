"""Throughput measurements (used by ``python -m experiments.benchmark``).

Every figure is paired with a float32 matmul peak measured in the same process, so the ratio
(achieved / peak) is comparable across machines. FLOPs count the network's matmuls only
(2 * in * out per dense layer and pose; x3 for a training step), which is where the time should
go; the geometric parts (least squares, ray step) and GroupNorm are overhead in this count.
"""
from __future__ import annotations

import math
import os
import platform
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from zedo_jax import lifting
from zedo_jax.core import camera, model as model_lib, program, sde as sde_lib
from zedo_jax.core.config import LiftConfig, make_config
from zedo_jax.evaluation import metrics
from zedo_jax.official import torch_reference
from zedo_jax.runtime.compile_cache import silent
from zedo_jax.training import data as data_lib, losses, recipes, trainer as train


def machine() -> dict:
    """A short description of the machine and backend."""
    devs = jax.devices()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {"backend": jax.default_backend(), "devices": [d.device_kind for d in devs],
            "device_count": len(devs), "cpu": cpu, "cpu_count": os.cpu_count(),
            "jax": jax.__version__}


def _time(fn, *args, repeats: int = 3):
    """(first-call seconds, best steady seconds) of ``fn(*args)`` (blocking)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return first, best


def matmul_peak(n: int | None = None, repeats: int = 5, m: int | None = None,
                k: int | None = None) -> dict:
    """Best float32 ``[m, k] @ [k, n]`` throughput (FLOP/s) on the default device; square
    ``n`` (2048 on CPU, 8192 on accelerators) unless ``m``/``k`` are given."""
    if n is None:
        n = 2048 if jax.default_backend() == "cpu" else 8192
    m = n if m is None else m
    k = n if k is None else k
    a = jax.random.normal(jax.random.PRNGKey(0), (m, k), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (k, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    _, best = _time(f, a, b, repeats=repeats)
    return {"shape": [m, k, n], "n": n, "seconds": best, "flops_per_s": 2.0 * m * k * n / best}


def synthetic_world_poses(n: int, seed: int = 0) -> np.ndarray:
    """``n`` root-relative world-frame (z up) poses: a standing pose with 5 cm joint noise, a
    stand-in for a pose file in throughput runs (the step's cost does not depend on the
    values)."""
    rng = np.random.default_rng(seed)
    standing = _STANDING[:, [0, 2, 1]] * np.array([1.0, 1.0, -1.0], np.float32)   # y down -> z up
    poses = standing[None] + 0.05 * rng.standard_normal((n, 17, 3)).astype(np.float32)
    return poses - poses[:, :1]


def _train_setup(net_cfg, batch: int, recipe: str, poses, frame: str, mesh):
    cfg = train.TrainConfig(model=net_cfg, batch_size=batch, warmup_steps=10,
                            augment=recipes.augment_config(recipe),
                            loss=recipes.loss_config(recipe))
    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    # Rebalanced sampling draws from weights; their values do not change the step's cost, so
    # random ones stand in for the k-means estimate of a real run.
    weights = np.random.default_rng(0).random(len(poses)) + 0.5
    weighted = cfg.augment.rebalance_power > 0
    order = train.DataOrder(cfg, len(poses), weights / weights.sum() if weighted else None, mesh)
    return cfg, train.make_train_step(cfg, frame, mesh), order, jax.device_put(
        train.create_state(cfg), rep)


def _trials(run, steps: int, trials: int):
    """(best, median) seconds per step of ``run(n)`` (``n`` blocking steps) over ``trials``
    trials of ``steps / trials`` steps: the best trial is the speed of the machine when
    nothing else runs on it."""
    n = max(1, steps // trials)
    per = []
    for _ in range(max(1, trials)):
        t0 = time.perf_counter()
        run(n)
        per.append((time.perf_counter() - t0) / n)
    return float(min(per)), float(np.median(per))


def bench_train(net_cfg: model_lib.ScoreNetConfig, batch: int = 1024, steps: int = 20,
                peak: float | None = None, recipe: str = "none", poses=None,
                frame: str = "camera", trials: int = 4) -> dict:
    """Training steps/s at ``batch`` (all local devices) with the named recipe
    (:data:`zedo_jax.training.recipes.RECIPES`), as :func:`zedo_jax.training.trainer.fit` runs them: the
    jit-ed step on the whole pose set, its data order from :class:`zedo_jax.training.trainer.DataOrder`.

    ``poses``: ``[F, 17, 3]`` root-relative poses in ``frame`` (default: 8,192 random
    camera-frame poses, the network alone: no virtual camera). Times ``steps`` steps in
    ``trials`` trials after two untimed ones (the first compiles); ``step_s`` is the best
    trial, ``step_s_median`` the median one."""
    mesh = train.make_mesh()
    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    if poses is None:
        poses = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (8192, 17, 3)) * 0.3)
    cfg, step, order, state = _train_setup(net_cfg, batch, recipe, poses, frame, mesh)
    dev_poses = jax.device_put(np.asarray(poses, np.float32), rep)
    t0 = time.perf_counter()
    state, m = step(state, dev_poses, order(0))
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    state, m = step(state, dev_poses, order(1))
    jax.block_until_ready(m)
    i = [2]

    def run(n):
        nonlocal state
        for _ in range(n):
            state, m = step(state, dev_poses, order(i[0]))
            i[0] += 1
        jax.block_until_ready(m)
    dt, median = _trials(run, steps, trials)
    fpp = train.flops_per_pose(net_cfg, training=True)
    out = {"recipe": recipe, "frame": frame, "poses": len(poses), "batch": batch,
           "compile_s": compile_s, "step_s": dt, "step_s_median": median, "steps_per_s": 1 / dt,
           "poses_per_s": batch / dt, "flops_per_pose": fpp, "flops_per_s": batch * fpp / dt}
    if peak:
        out["fraction_of_peak"] = out["flops_per_s"] / peak
    return out


def profile_train(net_cfg: model_lib.ScoreNetConfig, batch: int = 1024, poses=None,
                  frame: str = "world", repeats: int = 8,
                  log: Callable[[str], None] = silent) -> list[dict]:
    """Milliseconds of the pieces of a training step, each jit-ed on its own and timed
    (best of ``repeats`` passes over all pieces) on ``poses`` (default 455,152 synthetic world-frame poses, the size
    of ``cmu_full_h36m17.npz``): the data order (a permutation of the whole set, which the
    step used to draw at every step, against the slice the step takes now), the gather and
    augmentations of each recipe, the dropout masks, the loss and its gradient (the Flax
    module and :func:`zedo_jax.model.train_apply`), the optimiser and EMA, and the whole
    step. Returns ``[{piece, ms, note}]``."""
    poses = synthetic_world_poses(455_152) if poses is None else poses
    n = len(poses)
    cfg = train.TrainConfig(model=net_cfg, batch_size=batch, warmup_steps=10)
    mesh = train.make_mesh()
    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    dev_poses = jax.device_put(np.asarray(poses, np.float32), rep)
    key = jax.random.PRNGKey(0)
    state = jax.device_put(train.create_state(cfg), rep)
    x0 = jnp.asarray(poses[:batch])
    pieces = []

    def add(piece, fn, *args, note=""):
        jax.block_until_ready(fn(*args))          # compile
        pieces.append((piece, fn, args, note))

    order = train.DataOrder(cfg, n, mesh=mesh)
    perm = order(0)
    add("data order: whole-set permutation at every step (before)",
        jax.jit(lambda s: data_lib.epoch_batch_indices(key, s, n, batch)), 3,
        note=f"{n:,} poses")
    add("data order: the step's slice of the epoch permutation",
        jax.jit(lambda p, s: data_lib.permutation_batch_indices(p, s, batch)), perm, 3)
    add("data order: epoch permutation (once per epoch)",
        jax.jit(lambda e: data_lib.epoch_permutation(key, e, n)), 1,
        note=f"once per {data_lib.steps_per_epoch(n, batch)} steps")
    w = jnp.full((n,), 1.0 / n)
    cdf = data_lib.cumulative_weights(w)
    add("weighted draw with jax.random.choice(p=...) (before)",
        jax.jit(lambda w, s: jax.random.choice(jax.random.fold_in(key, s), n, (batch,),
                                               p=w)), w, 3)
    add("weighted draw from the running sum (now)",
        jax.jit(lambda c, s: data_lib.cdf_batch_indices(key, s, c, batch)), cdf, 3)
    for name in recipes.RECIPES:
        aug = recipes.augment_config(name)
        add(f"gather + augment, recipe {name}",
            jax.jit(lambda p, i, a=aug: data_lib.augment(
                key, p[data_lib.permutation_batch_indices(i, 3, batch)], frame, a)),
            dev_poses, perm)
    h = net_cfg.hidden_dim
    layers = 1 + 2 * net_cfg.n_blocks
    keys = jax.random.split(key, layers)
    add("dropout masks, jax.random.bernoulli (the module)",
        jax.jit(lambda ks: [jax.random.bernoulli(k, 0.75, (batch, h)) for k in ks]), keys)
    add("dropout masks, model.dropout_keep (now)",
        jax.jit(lambda ks: [model_lib.dropout_keep(k, (batch, h), 0.75) for k in ks]), keys)
    net = model_lib.ScoreNet(net_cfg)
    flax_apply = lambda p, x, l, tr, rngs: net.apply(p, x, l, train=tr, rngs=rngs)
    loss = lambda apply: (lambda p, x: losses.dsm_loss(apply, p, x, key, cfg.sde, cfg.loss))
    for label, apply in (("Flax module (before)", flax_apply),
                         ("model.train_apply (now)", train._apply_fn(net_cfg))):
        add(f"loss forward, {label}", jax.jit(loss(apply)), state.params, x0)
        add(f"loss + gradient, {label}", jax.jit(jax.value_and_grad(loss(apply))),
            state.params, x0)
    tx = train.make_optimizer(cfg)

    def opt(st, grads):
        updates, o = tx.update(grads, st.opt_state, st.params)
        params = optax.apply_updates(st.params, updates)
        return params, train.ema_update(st.ema_params, params, st.step + 1, cfg.ema_rate), o
    add("clip + Adam + EMA", jax.jit(opt), state, state.params)
    step = train.make_train_step(cfg, frame, mesh)
    box = [jax.device_put(train.create_state(cfg), rep)]   # donated by the step

    def full():
        box[0], m = step(box[0], dev_poses, perm)
        return m
    add("whole step (recipe none)", full)
    # Passes over all pieces, best of each: a piece is not timed only while something else
    # happens to load the machine.
    best = [np.inf] * len(pieces)
    for _ in range(repeats):
        for i, (_, fn, args, _) in enumerate(pieces):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            best[i] = min(best[i], time.perf_counter() - t0)
    rows = [{"piece": piece, "ms": 1e3 * b, "note": note}
            for (piece, _, _, note), b in zip(pieces, best)]
    for r in rows:
        log(f"[profile] {r['piece']}: {r['ms']:.2f} ms")
    return rows


def torch_train_loop(poses, hidden_dim: int = 1024, embed_dim: int = 512, batch: int = 1024,
                     steps: int = 20, warmup: int = 2, frame: str = "world",
                     threads: int | None = None, seed: int = 0, trials: int = 4) -> dict:
    """Training poses/s of the release's way of training, in PyTorch: one Python step per batch
    of the official network (:func:`zedo_jax.torch_reference.torch_reference_net`, dropout on)
    with the same recipe as :func:`zedo_jax.training.trainer.make_train_step` with ``--recipe none``: an
    epoch permutation (``torch.randperm``), a virtual camera per pose for world-frame poses,
    sub-VP times U[1e-5, 1), epsilon-matching half-sum loss, global-norm clipping at 1, Adam
    (2e-4, linear warm-up) and an EMA of the weights (0.9999 with the warm-up).

    Args:
      poses: ``[F, 17, 3]`` root-relative poses (numpy).
      steps: timed steps, after ``warmup`` untimed ones, in ``trials`` trials (``step_s``: the
        best trial, as :func:`bench_train`).
      threads: ``torch.set_num_threads`` (default: PyTorch's).
    Raises ``ImportError`` (with an install hint) when PyTorch is missing.
    """
    torch = torch_reference._import_torch()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net = torch_reference.torch_reference_net(hidden_dim, embed_dim)
    net.train()
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8)
    ema = [p.detach().clone() for p in params]
    data = torch.from_numpy(np.ascontiguousarray(poses, np.float32))
    n = data.shape[0]
    bmin, bmax, eps_t = 0.1, 20.0, 1e-5
    state = {"perm": torch.randperm(n), "pos": 0}

    def next_batch():
        if state["pos"] + batch > n:
            state["perm"], state["pos"] = torch.randperm(n), 0
        idx = state["perm"][state["pos"]: state["pos"] + batch]
        state["pos"] += batch
        x = data[idx]
        if frame == "world":           # a virtual camera per pose (x right, y down, z forward)
            u = torch.rand(batch, 4)
            yaw = u[:, 0] * 2 * math.pi
            dist, height = 3.5 + 2.5 * u[:, 1], 1.0 + u[:, 2]
            pitch = torch.atan2(height - 0.95, dist) + math.radians(5.0) * (2 * u[:, 3] - 1)
            fwd = torch.stack([-torch.cos(yaw) * torch.cos(pitch),
                               -torch.sin(yaw) * torch.cos(pitch), -torch.sin(pitch)], -1)
            right = torch.nn.functional.normalize(
                torch.linalg.cross(fwd, torch.tensor([0.0, 0.0, 1.0]).expand_as(fwd)), dim=-1)
            R = torch.stack([right, torch.linalg.cross(fwd, right), fwd], -2)
            x = torch.einsum("bij,bnj->bni", R, x)
        return x

    def step(i):
        x0 = next_batch()
        t = torch.rand(batch) * (1.0 - eps_t) + eps_t
        integral = bmin * t + 0.5 * (bmax - bmin) * t ** 2
        mean, std = torch.exp(-0.5 * integral), -torch.expm1(-integral)
        z = torch.randn_like(x0)
        xt = mean[:, None, None] * x0 + std[:, None, None] * z
        out = net(xt, 999.0 * t)
        loss = 0.5 * ((out - z) ** 2).reshape(batch, -1).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for g in opt.param_groups:
            g["lr"] = 2e-4 * min(i / 5000, 1.0)
        opt.step()
        with torch.no_grad():
            d = min(0.9999, (1.0 + i + 1) / (10.0 + i + 1))
            for e, p in zip(ema, params):
                e.sub_((1.0 - d) * (e - p))
        return loss

    for i in range(warmup):
        step(i)
    it = [warmup]

    def run(k):
        for _ in range(k):
            loss = step(it[0])
            it[0] += 1
        float(loss.detach())
    dt, median = _trials(run, steps, trials)
    return {"batch": batch, "step_s": dt, "step_s_median": median, "steps_per_s": 1 / dt,
            "poses_per_s": batch / dt, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "poses": n}


def _synthetic_frames(n: int, key):
    """Keypoints of random plausible poses 4-5 m in front of a Human3.6M-like camera."""
    k1, k2 = jax.random.split(key)
    base = jnp.asarray(_STANDING)
    poses = base + 0.05 * jax.random.normal(k1, (n, 17, 3))
    T = jnp.stack([jnp.zeros(n), jnp.zeros(n), 4.0 + jax.random.uniform(k2, (n,))], -1)
    K = jnp.broadcast_to(jnp.asarray(camera.intrinsics(1145.0, 1144.0, 512.5, 501.9)), (n, 3, 3))
    uv = camera.project(poses + T[:, None], K)
    return uv, jnp.ones((n, 17)), K


_STANDING = np.array([[0, 0, 0], [.13, 0, 0], [.13, .45, 0], [.13, .88, .05], [-.13, 0, 0],
                      [-.13, .45, 0], [-.13, .88, .05], [0, -.23, 0], [0, -.48, 0],
                      [0, -.58, -.05], [0, -.7, 0], [-.17, -.45, 0], [-.2, -.2, 0],
                      [-.22, .05, 0], [.17, -.45, 0], [.2, -.2, 0], [.22, .05, 0]], np.float32)


def bench_lift(net_cfg: model_lib.ScoreNetConfig, batch: int, hypotheses: int = 1,
               cfg: LiftConfig = LiftConfig().replace(**{"ipo.steps": 50, "loop.steps": 100}),
               peak: float | None = None) -> dict:
    """Fused IPO + loop on ``batch`` frames x ``hypotheses`` (random network weights)."""
    params = model_lib.init_params(net_cfg, jax.random.PRNGKey(0))
    uv, conf, K = _synthetic_frames(batch, jax.random.PRNGKey(1))
    init = jnp.broadcast_to(jnp.asarray(_STANDING)[None, None], (batch, hypotheses, 17, 3))
    init, uv, conf, K = init[:, None], uv[:, None], conf[:, None], K[:, None]   # T = 1
    valid = jnp.ones((batch, 1), jnp.float32)

    def program_of(c):
        return jax.jit(lambda p, i, u, cf, k, v: program.lift_program(
            p, i, u, cf, k, v, net_config=net_cfg, sde=sde_lib.SubVPSDE(), cfg=c))
    fn = program_of(cfg)
    fn_ipo = program_of(cfg.replace(**{"loop.steps": 0}))   # to separate the IPO's cost
    first, total = _time(fn, params, init, uv, conf, K, valid)
    _, ipo_s = _time(fn_ipo, params, init, uv, conf, K, valid)
    loop_s = max(total - ipo_s, 1e-9)
    pose_iters = batch * hypotheses * cfg.loop.steps
    fpp = train.flops_per_pose(net_cfg, training=False, time_branch=False)
    out = {"batch": batch, "hypotheses": hypotheses, "ipo_steps": cfg.ipo.steps,
           "oil_steps": cfg.loop.steps, "compile_s": max(first - total, 0.0),
           "total_s": total, "ipo_s": ipo_s, "loop_s": loop_s,
           "pose_iterations_per_s": pose_iters / loop_s,
           "flops_per_pose_iteration": fpp, "flops_per_s": pose_iters * fpp / loop_s,
           "translation_solver": cfg.loop.translation_solver}
    if peak:
        out["fraction_of_peak"] = out["flops_per_s"] / peak
    return out


def train_poses(path: str | None = None, n: int = 455_152):
    """``(poses, frame, description)`` for the training benchmark: the train split of a pose
    file (:func:`zedo_jax.training.data.load_poses`), or ``n`` synthetic world-frame poses."""
    if path:
        p = data_lib.load_poses(path, split="train")
        return p.poses, p.frame, p.source
    return synthetic_world_poses(n), "world", f"{n:,} synthetic world-frame poses"


def run_all(what=("train", "lift"), batches=(1, 64, 1024), hypotheses: int = 1,
            ipo_steps: int = 50, oil_steps: int = 100, train_batch: int = 1024,
            train_steps: int = 20, hidden_dim: int = 1024, embed_dim: int = 512,
            translation_solver: str | None = None, schedule: str | None = None,
            train_recipes=None, train_data: str | None = None, train_n: int = 455_152,
            torch_loop: bool = True, log: Callable[[str], None] = silent) -> dict:
    """Training and lifting throughput against the matmul peak of this process. With
    ``schedule`` (``'fast'``, ``'faithful'``), the lifting runs that named configuration
    (iterations and anatomy steps) instead of ``ipo_steps`` / ``oil_steps``;
    ``translation_solver`` overrides the configuration's.

    ``'train'`` measures the network alone (random camera-frame poses) and then every recipe
    of ``train_recipes`` (default: all of :data:`zedo_jax.training.recipes.RECIPES`) on the
    poses of ``train_data`` (a pose file; default ``train_n`` synthetic world-frame poses), and
    with ``torch_loop`` the PyTorch loop (:func:`torch_train_loop`) on the same poses when
    PyTorch is installed. ``'train_profile'``: :func:`profile_train` on those poses."""
    net_cfg = model_lib.ScoreNetConfig(hidden_dim=hidden_dim, embed_dim=embed_dim)
    res = {"machine": machine(), "network": {**net_cfg.to_dict(),
                                             "parameters": model_lib.num_parameters(net_cfg)}}
    log("[bench] measuring the matmul peak")
    res["matmul_peak"] = matmul_peak()
    peak = res["matmul_peak"]["flops_per_s"]
    poses = None
    if "train" in what or "train_profile" in what:
        poses, frame, source = train_poses(train_data, train_n)
        res["train_data"] = {"source": source, "poses": len(poses), "frame": frame}
    if "train" in what:
        log(f"[bench] training, batch {train_batch}: the network alone")
        res["train"] = bench_train(net_cfg, train_batch, train_steps, peak)
        res["train_recipes"] = []
        for name in train_recipes or list(recipes.RECIPES):
            log(f"[bench] training, recipe {name}, on {source}")
            res["train_recipes"].append(bench_train(net_cfg, train_batch, train_steps, peak,
                                                    recipe=name, poses=poses, frame=frame))
        if torch_loop:
            log("[bench] training, the PyTorch loop")
            try:
                res["train_torch"] = torch_train_loop(poses, hidden_dim, embed_dim, train_batch,
                                                      train_steps, frame=frame)
            except ImportError as e:
                res["train_torch"] = {"skipped": str(e)}
                log(f"[bench] no PyTorch figure: {e}")
    if "train_profile" in what:
        log(f"[bench] profiling the training step on {source}")
        res["train_profile"] = profile_train(net_cfg, train_batch, poses, frame, log=log)
    if "lift" in what:
        solver = {} if translation_solver is None else \
            {"loop.translation_solver": translation_solver}
        cfg = (make_config(schedule=schedule, overrides=solver) if schedule
               else LiftConfig().replace(**{"ipo.steps": ipo_steps, "loop.steps": oil_steps},
                                         **solver))
        res["lift"] = []
        for b in batches:
            log(f"[bench] lifting, batch {b} x {hypotheses} hypotheses")
            res["lift"].append(bench_lift(net_cfg, b, hypotheses, cfg, peak))
    # Re-measure the peak after the runs: the ratio uses the larger of the two readings.
    again = matmul_peak()["flops_per_s"]
    res["matmul_peak"]["flops_per_s_after"] = again
    best = max(peak, again)
    # The network's own matmul shape ([batch, hidden] @ [hidden, hidden]) can run slower than
    # the large square one; report that ceiling too.
    shape = matmul_peak(hidden_dim, m=max([train_batch] + list(batches)), k=hidden_dim)
    res["matmul_network_shape"] = shape
    for r in [res.get("train")] + res.get("train_recipes", []) + res.get("lift", []):
        if r:
            r["fraction_of_peak"] = r["flops_per_s"] / best
            r["fraction_of_network_shape_peak"] = r["flops_per_s"] / shape["flops_per_s"]
    torch_pps = res.get("train_torch", {}).get("poses_per_s")
    for r in res.get("train_recipes", []):
        if torch_pps:
            r["vs_torch"] = r["poses_per_s"] / torch_pps
    return res


def format_report(res: dict) -> str:
    m = res["machine"]
    pk = max(res["matmul_peak"]["flops_per_s"], res["matmul_peak"]["flops_per_s_after"])
    lines = [f"machine: {m['cpu']} ({m['cpu_count']} cores), backend {m['backend']} "
             f"{m['devices'][0]} x{m['device_count']}, jax {m['jax']}",
             f"network: {res['network']['parameters']:,} parameters "
             f"(hidden {res['network']['hidden_dim']}, embed {res['network']['embed_dim']})",
             f"float32 matmul peak ({res['matmul_peak']['n']}^3): {pk / 1e9:,.1f} GFLOP/s; "
             f"at the network's shape {res['matmul_network_shape']['shape']}: "
             f"{res['matmul_network_shape']['flops_per_s'] / 1e9:,.1f} GFLOP/s"]
    if "train" in res:
        t = res["train"]
        lines.append(f"train  batch {t['batch']}, the network alone ({t['poses']:,} random "
                     f"camera-frame poses): {t['poses_per_s']:,.0f} poses/s, "
                     f"{t['flops_per_s'] / 1e9:,.1f} GFLOP/s = {100 * t['fraction_of_peak']:.0f}% "
                     f"of peak ({100 * t['fraction_of_network_shape_peak']:.0f}% of the "
                     f"network-shape peak), compile {t['compile_s']:.1f}s")
    if res.get("train_recipes"):
        d = res["train_data"]
        lines.append(f"train  on {d['source']} ({d['poses']:,} poses, {d['frame']} frame):")
        torch_res = res.get("train_torch", {})
        for r in res["train_recipes"]:
            vs = f" = {r['vs_torch']:.2f}x the PyTorch loop" if "vs_torch" in r else ""
            lines.append(f"  recipe {r['recipe']:<14} {r['poses_per_s']:>9,.0f} poses/s, "
                         f"{100 * r['fraction_of_peak']:.0f}% of peak{vs}")
        if "poses_per_s" in torch_res:
            lines.append(f"  PyTorch loop          {torch_res['poses_per_s']:>9,.0f} poses/s "
                         f"(torch {torch_res['torch']}, {torch_res['threads']} threads; the "
                         f"release's one Python step per batch, recipe none)")
        elif "skipped" in torch_res:
            lines.append(f"  PyTorch loop: not measured ({torch_res['skipped']})")
    for r in res.get("train_profile", []):
        lines.append(f"profile {r['ms']:9.2f} ms  {r['piece']}"
                     + (f" ({r['note']})" if r["note"] else ""))
    for r in res.get("lift", []):
        lines.append(f"lift   batch {r['batch']:>5} x S={r['hypotheses']}: "
                     f"{r['pose_iterations_per_s']:,.0f} pose-iterations/s, "
                     f"{r['flops_per_s'] / 1e9:,.1f} GFLOP/s = {100 * r['fraction_of_peak']:.0f}% "
                     f"of peak ({100 * r['fraction_of_network_shape_peak']:.0f}%) | IPO {r['ipo_s']:.2f}s + loop {r['loop_s']:.2f}s "
                     f"({r['ipo_steps']}/{r['oil_steps']} steps), compile {r['compile_s']:.1f}s")
    return "\n".join(lines)


def accuracy_vs_cost(prior, files: dict, steps=(10, 25, 50, 100, 200, 500, 1000),
                     frames: int = 500, log: Callable[[str], None] = silent) -> list[dict]:
    """S = 1 accuracy of shorter and longer loops, for the README's accuracy-cost figure.

    Args:
      prior: a :class:`zedo_jax.prior.Prior`.
      files: ``{name: (keypoints [N,17,2|3], K [N,3,3], poses3d [N,17,3])}``.
      steps: loop lengths M; each runs the release's t range (0.1 -> 0.01) with Euler step
        ``1 / M`` (so M = 1000 is the release's schedule; M = 100 the ``fast`` one) and 100
        IPO steps (500 for M = 1000).
      frames: evenly spaced frames per file.
    Returns:
      records ``{variant, oil_steps, evals_per_frame, file, mpjpe_mm, pa_mpjpe_mm, frames}``
      for two variants: ``release`` (the release's loop: linear drift, no anatomy steps) and
      ``default`` (this library's default: no linear drift, closed-form translation, anatomy
      steps).
    """
    out = []
    for variant in ("release", "default"):
        for M in steps:
            kw = {"loop.steps": M, "loop.euler_dt": "1/N" if M == 1000 else 1.0 / M,
                  "ipo.steps": 500 if M == 1000 else 100}
            cfg = make_config(schedule="faithful" if variant == "release" else "fast",
                              overrides=kw)
            for name, (kp, K, gt) in files.items():
                idx = np.linspace(0, len(kp) - 1, min(frames, len(kp))).round().astype(int)
                res = lifting.lift(prior, kp[idx], K[idx], config=cfg, log=None)
                s = metrics.evaluate(res.poses, gt[idx])["summary"]
                out.append({"variant": variant, "oil_steps": M, "evals_per_frame": M,
                            "file": name, "mpjpe_mm": s["mpjpe_mm"],
                            "pa_mpjpe_mm": s["pa_mpjpe_mm"], "frames": len(idx)})
                log(f"[schedules] {variant:8s} M={M:5d} {name}: MPJPE {s['mpjpe_mm']:.1f} "
                    f"PA-MPJPE {s['pa_mpjpe_mm']:.1f} mm")
    return out
