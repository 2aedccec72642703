"""Leave-one-subset-out protocol: benchmark views, subset selection, recipes, the table."""
from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from experiments import loso as gen, views
from zedo_jax.core import camera
from zedo_jax.training import data, recipes


def test_views_reproject_and_follow_the_protocol(cmu_poses_path):
    test = gen.subset_poses(cmu_poses_path, ["cmu_expmap"], "test")
    v = views.make_views(test.poses[:400], jax.random.PRNGKey(0))
    uv = np.asarray(camera.project(v["poses3d"], v["K"]))
    np.testing.assert_allclose(v["keypoints"][..., :2], uv, atol=1e-3)
    assert (v["keypoints"][..., :2] >= 0).all() and (v["keypoints"][..., :2] < 1000).all()
    depth = v["poses3d"][:, 0, 2]
    assert 3.4 < depth.min() and depth.max() < 6.2
    # Root-relative shape unchanged by the camera (a rotation).
    np.testing.assert_allclose(np.linalg.norm(v["poses3d"] - v["poses3d"][:, :1], axis=-1),
                               np.linalg.norm(test.poses[:400], axis=-1), atol=1e-4)


def test_subsets_are_disjoint_and_named(cmu_poses_path):
    a = gen.subset_poses(cmu_poses_path, ["cmu_expmap", "cmu_bvh_subjects_1_7"], "train")
    b = gen.subset_poses(cmu_poses_path, ["cmu_bvh_dance_martial"], "train")
    allp = data.load_poses(cmu_poses_path, split="train")
    assert len(a) + len(b) == len(allp)
    with pytest.raises(ValueError, match="no subsets"):
        gen.subset_poses(cmu_poses_path, ["walking"], "train")
    assert recipes.augment_config("none") == data.AugmentConfig()
    everything = recipes.augment_config("all")
    assert everything.posture_prob > 0 and everything.bone_scale_range > 0
    assert everything.keep_size and everything.body_scale_range == 0
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.augment_config("everything")


def test_recipes_split_into_augmentation_and_loss():
    from zedo_jax.training import losses
    assert recipes.loss_config("none") == losses.LossConfig()
    assert recipes.augment_config("loop_t") == data.AugmentConfig()   # only the training times
    assert recipes.loss_config("loop_t").loop_t_fraction == 0.5
    both = recipes.augment_config("swap_loop_t"), recipes.loss_config("swap_loop_t")
    assert both[0].swap_prob == 0.5 and both[1].loop_t_fraction == 0.5
    for name in recipes.RECIPES:                                  # every key lands somewhere
        aug, loss = recipes.augment_config(name), recipes.loss_config(name)
        for k, v in recipes.RECIPES[name].items():
            assert getattr(loss if k in recipes.LOSS_FIELDS else aug, k) == v
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.loss_config("everything")


def test_loso_runs_end_to_end_and_resumes(cmu_poses_path, tmp_path):
    from zedo_jax.core.config import LiftConfig
    cfg = LiftConfig().replace(**{"ipo.steps": 5, "loop.steps": 5})
    kw = dict(recipes=("none:1",), subsets=("cmu_expmap",), steps=4, frames=4,
              config=cfg, weights=("raw", "ema"), hidden_dim=64, embed_dim=32, batch_size=64,
              log=None)
    table = gen.run_loso(cmu_poses_path, str(tmp_path), **kw)
    assert set(table["cmu_expmap"]) == {"none:1", "none:1 ema"}
    row = table["cmu_expmap"]["none:1"]
    assert set(row) == {"mpjpe_mm", "pa_mpjpe_mm", "n_mpjpe_mm"} and row["mpjpe_mm"] > 0
    assert table["cmu_expmap"]["none:1 ema"] != row                      # other weights
    assert os.path.isdir(os.path.join(tmp_path, "cmu_expmap__none__1"))  # seed 1's run
    with open(os.path.join(tmp_path, "loso.json")) as f:
        assert json.load(f) == table
    assert gen.run_loso(cmu_poses_path, str(tmp_path), **kw) == table     # finished cells kept
    assert "cmu_expmap" in gen.format_loso(table)


def test_recipe_specs_and_loso_comparison():
    assert gen.parse_recipe_spec("swap") == ("swap", 0)
    assert gen.parse_recipe_spec("swap:3") == ("swap", 3)
    with pytest.raises(ValueError, match="unknown recipe"):
        gen.parse_recipe_spec("warp:1")
    with pytest.raises(ValueError, match="NAME:SEED"):
        gen.parse_recipe_spec("swap:x")
    assert gen.cell_label("swap:1", "raw") == "swap:1"
    assert gen.cell_label("swap:1", "ema") == "swap:1 ema"

    def s(pa):
        return {"mpjpe_mm": 2 * pa, "pa_mpjpe_mm": pa, "n_mpjpe_mm": 1.5 * pa}
    table = {"a": {"none": s(70), "none:1": s(72), "swap": s(69), "swap:1": s(70),
                   "none ema": s(60), "swap ema": s(61)},
             "b": {"none": s(80), "swap": s(79), "none ema": s(60), "swap ema": s(59)}}
    cmp = gen.loso_comparison(table)
    assert cmp["swap"]["delta"] == {"a": -1.5, "b": -1.0} and cmp["swap"]["wins_all"]
    assert cmp["swap"]["baseline_spread"] == {"a": 2.0}                  # none vs none:1 on a
    assert cmp["swap ema"]["delta"] == {"a": 1.0, "b": -1.0}            # against 'none ema'
    assert not cmp["swap ema"]["wins_all"]
    text = gen.format_loso(table)
    assert "better on every subset: yes" in text and "better on every subset: no" in text
    assert "seed spread of 'none': a 2.0" in text
    # A recipe missing from a held-out subset cannot win on every subset.
    del table["b"]["swap"]
    assert not gen.loso_comparison(table)["swap"]["wins_all"]
