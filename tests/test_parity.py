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


@pytest.mark.parametrize("name", ["views", "noisy", "daz"])
def test_default_lift(ref, shipped, name):
    r = _lift(shipped, ref, name)
    assert _median_dev(r.poses, ref[f"default_{name}_poses"]) <= TOL_M
    assert _median_dev(r.translation, ref[f"default_{name}_translation"]) <= TOL_M


def test_faithful_lift(ref):
    r = _lift(zedo_jax.load_prior(weights="raw"), ref, "views", 12,
              config=zedo_jax.make_config(schedule="faithful"))
    assert _median_dev(r.poses, ref["faithful_poses"]) <= TOL_FAITHFUL_M
    assert _median_dev(r.translation, ref["faithful_translation"]) <= TOL_FAITHFUL_M


def test_fifty_hypotheses_and_selection(ref, shipped):
    r = _lift(shipped, ref, "noisy", 16, hypotheses=50)
    assert _median_dev(r.poses, ref["s50_poses"]) <= TOL_M
    assert np.mean(r.best == ref["s50_best"]) >= BEST_AGREE
    r = _lift(shipped, ref, "noisy", 16, hypotheses=10, start_candidates=50)
    assert np.mean(r.best == ref["top10_best"]) >= BEST_AGREE
    assert _median_dev(r.best_poses, ref["top10_best_poses"]) <= TOL_M


def test_temporal_lift(ref, shipped):
    kw = dict(seq=ref["seq_seq"], frame=ref["seq_frame"])
    r = _lift(shipped, ref, "seq", config=zedo_jax.make_config(schedule="temporal"), **kw)
    assert _median_dev(r.poses, ref["temporal_poses"]) <= TOL_M
    assert _median_dev(r.translation, ref["temporal_translation"]) <= TOL_M
    cfg = zedo_jax.make_config(schedule="temporal", overrides={"temporal.key_stride": 4})
    r = _lift(shipped, ref, "seq", config=cfg, init_poses=shipped.hypotheses(50)[:4], **kw)
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
    ref, shipped = dict(np.load(path)), zedo_jax.load_prior()
    for name in ("views", "noisy", "daz"):
        r = _lift(shipped, ref, name)
        ref[f"default_{name}_poses"], ref[f"default_{name}_translation"] = r.poses, r.translation
    r = _lift(zedo_jax.load_prior(weights="raw"), ref, "views", 12,
              config=zedo_jax.make_config(schedule="faithful"))
    ref["faithful_poses"], ref["faithful_translation"] = r.poses, r.translation
    r = _lift(shipped, ref, "noisy", 16, hypotheses=50)
    ref.update(s50_poses=r.poses, s50_best=r.best, s50_best_poses=r.best_poses,
               s50_score=r.selection_score)
    r = _lift(shipped, ref, "noisy", 16, hypotheses=10, start_candidates=50)
    ref.update(top10_best=r.best, top10_best_poses=r.best_poses)
    kw = dict(seq=ref["seq_seq"], frame=ref["seq_frame"])
    r = _lift(shipped, ref, "seq", config=zedo_jax.make_config(schedule="temporal"), **kw)
    ref["temporal_poses"], ref["temporal_translation"] = r.poses, r.translation
    cfg = zedo_jax.make_config(schedule="temporal", overrides={"temporal.key_stride": 4})
    r = _lift(shipped, ref, "seq", config=cfg, init_poses=shipped.hypotheses(50)[:4], **kw)
    ref["temporal_s4_poses"], ref["temporal_s4_best"] = r.poses, r.best
    np.savez_compressed(path, **ref)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_parity.py --record")
    record()
    print(f"rewrote {REF}")
