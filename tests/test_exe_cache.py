"""Compiled programs kept on disk between processes (zedo_jax.runtime.compile_cache.load_or_compile)."""
import glob
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zedo_jax.runtime import compile_cache as utils


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The on-disk cache turned on (as ``enable_compilation_cache()`` leaves it) in tmp_path."""
    monkeypatch.setitem(utils._cache_state, "dir", str(tmp_path))
    return tmp_path


def _program():
    # an SVD (LAPACK) and a scan, like the metrics and the lifting loop
    def f(a, b):
        s = jnp.linalg.svd(a, compute_uv=False)
        return {"s": s, "x": jax.lax.scan(lambda c, _: (jnp.tanh(c @ b), None), a, None, 5)[0]}
    return jax.jit(f)


def test_second_use_loads_from_disk_with_same_result(cache):
    args = (jnp.asarray(np.random.default_rng(0).normal(size=(4, 3, 3)), jnp.float32),
            jnp.eye(3, dtype=jnp.float32) * 0.5)
    exe1, _, loaded1 = utils.load_or_compile(_program(), args, ("test", 1))
    exe2, _, loaded2 = utils.load_or_compile(_program(), args, ("test", 1))
    assert (loaded1, loaded2) == (False, True)
    assert len(glob.glob(str(cache / "executables" / "*.bin"))) == 1
    a, b = exe1(*args), exe2(*args)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # another key or other shapes: another program
    utils.load_or_compile(_program(), args, ("test", 2))
    utils.load_or_compile(_program(), (args[0][:2], args[1]), ("test", 1))
    assert len(glob.glob(str(cache / "executables" / "*.bin"))) == 3


def test_damaged_file_or_failing_program_falls_back_to_compiling(cache):
    args = (jnp.ones((2, 3, 3), jnp.float32), jnp.eye(3, dtype=jnp.float32))
    utils.load_or_compile(_program(), args, ("test", 3))
    (path,) = glob.glob(str(cache / "executables" / "*.bin"))
    with open(path, "wb") as f:
        f.write(b"not a program")
    exe, _, loaded = utils.load_or_compile(_program(), args, ("test", 3))
    assert not loaded and np.isfinite(exe(*args)["s"]).all()
    # A program that loads but fails when run is deleted and compiled again.
    calls = []

    def broken(*a):
        raise RuntimeError("Function not found")

    def rebuild():
        calls.append(1)
        return _program().lower(*args).compile()
    wrapped = utils._Loaded(broken, path, rebuild)
    np.testing.assert_allclose(wrapped(*args)["s"], np.tile([3.0, 0.0, 0.0], (2, 1)), atol=1e-5)
    assert calls == [1] and not os.path.exists(path)


def test_a_crashed_load_disables_the_file(cache):
    args = (jnp.ones((2, 3, 3), jnp.float32), jnp.eye(3, dtype=jnp.float32))
    utils.load_or_compile(_program(), args, ("test", 4))
    (path,) = glob.glob(str(cache / "executables" / "*.bin"))
    dead = 2 ** 22 + 12345                                   # no such process
    open(f"{path}.loading.{dead}", "w").close()
    _, _, loaded = utils.load_or_compile(_program(), args, ("test", 4))
    assert not loaded and not os.path.exists(f"{path}.loading.{dead}")
    assert os.path.exists(path)                              # written again


def test_cache_off_compiles_in_process(monkeypatch):
    monkeypatch.setitem(utils._cache_state, "dir", None)      # disabled (ZEDO_JAX_CACHE=0)
    args = (jnp.ones((2, 3, 3), jnp.float32), jnp.eye(3, dtype=jnp.float32))
    _, _, loaded = utils.load_or_compile(_program(), args, ("test", 5))
    assert not loaded


@pytest.mark.parametrize("setting", ["dir", "0"])
def test_enabling_configures_the_cache_without_importing_jax(tmp_path, setting):
    """Importing zedo_jax sets nothing (and imports no JAX); enable_compilation_cache() turns
    JAX's persistent cache on (through the environment, JAX not imported yet) and the
    on-disk executables of load_or_compile."""
    import subprocess
    import sys
    value = str(tmp_path / "cache") if setting == "dir" else "0"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env.update(ZEDO_JAX_CACHE=value, JAX_PLATFORMS="cpu")
    code = ("import os, sys, zedo_jax; assert 'jax' not in sys.modules; "
            "assert 'JAX_COMPILATION_CACHE_DIR' not in os.environ; "
            "from zedo_jax.runtime import compile_cache; "
            "assert compile_cache._cache_state.get('dir') is None; "
            "print(zedo_jax.enable_compilation_cache()); assert 'jax' not in sys.modules; "
            "import jax; print(jax.config.jax_compilation_cache_dir)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    want = value if setting == "dir" else "None"
    assert out.stdout.split() == [want, want]


def test_xla_defaults_of_the_tools(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
    monkeypatch.setenv("ZEDO_JAX_XLA_DEFAULTS", "0")
    assert utils.apply_xla_defaults() == []
    monkeypatch.delenv("ZEDO_JAX_XLA_DEFAULTS")
    added = utils.apply_xla_defaults()
    from importlib.metadata import version
    if version("jaxlib").startswith("0.10."):
        assert added == list(utils.CPU_XLA_DEFAULTS)
        assert os.environ["XLA_FLAGS"].split() == [
            "--xla_force_host_platform_device_count=4", *utils.CPU_XLA_DEFAULTS]
    assert utils.apply_xla_defaults() == []                  # never twice, never over the user's


_SUBSET = """
import sys, numpy as np, jax, jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from zedo_jax.runtime import compile_cache as utils
utils.enable_compilation_cache()                         # $ZEDO_JAX_CACHE
devs = [jax.devices()[2], jax.devices()[1]]             # some of the devices, out of order
s = NamedSharding(Mesh(np.asarray(devs), ("b",)), P("b"))
x = jax.device_put(jnp.arange(12.0).reshape(4, 3), s)
fn = jax.jit(lambda a: jnp.tanh(a) * 2 + jnp.linalg.svd(a[:3], compute_uv=False).sum(),
             in_shardings=s, out_shardings=s)
exe, _, loaded = utils.load_or_compile(fn, (x,), ("subset",))
print(int(loaded), float(np.asarray(exe(x)).sum()))
"""


def test_program_for_some_devices_loads_on_those(tmp_path):
    """A program compiled for a subset of the devices, in a given order, is loaded for the
    same devices (this crashed the process before the device order was stored)."""
    import subprocess
    import sys
    env = dict(os.environ, ZEDO_JAX_CACHE=str(tmp_path), JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=4")
    runs = [subprocess.run([sys.executable, "-c", _SUBSET], env=env, capture_output=True,
                           text=True, timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    (l1, v1), (l2, v2) = (r.stdout.split() for r in runs)
    assert (l1, l2) == ("0", "1") and v1 == v2


def test_compiled_program_is_kept_in_the_process(cache):
    args = (jnp.ones((2, 3, 3), jnp.float32), jnp.eye(3, dtype=jnp.float32))
    a, seconds_a = utils.compiled_program(_program(), args, ("test", 6))
    b, seconds_b = utils.compiled_program(_program(), args, ("test", 6))
    assert b is a and seconds_a > 0 and seconds_b == 0.0
    c, _ = utils.compiled_program(_program(), (args[0][:1], args[1]), ("test", 6))
    assert c is not a                                        # other shapes: another program
