"""Anatomical consistency of lifted poses: bone lengths and left/right symmetry.

The optimisation loop moves every joint onto its camera ray independently, so nothing in the
release keeps a skeleton consistent: limbs come out of different lengths on the two sides, or a
shin twice its thigh. This module holds

* the **bone step**, a pure single-frame function used inside the loop (a
  :class:`~zedo_jax.core.config.AnatomyConfig`): it estimates the person's bone lengths from the
  current pose (left and right averaged, blended with the prior's training means scaled to the
  person's size) and rebuilds the skeleton from the pelvis outwards with those lengths. A visible
  joint stays on its camera ray (its depth along the ray is re-solved so that the bone has the
  wanted length, choosing the solution nearer to where the prior put it, which resolves the
  forward/backward ambiguity of a limb seen nearly along the ray); a missing joint keeps its bone
  direction.
The rule that counts anatomically consistent frames is :func:`zedo_jax.evaluation.metrics.plausibility`.

Poses are ``[17, 3]`` (or ``[..., 17, 3]`` for the NumPy functions) in metres, Human3.6M order.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from zedo_jax.core import skeleton

#: For each of the 16 bones (``skeleton.BONES`` order) the index of its mirror bone
#: (central bones map to themselves).
MIRROR_BONE = (3, 4, 5, 0, 1, 2, 6, 7, 8, 9, 13, 14, 15, 10, 11, 12)

#: Bone indices of the limb segments the plausibility rule looks at, (right, left).
THIGH, SHIN, UPPER_ARM, FOREARM = (1, 4), (2, 5), (14, 11), (15, 12)



def _bone_of_child(c: int) -> int:
    return [b for b, (_, ch) in enumerate(skeleton.BONES) if ch == c][0]


def target_lengths(lengths, reference=None, prior_weight: float = 0.0, ratio_tol: float = 0.2,
                   size_weight: float = 0.0, observed=None, missing_size_weight: float = 0.0):
    """Bone lengths to enforce for one person ``[16]``.

    Args:
      lengths: ``[16]`` current bone lengths (metres).
      reference: ``[16]`` training-mean bone lengths, or ``None``.
      prior_weight: blend ``w`` toward the reference: ``(1 - w) * symmetric + w * s * reference``
        where ``s`` is the least-squares size of the person relative to the reference.
      ratio_tol: with a reference, each limb's lower/upper segment ratio (shin/thigh,
        forearm/upper arm) is clipped to within this fraction of the reference's ratio,
        keeping the limb's total length.
      size_weight: ``w`` in [0, 1]: the lengths are scaled by ``(sum(reference) / sum(L)) ** w``,
        pulling the person's size toward the training mean (1: exactly the mean size). A
        root-relative pose and its translation scaled together project to the same pixels, so
        the size is the one thing the 2D cannot tell.
      observed: optional ``[16]`` 1 for bones whose two joints were detected. A bone whose
        joint is missing has no evidence for its length: it takes its mirror bone's length
        when that one is observed, else the reference length at the person's size (measured
        on the observed bones). ``None``: every bone observed.
      missing_size_weight: ``w`` in [0, 1] for the bones with neither side observed: their
        length is ``s ** (1 - w) * reference`` (0: the person's size ``s``, the default; 1:
        exactly the training mean, whatever the size of the visible body).
    Returns:
      ``[16]`` symmetric target lengths.
    """
    mirror = jnp.asarray(MIRROR_BONE)
    o = jnp.ones_like(lengths) if observed is None else jnp.asarray(observed, lengths.dtype)
    n = o + o[mirror]                                  # observed bones in each mirror pair
    sym = jnp.where(n > 0, (o * lengths + o[mirror] * lengths[mirror]) / jnp.maximum(n, 1.0),
                    0.5 * (lengths + lengths[mirror]))
    if reference is None:
        return sym
    ref = jnp.asarray(reference, lengths.dtype)
    # The person's size relative to the reference, from the observed pairs (all, if none).
    w = jnp.where(jnp.any(n > 0), (n > 0).astype(lengths.dtype), 1.0)
    s = jnp.sum(w * sym * ref) / jnp.maximum(jnp.sum(w * ref * ref), 1e-12)
    s_missing = s ** (1.0 - missing_size_weight) if missing_size_weight else s
    sym = jnp.where(n > 0, sym, s_missing * ref)       # neither side seen: the reference
    out = (1.0 - prior_weight) * sym + prior_weight * s * ref
    # Keep the lower/upper segment ratio of each limb within ratio_tol of the reference's,
    # at the limb's current total length.
    for upper, lower in (THIGH, SHIN), (UPPER_ARM, FOREARM):
        for u, l in zip(upper, lower):
            total = out[u] + out[l]
            r_ref = ref[l] / ref[u]
            r = jnp.clip(out[l] / out[u], r_ref * (1 - ratio_tol), r_ref * (1 + ratio_tol))
            out = out.at[u].set(total / (1 + r)).at[l].set(total * r / (1 + r))
    if size_weight:
        out = out * (jnp.sum(ref) / jnp.sum(out)) ** size_weight
    return out


def rebuild(Y, lengths, unit_rays, mask, on_rays: bool = True):
    """Rebuild a camera-frame pose ``Y [17, 3]`` from the pelvis outwards with bone ``lengths``.

    With ``on_rays``, a visible joint (``mask`` 1) is placed on its unit ray ``unit_rays[c]`` at
    the depth that gives its bone the wanted length, choosing the root of the quadratic nearer to
    its current depth; when no point of the ray is that far from the parent, the ray's point
    nearest the parent. Missing joints, and every joint without ``on_rays``, keep their bone's
    direction. The pelvis does not move.
    """
    parents = jnp.asarray(skeleton.PARENTS[1:])
    bones = jnp.asarray([_bone_of_child(c) for c in range(1, skeleton.NUM_JOINTS)])

    def place(c, new):                      # joints in index order: parents come first
        p, L = parents[c - 1], lengths[bones[c - 1]]
        P = new[p]
        v = Y[c] - Y[p]
        pos = P + L * v / jnp.maximum(jnp.linalg.norm(v), 1e-9)
        if on_rays:
            r = unit_rays[c]
            b = jnp.dot(r, P)
            disc = b * b - jnp.dot(P, P) + L * L
            root = jnp.sqrt(jnp.maximum(disc, 0.0))
            cur = jnp.dot(r, Y[c])
            d = jnp.where(jnp.abs(b - root - cur) < jnp.abs(b + root - cur), b - root, b + root)
            d = jnp.where(disc > 0, d, b)
            pos = jnp.where(mask[c] > 0, d * r, pos)
        return new.at[c].set(pos)

    return jax.lax.fori_loop(1, skeleton.NUM_JOINTS, place, Y)


def bone_step(x, T, unit_rays, mask, *, reference=None, prior_weight: float = 0.0,
              ratio_tol: float = 0.2, size_weight: float = 0.0, strength: float = 1.0,
              on_rays: bool = True, missing_from_observed: bool = False,
              missing_size_weight: float = 0.0):
    """One anatomy step on a root-relative pose ``x [17, 3]`` with translation ``T [3]``.

    Returns the root-relative pose moved a fraction ``strength`` of the way to the skeleton with
    :func:`target_lengths` rebuilt by :func:`rebuild`. With ``missing_from_observed``, bones
    ending at a missing joint (``mask`` 0) take their lengths from the observed mirror bone or
    the reference (``observed`` and ``missing_size_weight`` of :func:`target_lengths`).
    """
    observed = mask[1:] if missing_from_observed else None   # bone k ends at joint k + 1
    target = target_lengths(skeleton.bone_lengths(x), reference, prior_weight, ratio_tol,
                            size_weight, observed, missing_size_weight)
    Y = x + T
    new = rebuild(Y, target, unit_rays, mask, on_rays) - T
    return x + strength * (new - x)


def limb_asymmetry(x):
    """Mean relative left/right difference of thigh, shin, upper arm and forearm lengths of one
    pose ``[17, 3]`` (0 for a symmetric skeleton)."""
    L = skeleton.bone_lengths(x)
    pairs = jnp.asarray([THIGH, SHIN, UPPER_ARM, FOREARM])
    r, l = L[pairs[:, 0]], L[pairs[:, 1]]
    return jnp.mean(jnp.abs(r - l) / jnp.maximum(jnp.maximum(r, l), 1e-9))
