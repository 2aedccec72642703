"""Flags generated from nested frozen config dataclasses: every leaf ``a.b`` of a config
becomes ``--PREFIX.a.b`` (a string flag parsed by the leaf's type), so a launcher writes no
flag by hand for a config value and each default lives in its dataclass."""
from __future__ import annotations

import ast
import dataclasses

from absl import flags

from zedo_jax.core import config as config_lib

FLAGS = flags.FLAGS
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def define(prefix: str, cls, what: str) -> None:
    """``--PREFIX.<dotted leaf>`` for every leaf of ``cls`` (``what`` names it in the help)."""
    for name, field in config_lib.leaves(cls).items():
        default = field.default if field.default is not dataclasses.MISSING else "(required)"
        flags.DEFINE_string(f"{prefix}.{name}", None, f"{what} {name} (default {default!r}).")


def _parse(name: str, text: str, default):
    """The value of ``--name=text`` for a leaf whose default is ``default``."""
    if isinstance(default, bool):
        if text.strip().lower() in _TRUE + _FALSE:
            return text.strip().lower() in _TRUE
        raise ValueError(f"--{name}={text!r}: expected true or false")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        value = text
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if default is None or isinstance(default, str):
        return float(value) if number and isinstance(default, str) else value
    if isinstance(default, int) and isinstance(value, int) and number:
        return value
    if isinstance(default, float) and number:
        return float(value)
    if isinstance(default, tuple) and (number or isinstance(value, (tuple, list))):
        return (value,) if number else tuple(value)
    raise ValueError(f"--{name}={text!r}: expected a value like {default!r}")


def overrides(prefix: str, cls) -> dict:
    """``{dotted leaf: value}`` of the ``--PREFIX.*`` flags given on the command line."""
    out = {}
    for name, field in config_lib.leaves(cls).items():
        flag = f"{prefix}.{name}"
        if FLAGS[flag].value is not None:
            out[name] = _parse(flag, FLAGS[flag].value, field.default)
    return out
