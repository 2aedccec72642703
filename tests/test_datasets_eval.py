"""Protocol metrics and ``python -m launch.evaluate --dataset ...`` end to end on synthetic files
in each official layout (tiny IPO / loop step counts; the shipped prior)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from zedo_jax.datasets import PROTOCOLS, evaluate, format_table, load, synthetic
from zedo_jax.evaluation import metrics

pytest.importorskip("h5py")
pytest.importorskip("scipy")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def h36m_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("h36m_eval")
    synthetic.write_h36m(str(d))
    return str(d), load("h36m", str(d))


def test_perfect_predictions_score_zero_and_offsets_count(h36m_set):
    _, ev = h36m_set
    gt = ev.poses3d - ev.poses3d[:, :1]
    res = evaluate(gt, ev, PROTOCOLS["h36m"])
    for v in res["metrics"]["17"].values():
        assert v == pytest.approx(0.0, abs=1e-3)
    # A 5 cm pelvis offset (not re-centred, as the release) costs 50 mm MPJPE, nothing after
    # Procrustes or re-centring.
    shifted = gt + np.array([0.05, 0, 0], np.float32)
    res = evaluate(shifted, ev, PROTOCOLS["h36m"])["metrics"]["17"]
    assert res["MPJPE"] == pytest.approx(50.0, abs=0.01)
    assert res["PA-MPJPE"] == pytest.approx(0.0, abs=1e-3)
    rec = evaluate(shifted, ev, PROTOCOLS["h36m"], metrics.EvalConfig(recenter=True))
    assert rec["metrics"]["17"]["MPJPE"] == pytest.approx(0.0, abs=1e-3)


def test_h36m_averages_actions_first(h36m_set):
    _, ev = h36m_set
    gt = ev.poses3d - ev.poses3d[:, :1]
    pred = gt.copy()
    walk = ev.group == "WalkDog"
    pred[walk] += np.array([0.1, 0, 0], np.float32)           # 100 mm on one action only
    res = evaluate(pred, ev, PROTOCOLS["h36m"])
    n_actions = len(np.unique(ev.group))
    assert res["metrics"]["17"]["MPJPE"] == pytest.approx(100.0 / n_actions, abs=0.01)
    assert res["per_group"]["WalkDog"]["MPJPE"] == pytest.approx(100.0, abs=0.01)
    # 3DPW / Ski average frames instead.
    assert PROTOCOLS["ski"].aggregate == PROTOCOLS["3dpw"].aggregate == "frames"
    by_frame = evaluate(pred, ev, dataclasses.replace(PROTOCOLS["h36m"], aggregate="frames"))
    assert by_frame["metrics"]["17"]["MPJPE"] == pytest.approx(100.0 * walk.mean(), abs=0.01)


def test_min_over_hypotheses_per_metric_and_14_joints(h36m_set):
    _, ev = h36m_set
    gt = ev.poses3d - ev.poses3d[:, :1]
    far = gt * 1.3                                           # good after scale alignment
    near = gt + np.array([0.02, 0, 0], np.float32)           # good before alignment
    pred = np.stack([far, near], 1)
    res = evaluate(pred, ev, PROTOCOLS["3dpw"])
    m17, m14 = res["metrics"]["17"], res["metrics"]["14"]
    assert m17["MPJPE"] == pytest.approx(20.0, abs=0.01)      # from `near`
    assert m17["PA-MPJPE"] == pytest.approx(0.0, abs=1e-3)    # from `far`
    assert m14["MPJPE"] == pytest.approx(20.0, abs=0.01)
    # The 14-joint subset drops pelvis, spine and neck/nose: an error there costs nothing.
    pred = gt.copy()
    pred[:, 7] += np.array([0.17, 0, 0], np.float32)
    res = evaluate(pred, ev, PROTOCOLS["3dpw"])
    assert res["metrics"]["14"]["MPJPE"] == pytest.approx(0.0, abs=1e-3)
    assert res["metrics"]["17"]["MPJPE"] == pytest.approx(10.0, abs=0.01)


def test_table_lays_out_paper_numbers_beside_ours(h36m_set):
    _, ev = h36m_set
    gt = ev.poses3d - ev.poses3d[:, :1]
    res = evaluate(gt, ev, PROTOCOLS["h36m"])
    txt = format_table(res, PROTOCOLS["h36m"], ev, keypoints="gt", hypotheses=1)
    assert "PA-MPJPE" in txt and "35.8" in txt and "46.9" in txt and "release: 886" in txt
    assert "every 640th of 4000" in txt
    res50 = evaluate(np.repeat(gt[:, None], 2, 1), ev, PROTOCOLS["h36m"])
    assert "51.4" in format_table(res50, PROTOCOLS["h36m"], ev, keypoints="gt", hypotheses=50)


def run_evaluate(args, cwd, check=True):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-m", "launch.evaluate", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, f"launch.evaluate failed:\n{res.stdout}\n{res.stderr}"
    return res


FAST = ["--config.ipo.steps=10", "--config.loop.steps=10"]


@pytest.mark.parametrize("name", ["h36m", "3dpw", "3dhp", "ski"])
def test_evaluate_cli_runs_each_dataset(tmp_path, name):
    synthetic.WRITERS[name](str(tmp_path))
    out = tmp_path / "res.json"
    res = run_evaluate(["--dataset", name, "--data_dir", str(tmp_path), "--limit", "4",
                        "--json", str(out), *FAST], cwd=tmp_path)
    assert "paper" in res.stdout and "this run" in res.stdout and "PA-MPJPE" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["dataset"] == name and doc["frames"] == 4
    m = doc["metrics_mm"]["17"]
    assert all(np.isfinite(v) and v >= 0 for v in m.values())
    assert m["PA-MPJPE"] < 200          # a real person-shaped result, even with 10 steps
    if name == "3dpw":
        assert "14" in doc["metrics_mm"] and doc["config"]["ipo"]["distance"] == 8.0
    if name == "ski":
        assert doc["config"]["ipo"]["rot_axes"] == "y"
    if name == "3dhp":
        assert "PCK" in m and "AUC" in m


def test_evaluate_cli_refinement_and_hypotheses(tmp_path):
    synthetic.write_h36m(str(tmp_path))
    ev = load("h36m", str(tmp_path), keypoints="cpn")
    init = (ev.poses3d - ev.poses3d[:, :1]) * 1.1            # a lifter's (scaled) output
    full = np.zeros((ev.total_frames, 17, 3), np.float32)
    full[ev.index] = init
    np.save(tmp_path / "vp3d.npy", full)
    res = run_evaluate(["--dataset", "h36m", "--data_dir", str(tmp_path), "--keypoints", "cpn",
                        "--init_poses", str(tmp_path / "vp3d.npy"), "--json",
                        str(tmp_path / "r.json"), *FAST], cwd=tmp_path)
    assert "refining --init_poses" in res.stdout and "before refinement" in res.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["refinement"] and doc["hypotheses"] == 1
    assert doc["initial_poses_metrics_mm"]["17"]["PA-MPJPE"] == pytest.approx(0.0, abs=0.01)
    res = run_evaluate(["--dataset", "h36m", "--data_dir", str(tmp_path), "--hypotheses", "50",
                        "--limit", "2", *FAST], cwd=tmp_path)
    assert "S=50 (min over hypotheses)" in res.stdout and "51.4" in res.stdout


def test_evaluate_cli_errors_are_one_line(tmp_path):
    res = run_evaluate(["--dataset", "h36m", "--data_dir", str(tmp_path)], cwd=tmp_path,
                       check=False)
    assert res.returncode != 0
    assert "Error: Human3.6M 3D poses not found" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_evaluate(["--dataset", "ski"], cwd=tmp_path, check=False)
    assert res.returncode != 0 and "Error: --dataset ski needs --data_dir" in res.stderr
    res = run_evaluate([], cwd=tmp_path, check=False)
    assert res.returncode != 0 and "Error: give --input FILE" in res.stderr
    assert ", or --dataset" in res.stderr
