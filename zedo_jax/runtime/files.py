"""Files written so that nothing is lost: a write goes to a temporary file in the same folder
and is renamed into place (a crash, Ctrl-C or a full disk leaves the old file or the new one,
never a partial one), and a training workdir is locked by the process that trains in it."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from typing import Callable

import numpy as np


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (also through links); ``False`` when
    either does not exist."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(os.fspath(a)) == os.path.abspath(os.fspath(b))


#: Set by a launcher's signal handler: the reason the process was asked to stop.
_stop_reason: list[str] = []


def request_stop(reason: str) -> None:
    """Record that the process was asked to stop (``SIGINT``/``SIGTERM``). The handler also
    raises ``KeyboardInterrupt``, but Python drops an exception raised inside a garbage
    collector callback; the record makes sure no file is committed and long loops stop at
    their next boundary (``check_stop``) even then."""
    _stop_reason.append(reason)


def stop_reason() -> str | None:
    """Why the process was asked to stop (see ``request_stop``), or ``None``."""
    return _stop_reason[0] if _stop_reason else None


def check_stop() -> None:
    """Raise ``KeyboardInterrupt`` if a stop was requested (see ``request_stop``)."""
    if _stop_reason:
        raise KeyboardInterrupt(_stop_reason[0])


def atomic_write(path, write: Callable[[str], None]) -> str:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it to ``path``.

    The folder is created when missing. On any error (including ``KeyboardInterrupt``, and
    a stop requested while writing) the temporary file is removed and ``path`` is left as it
    was. An ``OSError`` (disk full, no
    permission) is raised again as one naming ``path``. Returns ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part",
                               dir=folder)
    os.close(fd)
    try:
        write(tmp)
        check_stop()
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise OSError(e.errno, f"could not write {path}: {e.strerror or e}") from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def save_npz(path, arrays: dict, compressed: bool = False) -> str:
    """``np.savez(path, **arrays)`` (``np.savez_compressed`` with ``compressed``) atomically;
    ``path`` is used as given (no ``.npz`` is appended)."""
    def write(tmp):
        with open(tmp, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
    return atomic_write(path, write)


def save_npy(path, array) -> str:
    """``np.save(path, array)`` atomically (no ``.npy`` is appended)."""
    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, array)
    return atomic_write(path, write)


def save_json(path, record, **dump_kw) -> str:
    """``json.dump(record)`` to ``path`` atomically."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(record, f, **dump_kw)
    return atomic_write(path, write)


def replace_directory(path, build: Callable[[str], None]) -> str:
    """Build a directory with ``build(tmp_dir)`` beside ``path``, then swap it in for ``path``
    (an existing directory is replaced whole, so no file of the old one remains). Returns
    ``path``."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", dir=parent)
    old = None
    try:
        build(tmp)
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".old.", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        if old is not None and not os.path.exists(path):
            os.replace(old, path)              # put the old directory back
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return path


class LockedError(RuntimeError):
    """A folder is locked by another running process."""


class WorkdirLock:
    """An exclusive lock on a folder (``LOCK`` file holding host and process id), held while
    the ``with`` block runs. A second process that asks for it stops at once with a
    :class:`LockedError` naming the holder; a lock left by a process that no longer runs on this
    host is taken over."""

    NAME = "LOCK"

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, self.NAME)
        self.held = False

    def _holder(self) -> dict | None:
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(holder: dict) -> bool:
        if holder.get("host") != socket.gethostname():
            return True                        # another host's process: cannot tell, assume so
        try:
            os.kill(int(holder.get("pid", -1)), 0)
        except ProcessLookupError:
            return False
        except (OSError, ValueError):
            return True
        return True

    def acquire(self) -> "WorkdirLock":
        os.makedirs(self.folder, exist_ok=True)
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and self._alive(holder) and holder != me:
                    raise LockedError(
                        f"{self.folder} is in use by process {holder.get('pid')} on "
                        f"{holder.get('host')} (a training runs there); wait for it or use "
                        f"another folder (remove {self.path} if that process is gone)") from None
                _remove(self.path)             # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise LockedError(f"could not lock {self.folder}: {self.path} keeps reappearing")

    def release(self) -> None:
        if self.held:
            _remove(self.path)
            self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
