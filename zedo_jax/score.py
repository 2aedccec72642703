"""The one conversion from the trained network to a score, shared by lifting and sampling."""
from __future__ import annotations

from typing import Callable

from . import model as model_lib
from .sde import SDE


def score_fn(params, net_config: model_lib.ScoreNetConfig, sde: SDE) -> Callable:
    """``score(x, t)``: the prior's score at poses ``x [..., 17, 3]`` and scalar time ``t``.

    The network's time branch depends only on ``t``; it is evaluated once per call, and the
    trunk runs on all poses in one matmul (also when the caller vmaps ``score`` over poses
    with a shared ``t``: the time branch then stays unbatched). Pure and jit-able.
    """
    net = model_lib.ScoreNet(net_config)

    def score(x, t):
        biases = net.apply(params, sde.time_label(t), method=model_lib.ScoreNet.time_biases)
        flat = x.reshape((-1,) + x.shape[-2:])
        out = model_lib.trunk_apply(params, net_config, flat, biases).reshape(x.shape)
        return sde.output_to_score(out, t)

    return score
