"""zedo_jax: ZeDO (diffusion-based zero-shot 3D human pose estimation) in JAX."""
__version__ = "0.1.0"

# JAX's persistent compilation cache must be configured before the first compilation of the
# process, so it is turned on at import (``ZEDO_JAX_CACHE=0`` disables it, a path moves it).
from zedo_jax.runtime.compile_cache import enable_compilation_cache as _enable_compilation_cache

_enable_compilation_cache()
