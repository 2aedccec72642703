"""Bad and degenerate input: one-line errors before any work, warnings, nothing silent.

Every test makes its own bad files. Command-line checks stop before the prior is used, so they
cost one interpreter start each; the library checks run in-process.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from zedo_jax import inputs, lifting
from zedo_jax.core import skeleton
from zedo_jax.evaluation import quality
from zedo_jax.training import data

PERSON = np.array([[0, 0, 0], [.12, 0, 0], [.12, .45, 0], [.12, .88, .05], [-.12, 0, 0],
                   [-.12, .45, 0], [-.12, .88, .05], [0, -.25, 0], [0, -.5, 0], [0, -.6, -.05],
                   [0, -.72, 0], [-.17, -.47, 0], [-.2, -.2, 0], [-.22, .05, 0], [.17, -.47, 0],
                   [.2, -.2, 0], [.22, .05, 0]])
K = np.array([[1000.0, 0, 500], [0, 1000, 500], [0, 0, 1]])


def keypoints(n=3):
    """``[n, 17, 3]`` pixels + confidence of PERSON 4 m in front of K."""
    X = PERSON + [0, 0, 4.0]
    uv = X[:, :2] / X[:, 2:] * 1000 + 500
    return np.repeat(np.concatenate([uv, np.ones((17, 1))], -1)[None], n, 0).astype(np.float32)


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def cli(module, *args, check_rc=True):
    proc = subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    return proc


def assert_one_line_error(proc, *needles):
    err = proc.stderr.strip()
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in err, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert lines and lines[-1].startswith("Error: "), err
    for n in needles:
        assert n in lines[-1], (n, lines[-1])


# ---------------------------------------------------------------------------------------------
# tracebacks for user mistakes (one-line errors, before any compute)
# ---------------------------------------------------------------------------------------------

def test_lift_cli_user_mistakes_are_one_line_errors(tmp_path):
    good = write_npz(tmp_path / "good.npz", keypoints=keypoints(), K=K)
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(open(good, "rb").read()[:300])
    bad_init = tmp_path / "init.npy"
    np.save(bad_init, np.zeros((5, 3)))
    cases = [
        (["--input", trunc], [str(trunc), "npz"]),
        (["--input", good, "--hypotheses", "7"], ["S=7"]),
        (["--input", good, "--hypotheses", "0"], ["--hypotheses"]),
        (["--input", good, "--init_poses", tmp_path / "missing.npy"], ["--init_poses",
                                                                          "missing.npy"]),
        (["--input", good, "--init_poses", bad_init], ["init_poses", "[5, 3]"]),
        (["--input", good, "--chunk_size", "0"], ["--chunk_size"]),
        (["--input", good, "--start_candidates", "0"], ["--start_candidates"]),
        (["--input", good, "--start_candidates", "10", "--hypotheses", "50"],
         ["--start_candidates", "--hypotheses"]),
        (["--input", good, "--start_candidates", "7"], ["S=7"]),
        (["--input", good, "--config.loop.euler_dt", "banana"], ["euler_dt", "banana"]),
        (["--input", good, "--config.loop.steps", "x"], ["--config.loop.steps", "'x'"]),
        (["--input", good, "--limit", "-1"], ["--limit"]),
        (["--input", good, "--figure", tmp_path / "f.png", "--nofigure"], ["--figure",
                                                                           "--nofigure"]),
        (["--input", good, "--output", tmp_path / "good.npz" / "out.npz"], ["--output",
                                                                           "is a file"]),
    ]
    for args, needles in cases:
        assert_one_line_error(cli("launch.lift", *args), *needles)
    # --verbose asks for the traceback.
    proc = cli("launch.lift", "--input", trunc, "--verbose")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_corrupt_prior_json_names_the_file(tmp_path):
    d = tmp_path / "prior"
    d.mkdir()
    (d / "prior.json").write_text("{not json")
    from zedo_jax import prior as prior_lib
    with pytest.raises(ValueError, match=r"prior\.json.*not valid JSON"):
        prior_lib.load_prior(str(d))


def test_evaluate_json_into_unwritable_place_fails_before_work(tmp_path):
    good = write_npz(tmp_path / "good.npz", keypoints=keypoints(), K=K,
                     poses3d=np.repeat((PERSON + [0, 0, 4.0])[None], 3, 0))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(cli("launch.evaluate", "--input", good, "--json", blocker / "r.json"),
                          "--json", "is a file")


def test_training_data_mistakes_are_one_line_errors(tmp_path):
    nan = np.repeat(PERSON[None], 50, 0)
    nan[3, 2, 1] = np.nan
    mm = np.repeat(PERSON[None], 50, 0) * 1000
    cases = [(write_npz(tmp_path / "nan.npz", poses3d=nan), "NaN"),
             (write_npz(tmp_path / "mm.npz", poses3d=mm), "metres"),
             (write_npz(tmp_path / "keys.npz", joints=nan), "keys"),
             (write_npz(tmp_path / "zero.npz", poses3d=np.zeros((50, 17, 3))), "zero"),
             (write_npz(tmp_path / "one.npz", poses3d=PERSON[None]), "1 pose")]
    for path, needle in cases:
        proc = cli("launch.train", "--data", path, "--workdir", tmp_path / "w", "--config.steps", "2",
                   "--split", "all")
        assert_one_line_error(proc, needle)
    good = write_npz(tmp_path / "good.npz", poses3d=np.repeat(PERSON[None], 50, 0))
    for shares, needle in (("1", "one value per --data file"), ("1,x", "must be numbers")):
        proc = cli("launch.train", "--data", f"{good},{good}", "--data_shares", shares,
                   "--workdir", tmp_path / "w", "--config.steps", "2", "--split", "all")
        assert_one_line_error(proc, needle)


def test_training_data_warnings():
    few = data.PoseSet(poses=np.repeat(PERSON[None], 3, 0).astype(np.float32), frame="camera",
                       source="three")
    with pytest.raises(ValueError, match="identical"):
        data.check_training_poses(few)
    rng = np.random.default_rng(0)
    some = data.PoseSet(poses=(PERSON + rng.normal(0, .01, (300, 17, 3))).astype(np.float32),
                        frame="camera", source="some")
    assert any("300 poses" in w for w in data.check_training_poses(some))


# ---------------------------------------------------------------------------------------------
# silent nonsense -> warnings; ignored flags; legacy OpenPose
# ---------------------------------------------------------------------------------------------

def warnings_of(kp, K_):
    return " | ".join(inputs.make_input(kp, K_).info["warnings"])


def test_degenerate_but_computable_input_warns():
    kp = keypoints()
    assert warnings_of(kp, K) == ""                                  # a normal person: quiet
    big = kp.copy()
    big[..., :2] *= 1e6
    assert "from the camera" in warnings_of(big, K)                  # scaled by 1e6
    point = kp.copy()
    point[..., :2] = 321.0
    assert "collapsed" in warnings_of(point, K)                      # all joints at one pixel
    tiny_f = K.copy()
    tiny_f[0, 0] = tiny_f[1, 1] = 1e-6
    assert "from the camera" in warnings_of(kp, tiny_f)              # focal 1e-6 px
    assert "off the optical axis" in warnings_of(kp, np.eye(3))      # identity K
    metres = np.array([[0.005, 0, 0.0025], [0, 0.005, 0.0025], [0, 0, 1]])
    assert "metres" in warnings_of(kp, metres)                       # K in metres
    two = kp.copy()
    two[:, 2:, 2] = 0
    assert "fewer than 4 visible joints" in warnings_of(two, K)      # two visible joints


def test_fractions_of_the_image_in_npz_are_refused(tmp_path):
    kp = keypoints()
    kp[..., :2] /= 1000.0
    path = write_npz(tmp_path / "frac.npz", keypoints=kp, K=K)
    with pytest.raises(ValueError, match="normalised coordinates"):
        inputs.load_input(path)


def test_focal_with_K_in_npz_warns(tmp_path):
    path = write_npz(tmp_path / "k.npz", keypoints=keypoints(), K=K)
    inp = inputs.load_input(path, focal=800.0)
    assert any("focal" in w and "ignored" in w for w in inp.info["warnings"])


def test_init_poses_with_hypotheses_is_an_error(tiny_prior):
    with pytest.raises(ValueError, match="init_poses.*hypotheses"):
        lifting.lift(tiny_prior, keypoints(), K, hypotheses=3, init_poses=PERSON[None],
                     log=None)
    with pytest.raises(ValueError, match="chunk_size"):
        lifting.lift(tiny_prior, keypoints(), K, chunk_size=0, log=None)


def test_legacy_openpose_key(tmp_path):
    X = PERSON + [0, 0, 4.0]
    uv = X[:, :2] / X[:, 2:] * 1000 + 500
    body25 = np.zeros((25, 3))
    # BODY_25: 0 nose 1 neck 2-4 r arm 5-7 l arm 8 midhip 9-11 r leg 12-14 l leg 15-18 face
    for b, h in ((0, 9), (1, 8), (2, 14), (3, 15), (4, 16), (5, 11), (6, 12), (7, 13), (8, 0),
                 (9, 1), (10, 2), (11, 3), (12, 4), (13, 5), (14, 6)):
        body25[b] = [*uv[h], 0.9]
    for b in (15, 16, 17, 18):
        body25[b] = [*(uv[9] + [(-1) ** b * 8, -6]), 0.8]
    doc = {"version": 1.0, "people": [{"pose_keypoints": body25.ravel().tolist()}]}
    path = tmp_path / "000_keypoints.json"
    path.write_text(json.dumps(doc))
    inp = inputs.load_input(str(path), image_size=(1000, 1000))
    assert len(inp) == 1 and inp.info["format"] == "body25"
    np.testing.assert_allclose(inp.keypoints[0, 1], uv[1], atol=1e-3)


# ---------------------------------------------------------------------------------------------
# quality fields
# ---------------------------------------------------------------------------------------------

def test_quality_fields_flag_implausible_poses():
    stats = {"bone_length_mean_m": list(np.linalg.norm(
        PERSON[[c for _, c in skeleton.BONES]] -
        PERSON[[p for p, _ in skeleton.BONES]], axis=-1)),
        "bone_length_std_m": [0.02] * 16}
    kp = keypoints(2)
    poses = np.stack([PERSON, PERSON * 2.0])[:, None]              # frame 1: a 3.5 m giant
    T = np.array([[[0, 0, 4.0]], [[0, 0, 4.0]]])
    err = np.zeros((2, 1, 17))
    q = quality.assess(poses, T, err, kp[..., :2], kp[..., 2], stats)
    assert q["suspect"].shape == (2, 1)
    assert not q["suspect"][0, 0] and q["suspect"][1, 0]
    assert q["bone_rms_z"][1, 0] > q["bone_rms_z"][0, 0]
    lopsided = PERSON.copy()
    lopsided[13] = lopsided[12] + 10 * (lopsided[13] - lopsided[12])  # long left forearm
    q = quality.assess(lopsided[None, None], T[:1], err[:1], kp[:1, :, :2], kp[:1, :, 2], {})
    assert q["asymmetry"][0, 0] > quality.THRESHOLDS["asymmetry"] and q["suspect"][0, 0]
    far = quality.assess(PERSON[None, None], np.array([[[0, 0, 500.0]]]), err[:1],
                         kp[:1, :, :2], kp[:1, :, 2], {})
    assert far["suspect"][0, 0]


# ---------------------------------------------------------------------------------------------
# training: resume from the newest checkpoint that restores
# ---------------------------------------------------------------------------------------------

def test_resume_skips_a_damaged_checkpoint(tmp_path, capsys):
    from zedo_jax.core import model
    from zedo_jax.runtime.compile_cache import silent
    from zedo_jax.training import checkpoint, trainer as train
    rng = np.random.default_rng(0)
    poses = data.PoseSet(poses=(PERSON + rng.normal(0, .02, (64, 17, 3))).astype(np.float32),
                         frame="camera", source="random")
    cfg = train.TrainConfig(model=model.ScoreNetConfig(hidden_dim=32, embed_dim=16,
                                                       gn_groups=8),
                            steps=4, batch_size=16, warmup_steps=1)
    w = str(tmp_path / "w")
    train.fit(cfg, poses, w, log_every=2, checkpoint_every=2, log=silent)
    state_dir = os.path.join(w, "checkpoints", "4", "state")
    for root, _, files in os.walk(state_dir):
        for name in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"damaged")
    capsys.readouterr()
    import dataclasses
    state = train.fit(dataclasses.replace(cfg, steps=6), poses, w, log_every=2,
                      checkpoint_every=2, log=silent)
    err = capsys.readouterr().err
    assert "Warning: checkpoint" in err and os.path.join("checkpoints", "4") in err, err
    assert int(state.step) == 6
    assert os.path.isdir(os.path.join(w, "damaged_checkpoints", "4"))
    assert checkpoint.TrainCheckpoints(w).latest_step() == 6
