"""One process of the multi-process tests (tests/test_distributed.py).

    python tests/_dist_worker.py MODE OUT_DIR [COORDINATOR NUM_PROCESSES PROCESS_ID]

MODE (or several, comma-separated) ``train``: 4 training steps of a tiny prior on
OUT_DIR/poses.npy in OUT_DIR/work, stopped after 2 and resumed from that checkpoint;
``train_once``: the same without the stop; ``train_long``: many steps with frequent
checkpoints (the killed-peer test); ``lift``: lifts OUT_DIR/lift_input.npz with a tiny random
prior. Process 0 writes OUT_DIR/result_<MODE>.npz. Without the last three arguments the run is
single-process. HEARTBEAT (env): JAX's heartbeat timeout in seconds (default 10).
"""
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zedo_jax.runtime import distributed  # noqa: E402


def train_config(long: bool):
    from zedo_jax.core import model
    from zedo_jax.training import trainer as train
    return train.TrainConfig(model=model.ScoreNetConfig(hidden_dim=32, embed_dim=16),
                             steps=100_000 if long else 4, batch_size=16, warmup_steps=1,
                             lr=1e-3, seed=3)


def main():
    modes, out = sys.argv[1].split(","), sys.argv[2]
    if len(sys.argv) > 3:
        distributed.initialize(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                               heartbeat_timeout_seconds=int(os.environ.get("HEARTBEAT", 10)))
    for mode in modes:
        run(mode, out)


def run(mode: str, out: str):
    import jax
    import numpy as np

    from zedo_jax import lifting, prior as prior_lib
    from zedo_jax.core import model, sde
    from zedo_jax.core.config import LiftConfig
    from zedo_jax.core.program import OUTPUT_KEYS
    from zedo_jax.training import data, trainer as train

    if mode.startswith("train"):
        poses = data.PoseSet(np.load(os.path.join(out, "poses.npy")), "world", "test")
        long = mode == "train_long"
        cfg = train_config(long)
        work = os.path.join(out, "work")
        if mode == "train":   # stop at step 2, resume from its checkpoint (all processes restore)
            train.fit(dataclasses.replace(cfg, steps=2), poses, work, log_every=1, log=print)
        state = train.fit(cfg, poses, work, log_every=1, checkpoint_every=5 if long else 2,
                          log=print)
        if distributed.is_primary():
            import json
            with open(os.path.join(work, "metrics.jsonl")) as f:
                losses = [json.loads(line)["loss"] for line in f]
            leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(state.params)]
            np.savez(os.path.join(out, "result_train.npz"), losses=np.asarray(losses),
                     step=int(state.step), devices=jax.device_count(),
                     **{f"leaf{i}": v for i, v in enumerate(leaves)})
    elif mode == "lift":
        cfg = model.ScoreNetConfig(hidden_dim=32, embed_dim=16)
        params = model.init_params(cfg, jax.random.PRNGKey(0))
        with np.load(os.path.join(out, "lift_input.npz")) as f:
            inp = {k: f[k] for k in f.files}
        prior = prior_lib.Prior(config=cfg, sde=sde.SubVPSDE(), params=params,
                                 clusters={2: inp["clusters"]})
        zcfg = LiftConfig().replace(**{"ipo.steps": 5, "loop.steps": 4})
        res = lifting.lift(prior, inp["keypoints"], inp["K"], hypotheses=2, config=zcfg,
                           chunk_size=4, log=print)
        if distributed.is_primary():
            np.savez(os.path.join(out, "result_lift.npz"), devices=jax.device_count(),
                     **{k: getattr(res, k) for k in OUTPUT_KEYS})
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
