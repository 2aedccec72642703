"""End to end through ``python -m launch.lift``: COCO-17 detector keypoints in a JSON file with
no intrinsics (only the image size), lifted by the shipped prior with default settings; and
the README's main job, the bundled demo with no flags at all."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from zedo_jax import prior as prior_lib, viz
from zedo_jax.core import skeleton

from _people import coco_frames

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE_PNG = "/tmp/zedo_viz_example.png"      # a copy for human review


def run_lift(args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-m", "launch.lift", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"launch.lift failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout + res.stderr


@pytest.fixture(scope="module")
def coco_run(tmp_path_factory):
    """Lift 4 hand-made people (COCO-17 from a 65 deg camera; the file only says 1280x720)."""
    tmp = tmp_path_factory.mktemp("coco_cli")
    kp, _ = coco_frames(1280, 720, fov_deg=65.0)
    doc = {"image_size": [1280, 720],
           "frames": [{"id": f"person_{i}", "keypoints": np.round(k, 2).tolist()}
                      for i, k in enumerate(kp)]}
    path = tmp / "detections.json"
    path.write_text(json.dumps(doc))
    out = tmp / "lifted.npz"
    plots = ["--plot", str(tmp / "plots"), "--plot_every", "2"] if viz.available() else []
    log = run_lift(["--input", str(path), "--format", "coco17", "--output", str(out),
                    "--figure", str(tmp / "lifted.png"), *plots], cwd=tmp)
    with np.load(out) as f:
        res = {k: f[k] for k in f.files}
    return {"dir": tmp, "log": log, "out": res, "npz": out}


def _bone_ratios(poses):
    stats = prior_lib.load_prior().stats
    return skeleton.bone_lengths(poses) / np.asarray(stats["bone_length_mean_m"])


def test_coco_json_without_intrinsics_lifts_plausible_people(coco_run):
    out, log = coco_run["out"], coco_run["log"]
    assert out["poses"].shape == (4, 1, 17, 3) and np.isfinite(out["poses"]).all()
    assert np.isfinite(out["translation"]).all() and (out["translation"][..., 2] > 0).all()
    assert "coco17 keypoints" in log and "default intrinsics for 1280x720 px" in log
    assert out["frame_ids"].tolist() == [f"person_{i}" for i in range(4)]
    # The default camera: principal point at the centre, 55 deg across the 1280 px side.
    np.testing.assert_allclose(out["K"][0, :2, 2], [640, 360])
    assert out["K"][0, 0, 0] == pytest.approx(640 / np.tan(np.radians(27.5)), rel=1e-5)
    poses = out["poses"][:, 0]
    ratio = _bone_ratios(poses)                                     # [4, 16]
    # Every bone of every frame is within 25% of the training mean; where datasets put the
    # neck/nose joint differs (COCO derives it from the face), so the thorax-neck and
    # neck-head bones are checked together, as the thorax-to-head-top length.
    split = [8, 9]
    rest = [b for b in range(16) if b not in split]
    assert (np.abs(ratio[:, rest] - 1) < 0.25).all(), ratio.round(2)
    mean = np.asarray(prior_lib.load_prior().stats["bone_length_mean_m"])
    head = skeleton.bone_lengths(poses)[:, split].sum(-1) / mean[split].sum()
    assert (np.abs(head - 1) < 0.25).all(), head.round(2)


def test_cli_writes_summary_figure_frame_plots_and_gif(coco_run):
    pytest.importorskip("matplotlib")
    d = coco_run["dir"]
    summary = str(coco_run["npz"]).replace(".npz", ".png")        # --figure
    assert os.path.getsize(summary) > 20_000
    shutil.copy(summary, EXAMPLE_PNG)
    frames = sorted(os.listdir(d / "plots"))
    assert frames == ["animation.gif", "frame_00000.png", "frame_00002.png"]   # every 2nd
    from PIL import Image
    with Image.open(d / "plots" / "animation.gif") as gif:
        assert gif.n_frames == 2
    assert "summary figure" in coco_run["log"]


def test_demo_with_no_flags(tmp_path):
    """``python -m launch.lift`` alone: the bundled demo, metrics, npz and PNG."""
    log = run_lift([], cwd=tmp_path)
    assert "MPJPE" in log and "PA-MPJPE" in log
    with np.load(tmp_path / "zedo_lift.npz") as f:
        assert f["poses"].shape[0] == 32 and np.isfinite(f["poses"]).all()
    if viz.available():
        assert os.path.getsize(tmp_path / "zedo_lift.png") > 20_000
    else:
        assert "no summary figure" in log
