"""jax.distributed: two processes on 127.0.0.1 (2 forced CPU devices each, Gloo collectives)
behave like one process with the same 4 devices; a killed peer stops the other cleanly.

The processes run tests/_dist_worker.py; its tiny network and step counts keep the file to
about a minute on a 2-core machine (most of it XLA compilation).
"""
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import CMU_POSES, CMU_VIEWS, ROOT, require

WORKER = os.path.join(ROOT, "tests", "_dist_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A persistent XLA compilation cache shared by the workers of this file: the resumed and
    the killed runs compile the same training step as an earlier run."""
    return str(tmp_path_factory.mktemp("xla_cache"))


def start(mode: str, out, devices: int = 2, processes: int = 2, cache=None, **env):
    """Popen handles of ``processes`` workers (one process and no coordinator when 1)."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT, **env}
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    extra = lambda i: [] if processes == 1 else [f"127.0.0.1:{port}", str(processes), str(i)]
    port = free_port()
    return [subprocess.Popen([sys.executable, WORKER, mode, str(out), *extra(i)], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for i in range(processes)]


def finish(procs, timeout=300):
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise AssertionError("a worker did not finish in time:\n" + (p.communicate()[0]
                                                                         or "")[-3000:])
    for p, o in zip(procs, outs):
        assert p.returncode == 0, o[-3000:]
    return outs


def write_inputs(d):
    from zedo_jax.training import data
    poses = data.load_poses(require(CMU_POSES), split="test").poses[:256]
    np.save(d / "poses.npy", poses)
    with np.load(require(CMU_VIEWS)) as f:
        clusters = f["poses3d"][:100:50].astype(np.float32)
        np.savez(d / "lift_input.npz", keypoints=f["keypoints"][:10], K=f["K"][:10],
                 clusters=clusters - clusters[:, :1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    """Two processes x 2 devices (training with a stop/resume, then lifting) and, at the same
    time, one process x 4 devices (training straight through, then lifting)."""
    multi, single = tmp_path_factory.mktemp("two_processes"), tmp_path_factory.mktemp("one")
    for d in (multi, single):
        write_inputs(d)
    t0 = time.perf_counter()
    procs = start("train,lift", multi, cache=cache_dir) + start(
        "train_once,lift", single, devices=4, processes=1, cache=cache_dir)
    outs = finish(procs)
    return {"multi": multi, "single": single, "logs": outs, "seconds": time.perf_counter() - t0}


def test_training_in_two_processes_matches_one(runs):
    a = np.load(runs["multi"] / "result_train.npz")
    b = np.load(runs["single"] / "result_train.npz")
    assert int(a["devices"]) == int(b["devices"]) == 4
    assert int(a["step"]) == int(b["step"]) == 4
    assert len(a["losses"]) == len(b["losses"]) == 4        # logged once, resume included
    np.testing.assert_allclose(a["losses"], b["losses"], rtol=1e-5)
    leaves = [k for k in a.files if k.startswith("leaf")]
    assert leaves
    for k in leaves:
        np.testing.assert_allclose(a[k], b[k], atol=1e-6, err_msg=k)
    log0, log1 = runs["logs"][:2]
    assert "in 2 processes" in log0 and "resumed" in log0 and "[train] step" in log0
    assert "[train]" not in log1                               # process 1 prints nothing


def test_lifting_in_two_processes_matches_one(runs):
    from zedo_jax.core.program import OUTPUT_KEYS
    a = np.load(runs["multi"] / "result_lift.npz")
    b = np.load(runs["single"] / "result_lift.npz")
    assert int(a["devices"]) == int(b["devices"]) == 4
    assert a["poses"].shape == (10, 2, 17, 3)
    for k in OUTPUT_KEYS:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5, rtol=1e-5, err_msg=k)
    assert "[lift] chunk" in runs["logs"][0] and "[lift]" not in runs["logs"][1]


def test_killed_process_stops_the_other_and_leaves_restorable_checkpoints(tmp_path, cache_dir):
    write_inputs(tmp_path)
    heartbeat = 5
    procs = start("train_long", tmp_path, cache=cache_dir, HEARTBEAT=str(heartbeat))
    ckpts = tmp_path / "work" / "checkpoints"
    deadline = time.time() + 240
    while not (ckpts / "5").is_dir():                       # a checkpoint committed
        assert time.time() < deadline and procs[0].poll() is None, "no checkpoint was written"
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)
    t0 = time.perf_counter()
    try:
        out = procs[0].communicate(timeout=heartbeat + 60)[0]
    except subprocess.TimeoutExpired:
        procs[0].kill()
        raise AssertionError("the surviving process did not stop within the heartbeat timeout")
    waited = time.perf_counter() - t0
    procs[1].communicate()
    assert procs[0].returncode != 0
    assert waited < heartbeat + 60
    assert "another task died" in out or "stopped sending heartbeats" in out, out[-2000:]

    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P

    from zedo_jax.training import checkpoint, data, trainer as train
    sys.path.insert(0, os.path.dirname(WORKER))
    import _dist_worker
    cfg = _dist_worker.train_config(long=True)
    mngr = checkpoint.TrainCheckpoints(str(tmp_path / "work"))
    step = mngr.latest_step()
    assert step is not None and step >= 5 and step % 5 == 0
    poses = data.PoseSet(np.load(tmp_path / "poses.npy"), "world", "test")
    state = mngr.restore_latest(lambda: train.create_state(cfg), checkpoint.run_metadata(cfg, poses),
                                NamedSharding(train.make_mesh(jax.local_devices()[:1]), P()))
    mngr.close()
    assert int(state.step) == step
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(state))
    from zedo_jax import prior as prior_lib
    prior = prior_lib.load_prior(str(tmp_path / "work"))
    assert prior.config.hidden_dim == cfg.model.hidden_dim


def test_cluster_detection_and_flag_errors():
    from zedo_jax.runtime import distributed
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0"}
    assert distributed.detect_cluster({}) is None
    assert distributed.detect_cluster({**slurm, "SLURM_NTASKS": "8"}) == "slurm"
    assert distributed.detect_cluster({**slurm, "SLURM_NTASKS": "1"}) is None   # one task
    assert distributed.detect_cluster({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "8"}) is None  # sbatch
    assert distributed.detect_cluster({"OMPI_MCA_orte_hnp_uri": "x", "OMPI_COMM_WORLD_SIZE": "2"}
                                      ) == "openmpi"
    assert distributed.detect_cluster({"TPU_WORKER_HOSTNAMES": "a,b"}) == "tpu"
    assert distributed.detect_cluster({"TPU_WORKER_HOSTNAMES": "localhost"}) is None
    with pytest.raises(ValueError, match="missing --num_processes, --process_id"):
        distributed.initialize("127.0.0.1:1234")
    with pytest.raises(ValueError, match="HOST:PORT"):
        distributed.initialize("127.0.0.1", 2, 0)
    with pytest.raises(ValueError, match=r"--process_id must lie in \[0, --num_processes=2\)"):
        distributed.initialize("127.0.0.1:1234", 2, 2)
    with pytest.raises(ValueError, match="--distributed=off contradicts"):
        distributed.initialize("127.0.0.1:1234", 2, 0, mode="off")
    if distributed.detect_cluster() is None:                 # no flags, no cluster: 1 process
        assert distributed.initialize() is False
    assert distributed.process_count() == 1 and distributed.is_primary()
    x = np.arange(8.0).reshape(4, 2)
    import jax
    sharding = jax.sharding.NamedSharding(distributed.global_mesh(), jax.sharding.PartitionSpec(
        "batch"))
    assert distributed.process_rows(4, sharding) == slice(0, 4)
    np.testing.assert_array_equal(distributed.gather(distributed.put_sharded(x, sharding)), x)
    assert distributed.any_process(False) is False
