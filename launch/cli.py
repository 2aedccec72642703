"""Console commands (``zedo-lift``, ``zedo-evaluate``, ...; see pyproject.toml): each runs one
launcher's ``main`` as ``python -m launch.NAME`` does."""
import importlib

from . import errors


def _run(name: str) -> None:
    errors.run_and_exit(importlib.import_module(f"{__package__}.{name}").main)


def lift():
    _run("lift")


def evaluate():
    _run("evaluate")


def train():
    _run("train")


def export_prior():
    _run("export_prior")


def convert_checkpoint():
    _run("convert_checkpoint")


def compute_clusters():
    _run("compute_clusters")


def sample_prior():
    _run("sample_prior")
