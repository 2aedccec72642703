"""zedo_jax: ZeDO (diffusion-based zero-shot 3D human pose estimation) in JAX."""
__version__ = "0.1.0"
