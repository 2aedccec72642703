"""Shared test fixtures: paths to ../shared/data (skip cleanly when absent) and a tiny prior."""
from __future__ import annotations

import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("ZEDO_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
CMU_POSES = os.path.join(SHARED_DATA, "cmu_h36m17.npz")
CMU_VIEWS = os.path.join(SHARED_DATA, "cmu_test_views.npz")


def require(path: str) -> str:
    """Skip the calling test when a shared data file is absent (users' machines lack it)."""
    if not os.path.exists(path):
        pytest.skip(f"shared data not found: {path} (set ZEDO_SHARED_DATA to its folder)")
    return path


@pytest.fixture(scope="session")
def cmu_poses_path():
    return require(CMU_POSES)


@pytest.fixture(scope="session")
def cmu_views():
    with np.load(require(CMU_VIEWS)) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="session")
def tiny_prior():
    """A randomly initialised small prior (hidden 64) with S = 1 and S = 3 hypotheses."""
    import jax

    from zedo_jax import prior as prior_lib
    from zedo_jax.core import model, sde
    cfg = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
    params = model.init_params(cfg, jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    base = np.array([[0, 0, 0], [.12, 0, 0], [.12, .45, 0], [.12, .88, .05], [-.12, 0, 0],
                     [-.12, .45, 0], [-.12, .88, .05], [0, -.25, 0], [0, -.5, 0], [0, -.6, -.05],
                     [0, -.72, 0], [-.17, -.47, 0], [-.2, -.2, 0], [-.22, .05, 0], [.17, -.47, 0],
                     [.2, -.2, 0], [.22, .05, 0]], np.float32)
    clusters = {1: base[None], 3: base[None] + rng.normal(0, .03, (3, 17, 3)).astype(np.float32)}
    for c in clusters.values():
        c -= c[:, :1]
    return prior_lib.Prior(config=cfg, sde=sde.SubVPSDE(), params=params, clusters=clusters,
                            path="<tiny>", info={"weights": "raw"})


@pytest.fixture(scope="session")
def trained_small_prior(tmp_path_factory, cmu_poses_path):
    """A small prior trained for 600 steps on the CMU train split (about 30 s), saved
    as a training workdir with S = 1 and S = 4 k-means hypotheses and training statistics.
    (At 300 steps the lifting test's margin depended on the CPU: PA-MPJPE 0.73x the IPO pose's
    on an Intel Xeon against the 0.7x bound; at 600 steps 0.59x.)"""
    from zedo_jax import prior as prior_lib
    from zedo_jax.core import model
    from zedo_jax.runtime.compile_cache import silent
    from zedo_jax.training import data, trainer as train
    workdir = str(tmp_path_factory.mktemp("small_prior"))
    poses = data.load_poses(cmu_poses_path, split="train")
    cfg = train.TrainConfig(model=model.ScoreNetConfig(hidden_dim=128, embed_dim=64),
                            steps=600, batch_size=512, lr=1e-3, warmup_steps=50)
    train.fit(cfg, poses, workdir, log_every=100, checkpoint_every=10 ** 6, log=silent)
    prior_lib.store_hypotheses(workdir, poses, (1, 4), iters=20, restarts=1)
    return workdir


@pytest.fixture(scope="module")
def one_torch_thread():
    """PyTorch's intra-op threads fight with JAX's on small CPU machines (20x slower): one
    PyTorch thread for the module's tests (nothing without PyTorch)."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
