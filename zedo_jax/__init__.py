"""zedo_jax: ZeDO (diffusion-based zero-shot 3D human pose estimation) in JAX.

    import zedo_jax
    prior = zedo_jax.load_prior()                         # the shipped prior
    out = zedo_jax.lift(prior, keypoints, K)              # keypoints [N, 17, 2] pixels
    out.poses                                             # [N, 1, 17, 3] metres, camera axes

Importing the package changes no setting and imports nothing heavy: each name below is
loaded from its module on first use. The on-disk cache of compiled programs is turned on by
:func:`enable_compilation_cache` (the command-line tools call it).
"""
import importlib

__version__ = "0.1.0"

#: The public API: name -> the module that defines it.
_API = {
    "LiftConfig": "zedo_jax.core.config", "IPOConfig": "zedo_jax.core.config",
    "LoopConfig": "zedo_jax.core.config", "AnatomyConfig": "zedo_jax.core.config",
    "DenoiseConfig": "zedo_jax.core.config", "SelectionConfig": "zedo_jax.core.config",
    "TemporalConfig": "zedo_jax.core.config", "make_config": "zedo_jax.core.config",
    "EvalConfig": "zedo_jax.evaluation.metrics", "evaluate": "zedo_jax.evaluation.metrics",
    "InputOptions": "zedo_jax.inputs", "LiftInput": "zedo_jax.inputs",
    "load_input": "zedo_jax.inputs",
    "LiftResult": "zedo_jax.lifting", "lift": "zedo_jax.lifting",
    "save_result": "zedo_jax.lifting",
    "Prior": "zedo_jax.prior", "load_prior": "zedo_jax.prior",
    "enable_compilation_cache": "zedo_jax.runtime.compile_cache",
}
__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zedo_jax' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
