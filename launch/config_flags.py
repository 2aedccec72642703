"""absl flags derived from frozen config dataclasses: the defaults and types come from the
dataclass, so a launcher lists only which fields it exposes and their help text."""
from __future__ import annotations

import dataclasses

from absl import flags

FLAGS = flags.FLAGS


def _default(cls, name: str):
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()


def define(cls, helps: dict[str, str], enums: dict[str, list] | None = None):
    """Define one flag per ``helps`` entry (``field name -> help``) with the field's default
    and a flag type from the default's type (bool, int, float, str; ``enums`` for choices)."""
    enums = enums or {}
    for name, text in helps.items():
        default = _default(cls, name)
        if name in enums:
            flags.DEFINE_enum(name, default, enums[name], text)
        elif isinstance(default, bool):
            flags.DEFINE_bool(name, default, text)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, text)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, text)
        elif isinstance(default, str):
            flags.DEFINE_string(name, default, text)
        else:
            raise TypeError(f"{cls.__name__}.{name}: no flag type for {type(default).__name__}")


def build(cls, helps: dict[str, str], **fields):
    """``cls`` with the flags of ``helps`` (and explicit ``fields``) filled in."""
    return cls(**{name: getattr(FLAGS, name) for name in helps}, **fields)
