r"""Compare priors on every benchmark file: all frames, flexed legs and lying people, S = 1 and
S = 50, the default and the release's schedules, and bone-length errors.

    python -m experiments.priors --priors shipped=zedo_jax/assets/prior,new=runs/new.prior \
        [--data ../shared/data] [--out docs/priors.json] [--what default,faithful,s50]

Per prior and view file (``*_views*.npz``): PA-MPJPE / MPJPE of the default lift (S = 1) over
all frames, the frames with flexed legs (``metrics.flexed_legs``) and those with the trunk
within 30 degrees of the camera's horizontal plane (lying, crawling); the mean absolute
bone-length error of the lifted poses; the release's schedule (raw weights); S = 50 with the
hypothesis chosen without ground truth (``best``) and the best of the 50 (oracle). Writes a
JSON file and prints a markdown table.
"""
import argparse
import json
import os
import sys

import numpy as np

from zedo_jax.runtime.compile_cache import apply_xla_defaults, silent

VIEWS = ("cmu_test_views.npz", "cmu_test_views_noisy.npz", "cmu_daz_test_views.npz",
         "cmu_everyday_test_views.npz", "cmu_everyday_test_views_noisy.npz")
LYING_DEG = 30.0


def lying(poses3d, max_deg: float = LYING_DEG) -> np.ndarray:
    """``[N]`` bool: the pelvis-thorax direction within ``max_deg`` of the camera's x-z plane
    (the benchmark cameras pitch by at most about 20 degrees, so this is near the floor)."""
    trunk = poses3d[:, 8] - poses3d[:, 0]
    return np.degrees(np.arcsin(np.abs(trunk[:, 1]) / np.linalg.norm(trunk, axis=-1))) < max_deg


def bone_error_mm(pred, gt) -> float:
    from zedo_jax.core import skeleton
    return float(np.abs(skeleton.bone_lengths(pred) - skeleton.bone_lengths(gt)).mean() * 1000)


def pa(pred, gt, mask=None) -> float | None:
    from zedo_jax.evaluation import metrics
    err = np.asarray(metrics.pa_mpjpe(pred, gt)) * 1000
    if mask is not None:
        if not mask.any():
            return None
        err = err[mask]
    return round(float(err.mean()), 1)


def study(prior_path: str, d: dict, what: list) -> dict:
    import zedo_jax
    from zedo_jax.evaluation import metrics
    kp, gt = d["keypoints"], d["poses3d"]
    lift = lambda prior, cfg, S: zedo_jax.lift(prior, kp[..., :2], d["K"], confidence=kp[..., 2],
                                                config=cfg, hypotheses=S, log=silent)
    flexed, flat = metrics.flexed_legs(gt), lying(gt)
    row = {"frames": len(kp), "flexed_frames": int(flexed.sum()), "lying_frames": int(flat.sum())}
    if "default" in what:
        x = lift(zedo_jax.load_prior(prior_path), zedo_jax.make_config(), 1).best_poses
        row.update(pa=pa(x, gt), pa_flexed=pa(x, gt, flexed), pa_lying=pa(x, gt, flat),
                   mpjpe=round(float(np.mean(metrics.mpjpe(x, gt)) * 1000), 1),
                   bone_error_mm=round(bone_error_mm(x, gt), 1))
    if "faithful" in what:
        out = lift(zedo_jax.load_prior(prior_path, weights="raw"),
                   zedo_jax.make_config(schedule="faithful"), 1)
        row["faithful_pa"] = pa(out.best_poses, gt)
    if "s50" in what:
        out = lift(zedo_jax.load_prior(prior_path), zedo_jax.make_config(), 50)
        per = np.stack([np.asarray(metrics.pa_mpjpe(out.poses[:, s], gt))
                        for s in range(out.poses.shape[1])], 1) * 1000
        row.update(s50_best_pa=pa(out.best_poses, gt),
                   s50_oracle_pa=round(float(per.min(1).mean()), 1),
                   s50_best_pa_flexed=pa(out.best_poses, gt, flexed))
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--priors", required=True, help="NAME=PATH,... (PATH 'shipped' = default)")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--out", default=None, help="JSON file to write.")
    p.add_argument("--what", default="default,faithful,s50")
    args = p.parse_args()
    apply_xla_defaults()
    import zedo_jax
    zedo_jax.enable_compilation_cache()
    priors = dict(item.split("=", 1) for item in args.priors.split(","))
    what = args.what.split(",")
    results = {}
    for name, path in priors.items():
        path = None if path == "shipped" else path
        for f in VIEWS:
            if not os.path.exists(os.path.join(args.data, f)):
                print(f"skipping {f}: not in {args.data}", file=sys.stderr)
                continue
            row = study(path, dict(np.load(os.path.join(args.data, f))), what)
            results.setdefault(name, {})[f] = row
            print(f"{name} {f}: {row}", file=sys.stderr, flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)
    keys = [k for k in ("pa", "pa_flexed", "pa_lying", "mpjpe", "bone_error_mm", "faithful_pa",
                        "s50_best_pa", "s50_oracle_pa", "s50_best_pa_flexed")
            if any(k in r for rows in results.values() for r in rows.values())]
    print("| prior | file | " + " | ".join(keys) + " |")
    print("|---|---|" + "---:|" * len(keys))
    for name, rows in results.items():
        for f, r in rows.items():
            print(f"| {name} | {f.replace('.npz', '')} | "
                  + " | ".join("-" if r.get(k) is None else f"{r[k]}" for k in keys) + " |")


if __name__ == "__main__":
    main()
