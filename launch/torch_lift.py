r"""Lift 2D keypoints the way the official ZeDO release does, in PyTorch: the timing baseline.

    python -m launch.torch_lift --input IN.npz [--limit N] [--schedule faithful|fast] \
        [--threads K] [--output OUT.npz] [--checkpoint PRIOR] [--weights raw|ema] \
        [--ipo_steps 500] [--oil_steps 1000] [--device cpu|cuda] [--nohost_copy]

The shipped prior (or --checkpoint) is loaded with zedo_jax and its weights are put into the
release's PyTorch network (zedo_jax.torch_reference.torch_net_from_prior); all frames are then
lifted in one batch from the single hypothesis S = 1 by zedo_jax.torch_reference.torch_zedo:
IPO with torch.optim.Adam, then a Python loop with one network call per iteration and a copy
of the poses to the host every iteration (--nohost_copy drops the copy), as the release runs.

Schedules: faithful = the release (500 IPO steps, 1000 iterations, Euler dt 1/N = 1e-3, the
SDE's linear drift); fast = zedo_jax's fast schedule without its anatomy steps (100 + 100,
dt 0.01, no linear drift). --ipo_steps / --oil_steps override the schedule.

Input .npz: keypoints [N,17,2|3] pixels (+ confidence; 1 when absent), K [3,3] or [N,3,3],
optional poses3d [N,17,3] metres (MPJPE and PA-MPJPE in mm are printed, as launch.lift does
with its default metric settings). Output .npz: poses [N,1,17,3] (root-relative metres, camera
axes). Prints "Time: imports Xs, prior loading Ys, lifting Zs" (imports include PyTorch's;
prior loading = reading the zedo_jax prior + building the PyTorch network).
"""
import time

_T_START = time.perf_counter()           # before the heavy imports: their time is reported

import os  # noqa: E402

# JAX only reads the prior (and computes the metrics): keep it off any accelerator, which
# PyTorch may be using (and which JAX would otherwise pre-allocate).
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from launch import errors  # noqa: E402
from zedo_jax import prior as prior_lib, torch_reference  # noqa: E402  (torch: in main)

_T_IMPORTS = time.perf_counter() - _T_START

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Input .npz: keypoints [N,17,2|3], K [3,3] or [N,3,3], "
                    "optional poses3d [N,17,3].")
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
flags.mark_flag_as_required("input")


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


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
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
    prior = prior_lib.load_prior(FLAGS.checkpoint, weights=FLAGS.weights)
    sde = prior.sde
    if type(sde).__name__ != "SubVPSDE":
        errors.fail(f"the prior's SDE is {type(sde).__name__}; the release (and torch_zedo) "
                    f"uses the sub-VP SDE")
    init = prior.hypotheses(1)
    net = torch_reference.torch_net_from_prior(prior, device=device)
    t_prior = time.perf_counter() - t_prior

    print(f"Lifting {len(kp)} frames from {FLAGS.input} with PyTorch {torch.__version__} on "
          f"{device} ({torch.get_num_threads()} threads), the prior at {prior.path} "
          f"({prior.config.hidden_dim}-wide, {prior.info.get('weights', 'raw')} weights), "
          f"schedule {FLAGS.schedule}: {sched['ipo_steps']} IPO steps, {sched['oil_steps']} "
          f"iterations, host copy per iteration {'on' if FLAGS.host_copy else 'off'}")
    t_lift = time.perf_counter()
    poses = torch_reference.torch_zedo(
        net, init, kp, K, sched["ipo_steps"], sched["oil_steps"], euler_dt=sched["euler_dt"],
        linear_drift=sched["linear_drift"], host_copy_per_step=FLAGS.host_copy,
        beta_min=sde.beta_min, beta_max=sde.beta_max, N=sde.N, device=device)
    t_lift = time.perf_counter() - t_lift

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    np.savez(output, poses=poses.astype(np.float32), keypoints=kp, K=K)
    print(f"Wrote {output}: poses {list(poses.shape)}")
    print(f"Time: imports {t_imports:.1f}s, prior loading {t_prior:.1f}s, lifting {t_lift:.1f}s")
    if gt is not None:
        from zedo_jax import metrics
        s = metrics.evaluate(poses, gt)["summary"]
        print(f"MPJPE {s['mpjpe_mm']:.1f} mm, PA-MPJPE {s['pa_mpjpe_mm']:.1f} mm "
              f"({s['frames']} frames, S=1)")


if __name__ == "__main__":
    app.run(errors.guard(main))
