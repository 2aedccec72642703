"""Command-line entry points (thin absl wrappers around zedo_jax). Importing this package sets
the tools' XLA defaults (zedo_jax.runtime.compile_cache.apply_xla_defaults) before JAX starts its backend."""
import time

#: When the first launcher module started importing (the tools report import time from here).
T_START = time.perf_counter()

from zedo_jax.runtime.compile_cache import apply_xla_defaults as _apply_xla_defaults  # noqa: E402

_apply_xla_defaults()
