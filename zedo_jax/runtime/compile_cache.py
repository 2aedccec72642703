"""Small shared helpers: progress output, the compilation caches (JAX's and compiled programs on
disk), the command-line tools' XLA defaults."""
from __future__ import annotations

import functools
import sys


def import_torch(missing_message: str):
    """``import torch`` (an optional extra, imported lazily); ``ImportError(missing_message)``
    when PyTorch is not installed."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise ImportError(missing_message) from e
    return torch


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
    path = compilation_cache_dir()
    if path is not None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            path = None
    if path is not None:
        if "jax" not in sys.modules:
            # Before JAX is imported its settings come from the environment: set them there,
            # so that ``import zedo_jax`` (and the PyTorch baseline) does not import JAX.
            os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", path)
            os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
        else:
            import jax
            if jax.config.jax_compilation_cache_dir is None:
                jax.config.update("jax_compilation_cache_dir", path)
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    _cache_state["dir"] = path
    return path


@functools.lru_cache(maxsize=None)
def _package_digest() -> str:
    """Hash of this package's Python sources: a cached executable built by other code is never
    reused (edits during development invalidate it)."""
    import hashlib
    import os
    h = hashlib.sha256()
    root = os.path.dirname(os.path.abspath(__file__))
    for dirpath, dirnames, files in os.walk(root):
        dirnames.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name), "rb") as f:
                    h.update(name.encode() + f.read())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _host_cpu() -> str:
    """The host's CPU model and instruction-set flags: CPU executables are compiled for them,
    and a cache directory may be shared by machines of different kinds."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return platform.machine() + platform.processor() + "".join(sorted(lines))


def _args_desc(args) -> tuple:
    """What of ``args`` a compiled program depends on: the tree, and each leaf's shape, dtype,
    sharding and the ids of its devices in order (a sharding's text names the mesh's shape,
    not which devices)."""
    import jax
    leaves, tree = jax.tree_util.tree_flatten(args)
    out = []
    for a in leaves:
        sharding = getattr(a, "sharding", None)
        mesh = getattr(sharding, "mesh", None)
        ids = (tuple(mesh.device_ids.flat) if mesh is not None else
               tuple(sorted(d.id for d in sharding.device_set)) if sharding is not None else ())
        out.append((tuple(a.shape), str(a.dtype), str(sharding), ids))
    return str(tree), tuple(out)


_PROGRAMS: dict = {}


def compiled_program(fn, args, key):
    """:func:`load_or_compile`, kept in the process too: ``(compiled, seconds)``, the seconds
    being 0 when this process already has the program for ``key`` and these arguments."""
    mem = (key, _args_desc(args))
    if mem in _PROGRAMS:
        return _PROGRAMS[mem], 0.0
    exe, seconds, _ = load_or_compile(fn, args, key)
    if len(_PROGRAMS) >= 32:
        _PROGRAMS.clear()
    _PROGRAMS[mem] = exe
    return exe, seconds


def _executable_path(key, args) -> str | None:
    """File of the serialized executable for ``key`` and the shapes, dtypes and shardings of
    ``args`` under the compilation cache directory; ``None`` when caching is off, the
    program spans several processes (each would need its own slice), or the backend is not
    the CPU (the only one this was tested on; elsewhere JAX's own cache still applies)."""
    import hashlib
    import os

    import jax
    import jaxlib
    cache = _cache_state.get("dir")
    if cache is None or jax.process_count() > 1 or jax.devices()[0].platform != "cpu":
        return None
    desc = repr((key, _args_desc(args), jax.__version__, jaxlib.__version__,
                 [(d.platform, d.device_kind, d.id) for d in jax.devices()],
                 os.environ.get("XLA_FLAGS", ""), _host_cpu(), _package_digest()))
    return os.path.join(cache, "executables", hashlib.sha256(desc.encode()).hexdigest() + ".bin")


def load_or_compile(fn, args, key):
    """``fn.lower(*args).compile()``, kept on disk between processes.

    JAX's persistent cache skips XLA compilation but not tracing and lowering, which cost
    about a second for the lifting program on a 2-core CPU. The compiled executable itself is
    therefore serialized (``jax.experimental.serialize_executable``) under
    ``<compilation cache>/executables``, keyed by ``key`` (a description of everything that
    changes the program besides the arguments' shapes: configs, SDE, network), the
    arguments' shapes, dtypes and shardings, the JAX version, the devices, ``$XLA_FLAGS``, the
    host CPU's model and flags, and a hash of this package's sources. Any failure to read or
    write the file falls back to compiling (BUILD_NOTES.md, "Caches and start-up").
    Returns ``(compiled, seconds spent, from_disk)``.
    """
    import os
    import pickle
    import time
    t0 = time.perf_counter()
    path = _executable_path(key, args)
    if path is not None and os.path.exists(path) and not _crashed_before(path):
        try:
            with open(path, "rb") as f:
                payload, in_tree, out_tree, lapack, device_ids = pickle.load(f)
            exe = _deserialize(payload, in_tree, out_tree, lapack, device_ids)
            os.utime(path)                        # recently used: kept by _prune
            _mark_loading(path)
            return (_Loaded(exe, path, lambda: load_or_compile(fn, args, key)[0]),
                    time.perf_counter() - t0, True)
        except Exception:                         # stale or foreign file: rebuild it
            pass
    if path is None:
        exe = fn.lower(*args).compile()
    else:
        # Bypass JAX's persistent cache: an executable it loaded serializes without its
        # kernels (JAX 0.10 on CPU), so what is written here must be compiled afresh.
        from jax._src import config as jax_config
        with jax_config.enable_compilation_cache(False):
            exe = fn.lower(*args).compile()
        try:
            from jax.experimental import serialize_executable
            lapack = "lapack" in exe.as_text()
            device_ids = [d.id for d in exe.runtime_executable().local_devices()]  # in order
            blob = pickle.dumps((*serialize_executable.serialize(exe), lapack, device_ids))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
            _prune(os.path.dirname(path))
        except Exception:                         # not serializable here: compile next time
            pass
    return exe, time.perf_counter() - t0, False


class _Loaded:
    """A program loaded from disk whose first call is checked: if it fails (a file written by
    an incompatible build), the file is deleted and the program compiled instead."""

    def __init__(self, exe, path: str, rebuild):
        self._exe, self._path, self._rebuild, self._checked = exe, path, rebuild, False

    def __call__(self, *args):
        if self._checked:
            return self._exe(*args)
        import os

        import jax
        try:
            out = jax.block_until_ready(self._exe(*args))
        except Exception:
            try:
                os.remove(self._path)
            except OSError:
                pass
            self._exe = self._rebuild()
            out = self._exe(*args)
        self._checked = True
        return out


def _prune(directory: str, keep: int = 64) -> None:
    """Keep the ``keep`` most recently used executables of ``directory`` (each is about 1 MB;
    every new input size or configuration adds one)."""
    import glob
    import os
    files = sorted(glob.glob(os.path.join(directory, "*.bin")), key=os.path.getmtime)
    for f in files[:-keep]:
        try:
            os.remove(f)
        except OSError:
            pass


def _deserialize(payload, in_tree, out_tree, lapack: bool, device_ids):
    """``jax.experimental.serialize_executable.deserialize_and_load`` with what a CPU
    executable needs in a fresh process and that function does not supply (JAX 0.10):
    LAPACK's kernels bound (done at lowering time, which is skipped here), and the devices the
    program was compiled for, in their order, as execution devices and in the compile options
    (without them a program built for some of the devices crashes the process). Uses JAX
    internals; any error makes the caller compile instead."""
    import io

    import jax
    import numpy as np
    from jax._src import compiler
    from jax._src.lax import linalg
    from jax.experimental import serialize_executable as se
    if lapack:                                    # binds scipy's LAPACK: 0.25 s, when needed
        linalg.initialize_lapack()
    by_id = {d.id: d for d in jax.devices()}
    devices = [by_id[i] for i in device_ids]
    backend = devices[0].client

    class _Unpickler(se._JaxPjrtUnpickler):
        def persistent_load(self, pid):
            if pid[0] != "exec":
                return super().persistent_load(pid)
            devs = list(self.execution_devices)
            opts = compiler.get_compile_options(
                num_replicas=1, num_partitions=len(devs),
                device_assignment=np.asarray(devs, dtype=object).reshape(1, len(devs)),
                backend=self.backend)
            return self.backend.deserialize_executable(
                pid[1], executable_devices=self.execution_devices, compile_options=opts)

    unloaded, args_info, no_kwargs = _Unpickler(io.BytesIO(payload), backend, devices).load()
    return jax.stages.Compiled(unloaded.load(), [], in_tree.unflatten(args_info), out_tree,
                               no_kwargs=no_kwargs)


def _crashed_before(path: str) -> bool:
    """True when a process that loaded ``path`` died without exiting normally (its
    ``.loading.<pid>`` marker is left and the pid is gone): the file is then never used
    again (it is deleted and rebuilt), so a bad executable costs one crash, not every run."""
    import glob
    import os
    crashed = False
    for marker in glob.glob(path + ".loading.*"):
        try:
            os.kill(int(marker.rsplit(".", 1)[1]), 0)
        except ProcessLookupError:
            crashed = True
            for f in (marker, path):
                try:
                    os.remove(f)
                except OSError:
                    pass
        except (ValueError, OSError):
            pass
    return crashed


def _mark_loading(path: str) -> None:
    """Leave a marker while this process runs a loaded executable; removed at normal exit."""
    import atexit
    import os
    marker = f"{path}.loading.{os.getpid()}"
    try:
        open(marker, "w").close()
    except OSError:
        return

    def _remove():
        try:
            os.remove(marker)
        except OSError:
            pass
    atexit.register(_remove)


#: XLA flags the command-line tools set (``launch.common.start``) when the user has not: with
#: jaxlib 0.10 on the CPU, XLA's YNNPACK fusions make the first run of a program about a
#: second slower (per-operation set-up) and the IPO's small operations 8x slower, for no
#: steady-state gain in the loop (measured in BUILD_NOTES.md). ``ZEDO_JAX_XLA_DEFAULTS=0``
#: turns this off.
CPU_XLA_DEFAULTS = ("--xla_cpu_experimental_ynn_fusion_type=",)


def apply_xla_defaults() -> list[str]:
    """Append :data:`CPU_XLA_DEFAULTS` to ``$XLA_FLAGS`` (before JAX starts its backend),
    except flags the user already set, when ``$ZEDO_JAX_XLA_DEFAULTS`` is ``0`` or the jaxlib
    is not one they were measured with (an unknown XLA flag is a fatal error). Returns the
    flags added."""
    import os
    if os.environ.get("ZEDO_JAX_XLA_DEFAULTS", "1").strip().lower() in ("0", "off", "false"):
        return []
    try:
        from importlib.metadata import version
        if not version("jaxlib").startswith("0.10."):
            return []
    except Exception:
        return []
    current = os.environ.get("XLA_FLAGS", "")
    added = [f for f in CPU_XLA_DEFAULTS if f.split("=")[0] not in current]
    if added:
        os.environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added
