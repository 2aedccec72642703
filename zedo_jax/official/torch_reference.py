"""A PyTorch reference of ZeDO: the official network and the release's way of lifting.

This is the baseline zedo_jax is checked and timed against:

* :func:`torch_reference_net`: ZeDO's unconditional ``ScoreModelFC_Adv`` in PyTorch with the
  official parameter names and order (so official state dicts load into it unchanged);
* :func:`torch_zedo`: the Initial Pose Optimizer (Adam) and the optimization loop written from
  the documented algorithm, run as the release runs them: a Python loop with one iteration per
  step (and, by default, a copy of the current poses to the host every iteration);
* :func:`torch_net_from_state_dict`: that network from an official state dict (e.g. the
  ``model_state_dict`` of a release ``.pth``), its size inferred from the tensor shapes.

    from zedo_jax import prior as prior_lib
    from zedo_jax.official import torch_port, torch_reference
    prior = prior_lib.load_prior()
    net = torch_port.torch_net_from_prior(prior)
    poses = torch_reference.torch_zedo(net, prior.hypotheses(1), keypoints, K,
                                       ipo_steps=500, oil_steps=1000)   # [B, S, 17, 3]

A zedo_jax prior's weights go into that network with
:func:`zedo_jax.official.torch_port.torch_net_from_prior`. ``python -m experiments.torch_lift``
lifts an .npz with it. Importing this module imports neither PyTorch (the optional extra
``zedo_jax[torch]``, imported when a function needs it) nor JAX/Flax.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

import numpy as np

from zedo_jax.runtime.compile_cache import import_torch

TORCH_MISSING = ("the PyTorch reference of ZeDO needs PyTorch: pip install 'zedo_jax[torch]' "
                 "(from a checkout: pip install \".[torch]\")")

_COND_KEY = re.compile(r"^(cond_embed\..*|pre_dense_cond\..*|b\d+_dense\d+_cond\..*)$")
#: A residual block's layer (``b<k>_...``).
_BLOCK_KEY = re.compile(r"^b(\d+)_")

#: Per residual block: (PyTorch layer suffix, Flax sub-module, kind).
def _fmt(keys, limit: int = 40) -> str:
    keys = list(keys)
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def network_sizes(state_dict: Mapping[str, Any]) -> dict:
    """The sizes of the network an (un-prefixed) official state dict holds, with numpy only:
    ``{num_joints, hidden_dim, embed_dim, n_blocks}``. ``hidden_dim`` = rows of
    ``pre_dense.weight``, ``embed_dim`` = rows of ``shared_time_embed.0.weight``,
    ``num_joints`` = columns of ``pre_dense.weight`` / 3, ``n_blocks`` = the number of
    ``b<k>_*`` blocks (:func:`zedo_jax.official.torch_port.infer_config` makes a ScoreNetConfig of it).

    Raises:
      ValueError: for a conditional GFPose network, a Fourier-embedding network, or when the
        shapes needed for the inference are missing or malformed (listing the problems).
    """
    cond = sorted(k for k in state_dict if _COND_KEY.match(k))
    if cond:
        raise ValueError(
            "this is a conditional GFPose network (it has the condition-branch keys "
            f"{_fmt(cond)}); ZeDO's prior is unconditional, so these weights cannot be used. "
            "Convert a ZeDO checkpoint (e.g. checkpoint/concatebb/checkpoint_1500.pth) instead.")
    if "gauss_proj.W" in state_dict:
        raise ValueError(
            "this network uses the 'fourier' time embedding (key gauss_proj.W); the official "
            "ZeDO checkpoints use 'positional', and zedo_jax's fourier features are its own "
            "fixed random draw, so these weights cannot be converted")
    problems = []
    shapes = {}
    for name in ("pre_dense.weight", "shared_time_embed.0.weight"):
        if name not in state_dict:
            problems.append(f"missing {name}")
            continue
        shapes[name] = tuple(np.shape(state_dict[name]))
        if len(shapes[name]) != 2:
            problems.append(f"{name} has shape {list(shapes[name])}, expected a 2-D [out, in]")
    if problems:
        raise ValueError("cannot infer the network size from the state dict: "
                         + "; ".join(problems) + f" (keys: {_fmt(sorted(state_dict))})")
    hidden, pose_dim = shapes["pre_dense.weight"]
    embed = shapes["shared_time_embed.0.weight"][0]
    if pose_dim % 3:
        raise ValueError(f"pre_dense.weight has {pose_dim} input features; expected "
                         f"num_joints * 3 (51 for the 17 Human3.6M joints)")
    blocks = sorted({int(m.group(1)) for k in state_dict for m in [_BLOCK_KEY.match(k)] if m})
    if blocks != list(range(1, len(blocks) + 1)):
        raise ValueError(f"residual blocks must be numbered b1..bN without gaps; found "
                         f"{['b%d' % b for b in blocks]}")
    if hidden % 32:
        raise ValueError(f"hidden width {hidden} (pre_dense.weight rows) is not divisible by "
                         f"the 32 GroupNorm groups of ScoreModelFC_Adv")
    return {"num_joints": pose_dim // 3, "hidden_dim": hidden, "embed_dim": embed,
            "n_blocks": len(blocks)}


#: What :func:`torch_zedo` takes of zedo_jax's :data:`zedo_jax.core.program.SCHEDULES` (``euler_dt``
#: ``None`` = 1/N). The other fields of both schedules are the release's defaults, which
#: torch_zedo has built in (the fast schedule's 'closed' translation solver solves the same
#: normal equations; zedo_jax's default anatomy steps and the fast schedule's final denoising
#: step, ``final_denoise_t``, are not part of either).
SCHEDULES = {
    "faithful": {"ipo_steps": 500, "oil_steps": 1000, "euler_dt": None, "linear_drift": 1.0},
    "fast": {"ipo_steps": 100, "oil_steps": 100, "euler_dt": 0.01, "linear_drift": 0.0},
}


def _import_torch():
    return import_torch(TORCH_MISSING)


# ----------------------------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------------------------

def torch_reference_net(hidden=1024, embed=512, n_blocks=2, n_joints=17):
    """ZeDO's unconditional ``ScoreModelFC_Adv`` with the official parameter names/order."""
    torch = _import_torch()
    nn = torch.nn

    def timestep_embedding(labels, dim):           # on the float label 999 t
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) / (half - 1)
                          * torch.arange(half, dtype=torch.float32, device=labels.device))
        args = labels.float()[:, None] * freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1)

    class ScoreModelFC_Adv(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_joints, self.embed_dim, self.n_blocks = n_joints, embed, n_blocks
            self.act = nn.SiLU()
            self.pre_dense = nn.Linear(n_joints * 3, hidden)
            self.pre_dense_t = nn.Linear(embed, hidden)
            self.pre_gnorm = nn.GroupNorm(32, hidden)
            self.dropout = nn.Dropout(p=0.25)
            self.shared_time_embed = nn.Sequential(nn.Linear(embed, embed), self.act)
            self.register_buffer("sigmas", _sigmas(torch))            # float64
            for k in range(1, n_blocks + 1):
                for j in (1, 2):
                    setattr(self, f"b{k}_dense{j}", nn.Linear(hidden, hidden))
                    setattr(self, f"b{k}_dense{j}_t", nn.Linear(embed, hidden))
                    setattr(self, f"b{k}_gnorm{j}", nn.GroupNorm(32, hidden))
            self.post_dense = nn.Linear(hidden, n_joints * 3)

        def forward(self, x, t_label):
            bs = x.shape[0]
            _ = self.sigmas[t_label.long()]                   # indexed, then unused
            temb = self.shared_time_embed(
                timestep_embedding(t_label, self.embed_dim).to(x.dtype))
            h = self.pre_dense(x.reshape(bs, -1)) + self.pre_dense_t(temb)
            h = self.dropout(self.act(self.pre_gnorm(h)))
            for k in range(1, self.n_blocks + 1):
                a = getattr(self, f"b{k}_dense1")(h) + getattr(self, f"b{k}_dense1_t")(temb)
                a = self.dropout(self.act(getattr(self, f"b{k}_gnorm1")(a)))
                b = getattr(self, f"b{k}_dense2")(a) + getattr(self, f"b{k}_dense2_t")(temb)
                b = self.dropout(self.act(getattr(self, f"b{k}_gnorm2")(b)))
                h = h + b
            return self.post_dense(h).reshape(bs, self.n_joints, 3)

    return ScoreModelFC_Adv()


def torch_net_from_state_dict(state_dict: Mapping[str, Any], device=None):
    """The PyTorch reference network holding an official state dict's weights, in eval mode.

    Needs only PyTorch and numpy (no zedo_jax prior, no JAX). A leading ``module.``
    (DataParallel) is stripped from the keys; the size is inferred from the tensor shapes
    (:func:`network_sizes`). The ``sigmas`` buffer is taken from the state dict when it has one.

    Args:
      state_dict: ``{name: tensor or array}`` (e.g. a release checkpoint's
        ``model_state_dict``).
      device: torch device to put the network on (default: the CPU).
    Raises:
      ValueError: a key is missing or unknown, or a shape does not fit the inferred size.
    """
    torch = _import_torch()
    sd = {}
    for k, v in state_dict.items():
        name = k[len("module."):] if k.startswith("module.") else k
        if name in sd:
            raise ValueError(f"duplicate key {name!r} (with and without the 'module.' prefix)")
        sd[name] = v if torch.is_tensor(v) else torch.as_tensor(np.asarray(v))
    size = network_sizes(sd)
    hidden, embed = size["hidden_dim"], size["embed_dim"]
    n_blocks = size["n_blocks"]
    net = torch_reference_net(hidden, embed, n_blocks, size["num_joints"])
    sd.setdefault("sigmas", net.sigmas)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:                         # missing / unknown keys, wrong shapes
        raise ValueError(f"the state dict does not fit a ScoreModelFC_Adv with hidden {hidden}, "
                         f"embed {embed}, {n_blocks} blocks: {e}") from e
    if device is not None:
        net = net.to(device)
    return net.eval()


def _sigmas(torch):
    """The release's float64 ``sigmas`` buffer (indexed by the label, then unused)."""
    return torch.tensor(np.exp(np.linspace(np.log(50.0), np.log(0.01), 1000)))


# ----------------------------------------------------------------------------------------------
# IPO + optimization loop
# ----------------------------------------------------------------------------------------------

def torch_zedo(net, init_poses, keypoints, K, ipo_steps, oil_steps, ipo_keypoints=(0, 1, 4),
               ipo_distance=3.0, min_scale=0.5, max_scale=2.0, *, euler_dt=None,
               linear_drift=1.0, host_copy_per_step=True, beta_min=0.1, beta_max=20.0,
               N=1000, device=None) -> np.ndarray:
    """IPO + optimization loop of the release, in float32 PyTorch.

    ``init_poses [S, 17, 3]``, ``keypoints [B, 17, 3]`` (u, v, conf), ``K [B, 3, 3]`` ->
    ``[B, S, 17, 3]``. Frames are optimised jointly; the IPO loss is the per-frame mean summed
    over frames (the release takes one batch mean; equal up to Adam's eps).

    Loop step: ``x <- x (1 + linear_drift beta dt / 2) - (g^2 dt / std) eps`` on the time grid
    ``linspace(0.1, 0.01, oil_steps)``, after the ray step; the translation is the IPO one for
    the first ``oil_steps // 5`` iterations, then the weighted least-squares one.

    Args:
      euler_dt: Euler step; ``None`` = ``1 / N`` (1e-3, the release whatever the grid).
      linear_drift: factor on the sub-VP SDE's linear drift term (1.0 release; 0 = the
        ``fast`` schedule, ``x (1 + beta dt / 2)`` becomes ``x``).
      host_copy_per_step: copy the current poses to the host every loop iteration (as the
        release does; a device synchronisation on a GPU). ``False`` skips it (the result is
        the same).
      beta_min, beta_max, N: the sub-VP SDE (every official config: 0.1, 20, 1000).
      device: torch device of the computation (default: the CPU); ``net`` must be on it.
    """
    torch = _import_torch()
    # 1 / dt: N exactly by default (the release's arithmetic: beta / (2 N), g^2 / (N std))
    inv_dt = N if euler_dt is None else 1.0 / float(euler_dt)
    dev = torch.device("cpu") if device is None else torch.device(device)
    kp = torch.as_tensor(np.asarray(keypoints), dtype=torch.float32, device=dev)
    K = torch.as_tensor(np.asarray(K), dtype=torch.float32, device=dev)
    B = kp.shape[0]
    uv = kp[..., :2]
    conf = kp[..., 2].clamp(1e-4, 1.0)
    d = torch.einsum("bij,bnj->bni", torch.linalg.inv(K),
                     torch.cat([uv, torch.ones_like(uv[..., :1])], -1))   # z-normalised rays
    r = d / d.norm(dim=-1, keepdim=True)
    T0 = ipo_distance * r[:, :1]                                           # [B, 1, 3]
    sel = list(ipo_keypoints)

    def rot(w, qz):                                    # quaternion (w, 0, 0, q_z), s = 2/|q|^2
        s = 2.0 / (w * w + qz * qz)
        o, z = torch.ones_like(w), torch.zeros_like(w)
        return torch.stack([torch.stack([1 - s * qz * qz, -s * qz * w, z], -1),
                            torch.stack([s * qz * w, 1 - s * qz * qz, z], -1),
                            torch.stack([z, z, o], -1)], -2)               # [B, 3, 3]

    def project(X):
        p = torch.einsum("bij,bnj->bni", K, X)
        return p[..., :2] / p[..., 2:]

    def solve_T(x):                                     # weighted LS, rows x c^2, sign flip
        xn, yn = d[..., 0], d[..., 1]
        w = conf ** 2
        one, zero = torch.ones_like(xn), torch.zeros_like(xn)
        A = torch.cat([torch.stack([-one, zero, xn], -1),
                       torch.stack([zero, -one, yn], -1)], 1) * torch.cat([w, w], 1)[..., None]
        b = torch.cat([x[..., 0] - x[..., 2] * xn, x[..., 1] - x[..., 2] * yn], 1) \
            * torch.cat([w, w], 1)
        At = A.transpose(1, 2)
        T = torch.linalg.solve(At @ A, (At @ b[..., None]))[..., 0]
        T = torch.where(T[:, 2:3] < 0, -T, T)
        return T[:, None]                                                  # [B, 1, 3]

    def sde_coeffs(t):
        beta = beta_min + t * (beta_max - beta_min)
        Bint = beta_min * t + 0.5 * (beta_max - beta_min) * t * t
        sigma = 1.0 - torch.exp(-Bint)
        g2 = beta * (1.0 - torch.exp(-2.0 * Bint))
        return beta, sigma, g2

    out = []
    for C in torch.as_tensor(np.asarray(init_poses), dtype=torch.float32, device=dev):
        C = (C - C[:1]).expand(B, 17, 3)
        w = torch.ones(B, requires_grad=True, device=dev)
        qz = torch.zeros(B, requires_grad=True, device=dev)
        s = torch.ones(B, 1, 1, requires_grad=True, device=dev)
        opt = torch.optim.Adam([w, qz, s], lr=0.1)
        for _ in range(ipo_steps):
            X = C @ rot(w, qz).transpose(1, 2) + s.clamp(min_scale, max_scale) * T0
            loss = (project(X)[:, sel] - uv[:, sel]).abs().mean(dim=(1, 2)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            x = C @ rot(w, qz).transpose(1, 2)
            T = s.clamp(min_scale, max_scale) * T0
            ts = torch.linspace(0.1, 0.01, oil_steps, device=dev)
            host = None
            for i in range(oil_steps):
                if i >= oil_steps // 5:
                    T = solve_T(x)
                Y = x + T
                x = x + (Y * r).sum(-1, keepdim=True) * r - Y               # ray step
                t = ts[i]
                eps = net(x, (999.0 * t).expand(B))
                beta, sigma, g2 = sde_coeffs(t)
                x = x * (1.0 + linear_drift * beta / (2 * inv_dt)) - (g2 / (inv_dt * sigma)) * eps
                if host_copy_per_step:                 # the release's per-iteration host copy
                    host = x.detach().cpu().numpy().copy()
            del host
        out.append(x.cpu().numpy())
    return np.stack(out, 1)
