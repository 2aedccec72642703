"""Named training recipes: augmentation and training-time settings that change what the prior
sees. ``none`` is the release's training (virtual cameras only); the others widen the
skeletons, postures or training times (measured in BUILD_NOTES.md).

    from zedo_jax.training import recipes
    aug, loss = recipes.augment_config("swap_skeleton"), recipes.loss_config("swap_skeleton")
"""
from __future__ import annotations

import dataclasses

from zedo_jax.training import data as data_lib, losses

#: Training recipes: ``AugmentConfig`` overrides, and ``LossConfig`` ones (the training times,
#: :data:`LOSS_FIELDS`). ``none``: the release's training (virtual cameras only). ``skeleton``:
#: bone proportions varied at a kept size, and joints slid along the trunk. ``posture``:
#: postures re-drawn within ranges of motion. ``rebalance``: rare postures sampled more often.
#: ``all``: those three. ``all_free_size``: with a free body size (inflates lifted poses).
#: ``swap``: half the batch retargeted onto other members' skeletons; ``swap_skeleton``: with
#: the proportions of ``skeleton``. ``loop_t``: half of each batch at the times the loop uses
#: (t < 0.1), ``loop_t90``: nine tenths; ``swap_loop_t``: swapping and half at the loop's times.
#: ``swap_convention_loop_t90`` (the shipped low expert's): swapping, where datasets put hips,
#: neck and head top varied (``convention_range``) and trunk joints slid, nine tenths at the
#: loop's times.
_SKELETON = {"bone_scale_range": 0.12, "keep_size": True, "joint_slide": 0.08}
_LOOP_T = {"loop_t_fraction": 0.5}
RECIPES = {
    "none": {},
    "skeleton": _SKELETON,
    "posture": {"posture_prob": 0.4},
    "rebalance": {"rebalance_power": 0.5},
    "swap": {"swap_prob": 0.5},
    "swap_skeleton": {**_SKELETON, "swap_prob": 0.5},
    "all": {**_SKELETON, "posture_prob": 0.4, "rebalance_power": 0.5},
    "all_free_size": {"bone_scale_range": 0.12, "body_scale_range": 0.08, "joint_slide": 0.08,
                      "posture_prob": 0.4, "rebalance_power": 0.5},
    "loop_t": _LOOP_T,
    "loop_t90": {"loop_t_fraction": 0.9},
    "swap_loop_t": {"swap_prob": 0.5, **_LOOP_T},
    "swap_convention_loop_t90": {"swap_prob": 0.5, "convention_range": 0.25,
                                 "joint_slide": 0.08, "loop_t_fraction": 0.9},
}
#: Recipe keys of :class:`~zedo_jax.training.losses.LossConfig` (the rest are augmentation).
LOSS_FIELDS = frozenset(f.name for f in dataclasses.fields(losses.LossConfig))


def _check_recipe(name: str) -> dict:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


def augment_config(name: str, base: data_lib.AugmentConfig = data_lib.AugmentConfig()):
    """The :class:`~zedo_jax.training.data.AugmentConfig` of a named recipe."""
    fields = {k: v for k, v in _check_recipe(name).items() if k not in LOSS_FIELDS}
    return dataclasses.replace(base, **fields)


def loss_config(name: str, base: losses.LossConfig = losses.LossConfig()) -> losses.LossConfig:
    """The :class:`~zedo_jax.training.losses.LossConfig` of a named recipe (``base`` unless the recipe
    changes the training times)."""
    fields = {k: v for k, v in _check_recipe(name).items() if k in LOSS_FIELDS}
    return dataclasses.replace(base, **fields)
