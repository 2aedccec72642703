"""zedo_jax: ZeDO (diffusion-based zero-shot 3D human pose estimation) in JAX.

    import zedo_jax
    prior = zedo_jax.load_prior()                         # the shipped prior
    out = zedo_jax.lift(prior, keypoints, K)              # keypoints [N, 17, 2] pixels
    out.poses                                             # [N, 1, 17, 3] metres, camera axes

Importing the package changes no setting: the on-disk cache of compiled programs is turned on
by :func:`enable_compilation_cache` (the command-line tools call it).
"""
from zedo_jax.core.config import (AnatomyConfig, DenoiseConfig, IPOConfig, LiftConfig,
                                  LoopConfig, SelectionConfig, TemporalConfig, make_config)
from zedo_jax.evaluation.metrics import EvalConfig, evaluate
from zedo_jax.inputs import InputOptions, LiftInput, load_input
from zedo_jax.lifting import LiftResult, lift, save_result
from zedo_jax.prior import Prior, load_prior
from zedo_jax.runtime.compile_cache import enable_compilation_cache

__version__ = "0.1.0"

__all__ = ["AnatomyConfig", "DenoiseConfig", "EvalConfig", "IPOConfig", "InputOptions",
           "LiftConfig", "LiftInput", "LiftResult", "LoopConfig", "Prior", "SelectionConfig",
           "TemporalConfig", "enable_compilation_cache", "evaluate", "lift", "load_input",
           "load_prior", "make_config", "save_result"]
