"""Load official ZeDO PyTorch checkpoints (``checkpoint_1500.pth``) as zedo_jax priors.

The official release trains ``ScoreModelFC_Adv`` (:mod:`zedo_jax.core.model`) under ``nn.DataParallel`` and saves
::

    {'epoch': int, 'step': int,
     'model_state_dict': {'module.pre_dense.weight': [H, 51], ..., 'module.sigmas': [1000]},
     'optimizer_state_dict': {...},
     'ema': {'decay': 0.9999, 'num_updates': int, 'shadow_params': [34 tensors]}}

``shadow_params`` is an unnamed list in ``model.parameters()`` order (see
:func:`official_parameter_names`). This module maps either set of weights onto the Flax
:class:`~zedo_jax.core.model.ScoreNet` (``kernel = weight.T``; GroupNorm ``weight`` -> ``scale``),
infers ``hidden_dim`` / ``embed_dim`` / ``n_blocks`` from the tensor shapes, and validates the
whole state dict before converting anything. The ``sigmas`` buffer (float64 noise levels indexed
by the label and then discarded by the official forward pass) is ignored.

    from zedo_jax import torch_port
    config, variables = torch_port.convert_official_checkpoint("checkpoint_1500.pth")
    torch_port.convert_to_prior("checkpoint_1500.pth", "priors/official",
                                clusters=["clusters/h36m_cluster50.npy"])

Weights: ``'raw'`` (``model_state_dict``, the default) is what the official ZeDO inference
uses -- the EMA state is loaded but never copied into the model. ``'ema'`` uses
``ema.shadow_params`` (what GFPose evaluates with).

Only :func:`load_torch_checkpoint` needs PyTorch (the optional extra ``zedo_jax[torch]``);
everything else works on any mapping of names to array-likes (numpy arrays, torch tensors).
"""
from __future__ import annotations

import hashlib
import inspect
import os
import re
from typing import Any, Mapping, Sequence

import numpy as np

from zedo_jax import prior as prior_lib
from zedo_jax.core import model as model_lib, sde as sde_lib
from zedo_jax.official import torch_reference
from zedo_jax.official.torch_reference import _fmt, network_sizes
from zedo_jax.runtime import files
from zedo_jax.runtime.compile_cache import import_torch

TORCH_MISSING = ("reading .pth checkpoints needs PyTorch: pip install 'zedo_jax[torch]' "
                 "(or pip install torch==2.13.0)")

#: Keys present in official state dicts that carry no network weights.
_IGNORED_KEYS = ("sigmas",)

#: Layers of GFPose's conditional network (refused by :func:`network_sizes`).
_BLOCK_LAYERS = (("dense1", "dense1", "linear"), ("dense1_t", "dense1_t", "linear_t"),
                 ("gnorm1", "gnorm1", "norm"), ("dense2", "dense2", "linear"),
                 ("dense2_t", "dense2_t", "linear_t"), ("gnorm2", "gnorm2", "norm"))


def _import_torch():
    return import_torch(TORCH_MISSING)


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------

def load_torch_checkpoint(path: str) -> Any:
    """``torch.load`` a ``.pth`` file onto the CPU (no GPU needed).

    Official checkpoints hold non-tensor Python objects (optimizer state, ints), so the file is
    unpickled with ``weights_only=False`` -- only load files you trust. Falls back to the plain
    call on PyTorch versions without ``weights_only``, and to ``weights_only=True`` when full
    unpickling fails because a pickled class is not importable here.

    Raises:
      ImportError: PyTorch is not installed (message says how to install it).
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file cannot be read as a PyTorch checkpoint.
    """
    torch = _import_torch()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        has_weights_only = "weights_only" in inspect.signature(torch.load).parameters
    except (TypeError, ValueError):
        has_weights_only = True
    try:
        if not has_weights_only:          # PyTorch < 1.13
            return torch.load(path, map_location="cpu")
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ModuleNotFoundError, AttributeError) as first:
        if not has_weights_only:
            raise ValueError(f"cannot unpickle {path}: {first}") from first
        try:                              # a pickled class is missing; tensors may still load
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as second:
            raise ValueError(f"cannot unpickle {path}: {first}; the tensor-only loader failed "
                             f"too: {second}") from second
    except Exception as e:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint: {e}") from e


def _to_numpy(value, name: str) -> np.ndarray:
    """A tensor / array-like -> float32 numpy array (detached, on the CPU)."""
    if hasattr(value, "detach"):          # torch.Tensor, without importing torch
        value = value.detach().cpu()
        if not value.is_floating_point():
            raise ValueError(f"{name} is a {value.dtype} tensor, expected floating point")
        value = value.float().numpy()
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} has dtype {arr.dtype}, expected floating point")
    return arr.astype(np.float32)


def _is_state_dict(obj) -> bool:
    return (isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(k, str) for k in obj)
            and any(k.endswith((".weight", ".bias")) for k in obj))


def split_checkpoint(ckpt) -> tuple[dict, Any, dict]:
    """Find the model state dict, the EMA state and metadata in a loaded checkpoint.

    Accepts the official dict (``model_state_dict`` [+ ``ema``, ``epoch``, ``step``]), a dict
    with ``state_dict`` instead, or a bare state dict. A leading ``module.`` (DataParallel) is
    stripped from every key that has it.

    Returns:
      ``(state_dict, ema, meta)``: ``{name: tensor}`` without prefixes, the ``ema`` entry (or
      ``None``), and ``{'epoch', 'step'}`` where present.
    """
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"expected a checkpoint dict or a state dict, got {type(ckpt).__name__}")
    if "model_state_dict" in ckpt or "state_dict" in ckpt:
        sd = ckpt.get("model_state_dict", ckpt.get("state_dict"))
        ema = ckpt.get("ema")
    elif _is_state_dict(ckpt):
        sd, ema = ckpt, None
    else:
        raise ValueError(
            f"the checkpoint has neither 'model_state_dict' nor network weights; its top-level "
            f"keys are {sorted(map(str, ckpt))[:20]}")
    if not isinstance(sd, Mapping):
        raise ValueError(f"model_state_dict is a {type(sd).__name__}, expected a dict")
    out = {}
    for k, v in sd.items():
        name = k[len("module."):] if k.startswith("module.") else k
        if name in out:
            raise ValueError(f"duplicate key {name!r} (with and without the 'module.' prefix)")
        out[name] = v
    meta = {}
    for k in ("epoch", "step"):
        if k in ckpt:
            try:
                meta[k] = int(ckpt[k])
            except (TypeError, ValueError):
                pass
    return out, ema, meta


# ----------------------------------------------------------------------------------------------
# name mapping and validation
# ----------------------------------------------------------------------------------------------

def _layers(n_blocks: int) -> list[tuple[str, tuple, str]]:
    """``(PyTorch layer, Flax path, kind)`` in ``model.parameters()`` order."""
    out = [("pre_dense", ("pre_dense",), "linear_in"),
           ("pre_dense_t", ("pre_dense_t",), "linear_t"),
           ("pre_gnorm", ("pre_gnorm",), "norm"),
           ("shared_time_embed.0", ("shared_time_embed",), "linear_e")]
    for k in range(n_blocks):
        for suffix, sub, kind in _BLOCK_LAYERS:
            out.append((f"b{k + 1}_{suffix}", (f"blocks_{k}", sub), kind))
    out.append(("post_dense", ("post_dense",), "linear_out"))
    return out


def official_parameter_names(n_blocks: int = 2) -> list[str]:
    """PyTorch parameter names in ``model.parameters()`` order (= ``ema.shadow_params`` order):
    ``4 + 2 + 12 n_blocks + 2`` names (34 for the release's 2 blocks)."""
    return [f"{layer}.{p}" for layer, _, _ in _layers(n_blocks) for p in ("weight", "bias")]


def _expected_shapes(hidden: int, embed: int, pose_dim: int, n_blocks: int) -> dict:
    """PyTorch parameter name -> shape (``weight`` is ``[out, in]``)."""
    dense = {"linear_in": (hidden, pose_dim), "linear_t": (hidden, embed),
             "linear_e": (embed, embed), "linear": (hidden, hidden),
             "linear_out": (pose_dim, hidden)}
    out = {}
    for layer, _, kind in _layers(n_blocks):
        if kind == "norm":
            out[f"{layer}.weight"] = (hidden,)
            out[f"{layer}.bias"] = (hidden,)
        else:
            out[f"{layer}.weight"] = dense[kind]
            out[f"{layer}.bias"] = (dense[kind][0],)
    return out


def infer_config(state_dict: Mapping[str, Any]) -> model_lib.ScoreNetConfig:
    """The :class:`~zedo_jax.core.model.ScoreNetConfig` of an (un-prefixed) official state dict:
    the sizes of :func:`network_sizes` (which also refuses GFPose's
    conditional and Fourier-embedding networks); dropout 0.25, GroupNorm(32, eps 1e-5) and the
    positional embedding are fixed by the official code.

    Raises:
      ValueError: as :func:`~network_sizes`.
    """
    return model_lib.ScoreNetConfig(**network_sizes(state_dict), joint_dim=3, dropout=0.25,
                                    gn_groups=32, gn_eps=1e-5, embedding="positional")


def validate_state_dict(state_dict: Mapping[str, Any], config: model_lib.ScoreNetConfig):
    """Check an (un-prefixed) state dict against ``config``; raise one ``ValueError`` listing
    every missing key, unknown key, wrongly shaped tensor and non-finite tensor."""
    if config.bone_features:
        raise ValueError("the official network has no bone-length inputs: convert with "
                         "bone_features=False (the official layout)")
    expected = _expected_shapes(config.hidden_dim, config.embed_dim, config.pose_dim,
                                config.n_blocks)
    present = {k for k in state_dict if k not in _IGNORED_KEYS}
    missing = [k for k in expected if k not in present]
    unknown = sorted(present - set(expected))
    bad_shape = [f"{k}: {list(np.shape(state_dict[k]))} (expected {list(expected[k])})"
                 for k in expected if k in present
                 and tuple(np.shape(state_dict[k])) != expected[k]]
    problems = []
    if missing:
        problems.append(f"missing keys: {_fmt(missing)}")
    if unknown:
        problems.append(f"unknown keys: {_fmt(unknown)}")
    if bad_shape:
        problems.append(f"shapes that do not fit hidden_dim={config.hidden_dim}, "
                        f"embed_dim={config.embed_dim}, {config.pose_dim} pose inputs: "
                        + "; ".join(bad_shape))
    if not problems:
        nonfinite = [k for k in expected if not np.isfinite(_to_numpy(state_dict[k], k)).all()]
        if nonfinite:
            problems.append(f"non-finite values (NaN/inf) in: {_fmt(nonfinite)}")
    if problems:
        raise ValueError(
            f"the state dict is not a ZeDO ScoreModelFC_Adv with {config.n_blocks} blocks "
            f"(inferred from its shapes):\n  " + "\n  ".join(problems))


def ema_state_dict(ema, config: model_lib.ScoreNetConfig) -> dict:
    """Name the EMA ``shadow_params`` list (``model.parameters()`` order) -> ``{name: tensor}``.

    Raises:
      ValueError: ``ema`` is missing or malformed, the list has the wrong length, or a shadow
        tensor's shape differs from the named parameter it stands for.
    """
    if ema is None:
        raise ValueError("the checkpoint has no 'ema' entry; convert it with weights='raw'")
    shadow = ema.get("shadow_params") if isinstance(ema, Mapping) else None
    if not isinstance(shadow, (list, tuple)):
        raise ValueError("the checkpoint's 'ema' entry has no 'shadow_params' list "
                         f"(it has {sorted(ema) if isinstance(ema, Mapping) else type(ema)})")
    names = official_parameter_names(config.n_blocks)
    if len(shadow) != len(names):
        raise ValueError(f"ema.shadow_params holds {len(shadow)} tensors but a ZeDO network "
                         f"with {config.n_blocks} blocks has {len(names)} parameters "
                         f"({names[0]}, ..., {names[-1]} in model.parameters() order)")
    expected = _expected_shapes(config.hidden_dim, config.embed_dim, config.pose_dim,
                                config.n_blocks)
    bad = [f"#{i} ({n}): {list(np.shape(s))} (expected {list(expected[n])})"
           for i, (n, s) in enumerate(zip(names, shadow)) if tuple(np.shape(s)) != expected[n]]
    if bad:
        raise ValueError("ema.shadow_params does not follow the model.parameters() order of "
                         "the raw weights; mismatched entries: " + "; ".join(bad))
    return dict(zip(names, shadow))


def state_dict_to_flax(state_dict: Mapping[str, Any], config: model_lib.ScoreNetConfig) -> dict:
    """Map a validated (un-prefixed) state dict onto Flax variables ``{'params': ...}``.

    ``nn.Linear``: ``kernel = weight.T`` ``[in, out]``, ``bias``; ``nn.GroupNorm``:
    ``scale = weight``, ``bias``. All leaves are float32 numpy arrays.
    """
    params: dict = {}
    for layer, path, kind in _layers(config.n_blocks):
        w = _to_numpy(state_dict[f"{layer}.weight"], f"{layer}.weight")
        b = _to_numpy(state_dict[f"{layer}.bias"], f"{layer}.bias")
        leaf = {"scale": w, "bias": b} if kind == "norm" else \
            {"kernel": np.ascontiguousarray(w.T), "bias": b}
        node = params
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = leaf
    return {"params": params}


def _check_tree(variables: dict, config: model_lib.ScoreNetConfig):
    """Assert the converted tree has exactly the structure and shapes of ``ScoreNet(config)``."""
    import jax
    want = model_lib.param_shapes(config)
    got_s = jax.tree_util.tree_structure(variables)
    if got_s != jax.tree_util.tree_structure(want):
        raise AssertionError(f"internal error: converted tree {got_s} differs from the Flax "
                             f"ScoreNet tree {jax.tree_util.tree_structure(want)}")
    for a, b in zip(jax.tree_util.tree_leaves(variables), jax.tree_util.tree_leaves(want)):
        if a.shape != b.shape:
            raise AssertionError(f"internal error: shape {a.shape} vs {b.shape}")


# ----------------------------------------------------------------------------------------------
# public entry points
# ----------------------------------------------------------------------------------------------

def convert_official_checkpoint(source, weights: str = "raw"
                                ) -> tuple[model_lib.ScoreNetConfig, dict]:
    """Convert an official ZeDO checkpoint into a Flax network.

    Args:
      source: path of a ``.pth`` file (needs PyTorch), or an already loaded checkpoint dict /
        bare state dict (values: torch tensors or numpy arrays).
      weights: ``'raw'`` (``model_state_dict``; what the official inference uses) or
        ``'ema'`` (``ema.shadow_params``).
    Returns:
      ``(config, variables)``: the inferred :class:`~zedo_jax.core.model.ScoreNetConfig` and Flax
      variables ``{'params': ...}`` (float32 numpy leaves) for
      ``ScoreNet(config).apply(variables, x [B, 17, 3], 999 * t [B])``.
    Raises:
      ValueError: listing missing / unknown keys, shapes that do not fit, a conditional GFPose
        network, or a malformed EMA state.
      ImportError: ``source`` is a path and PyTorch is not installed.
    """
    config, variables, _ = _convert(source, weights)
    return config, variables


def _convert(source, weights: str):
    if weights not in ("raw", "ema"):
        raise ValueError(f"weights must be 'raw' or 'ema', got {weights!r}")
    ckpt = load_torch_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
    sd, ema, meta = split_checkpoint(ckpt)
    config = infer_config(sd)
    validate_state_dict(sd, config)
    if weights == "ema":
        sd = ema_state_dict(ema, config)
        validate_state_dict(sd, config)   # non-finite values in the shadow copy
        for k in ("decay", "num_updates"):
            if isinstance(ema, Mapping) and k in ema:
                try:
                    meta[f"ema_{k}"] = float(ema[k]) if k == "decay" else int(ema[k])
                except (TypeError, ValueError):
                    pass
    variables = state_dict_to_flax(sd, config)
    _check_tree(variables, config)
    return config, variables, meta


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_official_clusters(path: str, S: int | None = None) -> np.ndarray:
    """Read an official hypothesis file ``h36m_cluster{S}.npy`` ``[>= S, 17, 3]`` (metres).

    ``S`` defaults to the number at the end of the file name (all rows if there is none); the
    first ``S`` poses are returned as float32 ``[S, 17, 3]`` (re-rooted by
    :func:`zedo_jax.prior.save_clusters` when stored).
    """
    c = np.load(path)
    if c.ndim != 3 or c.shape[1:] != (17, 3):
        raise ValueError(f"{path}: cluster centres must have shape [S, 17, 3], "
                         f"got {list(c.shape)}")
    if S is None:
        m = re.search(r"(\d+)$", os.path.splitext(os.path.basename(path))[0])
        S = int(m.group(1)) if m else c.shape[0]
    if not 1 <= S <= c.shape[0]:
        raise ValueError(f"{path} holds {c.shape[0]} poses, cannot take S={S}")
    if not np.isfinite(c[:S]).all():
        raise ValueError(f"{path} contains NaN/inf")
    return c[:S].astype(np.float32)


def convert_to_prior(pth_path: str, output: str, weights: str = "raw",
                     clusters: Sequence[str] | Mapping[int, Any] | None = None,
                     sde=None, checkpoint=None, overwrite: bool = False) -> str:
    """Convert an official ``.pth`` and write it as a prior directory for ``load_prior``
    (built beside ``output`` and swapped in whole; an existing ``output`` is refused unless
    ``overwrite``).

    Args:
      pth_path: the official checkpoint (e.g. ``checkpoint/concatebb/checkpoint_1500.pth``).
      output: prior directory to write (``prior.json``, ``params``, ``clusters_<S>.npy``).
      weights: ``'raw'`` (default; the official inference) or ``'ema'``.
      clusters: official cluster files (``clusters/h36m_cluster{S}.npy``, see
        :func:`read_official_clusters`) or ``{S: [S, 17, 3]}`` arrays.
      sde: the SDE stored with the prior (default: sub-VP, beta in [0.1, 20], N = 1000, as in
        every official ZeDO config).
      checkpoint: an already loaded checkpoint dict (skips reading ``pth_path``, which is then
        only recorded as provenance).
    Returns:
      the absolute path of the prior directory.
    """
    if os.path.exists(output) and not overwrite:
        raise FileExistsError(f"{output} exists; pass overwrite=True (--overwrite) to replace "
                              f"it, or choose another output")
    source = pth_path if checkpoint is None else checkpoint
    config, variables, meta = _convert(source, weights)
    sde = sde_lib.make_sde("subvp") if sde is None else sde
    cl = {}
    if isinstance(clusters, Mapping):
        cl = {int(S): np.asarray(c, np.float32) for S, c in clusters.items()}
    else:
        for f in clusters or ():
            c = read_official_clusters(f)
            cl[c.shape[0]] = c
    info = {"source": "PyTorch checkpoint in the official ZeDO format",
            "file": os.path.basename(str(pth_path)), "weights": weights,
            "converted_by": "zedo_jax.official.torch_port", **meta}
    if checkpoint is None and os.path.isfile(pth_path):
        info["sha256"] = _sha256(pth_path)
    files.replace_directory(output, lambda tmp: prior_lib.save_prior(
        tmp, config, sde, variables, weights=weights, clusters=cl, info=info))
    return os.path.abspath(output)


# ----------------------------------------------------------------------------------------------
# the other way: zedo_jax weights as the release's PyTorch network
# ----------------------------------------------------------------------------------------------

def _check_convertible(config: model_lib.ScoreNetConfig):
    """The official network is fixed at GroupNorm(32, eps 1e-5), positional embedding, 3-D
    joints; refuse a zedo_jax config it cannot represent."""
    problems = []
    if config.embedding != "positional":
        problems.append(f"embedding={config.embedding!r} (the release has 'positional')")
    if config.gn_groups != 32:
        problems.append(f"gn_groups={config.gn_groups} (the release has 32)")
    if config.gn_eps != 1e-5:
        problems.append(f"gn_eps={config.gn_eps} (the release has 1e-5)")
    if config.joint_dim != 3:
        problems.append(f"joint_dim={config.joint_dim} (the release has 3)")
    if problems:
        raise ValueError("this prior's network has no PyTorch ScoreModelFC_Adv counterpart: "
                         + "; ".join(problems))


def flax_to_state_dict(variables, config: model_lib.ScoreNetConfig) -> dict:
    """Flax variables of :class:`~zedo_jax.core.model.ScoreNet` -> the official state dict.

    The inverse of :func:`zedo_jax.official.torch_port.state_dict_to_flax`: ``nn.Linear``
    ``weight = kernel.T`` ``[out, in]``; ``nn.GroupNorm`` ``weight = scale``. Returns
    ``{name: float32 numpy array}`` without the ``sigmas`` buffer and without a ``module.``
    prefix, in ``model.parameters()`` order. Needs no PyTorch.
    """
    _check_convertible(config)
    if model_lib.has_experts(variables):
        raise ValueError("this prior holds two networks (noise-level experts); the official "
                         "format has one: convert one of them, "
                         "zedo_jax.core.model.expert(params, 'low' or 'high')")
    params = variables["params"] if "params" in variables else variables
    sd = {}
    for layer, path, kind in _layers(config.n_blocks):
        node = params
        for p in path:
            if p not in node:
                raise ValueError(f"the Flax parameters have no {'/'.join(path)} (for {layer}); "
                                 f"they do not belong to a {config.n_blocks}-block ScoreNet")
            node = node[p]
        if kind == "norm":
            w = np.asarray(node["scale"], np.float32)
        else:
            w = np.ascontiguousarray(np.asarray(node["kernel"], np.float32).T)
        sd[f"{layer}.weight"] = w
        sd[f"{layer}.bias"] = np.asarray(node["bias"], np.float32)
    validate_state_dict(sd, config)
    return sd


def torch_net_from_prior(prior, device=None):
    """The PyTorch reference network holding a zedo_jax prior's weights, in eval mode.

    Args:
      prior: a :class:`zedo_jax.prior.Prior` (or anything with ``.config`` and ``.params``).
      device: torch device to put it on (default: the CPU).
    Returns:
      ``ScoreModelFC_Adv`` whose ``net(x [B, 17, 3], 999 t [B])`` equals
      ``ScoreNet(prior.config).apply(prior.params, x, 999 t)`` to float32 rounding.
    """
    torch = torch_reference._import_torch()
    config = prior.config
    sd = flax_to_state_dict(model_lib.expert(prior.params, "low"), config)
    net = torch_reference.torch_reference_net(config.hidden_dim, config.embed_dim,
                                              config.n_blocks, config.num_joints)
    full = {k: torch.from_numpy(v.copy()) for k, v in sd.items()}
    full["sigmas"] = net.sigmas                      # the buffer is not part of a Flax tree
    net.load_state_dict(full, strict=True)
    if device is not None:
        net = net.to(device)
    return net.eval()


def release_checkpoint(variables, config: model_lib.ScoreNetConfig) -> dict:
    """A zedo_jax network's Flax variables as an official release checkpoint dict.

    ``{"model_state_dict": {"module.<name>": float32 tensor, ..., "module.sigmas": float64}}``:
    the state dict of :func:`flax_to_state_dict` with the ``nn.DataParallel`` prefix and the
    ``sigmas`` buffer, as the release saves it (``torch.save`` it to a ``.pth``; the release's
    optimizer and EMA entries are not written). :func:`split_checkpoint` and
    :func:`zedo_jax.official.torch_reference.torch_net_from_state_dict` read it back.
    """
    torch = torch_reference._import_torch()
    sd = flax_to_state_dict(variables, config)
    out = {"module.sigmas": torch_reference._sigmas(torch)}     # first, as the release saves it
    out.update({f"module.{k}": torch.from_numpy(np.array(v, np.float32)) for k, v in sd.items()})
    return {"model_state_dict": out}
