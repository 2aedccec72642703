"""The one conversion from the trained network to a score, shared by lifting and sampling."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from zedo_jax.core import model as model_lib
from zedo_jax.core.sde import SDE


def score_fn(params, net_config: model_lib.ScoreNetConfig, sde: SDE) -> Callable:
    """``score(x, t, biases=None)``: the prior's score at poses ``x [..., 17, 3]`` and scalar
    time ``t``.

    The network's time branch depends only on ``t``; it is evaluated once per call, and the
    trunk runs on all poses in one matmul (also when the caller vmaps ``score`` over poses
    with a shared ``t``: the time branch then stays unbatched). A loop over a known time grid
    can compute the branch for all its times at once (:func:`time_biases_fn`) and pass each
    step's ``biases``. Pure and jit-able.

    With noise-level experts (:func:`zedo_jax.core.model.combine_experts`) the low network answers
    for ``t <= split_t`` and the high one above; one of the two runs (``lax.cond``; both,
    selected, where ``t`` is batched under ``vmap``).
    """
    if model_lib.has_experts(params):
        return _experts_score_fn(params, net_config, sde)
    time_biases = time_biases_fn(params, net_config, sde)

    def score(x, t, biases=None):
        if biases is None:
            biases = time_biases(t)
        flat = x.reshape((-1,) + x.shape[-2:])
        out = model_lib.trunk_apply(params, net_config, flat, biases).reshape(x.shape)
        return sde.output_to_score(out, t)

    return score


def time_biases_fn(params, net_config: model_lib.ScoreNetConfig, sde: SDE) -> Callable:
    """``biases(t)``: the network's time branch at time ``t`` (a tuple of ``[hidden]`` arrays,
    :meth:`~zedo_jax.core.model.ScoreNet.time_biases`); ``jax.vmap`` it over a time grid to get
    ``[steps, hidden]`` arrays for a whole loop. With noise-level experts: the pair
    ``(low biases, high biases)``."""
    if model_lib.has_experts(params):
        low, high = (time_biases_fn(params["experts"][k], net_config, sde)
                     for k in ("low", "high"))
        return lambda t: (low(t), high(t))
    net = model_lib.ScoreNet(net_config)

    def biases(t):
        return net.apply(params, sde.time_label(t), method=model_lib.ScoreNet.time_biases)

    return biases


def _experts_score_fn(params, net_config, sde) -> Callable:
    low, high = (score_fn(params["experts"][k], net_config, sde) for k in ("low", "high"))
    split = params["split_t"]

    def score(x, t, biases=None):
        t = jnp.asarray(t)
        if t.ndim:
            raise ValueError(f"a prior with noise-level experts takes one time per call, got "
                             f"t of shape {t.shape}; vmap over times instead")
        b_low, b_high = (None, None) if biases is None else biases
        return jax.lax.cond(t <= split, lambda: low(x, t, b_low), lambda: high(x, t, b_high))

    return score
