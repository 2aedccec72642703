"""How well a prior generalises: the leave-one-subset-out protocol.

Leave-one-subset-out (LOSO) on the CMU file of this project: its three subsets (``seq_source``:
different capture sessions, skeleton definitions and repertoires) take turns as the held-out
one. A prior is trained on the train split of the other two, and evaluated (S = 1) on benchmark
views (:func:`experiments.views.make_views`) of the held-out subset's test sequences, which it has
seen neither the skeleton nor the motions of. Running it with several recipes measures which
augmentations help on data unlike the training data.

    from experiments import loso as gen
    table = gen.run_loso("cmu_h36m17.npz", "runs/loso", recipes=("none", "swap", "swap:1"),
                         weights=("raw", "ema"), steps=5000)
    print(gen.format_loso(table))
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Sequence

import jax
import numpy as np

from experiments import views
from zedo_jax import lifting, prior as prior_lib
from zedo_jax.core import model
from zedo_jax.core.config import LiftConfig
from zedo_jax.evaluation import metrics
from zedo_jax.runtime.compile_cache import echo, silent
from zedo_jax.training import (clustering, data as data_lib, losses, recipes as recipes_lib,
                               trainer as train)


def subset_poses(path: str, sources: Sequence[str], split: str) -> data_lib.PoseSet:
    """World-frame root-relative poses of the CMU file restricted to ``sources`` (subset
    names of ``seq_source``) and ``split`` (``'train'`` / ``'test'``)."""
    with np.load(path) as f:
        seq = f["seq"]
        have = sorted(set(f["seq_source"].tolist()))
        unknown = set(sources) - set(have)
        if unknown:
            raise ValueError(f"{path} has no subsets {sorted(unknown)}; subsets: {have}")
        keep = np.isin(f["seq_source"][seq], list(sources)) & (f["seq_split"][seq] == split)
        poses = f["poses"][keep]
    poses = data_lib.validate_poses(poses, name=f"poses of {sources} in {path}")
    return data_lib.PoseSet(poses=poses - poses[:, :1], frame="world",
                            source=f"{os.path.basename(path)} ({'+'.join(sources)}, {split})")


def loso_views(path: str, held_out: str, n: int = 300, seed: int = 0) -> dict:
    """Benchmark views of ``n`` test frames (evenly spaced) of the held-out subset."""
    test = subset_poses(path, [held_out], "test")
    idx = np.linspace(0, len(test) - 1, min(n, len(test))).round().astype(int)
    return views.make_views(test.poses[idx], jax.random.PRNGKey(seed))


def train_prior(poses: data_lib.PoseSet, workdir: str, aug: data_lib.AugmentConfig, *,
                steps: int, hidden_dim: int = 256, embed_dim: int = 128, batch_size: int = 512,
                lr: float = 5e-4, seed: int = 0, ema_rate: float = 0.9995,
                weights: str = "raw", loss: losses.LossConfig = losses.LossConfig(),
                log: Callable[[str], None] = echo):
    """Train (or resume) a small prior with ``aug`` (and the loss options ``loss``) and store
    its S = 1 hypothesis; returns the loaded :class:`~zedo_jax.prior.Prior` with ``weights``
    (``'raw'`` or ``'ema'``). The EMA rate is 0.9995, as in the shipped prior's fine-tunes
    (0.9999 averages mostly the first steps of a 5,000-step run)."""
    cfg = train.TrainConfig(model=model.ScoreNetConfig(hidden_dim=hidden_dim,
                                                       embed_dim=embed_dim),
                            augment=aug, loss=loss, steps=steps, batch_size=batch_size, lr=lr,
                            warmup_steps=min(1000, steps // 5), seed=seed, ema_rate=ema_rate)
    train.fit(cfg, poses, workdir, log_every=max(steps // 5, 1), checkpoint_every=steps,
              keep=1, log=log)
    if not os.path.exists(os.path.join(workdir, "clusters_1.npy")):
        prior_lib.save_clusters(workdir, clustering.hypotheses(poses, 1))
    return prior_lib.load_prior(workdir, weights=weights)


def parse_recipe_spec(spec: str) -> tuple[str, int]:
    """``'swap'`` -> ``('swap', 0)``, ``'swap:1'`` -> ``('swap', 1)`` (training seed)."""
    name, _, seed = spec.partition(":")
    recipes_lib.augment_config(name)
    try:
        return name, int(seed or 0)
    except ValueError:
        raise ValueError(f"bad recipe {spec!r}: write NAME or NAME:SEED (an integer)") from None


def cell_label(spec: str, weights: str) -> str:
    """Table key of one recipe (and seed) evaluated with one weight set: the spec itself for
    raw weights (the release's choice), ``'SPEC ema'`` for EMA weights."""
    return spec if weights == "raw" else f"{spec} {weights}"


def run_loso(path: str, workdir: str, recipes: Sequence[str] = ("none", "all"),
             subsets: Sequence[str] | None = None, steps: int = 5000, frames: int = 300,
             config=None, weights: Sequence[str] = ("raw",),
             log: Callable[[str], None] = echo, **train_kw) -> dict:
    """Leave-one-subset-out table: ``{held_out: {label: summary}}`` (mm), also written to
    ``workdir/loso.json`` after every cell (an interrupted run resumes where it stopped: the
    trainings resume from their checkpoints and finished cells are kept).

    ``recipes`` are names of :data:`zedo_jax.training.recipes.RECIPES`, optionally with a training seed (``'swap:1'``;
    run several seeds to see the run-to-run noise). Each prior is evaluated with every weight
    set of ``weights`` (``'raw'``, ``'ema'``); labels as :func:`cell_label`. ``config`` is the
    lifting configuration (default: the release's loop).
    """
    config = LiftConfig() if config is None else config
    log = silent if log is None else log
    specs = [(spec, *parse_recipe_spec(spec)) for spec in recipes]
    for w in weights:
        if w not in ("raw", "ema"):
            raise ValueError(f"weights must be 'raw' or 'ema', got {w!r}")
    with np.load(path) as f:
        all_subsets = sorted(set(f["seq_source"].tolist()))
    subsets = all_subsets if subsets is None else list(subsets)
    out_path = os.path.join(workdir, "loso.json")
    table = {}
    if os.path.exists(out_path):
        with open(out_path) as f:
            table = json.load(f)
    for held in subsets:
        rest = [s for s in all_subsets if s != held]
        train_poses = v = None
        for spec, name, seed in specs:
            todo = [w for w in weights if cell_label(spec, w) not in table.get(held, {})]
            if not todo:
                continue
            if train_poses is None:
                train_poses = subset_poses(path, rest, "train")
                v = loso_views(path, held, frames)
            log(f"[loso] held out {held}, recipe {spec}: training on {len(train_poses):,} poses")
            run_dir = os.path.join(workdir, f"{held}__{name}" + (f"__{seed}" if seed else ""))
            for i, w in enumerate(todo):
                prior = (train_prior(train_poses, run_dir, recipes_lib.augment_config(name),
                                     steps=steps, seed=seed, weights=w,
                                     loss=recipes_lib.loss_config(name), log=log, **train_kw)
                         if i == 0
                         else prior_lib.load_prior(run_dir, weights=w))
                res = lifting.lift(prior, v["keypoints"], v["K"], config=config, log=None)
                s = metrics.evaluate(res.poses, v["poses3d"])["summary"]
                label = cell_label(spec, w)
                table.setdefault(held, {})[label] = {k: s[k] for k in
                                                     ("mpjpe_mm", "pa_mpjpe_mm", "n_mpjpe_mm")}
                log(f"[loso] {held} / {label}: " + ", ".join(
                    f"{k} {v_:.1f}" for k, v_ in table[held][label].items()))
                os.makedirs(workdir, exist_ok=True)
                with open(out_path, "w") as f:
                    json.dump(table, f, indent=2)
    return table


def loso_comparison(table: dict, baseline: str = "none", metric: str = "pa_mpjpe_mm") -> dict:
    """Each recipe against ``baseline`` per held-out subset, seeds averaged: ``{recipe (with its
    weights suffix): {'delta': {held_out: recipe mean - baseline mean (mm)}, 'wins_all':
    bool}}``. Recipes are compared with the baseline evaluated with the same weights; a
    recipe wins on a subset when its mean is strictly lower. ``'baseline_spread'``: {held_out:
    max - min of the baseline's seeds} where it has several, the run-to-run noise to read the
    deltas against."""
    def split(label):
        spec, _, w = label.partition(" ")
        return spec.partition(":")[0], w

    means, spreads = {}, {}
    for held, rows in table.items():
        acc = {}
        for label, s in rows.items():
            acc.setdefault(split(label), []).append(s[metric])
        means[held] = {k: float(np.mean(v)) for k, v in acc.items()}
        spreads[held] = {k: float(np.ptp(v)) for k, v in acc.items() if len(v) > 1}
    out = {}
    for held, m in means.items():
        for (name, w), value in m.items():
            if name == baseline or (baseline, w) not in m:
                continue
            key = name + (f" {w}" if w else "")
            row = out.setdefault(key, {"delta": {}, "baseline_spread": {}})
            row["delta"][held] = value - m[(baseline, w)]
            if (baseline, w) in spreads[held]:
                row["baseline_spread"][held] = spreads[held][(baseline, w)]
    for key, row in out.items():
        row["wins_all"] = len(row["delta"]) == len(means) and all(
            d < 0 for d in row["delta"].values())
    return out


def format_loso(table: dict, baseline: str = "none") -> str:
    """Plain-text table: one row per held-out subset and recipe, then each recipe's PA-MPJPE
    against ``baseline`` (seeds averaged) and whether it beats it on every held-out subset."""
    w = max([len("recipe")] + [len(k) for rows in table.values() for k in rows]) + 2
    head = f"{'held-out subset':<24}{'recipe':<{w}}{'MPJPE':>8}{'PA-MPJPE':>10}{'N-MPJPE':>9}"
    lines = [head, "-" * len(head)]
    for held, rows in table.items():
        for name, s in rows.items():
            lines.append(f"{held:<24}{name:<{w}}{s['mpjpe_mm']:>8.1f}{s['pa_mpjpe_mm']:>10.1f}"
                         f"{s['n_mpjpe_mm']:>9.1f}")
    comparison = loso_comparison(table, baseline)
    if comparison:
        lines.append(f"PA-MPJPE against '{baseline}' (mm, seeds averaged; negative = better):")
        for key, row in comparison.items():
            deltas = ", ".join(f"{h} {d:+.1f}" for h, d in row["delta"].items())
            lines.append(f"  {key:<{w}}{deltas}  -> better on every subset: "
                         f"{'yes' if row['wins_all'] else 'no'}")
            if row["baseline_spread"]:
                lines.append(f"  {'':<{w}}(seed spread of '{baseline}': " + ", ".join(
                    f"{h} {d:.1f}" for h, d in row["baseline_spread"].items()) + ")")
    return "\n".join(lines)
