"""experiments.benchmark and experiments.schedules run (tiny sizes; timings are not asserted)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module, args, tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_benchmark_train_and_lift_tiny(tmp_path):
    path = tmp_path / "bench.json"
    log = _run("experiments.benchmark", ["--what", "train,lift", "--batches", "2", "--hidden_dim",
                                    "64", "--embed_dim", "32", "--train_batch", "16",
                                    "--train_steps", "1", "--ipo_steps", "2", "--oil_steps", "2",
                                    "--train_recipes", "none,swap", "--train_poses", "300",
                                    "--json", str(path)], tmp_path)
    res = json.loads(path.read_text())
    assert res["train"]["poses_per_s"] > 0 and res["lift"][0]["pose_iterations_per_s"] > 0
    assert 0 < res["lift"][0]["fraction_of_peak"] and "of peak" in log
    # Each recipe on the same poses, beside the PyTorch loop (or the reason it is missing).
    assert [r["recipe"] for r in res["train_recipes"]] == ["none", "swap"]
    assert all(r["poses"] == 300 and r["poses_per_s"] > 0 for r in res["train_recipes"])
    assert "recipe swap" in log and "PyTorch loop" in log
    torch_res = res["train_torch"]
    if "skipped" not in torch_res:
        assert torch_res["poses_per_s"] > 0 and res["train_recipes"][0]["vs_torch"] > 0


def test_schedules_figure_from_records(tmp_path):
    pytest.importorskip("matplotlib")
    records = [{"variant": v, "oil_steps": m, "evals_per_frame": m, "file": f,
                "mpjpe_mm": 60 - m / 100 + (v == "default"), "pa_mpjpe_mm": 40 - m / 200,
                "frames": 10}
               for v in ("release", "default") for m in (10, 100, 1000) for f in ("a", "b")]
    src = tmp_path / "rec.json"
    src.write_text(json.dumps(records))
    fig = tmp_path / "curve.png"
    log = _run("experiments.schedules", ["--from_json", str(src), "--figure", str(fig)], tmp_path)
    assert os.path.getsize(fig) > 10_000 and "PA-MPJPE" in log
