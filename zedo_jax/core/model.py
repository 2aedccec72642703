"""The ZeDO score network ``ScoreModelFC_Adv`` as a Flax module (the release's network).

An unconditional epsilon-prediction MLP over flattened poses ``[B, 17, 3] -> [B, 17, 3]``:
a 51 -> hidden input layer and ``n_blocks`` residual blocks of two hidden -> hidden layers, each
layer followed by GroupNorm(32, eps 1e-5), SiLU and dropout 0.25; a sinusoidal embedding of
the float label ``999 t`` goes through a shared Dense+SiLU and is added before every GroupNorm
by its own Dense. With the defaults (hidden 1024, embedding 512, 2 blocks) it has exactly
7,203,379 parameters, like the official release.

The time branch depends only on ``t``. :meth:`ScoreNet.time_biases` computes the per-layer
additive biases once, and :meth:`ScoreNet.trunk` applies the pose path with them, so the
inference loop (where every pose shares one ``t``) evaluates the time branch once per step
instead of once per pose.

Parameter tree (PyTorch name in brackets; Flax kernel = PyTorch weight transposed)::

    pre_dense [pre_dense]            pre_dense_t [pre_dense_t]       pre_gnorm [pre_gnorm]
    shared_time_embed [shared_time_embed.0]
    blocks_{k}/dense1 [b{k+1}_dense1] /dense1_t [b{k+1}_dense1_t] /gnorm1 [b{k+1}_gnorm1]
              /dense2 [b{k+1}_dense2] /dense2_t [b{k+1}_dense2_t] /gnorm2 [b{k+1}_gnorm2]
    post_dense [post_dense]
"""
from __future__ import annotations

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from zedo_jax.core import skeleton


@dataclasses.dataclass(frozen=True)
class ScoreNetConfig:
    """Architecture of the score network. Defaults reproduce the official ZeDO checkpoint.

    Attributes:
      num_joints, joint_dim: pose shape (17, 3).
      hidden_dim: width of the residual trunk (1024).
      embed_dim: size of the time embedding (512).
      n_blocks: residual blocks (2).
      dropout: dropout rate in training (0.25, hard-coded in the release).
      gn_groups, gn_eps: GroupNorm groups and epsilon (32, 1e-5 = PyTorch's default).
      embedding: ``'positional'`` (sinusoidal of the label, the release) or ``'fourier'``
        (Gaussian random features of ``log(label)``, frozen, scale ``fourier_scale``).
      bone_features: also feed the input pose's 16 bone lengths (metres,
        :func:`zedo_jax.core.skeleton.bone_lengths`) to the input layer, beside the 51 coordinates
        (off: the release). Bone lengths do not change with the motion, so a network that
        sees them can tie a pose's size to its skeleton for motions it was not trained on
        (measured in BUILD_NOTES.md: it does not help).
    """

    num_joints: int = 17
    joint_dim: int = 3
    hidden_dim: int = 1024
    embed_dim: int = 512
    n_blocks: int = 2
    dropout: float = 0.25
    gn_groups: int = 32
    gn_eps: float = 1e-5
    embedding: str = "positional"
    fourier_scale: float = 30.0
    bone_features: bool = False

    def __post_init__(self):
        if self.hidden_dim % self.gn_groups:
            raise ValueError(f"hidden_dim={self.hidden_dim} must be divisible by "
                             f"gn_groups={self.gn_groups}")
        if self.embedding not in ("positional", "fourier"):
            raise ValueError(f"embedding must be 'positional' or 'fourier', got {self.embedding!r}")
        if self.embed_dim % 2 and self.embedding == "fourier":
            raise ValueError("fourier embedding needs an even embed_dim")
        if self.bone_features and (self.num_joints, self.joint_dim) != (17, 3):
            raise ValueError("bone_features needs the 17-joint 3D skeleton")

    @property
    def pose_dim(self) -> int:
        return self.num_joints * self.joint_dim

    @property
    def input_dim(self) -> int:
        """Width of the input layer: the flattened pose, plus its bone lengths if
        ``bone_features``."""
        return self.pose_dim + (len(skeleton.BONES) if self.bone_features else 0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ScoreNetConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown ScoreNetConfig fields {sorted(unknown)}")
        return cls(**d)


def num_parameters(config: ScoreNetConfig) -> int:
    """Closed-form parameter count of the network described by ``config``."""
    h, e, p = config.hidden_dim, config.embed_dim, config.pose_dim
    layer = (h * h + h) + (e * h + h) + 2 * h        # dense, dense_t, gnorm
    return ((config.input_dim * h + h) + (e * h + h) + 2 * h + (e * e + e)
            + config.n_blocks * 2 * layer + (h * p + p))


def positional_embedding(labels, dim: int, max_positions: float = 10000.0):
    """Sinusoidal embedding of float labels (as the release's network): ``[...] -> [..., dim]``.

    ``omega_k = exp(-k ln(max_positions) / (half - 1))`` for ``k < half = dim // 2``; the
    output is ``[sin(l omega), cos(l omega)]`` (sin block first), zero-padded if ``dim`` is odd.
    """
    half = dim // 2
    labels = jnp.asarray(labels)
    dtype = jnp.promote_types(labels.dtype, jnp.float32)   # float64 only under jax x64 mode
    # Frequencies in float64 on the host, then rounded once: XLA's float32 exp is off by an ulp
    # for some of them, which the labels (up to 999) would amplify.
    freqs = np.exp(-math.log(max_positions) / (half - 1) * np.arange(half, dtype=np.float64))
    args = labels.astype(dtype)[..., None] * jnp.asarray(freqs, dtype)
    emb = jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)
    if dim % 2:
        emb = jnp.pad(emb, [(0, 0)] * (emb.ndim - 1) + [(0, 1)])
    return emb


def fourier_embedding(labels, dim: int, scale: float, seed: int = 0):
    """Frozen Gaussian-random-feature embedding of ``log(labels)``: ``[...] -> [..., dim]``."""
    w = scale * jax.random.normal(jax.random.PRNGKey(seed), (dim // 2,), jnp.float32)
    args = jnp.log(jnp.asarray(labels, jnp.float32))[..., None] * w * (2.0 * math.pi)
    return jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)


def network_input(x, config: ScoreNetConfig):
    """The input layer's features: ``x [..., J, 3]`` -> ``[..., config.input_dim]`` (the
    flattened pose, then its bone lengths if ``config.bone_features``)."""
    flat = x.reshape(x.shape[:-2] + (config.pose_dim,))
    if not config.bone_features:
        return flat
    return jnp.concatenate([flat, skeleton.bone_lengths(x).astype(flat.dtype)], -1)


def adapt_params(params, config: ScoreNetConfig):
    """Fit a parameter tree of a network without bone features to ``config`` with them: the
    input layer's kernel gets zero rows for the bone lengths, so the network computes exactly
    what it did before and fine-tuning starts from there. Anything else is returned as is."""
    p = params["params"] if "params" in params else params
    kernel = p.get("pre_dense", {}).get("kernel") if isinstance(p, dict) else None
    if kernel is None or kernel.shape[0] != config.pose_dim or config.input_dim == config.pose_dim:
        return params
    pad = jnp.zeros((config.input_dim - config.pose_dim, kernel.shape[1]), kernel.dtype)
    new_p = dict(p)
    new_p["pre_dense"] = dict(p["pre_dense"], kernel=jnp.concatenate([kernel, pad], 0))
    return {"params": new_p} if "params" in params else new_p


def _torch_uniform(fan_in: int):
    """PyTorch ``nn.Linear`` default init for biases: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def _dense(features: int, fan_in: int) -> nn.Dense:
    # variance_scaling(1/3, fan_in, uniform) == U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for kernels.
    return nn.Dense(features,
                    kernel_init=nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
                    bias_init=_torch_uniform(fan_in))


class _Block(nn.Module):
    config: ScoreNetConfig

    def setup(self):
        c = self.config
        self.dense1 = _dense(c.hidden_dim, c.hidden_dim)
        self.dense1_t = _dense(c.hidden_dim, c.embed_dim)
        self.gnorm1 = nn.GroupNorm(c.gn_groups, epsilon=c.gn_eps, use_fast_variance=False)
        self.dense2 = _dense(c.hidden_dim, c.hidden_dim)
        self.dense2_t = _dense(c.hidden_dim, c.embed_dim)
        self.gnorm2 = nn.GroupNorm(c.gn_groups, epsilon=c.gn_eps, use_fast_variance=False)
        self.drop = nn.Dropout(c.dropout)

    def time_biases(self, temb):
        return self.dense1_t(temb), self.dense2_t(temb)

    def __call__(self, h, biases, train: bool):
        b1, b2 = biases
        a = self.drop(nn.silu(self.gnorm1(self.dense1(h) + b1)), deterministic=not train)
        b = self.drop(nn.silu(self.gnorm2(self.dense2(a) + b2)), deterministic=not train)
        return h + b


class ScoreNet(nn.Module):
    """ZeDO's unconditional epsilon-prediction MLP.

    ``apply(params, x, t_label, train=False)``: ``x [B, 17, 3]`` (metres), ``t_label [B]`` or a
    scalar (the float label ``999 t``) -> ``eps [B, 17, 3]``. In training mode dropout needs a
    ``'dropout'`` PRNG stream.
    """

    config: ScoreNetConfig = ScoreNetConfig()

    def setup(self):
        c = self.config
        self.pre_dense = _dense(c.hidden_dim, c.input_dim)
        self.pre_dense_t = _dense(c.hidden_dim, c.embed_dim)
        self.pre_gnorm = nn.GroupNorm(c.gn_groups, epsilon=c.gn_eps, use_fast_variance=False)
        self.shared_time_embed = _dense(c.embed_dim, c.embed_dim)
        self.blocks = [_Block(c) for _ in range(c.n_blocks)]
        self.post_dense = _dense(c.pose_dim, c.hidden_dim)
        self.drop = nn.Dropout(c.dropout)

    def embed(self, t_label):
        c = self.config
        if c.embedding == "positional":
            return positional_embedding(t_label, c.embed_dim)
        return fourier_embedding(t_label, c.embed_dim, c.fourier_scale)

    def time_biases(self, t_label) -> tuple:
        """Additive pre-GroupNorm biases from the time label: ``t_label [...]`` ->
        a tuple of ``1 + 2 n_blocks`` arrays ``[..., hidden_dim]``."""
        temb = nn.silu(self.shared_time_embed(self.embed(t_label)))
        out = [self.pre_dense_t(temb)]
        for blk in self.blocks:
            out.extend(blk.time_biases(temb))
        return tuple(out)

    def trunk(self, x, biases, train: bool = False):
        """Pose path given precomputed :meth:`time_biases` (broadcast against the batch)."""
        c = self.config
        lead = x.shape[:-2]
        h = self.pre_dense(network_input(x, c)) + biases[0]
        h = self.drop(nn.silu(self.pre_gnorm(h)), deterministic=not train)
        for k, blk in enumerate(self.blocks):
            h = blk(h, biases[1 + 2 * k: 3 + 2 * k], train)
        return self.post_dense(h).reshape(lead + (c.num_joints, c.joint_dim))

    def dropout_keys(self) -> list:
        """The PRNG keys that the training forward's ``1 + 2 n_blocks`` dropout layers draw
        from the ``'dropout'`` stream, in call order (see :func:`train_apply`)."""
        keys = [self.drop.make_rng("dropout")]
        for blk in self.blocks:
            keys += [blk.drop.make_rng("dropout"), blk.drop.make_rng("dropout")]
        return keys

    def __call__(self, x, t_label, train: bool = False):
        t_label = jnp.broadcast_to(jnp.asarray(t_label, jnp.promote_types(x.dtype, jnp.float32)),
                                   x.shape[:-2])
        return self.trunk(x, self.time_biases(t_label), train)


def _group_norm(h, p, groups: int, eps: float):
    """GroupNorm over the last axis (two-pass variance, as ``nn.GroupNorm(use_fast_variance=
    False)``) with the module's ``scale`` / ``bias``."""
    g = h.reshape(h.shape[:-1] + (groups, h.shape[-1] // groups))
    mean = jnp.mean(g, -1, keepdims=True)
    var = jnp.mean(jnp.square(g - mean), -1, keepdims=True)
    g = (g - mean) * jax.lax.rsqrt(var + eps)
    return g.reshape(h.shape) * p["scale"] + p["bias"]


def trunk_apply(params, config: ScoreNetConfig, x, biases):
    """:meth:`ScoreNet.trunk` in inference mode as a plain function of the parameter tree:
    ``x [B, 17, 3]``, ``biases`` from :meth:`ScoreNet.time_biases` -> ``[B, 17, 3]``.

    Same parameters and result as ``ScoreNet(config).apply(params, x, biases,
    method=ScoreNet.trunk)`` (to float32 rounding, tested), written out layer by layer: on the
    CPU XLA runs this about twice as fast as the module's lowering, which is
    what the lifting loop spends its time in."""
    p = params["params"] if "params" in params else params
    c = config

    def layer(h, dense, bias_t, norm):
        h = h @ dense["kernel"] + (dense["bias"] + bias_t)
        return jax.nn.silu(_group_norm(h, norm, c.gn_groups, c.gn_eps))

    lead = x.shape[:-2]
    h = layer(network_input(x, c), p["pre_dense"], biases[0], p["pre_gnorm"])
    for k in range(c.n_blocks):
        blk = p[f"blocks_{k}"]
        a = layer(h, blk["dense1"], biases[1 + 2 * k], blk["gnorm1"])
        h = h + layer(a, blk["dense2"], biases[2 + 2 * k], blk["gnorm2"])
    out = h @ p["post_dense"]["kernel"] + p["post_dense"]["bias"]
    return out.reshape(lead + (c.num_joints, c.joint_dim))


def _threefry2x32(k1, k2, x1, x2):
    """The Threefry-2x32 block cipher of ``jax.random``, written out without
    loops, so XLA fuses it with what it feeds (JAX's CPU lowering runs it as a loop of five
    steps, each materialising its state)."""
    rot = ((13, 15, 26, 6), (17, 29, 16, 24))
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in rot[i % 2]:
            x1 = x1 + x2
            x2 = (x2 << np.uint32(r)) | (x2 >> np.uint32(32 - r))
            x2 = x1 ^ x2
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def dropout_keep(key, shape, keep_prob: float):
    """``jax.random.bernoulli(key, keep_prob, shape)``, bit for bit, for a raw ``uint32[2]``
    key (``jax_threefry_partitionable``, the default): the counter of element ``i`` (row-major)
    is ``(0, i)``, its 32 bits ``t1 ^ t2`` become a float in [0, 1) from their top 23 bits."""
    n = math.prod(shape)
    if n >= 2 ** 32:
        raise ValueError("dropout_keep draws fewer than 2^32 values")
    key = jnp.asarray(key)
    idx = jax.lax.iota(jnp.uint32, n).reshape(shape)
    t1, t2 = _threefry2x32(key[0], key[1], jnp.zeros_like(idx), idx)
    bits = (t1 ^ t2) >> np.uint32(9) | np.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(bits, jnp.float32) - 1.0 < keep_prob


def _linear(h, p):
    return jax.lax.dot_general(h, p["kernel"], (((h.ndim - 1,), (0,)), ((), ()))) + p["bias"]


def _norm_stats(h, groups: int):
    """Per-group mean and (two-pass) variance ``[B, groups]`` of ``h [B, C]``, as
    ``nn.GroupNorm(use_fast_variance=False)`` computes them."""
    g = h.reshape(h.shape[:-1] + (groups, h.shape[-1] // groups))
    mean = g.mean(-1)
    return mean, jax.lax.square(g - mean[..., None]).mean(-1)


def _norm_act_primal(h, scale, bias, mean, var, eps):
    """GroupNorm's output and SiLU's argument ``y``, with the module's operations; the inverse
    deviation is taken per group and broadcast (the module takes it per channel from the
    repeated variance: the same values)."""
    rep = lambda a: jnp.repeat(a, h.shape[-1] // mean.shape[-1], axis=-1)
    q = h - rep(mean)
    inv = rep(jax.lax.rsqrt(var + eps))
    m = inv * scale
    y = q * m + bias
    return q, inv, m, y


def _dropout(out, keep, keep_prob):
    return out if keep is None else jax.lax.select(keep, out / keep_prob, jnp.zeros_like(out))


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def _norm_act(h, scale, bias, keep, groups, eps, keep_prob):
    """``dropout(silu(GroupNorm(h)))`` of ``h [B, C]`` (``keep``: the dropout mask, or
    ``None``): the values and gradients of ``nn.GroupNorm(use_fast_variance=False)``, SiLU and
    ``nn.Dropout`` under ``jax.grad``, bit for bit, with the backward written out (the
    operations JAX's transpose emits, in its order) so that it keeps only ``h``, the group
    statistics and the mask, and computes the per-group inverse deviation once per group
    rather than once per channel."""
    mean, var = _norm_stats(h, groups)
    y = _norm_act_primal(h, scale, bias, mean, var, eps)[3]
    return _dropout(y * jax.nn.sigmoid(y), keep, keep_prob)


def _norm_act_fwd(h, scale, bias, keep, groups, eps, keep_prob):
    mean, var = _norm_stats(h, groups)
    y = _norm_act_primal(h, scale, bias, mean, var, eps)[3]
    return _dropout(y * jax.nn.sigmoid(y), keep, keep_prob), (h, scale, bias, mean, var, keep)


def _norm_act_bwd(groups, eps, keep_prob, res, ct):
    h, scale, bias, mean, var, keep = res
    gs = h.shape[-1] // groups
    rep = lambda a: jnp.repeat(a, gs, axis=-1)
    grp = lambda a: a.reshape(a.shape[:-1] + (groups, gs))
    q, inv, m, y = _norm_act_primal(h, scale, bias, mean, var, eps)
    sig = jax.nn.sigmoid(y)
    if keep is not None:
        ct = jax.lax.select(keep, ct, jnp.zeros_like(ct)) / keep_prob
    # SiLU: d/dy (y sig) = sig + y sig (1 - sig), as JAX's transpose groups it.
    dy = ct * sig + (y * ct) * (sig * (1.0 - sig))
    d_bias = jnp.sum(dy, 0)
    dq_m = q * dy                                  # cotangent of m = inv * scale
    dq = dy * m
    d_scale = jnp.sum(inv * dq_m, 0)
    t = var + eps
    d_var = jnp.sum(grp((dq_m * scale) * rep(-0.5 * (jax.lax.rsqrt(t) / t))), -1)
    d_mean = jnp.sum(grp(-dq), -1)
    j2 = 2.0 * (grp(h) - mean[..., None])
    d_sq = (d_var / gs)[..., None] * j2            # cotangent of square(g - mean)
    d_mean = (d_mean + jnp.sum(-d_sq, -1)) / gs
    dh = dq + (d_sq + d_mean[..., None]).reshape(h.shape)
    return dh, d_scale, d_bias, None


_norm_act.defvjp(_norm_act_fwd, _norm_act_bwd)


@jax.custom_vjp
def _time_projections(temb, kernels, biases):
    """``[temb @ k + b for k, b in zip(kernels, biases)]`` as one matmul over the concatenated
    kernels (per output the same sums, so the same values), with the backward JAX would run
    for the separate products: the weight gradients as one matmul again, and ``temb``'s
    cotangent summed from the last projection to the first, as JAX accumulates it."""
    out = _linear(temb, {"kernel": jnp.concatenate(kernels, 1),
                         "bias": jnp.concatenate(biases, 0)})
    return tuple(jnp.split(out, len(kernels), axis=-1))


def _time_projections_fwd(temb, kernels, biases):
    return _time_projections(temb, kernels, biases), (temb, kernels)


def _time_projections_bwd(res, cts):
    temb, kernels = res
    d_k = jnp.split(jax.lax.dot_general(temb, jnp.concatenate(cts, 1), (((0,), (0,)), ((), ()))),
                    len(kernels), axis=1)
    d_b = tuple(jnp.sum(ct, 0) for ct in cts)
    d_temb = None
    for ct, k in reversed(list(zip(cts, kernels))):
        d = jax.lax.dot_general(ct, k, (((1,), (1,)), ((), ())))
        d_temb = d if d_temb is None else d_temb + d
    return d_temb, tuple(d_k), d_b


_time_projections.defvjp(_time_projections_fwd, _time_projections_bwd)


def train_apply(params, config: ScoreNetConfig, x, t_label, dropout_key=None):
    """:class:`ScoreNet` in training mode as a plain function of the parameter tree: ``x [B, 17,
    3]``, ``t_label [B]`` -> ``[B, 17, 3]``, with dropout drawn from ``dropout_key`` (the
    ``'dropout'`` stream of ``ScoreNet.apply(..., train=True, rngs={'dropout': key})``: the same
    masks) or none when it is ``None``.

    The module's values and, under ``jax.grad``, its gradients, bit for bit (tested), from
    the same operations, written out so that XLA has less to do: the dropout masks come from
    a loop-free Threefry (:func:`dropout_keep`), the time branch's five projections are one
    matmul (:func:`_time_projections`), and GroupNorm + SiLU + dropout keep only their input,
    the group statistics and the mask for a backward written out (:func:`_norm_act`). The
    training step runs this."""
    p = params["params"] if "params" in params else params
    c = config
    emb = (positional_embedding(t_label, c.embed_dim) if c.embedding == "positional"
           else fourier_embedding(t_label, c.embed_dim, c.fourier_scale))
    temb = nn.silu(_linear(emb, p["shared_time_embed"]))
    drop = c.dropout > 0 and dropout_key is not None
    if drop:
        keys = ScoreNet(c).apply({"params": p}, method=ScoreNet.dropout_keys,
                                 rngs={"dropout": dropout_key})
    keep_prob = 1.0 - c.dropout
    blocks = [p[f"blocks_{k}"] for k in range(c.n_blocks)]
    t_layers = [p["pre_dense_t"]] + [b[f"dense{j}_t"] for b in blocks for j in (1, 2)]
    time_bias = _time_projections(temb, tuple(d["kernel"] for d in t_layers),
                                  tuple(d["bias"] for d in t_layers))

    def layer(i, h, dense, norm):
        h = _linear(h, dense) + time_bias[i]
        keep = dropout_keep(keys[i], h.shape, keep_prob) if drop else None
        return _norm_act(h, norm["scale"], norm["bias"], keep, c.gn_groups, c.gn_eps,
                         keep_prob)

    h = layer(0, network_input(x, c), p["pre_dense"], p["pre_gnorm"])
    for k, b in enumerate(blocks):
        a = layer(1 + 2 * k, h, b["dense1"], b["gnorm1"])
        h = h + layer(2 + 2 * k, a, b["dense2"], b["gnorm2"])
    return _linear(h, p["post_dense"]).reshape(x.shape[:-2] + (c.num_joints, c.joint_dim))


def init_params(config: ScoreNetConfig, key) -> dict:
    """Fresh parameters ``{'params': ...}`` (PyTorch-default initialisation)."""
    net = ScoreNet(config)
    x = jnp.zeros((1, config.num_joints, config.joint_dim), jnp.float32)
    return net.init({"params": key}, x, jnp.zeros((1,), jnp.float32), train=False)


def count_params(params) -> int:
    """Number of scalars in a parameter pytree."""
    return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))


def param_shapes(config: ScoreNetConfig) -> dict:
    """Abstract parameter tree (``jax.ShapeDtypeStruct`` leaves) without allocating weights.

    Written out from the architecture rather than by ``jax.eval_shape`` of :func:`init_params`
    (which traces the module: a third of a second of every ``launch.lift`` start); a test keeps
    the two equal."""
    c, f32 = config, jnp.float32
    H, E, D = c.hidden_dim, c.embed_dim, c.pose_dim

    def dense(n_in, n_out):
        return {"kernel": jax.ShapeDtypeStruct((n_in, n_out), f32),
                "bias": jax.ShapeDtypeStruct((n_out,), f32)}

    def norm():
        return {"scale": jax.ShapeDtypeStruct((H,), f32), "bias": jax.ShapeDtypeStruct((H,), f32)}

    p = {"pre_dense": dense(c.input_dim, H), "pre_dense_t": dense(E, H), "pre_gnorm": norm(),
         "shared_time_embed": dense(E, E), "post_dense": dense(H, D)}
    for k in range(c.n_blocks):
        p[f"blocks_{k}"] = {"dense1": dense(H, H), "dense1_t": dense(E, H), "gnorm1": norm(),
                            "dense2": dense(H, H), "dense2_t": dense(E, H), "gnorm2": norm()}
    return {"params": p}



# ----------------------------------------------------------------------------------------------
# noise-level experts
# ----------------------------------------------------------------------------------------------
#
# A prior may hold two networks of one architecture: a ``low`` expert that gives the score at
# diffusion times ``t <= split_t`` and a ``high`` expert above. ZeDO's loop only asks for the
# score at t <= 0.1, so the low expert can be trained for those times alone while sampling from
# noise (t = 1 down) keeps the all-times network. The variables tree is
# ``{'experts': {'low': variables, 'high': variables}, 'split_t': float32 scalar}``; the split
# is data, not configuration, so every jitted program that takes parameters takes it as well.

def combine_experts(low, high, split_t: float) -> dict:
    """One variables tree from two networks' variables (same architecture): ``low`` answers
    for ``t <= split_t``, ``high`` above."""
    if has_experts(low) or has_experts(high):
        raise ValueError("the experts must be single networks, not priors that already hold "
                         "two")
    if not 0.0 < float(split_t) < 1.0:
        raise ValueError(f"split_t must lie in (0, 1), got {split_t}")
    a, b = (jax.tree_util.tree_structure(v) for v in (low, high))
    if a != b or any(x.shape != y.shape for x, y in zip(jax.tree_util.tree_leaves(low),
                                                         jax.tree_util.tree_leaves(high))):
        raise ValueError("the two experts have different architectures; train the low expert "
                         "from the high one (--init_from) or with the same --hidden_dim / "
                         "--embed_dim")
    return {"experts": {"low": low, "high": high}, "split_t": jnp.asarray(split_t, jnp.float32)}


def has_experts(params) -> bool:
    """Whether a variables tree holds noise-level experts (:func:`combine_experts`)."""
    return isinstance(params, dict) and "experts" in params


def expert(params, which: str = "high"):
    """One network's variables: ``which`` (``'low'`` or ``'high'``) of an experts tree, or the
    tree itself when it holds one network."""
    if which not in ("low", "high"):
        raise ValueError(f"which must be 'low' or 'high', got {which!r}")
    return params["experts"][which] if has_experts(params) else params


def expert_shapes(config: ScoreNetConfig) -> dict:
    """:func:`param_shapes` of an experts tree of two ``config`` networks."""
    return {"experts": {"low": param_shapes(config), "high": param_shapes(config)},
            "split_t": jax.ShapeDtypeStruct((), jnp.float32)}
