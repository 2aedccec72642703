r"""Lift 2D keypoints the way the official ZeDO release does, in PyTorch: the timing baseline.

    python -m experiments.torch_lift --input IN.npz [--limit N] [--schedule faithful|fast] \
        [--threads K] [--output OUT.npz] [--checkpoint PRIOR] [--weights raw|ema] \
        [--ipo_steps 500] [--oil_steps 1000] [--device cpu|cuda] [--nohost_copy]
    python -m experiments.torch_lift --export PREFIX [--checkpoint PRIOR] [--weights raw|ema]
    python -m experiments.torch_lift --input IN.npz --pth PREFIX.pth [...]

The shipped prior (or --checkpoint) is loaded with zedo_jax and its weights are put into the
release's PyTorch network (zedo_jax.official.torch_port.torch_net_from_prior); all frames are then
lifted in one batch from the single hypothesis S = 1 by zedo_jax.official.torch_reference.torch_zedo:
IPO with torch.optim.Adam, then a Python loop with one network call per iteration and a copy
of the poses to the host every iteration (--nohost_copy drops the copy), as the release runs.

--export PREFIX writes that prior as the release would ship it and exits (no lifting, no
--input): PREFIX.pth, the official checkpoint format ({"model_state_dict": {"module.<name>":
tensor, ...}}, which ``python -m launch.convert_checkpoint --pth PREFIX.pth`` reads back), and
PREFIX_hypothesis.npy, the initial pose [1,17,3] float32. --pth PREFIX.pth lifts with the
weights of such a file (a release checkpoint too: its raw model_state_dict, the size inferred
from the shapes; the release's sub-VP SDE, beta in [0.1, 20], N = 1000) and the initial pose in
PREFIX_hypothesis.npy next to it; this process then imports PyTorch and numpy only -- no JAX,
Flax, Orbax or zedo_jax module other than zedo_jax.official.torch_reference -- as the release would.

Schedules: faithful = the release (500 IPO steps, 1000 iterations, Euler dt 1/N = 1e-3, the
SDE's linear drift); fast = zedo_jax's fast schedule without its anatomy steps (100 + 100,
dt 0.01, no linear drift). --ipo_steps / --oil_steps override the schedule.

Input .npz: keypoints [N,17,2|3] pixels (+ confidence; 1 when absent), K [3,3] or [N,3,3],
optional poses3d [N,17,3] metres (MPJPE and PA-MPJPE in mm are printed, as launch.lift does
with its default metric settings; with --pth computed here in numpy). Output .npz: poses
[N,1,17,3] (root-relative metres, camera axes). Prints "Time: imports Xs, prior loading Ys,
lifting Zs" (imports include PyTorch's; prior loading = reading the zedo_jax prior, or the .pth
and the initial pose, + building the PyTorch network).
"""
import time

_T_START = time.perf_counter()           # before the heavy imports: their time is reported

import os  # noqa: E402

# JAX (default mode and --export only) reads the prior and computes the metrics: keep it off
# any accelerator, which PyTorch may be using (and which JAX would otherwise pre-allocate).
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from launch import errors  # noqa: E402
# neither JAX nor PyTorch at import: PyTorch is imported in main, zedo_jax's prior (JAX) only
# in the modes that read it
from zedo_jax.official import torch_reference  # noqa: E402
from zedo_jax.runtime import files  # noqa: E402

_T_IMPORTS = time.perf_counter() - _T_START

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Input .npz: keypoints [N,17,2|3], K [3,3] or [N,3,3], "
                    "optional poses3d [N,17,3] (required unless --export).")
flags.DEFINE_integer("limit", None, "Only the first N frames.")
flags.DEFINE_enum("schedule", "faithful", sorted(torch_reference.SCHEDULES),
                  "faithful: the release (500 IPO steps, 1000 iterations, dt 1e-3, linear "
                  "drift); fast: 100 + 100, dt 0.01, no linear drift.")
flags.DEFINE_integer("ipo_steps", None, "IPO Adam steps (overrides the schedule).")
flags.DEFINE_integer("oil_steps", None, "Optimization-loop iterations (overrides the "
                     "schedule).")
flags.DEFINE_integer("threads", None, "torch.set_num_threads (default: PyTorch's).")
flags.DEFINE_string("device", "cpu", "PyTorch device (cpu, cuda, cuda:1, ...).")
flags.DEFINE_bool("host_copy", True, "Copy the poses to the host every loop iteration, as "
                  "the release does.")
flags.DEFINE_string("checkpoint", None, "Prior directory or training workdir (default: the "
                    "prior shipped with zedo_jax).")
flags.DEFINE_enum("weights", None, ["raw", "ema"], "Weights of the prior (default: its "
                  "default set).")
flags.DEFINE_string("output", "torch_lift.npz", "Output .npz (.npz is appended when missing).")
flags.DEFINE_string("export", None, "Write the prior (shipped or --checkpoint) as PREFIX.pth "
                    "in the official checkpoint format and PREFIX_hypothesis.npy [1,17,3], then "
                    "exit without lifting.")
flags.DEFINE_string("pth", None, "Lift with the weights of this .pth (official format, e.g. "
                    "from --export) and the initial pose in <FILE without .pth>_hypothesis.npy, "
                    "without importing JAX or the zedo_jax prior.")

#: The release's SDE (every official config), which --pth assumes and --export requires.
RELEASE_SDE = {"beta_min": 0.1, "beta_max": 20.0, "N": 1000}


def hypothesis_path(pth: str) -> str:
    """``PREFIX_hypothesis.npy`` for ``PREFIX.pth`` (``FILE_hypothesis.npy`` for another name)."""
    base = pth[:-len(".pth")] if pth.endswith(".pth") else pth
    return base + "_hypothesis.npy"


def read_input(path: str, limit: int | None):
    """``(keypoints [N,17,3], K [N,3,3], poses3d [N,17,3] or None)`` from an .npz."""
    if not os.path.isfile(path):
        errors.fail(f"--input {path}: file not found")
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    for k in ("keypoints", "K"):
        if k not in data:
            errors.fail(f"--input {path} has no '{k}' array (it has {sorted(data)})")
    kp = np.asarray(data["keypoints"], np.float32)
    if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] not in (2, 3):
        errors.fail(f"--input {path}: keypoints must be [N,17,2] or [N,17,3], got "
                    f"{list(kp.shape)}")
    n = len(kp)
    if n == 0:
        errors.fail(f"--input {path} has no frames to lift")
    if kp.shape[2] == 2:
        kp = np.concatenate([kp, np.ones_like(kp[..., :1])], -1)
    K = np.asarray(data["K"], np.float32)
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (n, 3, 3))
    elif K.shape != (n, 3, 3):
        errors.fail(f"--input {path}: K must be [3,3] or [{n},3,3], got {list(K.shape)}")
    gt = data.get("poses3d")
    if gt is not None:
        gt = np.asarray(gt, np.float32)
        if gt.shape != (n, 17, 3):
            errors.fail(f"--input {path}: poses3d must be [{n},17,3], got {list(gt.shape)}")
    if limit is not None:
        if limit < 1:
            errors.fail(f"--limit must be >= 1, got {limit}")
        kp, K = kp[:limit], K[:limit]
        gt = None if gt is None else gt[:limit]
    if not (np.isfinite(kp).all() and np.isfinite(K).all()):
        errors.fail(f"--input {path}: keypoints or K contain NaN/inf")
    return kp, np.ascontiguousarray(K), gt


def check_release_sde(sde, what: str):
    """Refuse a prior whose SDE is not the release's (torch_zedo's and a .pth's)."""
    if type(sde).__name__ != "SubVPSDE":
        errors.fail(f"{what}'s SDE is {type(sde).__name__}; the release (and torch_zedo) uses "
                    f"the sub-VP SDE")
    got = {k: getattr(sde, k) for k in RELEASE_SDE}
    if got != RELEASE_SDE:
        errors.fail(f"{what}'s sub-VP SDE has {got}; a release checkpoint implies "
                    f"{RELEASE_SDE} (the .pth format stores no SDE)")


def export(prefix: str):
    """Write the zedo_jax prior as ``PREFIX.pth`` + ``PREFIX_hypothesis.npy``."""
    torch = torch_reference._import_torch()
    from zedo_jax import prior as prior_lib
    from zedo_jax.core import model as model_lib
    from zedo_jax.official import torch_port
    if prefix.endswith(".pth"):
        prefix = prefix[:-len(".pth")]
    pth, hyp = prefix + ".pth", hypothesis_path(prefix + ".pth")
    errors.check_writable(pth, "--export")
    errors.check_writable(hyp, "--export")
    prior = prior_lib.load_prior(FLAGS.checkpoint, weights=FLAGS.weights)
    check_release_sde(prior.sde, "the prior")
    params = prior.params
    if model_lib.has_experts(params):
        # ZeDO's loop asks for the score only at t <= 0.1: the low expert is the network it runs.
        split = float(params["split_t"])
        print(f"Note: the prior holds noise-level experts; exporting the low one (t <= "
              f"{split:g}), which answers every time the release's loop asks about"
              + ("" if split >= 0.1 else f" up to {split:g} only"))
        params = model_lib.expert(params, "low")
    ckpt = torch_port.release_checkpoint(params, prior.config)
    init = np.asarray(prior.hypotheses(1), np.float32)
    os.makedirs(os.path.dirname(os.path.abspath(pth)), exist_ok=True)
    files.atomic_write(pth, lambda tmp: torch.save(ckpt, tmp))
    files.save_npy(hyp, init)
    c = prior.config
    print(f"Wrote {pth}: the prior at {prior.path} ({prior.info.get('weights', 'raw')} "
          f"weights; hidden {c.hidden_dim}, embedding {c.embed_dim}, {c.n_blocks} blocks) as "
          f"an official checkpoint ({len(ckpt['model_state_dict'])} tensors under "
          f"model_state_dict, 'module.' prefix)")
    print(f"Wrote {hyp}: the initial pose {list(init.shape)} float32")


def load_pth(path: str, device):
    """``(net, init [1,17,3])`` from a .pth in the official format and the
    ``_hypothesis.npy`` next to it, with PyTorch and numpy only."""
    import pickle
    torch = torch_reference._import_torch()
    if not os.path.isfile(path):
        errors.fail(f"--pth {path}: file not found")
    hyp = hypothesis_path(path)
    if not os.path.isfile(hyp):
        errors.fail(f"--pth {path}: no initial pose {hyp} next to it (write both files with "
                    f"--export PREFIX, or save a [1,17,3] pose there, e.g. the release's "
                    f"clusters/h36m_cluster1.npy)")
    try:
        try:                                  # tensors and plain containers: no code runs
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:        # a release file with other pickled objects
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001  (any reader failure is a bad file)
        errors.fail(f"--pth {path} is not a readable PyTorch checkpoint: {e}")
    if isinstance(ckpt, dict) and ("model_state_dict" in ckpt or "state_dict" in ckpt):
        sd = ckpt.get("model_state_dict", ckpt.get("state_dict"))
    else:
        sd = ckpt                             # a bare state dict
    if not isinstance(sd, dict):
        errors.fail(f"--pth {path}: expected a checkpoint dict with 'model_state_dict' or a "
                    f"state dict, got {type(sd).__name__}")
    try:
        net = torch_reference.torch_net_from_state_dict(sd, device=device)
    except ValueError as e:
        errors.fail(f"--pth {path}: {e}")
    init = np.load(hyp, allow_pickle=False)
    if init.shape == (17, 3):
        init = init[None]
    if init.shape != (1, 17, 3) or not np.isfinite(init).all():
        errors.fail(f"{hyp}: the initial pose must be a finite [1,17,3] (or [17,3]) array, got "
                    f"{list(init.shape)}")
    return net, np.asarray(init, np.float32)


def mpjpe_mm(poses, gt):
    """``(MPJPE, PA-MPJPE)`` in mm, in numpy, as :func:`zedo_jax.evaluation.metrics.evaluate` with its
    default EvalConfig: ``gt`` is root-centred, ``poses [N,S,17,3]`` are not (they are
    root-relative already); PA = similarity Procrustes allowing reflections; min over S, mean
    over frames."""
    g = (gt - gt[:, :1])[:, None].astype(np.float64)                  # [N, 1, 17, 3]
    p = np.asarray(poses, np.float64)
    mpjpe = np.linalg.norm(p - g, axis=-1).mean(-1)
    Q, G = p - p.mean(-2, keepdims=True), g - g.mean(-2, keepdims=True)
    U, sv, Vt = np.linalg.svd(np.swapaxes(G, -1, -2) @ Q)             # G^T Q = U S V^T
    R = np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)              # Q R ~ G (R = V U^T)
    scale = sv.sum(-1)[..., None, None] / np.maximum((Q ** 2).sum((-2, -1), keepdims=True),
                                                     1e-24)
    aligned = scale * (Q @ R) + g.mean(-2, keepdims=True)
    pa = np.linalg.norm(aligned - g, axis=-1).mean(-1)
    return 1000 * mpjpe.min(1).mean(), 1000 * pa.min(1).mean()


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.export is not None and FLAGS.pth is not None:
        errors.fail("--export writes a .pth, --pth lifts with one: give one of them")
    if FLAGS.pth is not None and (FLAGS.checkpoint is not None or FLAGS.weights is not None):
        errors.fail("--pth takes the weights from the .pth; drop --checkpoint / --weights")
    if FLAGS.export is not None:
        export(FLAGS.export)
        return
    if FLAGS.input is None:
        errors.fail("--input is required (unless --export)")
    sched = dict(torch_reference.SCHEDULES[FLAGS.schedule])
    for k in ("ipo_steps", "oil_steps"):
        if getattr(FLAGS, k) is not None:
            if getattr(FLAGS, k) < 0:
                errors.fail(f"--{k} must be >= 0; got {getattr(FLAGS, k)}")
            sched[k] = getattr(FLAGS, k)
    if FLAGS.threads is not None and FLAGS.threads < 1:
        errors.fail(f"--threads must be >= 1; got {FLAGS.threads}")
    output = FLAGS.output if FLAGS.output.endswith(".npz") else FLAGS.output + ".npz"
    errors.check_writable(output, "--output")
    kp, K, gt = read_input(FLAGS.input, FLAGS.limit)

    t_torch = time.perf_counter()
    torch = torch_reference._import_torch()             # the lazy PyTorch import
    t_imports = _T_IMPORTS + time.perf_counter() - t_torch
    if FLAGS.threads is not None:
        torch.set_num_threads(FLAGS.threads)
    try:
        device = torch.device(FLAGS.device)
    except RuntimeError as e:
        errors.fail(f"--device {FLAGS.device}: {e}")

    t_prior = time.perf_counter()
    if FLAGS.pth is not None:
        net, init = load_pth(FLAGS.pth, device)
        sde = RELEASE_SDE
        source = (f"the weights in {FLAGS.pth} ({net.pre_dense.out_features}-wide, raw "
                  f"model_state_dict)")
    else:
        from zedo_jax import prior as prior_lib
        from zedo_jax.official import torch_port
        prior = prior_lib.load_prior(FLAGS.checkpoint, weights=FLAGS.weights)
        if type(prior.sde).__name__ != "SubVPSDE":
            errors.fail(f"the prior's SDE is {type(prior.sde).__name__}; the release (and "
                        f"torch_zedo) uses the sub-VP SDE")
        sde = {k: getattr(prior.sde, k) for k in RELEASE_SDE}
        init = prior.hypotheses(1)
        net = torch_port.torch_net_from_prior(prior, device=device)
        source = (f"the prior at {prior.path} ({prior.config.hidden_dim}-wide, "
                  f"{prior.info.get('weights', 'raw')} weights)")
    t_prior = time.perf_counter() - t_prior

    print(f"Lifting {len(kp)} frames from {FLAGS.input} with PyTorch {torch.__version__} on "
          f"{device} ({torch.get_num_threads()} threads), {source}, schedule "
          f"{FLAGS.schedule}: {sched['ipo_steps']} IPO steps, {sched['oil_steps']} "
          f"iterations, host copy per iteration {'on' if FLAGS.host_copy else 'off'}")
    t_lift = time.perf_counter()
    poses = torch_reference.torch_zedo(
        net, init, kp, K, sched["ipo_steps"], sched["oil_steps"], euler_dt=sched["euler_dt"],
        linear_drift=sched["linear_drift"], host_copy_per_step=FLAGS.host_copy,
        device=device, **sde)
    t_lift = time.perf_counter() - t_lift

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    files.save_npz(output, dict(poses=poses.astype(np.float32), keypoints=kp, K=K))
    print(f"Wrote {output}: poses {list(poses.shape)}")
    print(f"Time: imports {t_imports:.1f}s, prior loading {t_prior:.1f}s, lifting {t_lift:.1f}s")
    if gt is not None:
        if FLAGS.pth is not None:                       # numpy: no JAX in this mode
            mpjpe, pa = mpjpe_mm(poses, gt)
        else:
            from zedo_jax.evaluation import metrics
            s = metrics.evaluate(poses, gt)["summary"]
            mpjpe, pa = s["mpjpe_mm"], s["pa_mpjpe_mm"]
        print(f"MPJPE {mpjpe:.1f} mm, PA-MPJPE {pa:.1f} mm ({len(poses)} frames, S=1)")


if __name__ == "__main__":
    app.run(errors.guard(main))
