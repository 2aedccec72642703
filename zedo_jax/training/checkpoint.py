"""Orbax training workdirs (written by :func:`zedo_jax.training.trainer.fit`)::

    WORKDIR/checkpoints/<step>/state   Orbax: step, params, ema_params, opt_state
    WORKDIR/checkpoints/<step>/meta    JSON: model / SDE / training config, data source
    WORKDIR/metrics.jsonl              one line per log interval
    WORKDIR/clusters_<S>.npy           optional hypotheses (launch/compute_clusters.py)
    WORKDIR/training_stats.json        bone-length statistics (launch/compute_clusters.py)

Restoring builds its target from abstract shapes (``jax.eval_shape``), never by initialising
a network. Priors for inference (:class:`~zedo_jax.prior.Prior`, ``load_prior``, clusters,
training statistics) live in :mod:`zedo_jax.prior`; the names below the aliases heading are
kept for older code.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Callable

import jax
import orbax.checkpoint as ocp

from zedo_jax.core import model as model_lib, sde as sde_lib
from zedo_jax.runtime.compile_cache import echo
from zedo_jax.runtime.distributed import on_default_device

TRAIN_FORMAT = "zedo_jax.training.trainer/1"


def _jsonable(obj):
    if dataclasses.is_dataclass(obj):
        if type(obj) in sde_lib.SDES.values():
            return sde_lib.sde_to_dict(obj)
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [_jsonable(v) for v in obj]
    return obj


def run_metadata(cfg, poses) -> dict:
    """JSON metadata stored next to every training checkpoint."""
    return {"format": TRAIN_FORMAT, "model": cfg.model.to_dict(),
            "sde": sde_lib.sde_to_dict(cfg.sde), "train": _jsonable(cfg),
            "data": {"source": poses.source, "frame": poses.frame, "num_poses": len(poses)}}


def _config_mismatch(saved: dict, wanted: dict) -> list[str]:
    keys = sorted(set(saved) | set(wanted))
    return [f"{k}: {saved.get(k)!r} in the checkpoint vs {wanted.get(k)!r} requested"
            for k in keys if saved.get(k) != wanted.get(k)]


def _state_dict(state) -> dict:
    return {"step": state.step, "params": state.params, "ema_params": state.ema_params,
            "opt_state": state.opt_state}


class _MismatchError(ValueError):
    """The workdir holds a run of another network or SDE."""


class TrainCheckpoints:
    """Thin wrapper of an Orbax ``CheckpointManager`` for :class:`zedo_jax.training.trainer.TrainState`."""

    def __init__(self, workdir: str, keep: int = 3):
        self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
        self._mngr = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=False),
            item_names=("state", "meta"))

    def latest_step(self):
        return self._mngr.latest_step()

    def read_meta(self, step=None) -> dict:
        step = self._mngr.latest_step() if step is None else step
        path = os.path.join(self.directory, str(step), "meta", "metadata")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        return self._mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
            "meta"]

    def save(self, step: int, state, meta: dict, force: bool = False):
        if force and step in self._mngr.all_steps():
            return
        self._mngr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_state_dict(state)), meta=ocp.args.JsonSave(meta)),
            force=force)
        self._mngr.wait_until_finished()

    def restore_latest(self, make_state: Callable, meta: dict, sharding,
                       log: Callable[[str], None] = echo):
        """The newest state that restores, or ``None`` if the workdir has no checkpoint.

        A checkpoint whose files are damaged is moved to ``WORKDIR/damaged_checkpoints/`` (so a
        new save of that step does not collide with it) with a warning naming it (through
        ``log``), and the next older one is tried.

        Args:
          make_state: ``() -> TrainState`` of the requested run (only traced with
            ``jax.eval_shape`` for the shapes and the optimiser-state structure).
          meta: :func:`run_metadata` of the requested run.
          sharding: where the restored arrays go.
        Raises ``ValueError`` if the checkpoint's network or SDE differ from ``meta``, or if
        no checkpoint restores.
        """
        steps = sorted(self._mngr.all_steps(), reverse=True)
        damaged = []
        for i, step in enumerate(steps):
            try:
                state = self._restore(step, make_state, meta, sharding)
            except _MismatchError:
                raise
            except Exception as e:    # Orbax / TensorStore / JSON errors of damaged files
                nxt = f"; trying step {steps[i + 1]}" if i + 1 < len(steps) else ""
                log(f"Warning: checkpoint {os.path.join(self.directory, str(step))} is damaged "
                    f"and cannot be restored ({type(e).__name__}){nxt}")
                damaged.append(step)
                continue
            for bad in damaged:           # out of the way of new saves of the same steps
                aside = os.path.join(os.path.dirname(self.directory), "damaged_checkpoints",
                                     str(bad))
                if os.path.exists(aside):
                    shutil.rmtree(aside)
                os.makedirs(os.path.dirname(aside), exist_ok=True)
                shutil.move(os.path.join(self.directory, str(bad)), aside)
                log(f"Warning: moved the damaged checkpoint of step {bad} to {aside}")
            if damaged:
                self._mngr.reload()
            return state
        if not steps:
            return None
        raise ValueError(f"no checkpoint in {self.directory} can be restored (steps "
                         f"{sorted(steps)} are all damaged); remove them or choose a new "
                         f"--workdir")

    def _restore(self, step: int, make_state: Callable, meta: dict, sharding):
        saved = self.read_meta(step)
        problems = _config_mismatch(saved.get("model", {}), meta["model"])
        problems += ["sde " + p for p in _config_mismatch(saved.get("sde", {}), meta["sde"])]
        if problems:
            raise _MismatchError(
                f"{os.path.dirname(self.directory)} holds a checkpoint (step {step}) of a different "
                f"network/SDE than requested:\n  " + "\n  ".join(problems) +
                "\nUse the same network flags to resume it, or choose a new --workdir.")
        template = jax.eval_shape(make_state)
        abstract = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
            _state_dict(template))
        restored = self._mngr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))["state"]
        opt_state = jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(template.opt_state),
            jax.tree_util.tree_leaves(restored["opt_state"]))
        return template.replace(step=restored["step"], params=restored["params"],
                                ema_params=restored["ema_params"], opt_state=opt_state)

    def restore_params(self, step=None, weights: str = "raw"):
        """Only the network variables (``weights='raw'`` or ``'ema'``) of a checkpoint."""
        step = self._mngr.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        meta = self.read_meta(step)
        cfg = model_lib.ScoreNetConfig.from_dict(meta["model"])
        shapes = model_lib.param_shapes(cfg)
        key = {"raw": "params", "ema": "ema_params"}[weights]
        item = os.path.join(self.directory, str(step), "state")
        target = {key: on_default_device(shapes)}
        restored = ocp.PyTreeCheckpointer().restore(item, args=ocp.args.PyTreeRestore(
            item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
            partial_restore=True))
        return meta, restored[key]

    def close(self):
        self._mngr.close()
