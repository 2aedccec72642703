"""The one conversion from the trained network to a score, shared by lifting and sampling."""
from __future__ import annotations

from typing import Callable

from . import model as model_lib
from .sde import SDE


def score_fn(params, net_config: model_lib.ScoreNetConfig, sde: SDE) -> Callable:
    """``score(x, t, biases=None)``: the prior's score at poses ``x [..., 17, 3]`` and scalar
    time ``t``.

    The network's time branch depends only on ``t``; it is evaluated once per call, and the
    trunk runs on all poses in one matmul (also when the caller vmaps ``score`` over poses
    with a shared ``t``: the time branch then stays unbatched). A loop over a known time grid
    can compute the branch for all its times at once (:func:`time_biases_fn`) and pass each
    step's ``biases``. Pure and jit-able.
    """
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
    :meth:`~zedo_jax.model.ScoreNet.time_biases`); ``jax.vmap`` it over a time grid to get
    ``[steps, hidden]`` arrays for a whole loop."""
    net = model_lib.ScoreNet(net_config)

    def biases(t):
        return net.apply(params, sde.time_label(t), method=model_lib.ScoreNet.time_biases)

    return biases
