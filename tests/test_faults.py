"""Nothing lost, nothing silent: atomic writes under a crash or a full disk, the workdir lock,
outputs that would replace an input, Ctrl-C during a lift, stray arguments, an existing prior
as an export target."""
import contextlib
import errno
import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from zedo_jax import prior as prior_lib
from zedo_jax.runtime import files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "zedo_jax", "assets", "demo.npz")


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, **kw)


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def leftovers(folder):
    return [f for f in os.listdir(folder) if f.endswith(".part") or ".old." in f]


@contextlib.contextmanager
def lock_held_elsewhere(folder):
    """Another process holds ``folder``'s workdir lock for the block; yields its pid."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, sys.argv[1]);"
        "from zedo_jax.runtime import files; l = files.WorkdirLock(sys.argv[2]).acquire();"
        "print('held', flush=True); time.sleep(60)"), ROOT, str(folder)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_failing_writer_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.npz"
    files.save_npz(path, {"a": np.arange(3)})
    before = digest(path)

    def crash(tmp):
        open(tmp, "wb").write(b"half a file")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(path, crash)
    assert digest(path) == before and not leftovers(tmp_path)


def test_a_full_disk_is_an_error_naming_the_file(tmp_path, monkeypatch):
    path = tmp_path / "out.json"
    files.save_json(path, {"old": 1})

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(files.json, "dump", full)
    with pytest.raises(OSError, match="could not write .*out.json: No space left"):
        files.save_json(path, {"new": 2})
    assert open(path).read() == '{"old": 1}' and not leftovers(tmp_path)


def test_directory_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "prior"
    target.mkdir()
    (target / "old_file").write_text("x")
    files.replace_directory(target, lambda d: open(os.path.join(d, "new_file"), "w").close())
    assert sorted(os.listdir(target)) == ["new_file"]

    def fail(d):
        raise ValueError("build failed")
    with pytest.raises(ValueError):
        files.replace_directory(target, fail)
    assert sorted(os.listdir(target)) == ["new_file"] and not leftovers(tmp_path)


def test_workdir_lock_refuses_a_second_holder_and_takes_over_a_stale_one(tmp_path):
    with lock_held_elsewhere(tmp_path) as pid:
        with pytest.raises(files.LockedError, match=f"in use by process {pid}"):
            files.WorkdirLock(tmp_path).acquire()
    with files.WorkdirLock(tmp_path) as lock:          # the holder is gone: stale, taken over
        assert lock.held and os.path.exists(lock.path)
    assert not os.path.exists(lock.path)


def test_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path):
    inp = tmp_path / "in.npz"
    inp.write_bytes(open(DEMO, "rb").read())
    before = digest(inp)
    proc = cli("launch.lift", "--input", inp, "--output", inp, "--nofigure")
    assert proc.returncode == 2 and "is the --input file" in proc.stderr
    proc = cli("launch.evaluate", "--input", inp, "--save_poses", inp)
    assert proc.returncode == 2 and "is the --input file" in proc.stderr
    assert digest(inp) == before


def test_stray_argument_is_refused():
    proc = cli("launch.lift", "--nofigure", "false")
    assert proc.returncode == 2 and "unexpected argument 'false'" in proc.stderr


def test_ctrl_c_during_a_lift_ends_cleanly_without_output(tmp_path):
    out = tmp_path / "out.npz"
    proc = subprocess.Popen([sys.executable, "-m", "launch.lift", "--input", DEMO, "--output",
                             str(out), "--nofigure", "--hypotheses", "50", "--schedule",
                             "faithful"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, ZEDO_JAX_CACHE="0", PYTHONUNBUFFERED="1"))
    first = proc.stdout.readline()          # printed by main, under the launcher's guard
    assert first.startswith("Lifting"), first
    time.sleep(1.0)                         # compiling or lifting by now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted" in err.strip().splitlines()[-1]
    assert not out.exists() and not leftovers(tmp_path)


DROPPED_INTERRUPT = """
import gc, signal, sys
sys.path.insert(0, sys.argv[1])
from absl import app
from launch import errors
from zedo_jax.runtime import files

def main(argv):
    # The signal arrives while a garbage collector callback runs: Python drops its exception.
    gc.callbacks.append(lambda *a: errors._stop(signal.SIGINT, None))
    gc.collect()
    gc.callbacks.clear()
    print("still running", flush=True)
    files.save_json(sys.argv[2], {"done": True})

app.run(errors.guard(main), argv=sys.argv[:1])
"""


def test_an_interrupt_python_drops_still_stops_before_any_output(tmp_path):
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-c", DROPPED_INTERRUPT, ROOT, str(out)],
                          capture_output=True, text=True, timeout=120)
    assert "still running" in proc.stdout            # the exception was dropped ...
    assert proc.returncode == 130, proc.stderr       # ... yet nothing was committed
    assert proc.stderr.strip() == "Interrupted (Ctrl-C); no partial output was left"
    assert not out.exists() and not leftovers(tmp_path)


def test_export_onto_an_existing_prior_needs_overwrite(tmp_path, trained_small_prior):
    out = tmp_path / "prior"
    prior_lib.export_workdir(trained_small_prior, str(out))
    (out / "stray.txt").write_text("from an older prior")
    with pytest.raises(FileExistsError, match="overwrite"):
        prior_lib.export_workdir(trained_small_prior, str(out))
    prior_lib.export_workdir(trained_small_prior, str(out), overwrite=True)
    assert not (out / "stray.txt").exists() and prior_lib.load_prior(str(out)).params


def test_z_up_poses_read_as_camera_frame_are_refused(tmp_path):
    from zedo_jax.training import data
    person = np.array([[0, 0, 0], [.12, 0, 0], [.12, .45, 0], [.12, .88, .05], [-.12, 0, 0],
                       [-.12, .45, 0], [-.12, .88, .05], [0, -.25, 0], [0, -.5, 0],
                       [0, -.6, -.05], [0, -.72, 0], [-.17, -.47, 0], [-.2, -.2, 0],
                       [-.22, .05, 0], [.17, -.47, 0], [.2, -.2, 0], [.22, .05, 0]])
    rng = np.random.default_rng(0)
    camera = person[None] + rng.normal(0, 0.02, (50, 17, 3))      # y down: camera axes
    z_up = camera[..., [0, 2, 1]] * [1, 1, -1]                    # the same people, z up
    np.save(tmp_path / "camera.npy", camera)
    np.save(tmp_path / "zup.npy", z_up)
    assert data.load_poses(str(tmp_path / "camera.npy"), split="all").frame == "camera"
    with pytest.raises(ValueError, match=r"zup.npy.*along \+z.*--frame world"):
        data.load_poses(str(tmp_path / "zup.npy"), split="all")
    assert data.load_poses(str(tmp_path / "zup.npy"), split="all", frame="world").frame == "world"
    proc = cli("launch.compute_clusters", "--data", tmp_path / "zup.npy", "--prior",
               tmp_path / "p", "--split", "all")
    assert proc.returncode == 2 and "--frame world" in proc.stderr.strip().splitlines()[-1]


def test_renamed_and_object_files_are_errors_naming_them(tmp_path):
    from pathlib import Path

    import zedo_jax
    npz_as_json = tmp_path / "kp.json"
    npz_as_json.write_bytes(open(DEMO, "rb").read())
    with pytest.raises(ValueError, match=r"kp.json: named .json but holds NPZ data; rename it "
                                         r"to kp.npz"):
        zedo_jax.load_input(npz_as_json)                          # a pathlib.Path works too
    json_as_npz = tmp_path / "kp.npz"
    json_as_npz.write_text('{"frames": []}')
    with pytest.raises(ValueError, match="kp.npz: named .npz but holds JSON data"):
        zedo_jax.load_input(str(json_as_npz))
    arrays = dict(np.load(DEMO))
    arrays["seq"] = np.array([{"x": 1}] * len(arrays["keypoints"]), dtype=object)
    np.savez(tmp_path / "obj.npz", **arrays)
    with pytest.raises(ValueError, match="obj.npz: field 'seq' holds Python objects"):
        zedo_jax.load_input(tmp_path / "obj.npz")
    assert len(zedo_jax.load_input(Path(DEMO))) == len(arrays["keypoints"])
    assert zedo_jax.load_prior(Path(prior_lib.DEFAULT_PRIOR)).path == prior_lib.DEFAULT_PRIOR


def test_bad_cluster_file_is_named(tmp_path, trained_small_prior):
    out = tmp_path / "prior"
    prior_lib.export_workdir(trained_small_prior, str(out))
    np.save(out / "clusters_50.npy", np.zeros((5, 17, 3), np.float32))
    with pytest.raises(ValueError, match=r"clusters_50.npy: expected 50 finite poses"):
        prior_lib.load_prior(str(out))


def test_damaged_h36m_file_is_named(tmp_path):
    from zedo_jax.datasets import h36m
    path = tmp_path / "data_3d_h36m.npz"
    np.savez(path, positions_3d=np.array({"S9": {"Walk": np.zeros((4, 32, 3))}}, dtype=object))
    raw = bytearray(path.read_bytes())
    start = raw.index(b"\x80", raw.index(b"NUMPY"))                  # the pickle's first byte
    raw[start + 2:start + 12] = b"\xff" * 10                         # damage it
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"cannot read .*data_3d_h36m.npz .*damaged"):
        h36m._load_dict(str(path), "positions_3d")


def test_launcher_mistakes_are_one_line_errors(tmp_path):
    cases = [(("launch.make_demo", "--views", tmp_path / "missing.npz"), "file not found"),
             (("launch.sample_prior", "--n", "0"), "--n must be >= 1"),
             (("launch.sample_prior", "--corrector_snr", "-1"), "--corrector_snr must lie"),
             (("launch.lift", "--config.temporal.window=60", "--nofigure"), "add --temporal"),
             (("launch.lift", "--output", tmp_path / "o.npz", "--world", "y"), "--world")]
    for args, needle in cases:
        proc = cli(*args)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 2 and last.startswith("Error: ") and needle in last, last


def test_a_second_training_on_a_locked_workdir_stops_at_once(tmp_path, cmu_poses_path):
    work = tmp_path / "work"
    with lock_held_elsewhere(work) as pid:
        proc = cli("launch.train", "--data", cmu_poses_path, "--workdir", work,
                   "--config.steps=2", "--config.batch_size=16")
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 2 and f"in use by process {pid}" in last, last
    assert not (work / "checkpoints").exists()
