"""The trained score prior: the :class:`Prior` type, its directory format, its hypotheses and
training statistics.

A **prior directory** (what inference needs; shipped with the package, written by
:func:`save_prior`, ``launch/export_prior.py`` and ``launch/convert_checkpoint.py``)::

    PRIOR/prior.json                   format, model config, SDE, which weights, provenance
    PRIOR/params                       Orbax: the default Flax variables {'params': ...} (or
                                       two networks: noise-level experts, model.combine_experts)
    PRIOR/params_<label>               Orbax: further weight sets (e.g. params_ema)
    PRIOR/clusters_<S>.npy             [S, 17, 3] float32 hypotheses (metres, camera axes)
    PRIOR/training_stats.json          bone-length mean/std of the training poses

:func:`load_prior` also reads a training workdir (:mod:`zedo_jax.training.checkpoint`; the latest
step). Orbax is imported only when weights are read or written, so code that merely uses a
:class:`Prior` (lifting, sampling) does not depend on it.
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

from zedo_jax.core import model as model_lib, sde as sde_lib, skeleton
from zedo_jax.runtime import files
from zedo_jax.runtime.distributed import on_default_device
from zedo_jax.training import clustering, data as data_lib
from zedo_jax.training.checkpoint import TrainCheckpoints

PRIOR_FORMAT = "zedo_jax.prior/1"
ASSET_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
DEFAULT_PRIOR = os.path.join(ASSET_DIR, "prior")


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
    sde: sde_lib.SDE
    params: Any
    clusters: dict
    path: str = ""
    info: dict = dataclasses.field(default_factory=dict)
    stats: dict = dataclasses.field(default_factory=dict)

    def hypotheses(self, S: int) -> np.ndarray:
        """The ``S`` initial poses ``[S, 17, 3]`` stored with the prior (re-rooted)."""
        if S not in self.clusters:
            have = f"stores hypotheses for S in {sorted(self.clusters) or '(none)'}, not S={S}"
            if self.path and os.path.abspath(self.path) == DEFAULT_PRIOR:
                raise ValueError(f"the shipped prior {have}: use one of those, or pass your "
                                 f"own initial poses (--init_poses)")
            raise ValueError(
                f"the prior at {self.path or '<memory>'} {have}; compute them from its "
                f"training poses with `python -m launch.compute_clusters --data POSES.npz "
                f"--prior {self.path or 'DIR'} --S {S}` or pass your own initial poses")
        c = self.clusters[S]
        c = np.asarray(c, np.float32)
        return c - c[:, :1]


def save_prior(path: str, config: model_lib.ScoreNetConfig, sde, params, *, weights: str,
               clusters: dict | None = None, info: dict | None = None,
               stats: dict | None = None, other_weights: dict | None = None) -> str:
    """Write a prior directory (see the module docstring). Returns its absolute path.

    ``params`` are stored as the default weights under the label ``weights`` (``'raw'`` or
    ``'ema'``); ``other_weights`` (e.g. ``{'ema': ema_params}``) adds further sets, selectable
    with ``load_prior(weights=...)``. A variables tree of noise-level experts
    (:func:`zedo_jax.core.model.combine_experts`) is recorded as such in ``prior.json``.
    """
    import orbax.checkpoint as ocp
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
    meta = {"format": PRIOR_FORMAT, "model": config.to_dict(), "sde": sde_lib.sde_to_dict(sde),
            "weights": weights, "weight_sets": dirs, "info": info or {}}
    if model_lib.has_experts(params):
        meta["experts"] = {"split_t": round(float(params["split_t"]), 7),
                           "low": "answers for t <= split_t", "high": "answers for t > split_t"}
    files.save_json(os.path.join(path, "prior.json"), meta, indent=2)
    for c in (clusters or {}).values():
        save_clusters(path, c)
    if stats is not None:
        save_training_stats(path, stats)
    return path


# ----------------------------------------------------------------------------------------------
# training statistics and hypotheses
# ----------------------------------------------------------------------------------------------

def training_stats(poses) -> dict:
    """Bone-length statistics of training poses ``[F, 17, 3]`` (metres), stored with a prior so
    users can sanity-check lifted poses without the training data."""
    bl = skeleton.bone_lengths(np.asarray(poses, np.float64))
    return {"bones": list(skeleton.bone_names()),
            "bone_length_mean_m": bl.mean(0).round(5).tolist(),
            "bone_length_std_m": bl.std(0).round(5).tolist(), "num_poses": int(len(poses))}


def save_training_stats(directory: str, stats: dict) -> str:
    return files.save_json(os.path.join(directory, "training_stats.json"), stats, indent=2)


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
    return files.save_npy(os.path.join(directory, f"clusters_{c.shape[0]}.npy"), c)


def load_clusters(directory: str) -> dict:
    out = {}
    for f in glob.glob(os.path.join(directory, "clusters_*.npy")):
        m = re.fullmatch(r"clusters_(\d+)\.npy", os.path.basename(f))
        if m:
            S = int(m.group(1))
            try:
                c = np.load(f, allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise ValueError(f"{f}: not a readable .npy array ({e})") from None
            if c.shape != (S, 17, 3) or not np.all(np.isfinite(c)):
                raise ValueError(f"{f}: expected {S} finite poses [{S}, 17, 3] (metres), got "
                                 f"shape {list(c.shape)}; recompute it with launch.compute_clusters")
            out[S] = c.astype(np.float32)
    return out


def store_hypotheses(directory: str, poses, sizes=(1, 50), key=None, *, s1: str = "front",
                     iters: int = 100, restarts: int = 3) -> dict:
    """Compute and store what a prior needs besides its weights: the training statistics
    (of the camera-axes poses) and the hypotheses ``clusters_<S>.npy`` for each ``S`` in
    ``sizes`` (:func:`zedo_jax.training.clustering.hypotheses`).

    Args:
      directory: a prior directory or training workdir.  poses: a ``data.PoseSet`` (one
        with sampling weights is first resampled by them, ``data.resample``).
    Returns:
      ``{"training_stats": path, S: path, ...}``.
    """
    key = jax.random.PRNGKey(0) if key is None else key
    poses = data_lib.resample(poses, jax.random.fold_in(key, 1))   # shares of several files
    cam = data_lib.camera_frame_poses(poses, jax.random.fold_in(key, 0))
    out = {"training_stats": save_training_stats(directory, training_stats(cam))}
    for S in sizes:
        centres = clustering.hypotheses(poses, S, key, s1=s1, iters=iters, restarts=restarts,
                                        camera_poses=cam)
        out[S] = save_clusters(directory, centres)
    return out


# ----------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------

def weight_sets(path: str | None = None) -> tuple:
    """The weight sets (``'raw'``, ``'ema'``) a prior directory holds, its default first;
    ``('raw', 'ema')`` for a training workdir. ``None`` = the shipped prior."""
    path = None if path is None else os.fspath(path)
    path = DEFAULT_PRIOR if path is None else os.path.abspath(path)
    meta_path = os.path.join(path, "prior.json")
    if not os.path.exists(meta_path):
        return ("raw", "ema")
    try:
        with open(meta_path) as f:
            default, sets = _weight_dirs(json.load(f))
        return (default,) + tuple(k for k in sets if k != default)
    except (json.JSONDecodeError, AttributeError):
        return ()            # load_prior reports the damaged file


def _weight_dirs(meta: dict) -> tuple:
    """``(default label, {label: directory})`` of a ``prior.json``."""
    default = meta.get("weights", "raw")
    return default, meta.get("weight_sets", {default: "params"})


def load_prior(path: str | None = None, weights: str | None = None) -> Prior:
    """Load a prior for inference.

    Args:
      path: a prior directory (``prior.json``), a training workdir (``checkpoints/``; the latest
        step is used), or ``None`` for the prior shipped with the package.
      weights: ``'raw'`` (what the release's inference uses) or ``'ema'``. ``None``: the
        default set of a prior directory (the shipped prior's is ``'ema'``),
        or ``'raw'`` for a training workdir. Asking a prior
        directory for a set it does not hold is an error.
    """
    path = None if path is None else os.fspath(path)
    if weights not in (None, "raw", "ema"):
        raise ValueError(f"weights must be 'raw' or 'ema', got {weights!r}")
    path = DEFAULT_PRIOR if path is None else os.path.abspath(path)
    if os.path.exists(os.path.join(path, "prior.json")):
        import orbax.checkpoint as ocp
        meta_path = os.path.join(path, "prior.json")
        try:
            with open(meta_path) as f:
                meta = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{meta_path}: not valid JSON ({e.msg} at line {e.lineno}); "
                             f"export or convert the prior again") from None
        if not isinstance(meta, dict) or meta.get("format") != PRIOR_FORMAT:
            meta = meta if isinstance(meta, dict) else {}
            raise ValueError(f"{path}/prior.json has format {meta.get('format')!r}, "
                             f"expected {PRIOR_FORMAT!r}")
        default, sets = _weight_dirs(meta)
        label = default if weights is None else weights
        if label not in sets:
            raise ValueError(f"the prior at {path} holds only its {sorted(sets)} weights, not "
                             f"{label!r}; export or convert it again with --weights {label}")
        cfg = model_lib.ScoreNetConfig.from_dict(meta["model"])
        shapes = (model_lib.expert_shapes(cfg) if meta.get("experts")
                  else model_lib.param_shapes(cfg))
        try:
            params = ocp.StandardCheckpointer().restore(
                os.path.join(path, sets[label]), on_default_device(shapes))
        except Exception as e:   # Orbax / TensorStore errors of damaged or foreign files
            raise ValueError(f"{os.path.join(path, sets[label])}: the {label} weights cannot be "
                             f"read ({type(e).__name__}); the prior directory is damaged or "
                             f"incomplete: export or convert it again") from None
        meta = {**meta, "weights": label}
        return Prior(config=cfg, sde=sde_lib.sde_from_dict(meta["sde"]), params=params,
                     clusters=load_clusters(path), path=path, info=meta,
                     stats=load_training_stats(path))
    if os.path.isdir(os.path.join(path, "checkpoints")):
        mngr = TrainCheckpoints(path)
        try:
            meta, params = mngr.restore_params(weights=weights or "raw")
        except FileNotFoundError:
            raise
        except Exception as e:   # damaged files of the latest step
            raise ValueError(f"{mngr.directory}: the latest checkpoint cannot be read "
                             f"({type(e).__name__}); resume training once (it falls back to the "
                             f"newest checkpoint that restores) or export an older --step") \
                from None
        meta = {**meta, "weights": weights or "raw"}
        mngr.close()
        return Prior(config=model_lib.ScoreNetConfig.from_dict(meta["model"]),
                     sde=sde_lib.sde_from_dict(meta["sde"]), params=params,
                     clusters=load_clusters(path), path=path, info=meta,
                     stats=load_training_stats(path))
    if path == DEFAULT_PRIOR:
        raise FileNotFoundError(
            f"the shipped prior is missing from {path}; reinstall zedo_jax or pass --checkpoint")
    raise FileNotFoundError(
        f"{path} is neither a prior directory (prior.json + params) nor a training workdir "
        f"(checkpoints/); train one with `python -m launch.train` or convert an official "
        f"checkpoint with `python -m launch.convert_checkpoint`")


def export_workdir(workdir: str, output: str, weights: str = "both",
                   step: int | None = None, default: str = "raw",
                   high_expert: str | None = None, split_t: float = 0.1,
                   overwrite: bool = False) -> tuple[str, int]:
    """Write a training workdir's network weights (no optimiser state), its clusters and
    training statistics as a prior directory. The directory is built beside ``output`` and
    swapped in whole: an existing ``output`` is refused unless ``overwrite``, and then
    replaced completely (no file of the old prior remains).

    Args:
      weights: ``'raw'``, ``'ema'`` or ``'both'``.  step: checkpoint step (default: the latest).
      default: with ``'both'``, the set ``load_prior()`` returns when not told which: ``'raw'``
        (what the release's inference uses) or ``'ema'`` (the shipped prior's).
      high_expert: a prior directory (of one network, or of experts: its high one). If given,
        the workdir's network becomes
        the low noise-level expert (``t <= split_t``) and this prior's network, the same weight
        set, the high one (:func:`zedo_jax.core.model.combine_experts`); clusters
        and statistics come from the workdir, or from this prior where the workdir has none.
      split_t: the experts' boundary (0.1: the largest time ZeDO's loop asks about).
    Returns:
      ``(path of the prior, step exported)``.
    """
    workdir, output = os.fspath(workdir), os.fspath(output)
    if default not in ("raw", "ema"):
        raise ValueError(f"default must be 'raw' or 'ema', got {default!r}")
    if os.path.exists(output) and not overwrite:
        raise FileExistsError(f"{output} exists; pass overwrite=True (--overwrite) to replace "
                              f"it, or choose another output")
    if os.path.exists(output) and not os.path.isdir(output):
        raise NotADirectoryError(f"{output} is a file; a prior is a directory")
    high = None
    if high_expert is not None:
        if not os.path.exists(os.path.join(high_expert, "prior.json")):
            raise FileNotFoundError(f"{high_expert}: not a prior directory (prior.json); the "
                                    f"high expert must be an exported prior")
        labels = ("raw", "ema") if weights == "both" else (weights,)
        high = {lab: load_prior(high_expert, weights=lab) for lab in labels}
        high = {lab: dataclasses.replace(h, params=model_lib.expert(h.params, "high"))
                for lab, h in high.items()}             # a prior of experts: its high one
    mngr = TrainCheckpoints(workdir)
    primary = default if weights == "both" else weights
    secondary = {"raw": "ema", "ema": "raw"}[primary]
    meta, params = mngr.restore_params(step, weights=primary)
    other = ({secondary: mngr.restore_params(step, weights=secondary)[1]}
             if weights == "both" else {})
    step = step if step is not None else mngr.latest_step()
    mngr.close()
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    last = None
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        last = next((line for line in reversed(lines) if line["step"] <= step), None)
    info = {"step": step, "data": meta.get("data"), "train": meta.get("train"),
            "final_loss": None if last is None else last["loss"]}
    clusters, stats = load_clusters(workdir), load_training_stats(workdir)
    if high is not None:
        h = high[primary]
        # The networks must match; dropout only acts in training.
        low_net = model_lib.ScoreNetConfig.from_dict(meta["model"])
        if dataclasses.replace(low_net, dropout=h.config.dropout) != h.config:
            raise ValueError(f"the workdir's network ({meta['model']}) and the high expert's "
                             f"({h.config.to_dict()}) differ; train the low expert with "
                             f"--init_from {high_expert}")
        params = model_lib.combine_experts(params, h.params, split_t)
        other = {lab: model_lib.combine_experts(p, high[lab].params, split_t)
                 for lab, p in other.items()}
        h_info = h.info.get("info", {})
        h_info = h_info.get("experts", {}).get("high", h_info)
        info = {"experts": {"split_t": split_t, "low": info,
                            "high": {"path": h.path, **h_info}},
                "step": step, "data": meta.get("data")}
        clusters, stats = clusters or h.clusters, stats or h.stats
    files.replace_directory(output, lambda tmp: save_prior(
        tmp, model_lib.ScoreNetConfig.from_dict(meta["model"]),
        sde_lib.sde_from_dict(meta["sde"]), params, weights=primary, other_weights=other,
        clusters=clusters, info=info, stats=stats or None))
    return os.path.abspath(output), step
