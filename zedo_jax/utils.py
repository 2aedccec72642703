"""Small shared helpers (progress output)."""
from __future__ import annotations

import sys


def echo(msg: str) -> None:
    """Print a progress line to stderr, flushed (works in terminals, logs and notebooks)."""
    print(msg, file=sys.stderr, flush=True)


def silent(msg: str) -> None:
    """A ``log`` callback that discards messages."""
    del msg


#: Environment variable that moves (a directory) or disables (``0``, ``off``, ``false``) the
#: persistent compilation cache.
CACHE_ENV = "ZEDO_JAX_CACHE"
_cache_state: dict = {}


def compilation_cache_dir() -> str | None:
    """Where compiled programs are kept between processes: ``$ZEDO_JAX_CACHE``, else
    ``$XDG_CACHE_HOME/zedo_jax/xla`` (``~/.cache/zedo_jax/xla``); ``None`` when disabled."""
    import os
    value = os.environ.get(CACHE_ENV, "")
    if value.strip().lower() in ("0", "off", "false", "no", "none"):
        return None
    if value:
        return os.path.abspath(os.path.expanduser(value))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "zedo_jax", "xla")


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (once per process) so that a second run of
    the same lift skips XLA compilation. Returns the directory, or ``None`` when disabled by
    ``$ZEDO_JAX_CACHE`` or when the directory cannot be created (then nothing changes)."""
    if "dir" in _cache_state:
        return _cache_state["dir"]
    import os
    import jax
    path = compilation_cache_dir()
    if path is not None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            path = None
    if path is not None and jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    _cache_state["dir"] = path
    return path
