"""Outputs equal to the recorded reference (tests/data/parity_reference.npz): the default,
faithful, S = 50, top-10-of-50 and temporal lifts of small slices of the shared benchmarks
with the shipped prior, and the per-step training losses of four recipes with a fixed seed.
The reference holds its own inputs, so the lifts run without ../shared/data (training reads
the poses). A deliberate change of the shipped prior records the lifts again:
``python tests/test_parity.py --record`` (the training losses are kept)."""
import dataclasses
import json
import os

import numpy as np
import pytest

import zedo_jax
from zedo_jax.core import model
from zedo_jax.runtime.compile_cache import silent
from zedo_jax.training import data as data_lib, recipes, trainer

REF = os.path.join(os.path.dirname(__file__), "data", "parity_reference.npz")
TRAIN_POSES = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                           "cmu_h36m17.npz")
TOL_M = 1e-5          # median joint deviation: 0.01 mm
DEFAULT_FILES = ("views", "noisy", "daz")
# The release's schedule (500 IPO steps) amplifies the rounding of another CPU model (the IPO is
# chaotic in the last bits): recorded on one x86 CPU, run on another, 0.03 mm median, and near-tie
# choices among 50 hypotheses flip in about 6% of frames.
TOL_FAITHFUL_M = 1e-4
BEST_AGREE = 0.9


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(REF))


@pytest.fixture(scope="module")
def shipped():
    return zedo_jax.load_prior()


def _median_dev(a, b):
    return float(np.median(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)))


def _lift(p, ref, name, n=None, **kw):
    kp, K = ref[name + "_kp"][:n], ref[name + "_K"][:n]
    return zedo_jax.lift(p, kp[..., :2], K, confidence=kp[..., 2], log=silent, **kw)


def _lifts(ref, shipped) -> dict:
    """The reference's lifts by name, each a function of no arguments: what the tests compare
    and what ``record`` writes."""
    seq = dict(seq=ref["seq_seq"], frame=ref["seq_frame"])
    key4 = zedo_jax.make_config(schedule="temporal", overrides={"temporal.key_stride": 4})
    default = {f"default_{n}": (lambda n=n: _lift(shipped, ref, n)) for n in DEFAULT_FILES}
    return {**default,
            "faithful": lambda: _lift(zedo_jax.load_prior(weights="raw"), ref, "views", 12,
                                      config=zedo_jax.make_config(schedule="faithful")),
            "s50": lambda: _lift(shipped, ref, "noisy", 16, hypotheses=50),
            "top10": lambda: _lift(shipped, ref, "noisy", 16, hypotheses=10,
                                   start_candidates=50),
            "temporal": lambda: _lift(shipped, ref, "seq",
                                      config=zedo_jax.make_config(schedule="temporal"), **seq),
            "temporal_s4": lambda: _lift(shipped, ref, "seq", config=key4,
                                         init_poses=shipped.hypotheses(50)[:4], **seq)}


@pytest.mark.parametrize("name", DEFAULT_FILES)
def test_default_lift(ref, shipped, name):
    r = _lifts(ref, shipped)[f"default_{name}"]()
    assert _median_dev(r.poses, ref[f"default_{name}_poses"]) <= TOL_M
    assert _median_dev(r.translation, ref[f"default_{name}_translation"]) <= TOL_M


def test_faithful_lift(ref, shipped):
    r = _lifts(ref, shipped)["faithful"]()
    assert _median_dev(r.poses, ref["faithful_poses"]) <= TOL_FAITHFUL_M
    assert _median_dev(r.translation, ref["faithful_translation"]) <= TOL_FAITHFUL_M


def test_fifty_hypotheses_and_selection(ref, shipped):
    r = _lifts(ref, shipped)["s50"]()
    assert _median_dev(r.poses, ref["s50_poses"]) <= TOL_M
    assert np.mean(r.best == ref["s50_best"]) >= BEST_AGREE
    r = _lifts(ref, shipped)["top10"]()
    assert np.mean(r.best == ref["top10_best"]) >= BEST_AGREE
    assert _median_dev(r.best_poses, ref["top10_best_poses"]) <= TOL_M


def test_temporal_lift(ref, shipped):
    lifts = _lifts(ref, shipped)
    r = lifts["temporal"]()
    assert _median_dev(r.poses, ref["temporal_poses"]) <= TOL_M
    assert _median_dev(r.translation, ref["temporal_translation"]) <= TOL_M
    r = lifts["temporal_s4"]()
    assert _median_dev(r.poses, ref["temporal_s4_poses"]) <= TOL_M
    # The chosen hypothesis is not compared here: windows now measure loop_asymmetry where
    # frames on their own do (at the end of the loop, before the anatomy steps; it was after
    # the post-filter), which moves the selection of 27% of these 240 frames (PA-MPJPE of the
    # chosen poses 32.6 -> 33.0 mm against the ground truth).
    assert np.array_equal(r.best, np.argmin(r.selection_score, 1))


@pytest.mark.skipif(not os.path.exists(TRAIN_POSES), reason="needs ../shared/data")
@pytest.mark.parametrize("recipe", ["none", "swap_skeleton", "rebalance", "loop_t90"])
def test_training_losses(ref, recipe, tmp_path):
    poses = data_lib.load_poses(TRAIN_POSES, split="train")
    poses = dataclasses.replace(poses, poses=poses.poses[:4000])
    cfg = trainer.TrainConfig(model=model.ScoreNetConfig(hidden_dim=64, embed_dim=32),
                              steps=12, batch_size=128, augment=recipes.augment_config(recipe),
                              loss=recipes.loss_config(recipe), warmup_steps=4, seed=3)
    trainer.fit(cfg, poses, str(tmp_path), log_every=1, checkpoint_every=100, log=silent)
    losses = [json.loads(line)["loss"] for line in open(tmp_path / "metrics.jsonl")]
    # The first loss (same weights, batch, augmentation and noise) is exact on any CPU; later
    # ones carry another CPU model's rounding of the updates (up to 0.7% after 12 steps).
    np.testing.assert_allclose(losses[0], ref[f"train_{recipe}_loss"][0], rtol=1e-5)
    np.testing.assert_allclose(losses, ref[f"train_{recipe}_loss"], rtol=2e-2)


def record(path: str = REF) -> None:
    """Lift the reference's inputs again with the shipped prior and rewrite the lift outputs."""
    ref = dict(np.load(path))
    r = {name: run() for name, run in _lifts(ref, zedo_jax.load_prior()).items()}
    for name in ["faithful", "temporal"] + [f"default_{n}" for n in DEFAULT_FILES]:
        ref[f"{name}_poses"], ref[f"{name}_translation"] = r[name].poses, r[name].translation
    ref.update(s50_poses=r["s50"].poses, s50_best=r["s50"].best,
               s50_best_poses=r["s50"].best_poses, s50_score=r["s50"].selection_score,
               top10_best=r["top10"].best, top10_best_poses=r["top10"].best_poses,
               temporal_s4_poses=r["temporal_s4"].poses, temporal_s4_best=r["temporal_s4"].best)
    np.savez_compressed(path, **ref)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_parity.py --record")
    record()
    print(f"rewrote {REF}")
