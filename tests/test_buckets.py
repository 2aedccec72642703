"""Inputs of other lengths reuse compiled programs: chunk sizes come from a few buckets."""
import numpy as np

import zedo_jax
from zedo_jax import lifting
from zedo_jax.runtime.compile_cache import silent

K = np.array([[1000.0, 0, 500], [0, 1000, 500], [0, 0, 1]], np.float32)


def test_bucket_sizes():
    assert [lifting.bucket(c) for c in (1, 2, 3, 40, 64, 65, 256, 257, 1000, 2400)] == \
        [1, 2, 4, 64, 64, 128, 256, 512, 1024, 2560]
    assert lifting.default_chunk(4800, 1, 1) == 2560 and lifting.default_chunk(37, 1, 4) == 64


def test_another_frame_count_does_not_compile_again(tiny_prior):
    rng = np.random.default_rng(0)
    cfg = zedo_jax.make_config(overrides={"ipo.steps": 3, "loop.steps": 3})

    def lift(n):
        kp = 500 + rng.normal(0, 60, (n, 17, 2)).astype(np.float32)
        return zedo_jax.lift(tiny_prior, kp, K, config=cfg, log=silent)
    first = lift(40)
    again = lift(50)                         # the same 64-frame program
    assert again.poses.shape == (50, 1, 17, 3) and first.poses.shape == (40, 1, 17, 3)
    assert again.timings.compile_seconds == 0.0
