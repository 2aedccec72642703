"""Running one program over several processes and hosts with ``jax.distributed``.

JAX's multi-controller model: every process runs the same Python program, sees all devices
of all processes in ``jax.devices()`` (its own in ``jax.local_devices()``), and compiled
programs over a mesh of all devices run as one SPMD program whose collectives cross
processes (NCCL/ICI on GPUs/TPUs, Gloo on CPUs). This module holds the few helpers the
library and the launchers need on top of that:

* :func:`initialize` -- start the runtime from explicit flags, from a cluster environment
  that JAX detects itself (SLURM, Open MPI, TPU pods), or not at all (one process);
* :func:`global_mesh` -- a 1-D ``'batch'`` mesh over every process's devices;
* :func:`put_replicated`, :func:`put_sharded` -- global arrays from host data (each process
  supplies only the rows of its own devices, via ``jax.make_array_from_process_local_data``);
* :func:`gather` -- a global array back to numpy on every process;
* :func:`is_primary`, :func:`primary_only` -- print and write once;
* :func:`any_process` -- agree on a host-side flag (e.g. a SIGTERM seen by one process).

In one process every helper reduces to the plain single-process call, so library code can
use them unconditionally.

    from zedo_jax import distributed
    distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)   # or () on SLURM
    mesh = distributed.global_mesh()
"""
from __future__ import annotations

import os
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from zedo_jax.runtime.compile_cache import echo

CLUSTER_ENVS = {
    # name: environment variables that must all be present (what jax.distributed detects)
    "slurm": ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
              "SLURM_LOCALID"),
    "openmpi": ("OMPI_MCA_orte_hnp_uri",),
    "tpu": ("TPU_WORKER_HOSTNAMES",),
}
_PROCESS_COUNT_VAR = {"slurm": "SLURM_NTASKS", "openmpi": "OMPI_COMM_WORLD_SIZE"}


def detect_cluster(environ=None) -> str | None:
    """The multi-process cluster environment this process runs in, or ``None``.

    ``'slurm'`` (an ``srun`` job step with more than one task), ``'openmpi'`` (``mpirun``
    with more than one rank) or ``'tpu'`` (a TPU VM of a multi-host slice, i.e.
    ``TPU_WORKER_HOSTNAMES`` lists more than one host). One-task jobs count as no cluster.
    """
    env = os.environ if environ is None else environ
    for name, keys in CLUSTER_ENVS.items():
        if not all(k in env for k in keys):
            continue
        if name == "tpu":
            if len([h for h in env["TPU_WORKER_HOSTNAMES"].split(",") if h.strip()]) > 1:
                return name
            continue
        count = env.get(_PROCESS_COUNT_VAR[name], "1")
        if count.isdigit() and int(count) > 1:
            return name
    return None


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, mode: str = "auto",
               heartbeat_timeout_seconds: int | None = None,
               initialization_timeout: int | None = None,
               log: Callable[[str], None] = echo) -> bool:
    """Start ``jax.distributed`` if this run spans several processes. Call before any JAX
    computation.

    Args:
      coordinator_address: ``HOST:PORT`` of process 0's coordinator service. Given together
        with ``num_processes`` and ``process_id``: an explicit launch (e.g. two processes on
        127.0.0.1).
      num_processes, process_id: the number of processes and this one's index in
        ``[0, num_processes)``.
      mode: ``'auto'`` (explicit arguments, else plain ``jax.distributed.initialize()`` when
        :func:`detect_cluster` finds SLURM / Open MPI / a TPU pod, else one process),
        ``'on'`` (always call ``jax.distributed.initialize`` -- for clusters JAX detects but
        this module does not) or ``'off'`` (one process; explicit arguments are an error).
      heartbeat_timeout_seconds: seconds without heartbeats after which a process is declared
        dead and the others stop (JAX's default 100 when ``None``).
      initialization_timeout: seconds to wait for all processes to connect (JAX: 300).
      log: where to report the topology (process 0 only).
    Returns:
      ``True`` when the runtime was started (``jax.process_count()`` may still be 1).
    Raises:
      ValueError naming the flag when the explicit arguments are incomplete or inconsistent.
    """
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"distributed mode must be 'auto', 'on' or 'off'; got {mode!r}")
    explicit = {"coordinator_address": coordinator_address, "num_processes": num_processes,
                "process_id": process_id}
    given = {k for k, v in explicit.items() if v is not None}
    if mode == "off":
        if given:
            raise ValueError(f"--distributed=off contradicts --{sorted(given)[0]}; drop one")
        return False
    if given and given != set(explicit):
        missing = sorted(set(explicit) - given)
        raise ValueError(f"multi-process launch needs --coordinator_address, --num_processes "
                         f"and --process_id together; missing --{', --'.join(missing)}")
    if given:
        if ":" not in coordinator_address:
            raise ValueError(f"--coordinator_address must be HOST:PORT (e.g. 10.0.0.1:1234); "
                             f"got {coordinator_address!r}")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ValueError(f"--process_id must lie in [0, --num_processes={num_processes}); "
                             f"got {process_id}")
    cluster = detect_cluster()
    if not given and mode == "auto" and cluster is None:
        return False
    kwargs = dict(explicit) if given else {}
    if heartbeat_timeout_seconds is not None:
        kwargs["heartbeat_timeout_seconds"] = int(heartbeat_timeout_seconds)
    if initialization_timeout is not None:
        kwargs["initialization_timeout"] = int(initialization_timeout)
    jax.distributed.initialize(**kwargs)
    if is_primary():
        how = "flags" if given else (cluster or "jax.distributed auto-detection")
        log(f"[distributed] {jax.process_count()} processes ({how}), "
            f"{jax.device_count()} {jax.default_backend()} devices in all, "
            f"{jax.local_device_count()} on process {jax.process_index()}")
    return True


def process_index() -> int:
    return jax.process_index()


def process_count() -> int:
    return jax.process_count()


def is_multiprocess() -> bool:
    return jax.process_count() > 1


def is_primary() -> bool:
    """True on process 0, the one that prints and writes files."""
    return jax.process_index() == 0


def primary_only(log: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """``log`` on process 0, a no-op callback on the others."""
    if log is None or is_primary():
        return log
    return lambda msg: None


def global_mesh(devices=None, axis: str = "batch") -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process, ``jax.devices()``,
    which orders each process's devices contiguously)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (axis,))


def put_replicated(tree, sharding: NamedSharding):
    """Place a pytree that every process holds identically (numpy or single-process JAX
    arrays) on ``sharding`` (typically replicated over a global mesh)."""
    if not is_multiprocess():
        return jax.device_put(tree, sharding)
    return jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def process_rows(n: int, sharding: NamedSharding) -> slice:
    """The rows of a global ``[n, ...]`` batch sharded by ``sharding`` over its first axis that
    this process's devices hold (contiguous, as :func:`global_mesh` orders devices)."""
    idx = sharding.addressable_devices_indices_map((n,))
    blocks = sorted({(i[0].start or 0, n if i[0].stop is None else i[0].stop)
                     for i in idx.values()})
    lo, hi = blocks[0][0], blocks[-1][1]
    if any(a[1] != b[0] for a, b in zip(blocks, blocks[1:])):
        raise ValueError("this process's devices do not hold a contiguous block of the batch; "
                         "build the mesh with zedo_jax.runtime.distributed.global_mesh()")
    return slice(lo, hi)


def put_sharded(tree, sharding: NamedSharding):
    """Global arrays split over their first axis by ``sharding`` from a pytree of host arrays
    that every process holds in full; each process feeds only its own rows
    (``jax.make_array_from_process_local_data``)."""
    if not is_multiprocess():
        return jax.device_put(tree, sharding)

    def put(x):
        x = np.asarray(x)
        rows = process_rows(x.shape[0], sharding)
        return jax.make_array_from_process_local_data(sharding, x[rows], x.shape)
    return jax.tree_util.tree_map(put, tree)


def gather(tree):
    """A pytree of (global) JAX arrays as numpy arrays on every process (arrays spread over
    several processes are all-gathered, a collective: every process must call it)."""
    if not is_multiprocess():
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def get(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
            return np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return jax.tree_util.tree_map(get, tree)


def any_process(flag: bool) -> bool:
    """True if ``flag`` is true on any process (a collective: every process must call it)."""
    if not is_multiprocess():
        return bool(flag)
    from jax.experimental import multihost_utils
    flags = multihost_utils.process_allgather(np.asarray([int(bool(flag))], np.int32))
    return bool(np.asarray(flags).any())


def sync(name: str) -> None:
    """Wait until every process reaches this point (a no-op in one process)."""
    if is_multiprocess():
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(name)


def on_default_device(abstract):
    """Abstract arrays (shape/dtype pytree) placed on the first local device, for restoring."""
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), abstract)
