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

from conftest import ROOT, require, CMU_POSES, CMU_VIEWS

WORKER = os.path.join(ROOT, "tests", "_dist_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(mode: str, out, devices: int = 2, processes: int = 2, **env):
    """Popen handles of ``processes`` workers (one process and no coordinator when 1)."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT, **env}
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
    from zedo_jax import data
    poses = data.load_poses(require(CMU_POSES), split="test").poses[:256]
    np.save(d / "poses.npy", poses)
    with np.load(require(CMU_VIEWS)) as f:
        clusters = f["poses3d"][:100:50].astype(np.float32)
        np.savez(d / "lift_input.npz", keypoints=f["keypoints"][:10], K=f["K"][:10],
                 clusters=clusters - clusters[:, :1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two processes x 2 devices (training with a stop/resume, then lifting) and, at the same
    time, one process x 4 devices (training straight through, then lifting)."""
    multi, single = tmp_path_factory.mktemp("two_processes"), tmp_path_factory.mktemp("one")
    for d in (multi, single):
        write_inputs(d)
    t0 = time.perf_counter()
    procs = start("train,lift", multi) + start("train_once,lift", single, devices=4,
                                               processes=1)
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
    from zedo_jax import lifting
    a = np.load(runs["multi"] / "result_lift.npz")
    b = np.load(runs["single"] / "result_lift.npz")
    assert int(a["devices"]) == int(b["devices"]) == 4
    assert a["poses"].shape == (10, 2, 17, 3)
    for k in lifting.OUTPUT_KEYS:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5, rtol=1e-5, err_msg=k)
    assert "[lift] chunk" in runs["logs"][0] and "[lift]" not in runs["logs"][1]


def test_killed_process_stops_the_other_and_leaves_restorable_checkpoints(tmp_path):
    write_inputs(tmp_path)
    heartbeat = 5
    procs = start("train_long", tmp_path, HEARTBEAT=str(heartbeat))
    ckpts = tmp_path / "work" / "checkpoints"
    deadline = time.time() + 240
    while not (ckpts / "10").is_dir():                      # two checkpoints committed
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
    from zedo_jax import checkpoint, data, train
    sys.path.insert(0, os.path.dirname(WORKER))
    import _dist_worker
    cfg = _dist_worker.train_config(long=True)
    mngr = checkpoint.TrainCheckpoints(str(tmp_path / "work"))
    step = mngr.latest_step()
    assert step is not None and step >= 10 and step % 5 == 0
    poses = data.PoseSet(np.load(tmp_path / "poses.npy"), "world", "test")
    state = mngr.restore_latest(cfg, checkpoint.run_metadata(cfg, poses),
                                NamedSharding(train.make_mesh(jax.local_devices()[:1]), P()))
    mngr.close()
    assert int(state.step) == step
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(state))
    prior = checkpoint.load_prior(str(tmp_path / "work"))
    assert prior.config.hidden_dim == cfg.model.hidden_dim
