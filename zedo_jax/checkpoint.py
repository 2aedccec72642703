"""Orbax checkpoints: resumable training workdirs and exported priors.

Two on-disk layouts:

* **training workdir** (written by :func:`zedo_jax.train.fit`)::

      WORKDIR/checkpoints/<step>/state   Orbax: step, params, ema_params, opt_state
      WORKDIR/checkpoints/<step>/meta    JSON: model / SDE / training config, data source
      WORKDIR/metrics.jsonl              one line per log interval
      WORKDIR/clusters_<S>.npy           optional hypotheses (launch/compute_clusters.py)
      WORKDIR/training_stats.json        bone-length statistics (launch/compute_clusters.py)

* **prior** (what inference needs; shipped with the package, written by
  ``launch/export_prior.py`` and ``launch/convert_checkpoint.py``)::

      PRIOR/prior.json                   format, model config, SDE, which weights, provenance
      PRIOR/params                       Orbax: the default Flax variables {'params': ...}
      PRIOR/params_<label>               Orbax: further weight sets (e.g. params_ema)
      PRIOR/clusters_<S>.npy             [S, 17, 3] float32 hypotheses (metres, camera axes)
      PRIOR/training_stats.json          bone-length mean/std of the training poses

:func:`load_prior` accepts either layout (and ``None`` for the shipped prior).
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import shutil
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from . import model as model_lib
from . import sde as sde_lib
from . import skeleton

PRIOR_FORMAT = "zedo_jax.prior/1"
TRAIN_FORMAT = "zedo_jax.train/1"
ASSET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
DEFAULT_PRIOR = os.path.join(ASSET_DIR, "prior")


# ----------------------------------------------------------------------------------------------
# (de)serialising configs
# ----------------------------------------------------------------------------------------------

def sde_to_dict(sde) -> dict:
    name = {v: k for k, v in sde_lib.SDES.items()}[type(sde)]
    return {"name": name, **dataclasses.asdict(sde)}


def sde_from_dict(d: dict):
    d = dict(d)
    return sde_lib.make_sde(d.pop("name"), **d)


def _jsonable(obj):
    if dataclasses.is_dataclass(obj):
        if type(obj) in sde_lib.SDES.values():
            return sde_to_dict(obj)
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [_jsonable(v) for v in obj]
    return obj


def run_metadata(cfg, poses) -> dict:
    """JSON metadata stored next to every training checkpoint."""
    return {"format": TRAIN_FORMAT, "model": cfg.model.to_dict(), "sde": sde_to_dict(cfg.sde),
            "train": _jsonable(cfg),
            "data": {"source": poses.source, "frame": poses.frame, "num_poses": len(poses)}}


def _config_mismatch(saved: dict, wanted: dict) -> list[str]:
    keys = sorted(set(saved) | set(wanted))
    return [f"{k}: {saved.get(k)!r} in the checkpoint vs {wanted.get(k)!r} requested"
            for k in keys if saved.get(k) != wanted.get(k)]


# ----------------------------------------------------------------------------------------------
# training checkpoints
# ----------------------------------------------------------------------------------------------

class TrainCheckpoints:
    """Thin wrapper of an Orbax ``CheckpointManager`` for :class:`zedo_jax.train.TrainState`."""

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

    def restore_latest(self, cfg, meta: dict, sharding):
        """The latest state, or ``None`` if the workdir has no checkpoint.

        Raises ``ValueError`` if the checkpoint's network or SDE differ from ``cfg``.
        """
        step = self._mngr.latest_step()
        if step is None:
            return None
        saved = self.read_meta(step)
        problems = _config_mismatch(saved.get("model", {}), meta["model"])
        problems += ["sde " + p for p in _config_mismatch(saved.get("sde", {}), meta["sde"])]
        if problems:
            raise ValueError(
                f"{os.path.dirname(self.directory)} holds a checkpoint (step {step}) of a different "
                f"network/SDE than requested:\n  " + "\n  ".join(problems) +
                "\nUse the same network flags to resume it, or choose a new --workdir.")
        from . import train as train_lib
        abstract = jax.eval_shape(lambda: _state_dict(train_lib.create_state(cfg)))
        abstract = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), abstract)
        restored = self._mngr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))["state"]
        return _state_from_dict(restored, cfg)

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
        target = {key: _on_default_device(shapes)}
        restored = ocp.PyTreeCheckpointer().restore(item, args=ocp.args.PyTreeRestore(
            item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
            partial_restore=True))
        return meta, restored[key]

    def close(self):
        self._mngr.close()


def _on_default_device(abstract):
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), abstract)


def _state_dict(state) -> dict:
    return {"step": state.step, "params": state.params, "ema_params": state.ema_params,
            "opt_state": state.opt_state}


def _state_from_dict(d: dict, cfg):
    from . import train as train_lib
    template = train_lib.create_state(cfg)
    opt_state = jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(template.opt_state),
        jax.tree_util.tree_leaves(d["opt_state"]))
    return train_lib.TrainState(step=d["step"], params=d["params"],
                                ema_params=d["ema_params"], opt_state=opt_state)


# ----------------------------------------------------------------------------------------------
# priors
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Prior:
    """A trained score prior ready for inference.

    Attributes:
      config: network architecture.
      sde: the SDE it was trained with.
      params: Flax variables ``{'params': ...}``.
      clusters: hypotheses by count, ``{S: [S, 17, 3] float32}`` (metres, camera axes).
      path: where it was loaded from.
      info: provenance (``prior.json`` or the training metadata).
      stats: training-pose statistics (``training_stats.json``: bone-length mean/std), or {}.
    """

    config: model_lib.ScoreNetConfig
    sde: Any
    params: Any
    clusters: dict
    path: str = ""
    info: dict = dataclasses.field(default_factory=dict)
    stats: dict = dataclasses.field(default_factory=dict)

    def hypotheses(self, S: int) -> np.ndarray:
        """The ``S`` initial poses ``[S, 17, 3]`` stored with the prior (re-rooted)."""
        if S not in self.clusters:
            raise ValueError(
                f"the prior at {self.path or '<memory>'} stores hypotheses for S in "
                f"{sorted(self.clusters) or '(none)'}, not S={S}; compute them with "
                f"`python -m launch.compute_clusters --prior {self.path or 'DIR'} --S {S}` "
                f"or pass your own initial poses")
        c = self.clusters[S]
        c = np.asarray(c, np.float32)
        return c - c[:, :1]


def save_prior(path: str, config: model_lib.ScoreNetConfig, sde, params, *, weights: str,
               clusters: dict | None = None, info: dict | None = None,
               stats: dict | None = None, other_weights: dict | None = None) -> str:
    """Write a prior directory (see the module docstring). Returns its absolute path.

    ``params`` are stored as the default weights under the label ``weights`` (``'raw'`` or
    ``'ema'``); ``other_weights`` (e.g. ``{'ema': ema_params}``) adds further sets, selectable
    with ``load_prior(weights=...)``.
    """
    path = os.path.abspath(path)
    os.makedirs(path, exist_ok=True)
    sets = {weights: params, **(other_weights or {})}
    dirs = {label: "params" if label == weights else f"params_{label}" for label in sets}
    ckptr = ocp.StandardCheckpointer()
    for label, tree in sets.items():
        item = os.path.join(path, dirs[label])
        if os.path.exists(item):
            shutil.rmtree(item)
        ckptr.save(item, jax.device_get(tree))
    ckptr.wait_until_finished()
    meta = {"format": PRIOR_FORMAT, "model": config.to_dict(), "sde": sde_to_dict(sde),
            "weights": weights, "weight_sets": dirs, "info": info or {}}
    with open(os.path.join(path, "prior.json"), "w") as f:
        json.dump(meta, f, indent=2)
    for c in (clusters or {}).values():
        save_clusters(path, c)
    if stats is not None:
        save_training_stats(path, stats)
    return path


def training_stats(poses) -> dict:
    """Bone-length statistics of training poses ``[F, 17, 3]`` (metres), stored with a prior so
    users can sanity-check lifted poses without the training data."""
    bl = skeleton.bone_lengths(np.asarray(poses, np.float64))
    return {"bones": list(skeleton.bone_names()),
            "bone_length_mean_m": bl.mean(0).round(5).tolist(),
            "bone_length_std_m": bl.std(0).round(5).tolist(), "num_poses": int(len(poses))}


def save_training_stats(directory: str, stats: dict) -> str:
    out = os.path.join(directory, "training_stats.json")
    with open(out, "w") as f:
        json.dump(stats, f, indent=2)
    return out


def load_training_stats(directory: str) -> dict:
    path = os.path.join(directory, "training_stats.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def save_clusters(directory: str, centres) -> str:
    """Store hypotheses ``[S, 17, 3]`` as ``directory/clusters_<S>.npy`` (float32, re-rooted)."""
    c = np.asarray(centres, np.float32)
    if c.ndim != 3 or c.shape[1:] != (17, 3):
        raise ValueError(f"cluster centres must have shape [S, 17, 3], got {list(c.shape)}")
    c = c - c[:, :1]
    out = os.path.join(directory, f"clusters_{c.shape[0]}.npy")
    np.save(out, c)
    return out


def load_clusters(directory: str) -> dict:
    out = {}
    for f in glob.glob(os.path.join(directory, "clusters_*.npy")):
        m = re.fullmatch(r"clusters_(\d+)\.npy", os.path.basename(f))
        if m:
            out[int(m.group(1))] = np.load(f).astype(np.float32)
    return out


def load_prior(path: str | None = None, weights: str | None = None) -> Prior:
    """Load a prior for inference.

    Args:
      path: a prior directory (``prior.json``), a training workdir (``checkpoints/``; the latest
        step is used), or ``None`` for the prior shipped with the package.
      weights: ``'raw'`` (what the official inference uses, quirk Q3) or ``'ema'``. ``None``:
        the default set of a prior directory, or ``'raw'`` for a training workdir. Asking a
        prior directory for a set it does not hold is an error.
    """
    if weights not in (None, "raw", "ema"):
        raise ValueError(f"weights must be 'raw' or 'ema', got {weights!r}")
    path = DEFAULT_PRIOR if path is None else os.path.abspath(path)
    if os.path.exists(os.path.join(path, "prior.json")):
        with open(os.path.join(path, "prior.json")) as f:
            meta = json.load(f)
        if meta.get("format") != PRIOR_FORMAT:
            raise ValueError(f"{path}/prior.json has format {meta.get('format')!r}, "
                             f"expected {PRIOR_FORMAT!r}")
        default = meta.get("weights", "raw")
        sets = meta.get("weight_sets", {default: "params"})
        label = default if weights is None else weights
        if label not in sets:
            raise ValueError(f"the prior at {path} holds only its {sorted(sets)} weights, not "
                             f"{label!r}; export or convert it again with --weights {label}")
        cfg = model_lib.ScoreNetConfig.from_dict(meta["model"])
        params = ocp.StandardCheckpointer().restore(
            os.path.join(path, sets[label]), _on_default_device(model_lib.param_shapes(cfg)))
        meta = {**meta, "weights": label}
        return Prior(config=cfg, sde=sde_from_dict(meta["sde"]), params=params,
                     clusters=load_clusters(path), path=path, info=meta,
                     stats=load_training_stats(path))
    if os.path.isdir(os.path.join(path, "checkpoints")):
        mngr = TrainCheckpoints(path)
        meta, params = mngr.restore_params(weights=weights or "raw")
        meta = {**meta, "weights": weights or "raw"}
        mngr.close()
        return Prior(config=model_lib.ScoreNetConfig.from_dict(meta["model"]),
                     sde=sde_from_dict(meta["sde"]), params=params,
                     clusters=load_clusters(path), path=path, info=meta,
                     stats=load_training_stats(path))
    if path == DEFAULT_PRIOR:
        raise FileNotFoundError(
            f"the shipped prior is missing from {path}; reinstall zedo_jax or pass --checkpoint")
    raise FileNotFoundError(
        f"{path} is neither a prior directory (prior.json + params) nor a training workdir "
        f"(checkpoints/); train one with `python -m launch.train` or convert an official "
        f"checkpoint with `python -m launch.convert_checkpoint`")
