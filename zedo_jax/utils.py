"""Small shared helpers (progress output)."""
from __future__ import annotations

import sys


def echo(msg: str) -> None:
    """Print a progress line to stderr, flushed (works in terminals, logs and notebooks)."""
    print(msg, file=sys.stderr, flush=True)


def silent(msg: str) -> None:
    """A ``log`` callback that discards messages."""
    del msg
