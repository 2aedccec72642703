"""User mistakes end in one line on stderr and a non-zero exit; ``--verbose`` shows the
traceback. A launcher ends with ``errors.run_and_exit(main)``."""
from __future__ import annotations

import functools
import json
import os
import pickle
import signal
import sys
import zipfile

from absl import flags

from zedo_jax.runtime import files

FLAGS = flags.FLAGS
flags.DEFINE_bool("verbose", False, "Show Python tracebacks of errors (for bug reports).")

#: Exceptions that mean bad input, flags or files, not a bug.
USER_ERRORS = (ValueError, OSError, zipfile.BadZipFile, EOFError, json.JSONDecodeError,
               ImportError, pickle.UnpicklingError, files.LockedError)


class UsageError(ValueError):
    """A bad flag or flag combination (raised by the launchers' checks)."""


def fail(message: str):
    raise UsageError(message)


def _stop(signum, frame):
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    files.request_stop(name)
    raise KeyboardInterrupt(name)


def _quiet_dropped_interrupt(unraisable, _default=sys.unraisablehook):
    """No traceback for a KeyboardInterrupt Python dropped (the guard recorded the stop)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        return
    _default(unraisable)


def guard(main):
    """``main`` with user errors turned into ``Error: <one line>`` and exit status 2, stray
    arguments refused, and Ctrl-C or SIGTERM ending in one line and exit status 130 (outputs
    are written atomically, so an interrupted run leaves none half-written; a signal whose
    exception Python dropped still stops the run before it commits a file)."""
    @functools.wraps(main)
    def wrapped(argv):
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(sig, _stop)
        sys.unraisablehook = _quiet_dropped_interrupt
        try:
            if len(argv) > 1:
                fail(f"unexpected argument {argv[1]!r} (flags are --name=value; a boolean is "
                     f"--name, --noname or --name=false)")
            result = main(argv)
            files.check_stop()              # a signal whose exception Python dropped
            return result
        except Exception as e:
            stopped = files.stop_reason()   # after a stop, what the code raised is the stop
            if FLAGS.verbose or (stopped is None and not isinstance(e, USER_ERRORS)):
                raise
            if stopped is not None:
                _interrupted(stopped)
            print(f"Error: {' '.join(str(e).split()) or type(e).__name__}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt as e:
            if FLAGS.verbose:
                raise
            _interrupted(e)
    return wrapped


def _interrupted(reason) -> None:
    print(f"Interrupted ({reason or 'Ctrl-C'}); no partial output was left", file=sys.stderr)
    sys.exit(130)


def check_writable(path: str, flag: str) -> str:
    """Refuse an output path that cannot be written (before any work): an existing directory,
    a parent that is a file, or a read-only place. Missing parent folders are fine (they are
    created when writing). Returns ``path``."""
    if os.path.isdir(path):
        fail(f"{flag} {path} is a directory; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        fail(f"{flag} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or \
            (os.path.exists(path) and not os.access(path, os.W_OK)):
        fail(f"{flag} {path}: no permission to write there")
    return path


def run_and_exit(main) -> None:
    """``app.run(guard(main))``, then a quick exit: the ``atexit`` handlers run and the
    output streams are flushed as usual, but the interpreter's teardown (freeing every module
    and JAX's runtime, about half a second on a 2-core CPU) is skipped with ``os._exit``."""
    from absl import app
    code = 0
    try:
        app.run(guard(main))
    except SystemExit as e:
        code = e.code
    import atexit
    if not hasattr(atexit, "_run_exitfuncs"):          # not CPython: leave normally
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
