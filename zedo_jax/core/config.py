"""What a lift computes: one frozen config per stage, nested in :class:`LiftConfig`, and the
named presets and schedules as data.

Every value has one definition: the dataclass default is the official release's; a preset
(per dataset) or a schedule (iteration counts and the switches that go with them) is a table
of dotted overrides below; :func:`make_config` applies preset, schedule and the caller's
overrides in that order. Launchers expose the same dotted names as flags
(``--config.loop.steps=100``).

    make_config()                               # the default lift (fast schedule + anatomy)
    make_config(schedule="faithful")            # the release exactly
    make_config(schedule="temporal")            # sequences: windows of consecutive frames
    make_config(overrides={"loop.steps": 200})  # any leaf by its dotted name
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from zedo_jax.core import rotation

SOLVERS = ("lstsq", "normal", "closed")


@dataclasses.dataclass(frozen=True)
class IPOConfig:
    """Initial Pose Optimizer: Adam on a rotation and a clamped depth scale.

    steps: Adam iterations (500).  lr: learning rate (0.1).
    keypoints: joints of the reprojection loss ((0, 1, 4) = pelvis and hips; all 17 for 3DPW
      and Ski).
    rot_axes: quaternion components learned: 'z' (roll about the optical axis), 'y', 'xyz'.
    distance: initial root distance along the pelvis ray, metres (the release's IPO_T = 3).
    min_scale, max_scale: clamp of the depth scale (root distance in [1.5, 6] m by default).
    """

    steps: int = 500
    lr: float = 0.1
    keypoints: tuple = (0, 1, 4)
    rot_axes: str = "z"
    distance: float = 3.0
    min_scale: float = 0.5
    max_scale: float = 2.0

    def __post_init__(self):
        rotation.axes_indices(self.rot_axes)
        if self.steps < 0:
            raise ValueError(f"ipo.steps must be >= 0; got {self.steps}")
        if not (0 < self.min_scale <= self.max_scale) and self.min_scale != 0:
            raise ValueError(f"need 0 <= ipo.min_scale <= ipo.max_scale, got {self.min_scale}, "
                             f"{self.max_scale}")
        if not self.keypoints or any(not 0 <= j < 17 for j in self.keypoints):
            raise ValueError(f"ipo.keypoints must be joint indices in [0, 16]; got "
                             f"{self.keypoints}")


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """The optimisation loop: closed-form translation, ray step, reverse-diffusion step.

    steps: iterations (1000).  t_start, t_end: time grid ``linspace(0.1, 0.01, steps)``.
    fixed_translation_steps: iterations with the IPO translation frozen; ``None`` = steps // 5
      (as the release).
    euler_dt: '1/N' (the release: 1e-3 whatever the time grid), 'grid' (the grid spacing) or
      a number.
    drift_factor: factor on ``g^2 * score`` (1.0 as the release; 0.5 = the probability-flow ODE).
    linear_drift: factor on the SDE's own drift ``f(x, t) = -beta(t) x / 2`` (1.0 as the
      release). That term only rescales the root-relative pose: each step enlarges it by
      ``beta dt / 2``, which the prior's score must undo; ``0`` leaves the size to the score.
    ls_weight_power: least-squares row weight ``c^power`` (2 as the release).
    conf_min: confidences are clamped to [conf_min, 1] for the least squares.
    translation_solver: 'lstsq' (``jnp.linalg.lstsq`` on the 2J x 3 system), 'normal' (3 x 3
      normal equations by ``jnp.linalg.solve``, as the release) or 'closed' (the same normal
      equations by the adjugate, no LAPACK call). Identical solutions up to float32 rounding.
    mask_zero_confidence: joints with confidence exactly 0 are missing: no least-squares
      weight, no ray step, not in the IPO loss (``False`` = the release exactly; identical for
      confidences > 0).
    ray_step_size: fraction of the way to the ray each iteration (1.0 = the release).
    ray_conf_power: the fraction is further multiplied by ``confidence ** ray_conf_power``.
    """

    steps: int = 1000
    t_start: float = 0.1
    t_end: float = 0.01
    fixed_translation_steps: int | None = None
    euler_dt: Any = "1/N"
    drift_factor: float = 1.0
    linear_drift: float = 1.0
    ls_weight_power: float = 2.0
    conf_min: float = 1e-4
    translation_solver: str = "lstsq"
    mask_zero_confidence: bool = True
    ray_step_size: float = 1.0
    ray_conf_power: float = 0.0

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError(f"loop.steps must be >= 0; got {self.steps}")
        if self.translation_solver not in SOLVERS:
            raise ValueError(f"loop.translation_solver must be one of {SOLVERS}; got "
                             f"{self.translation_solver!r}")
        if self.drift_factor <= 0:
            raise ValueError(f"loop.drift_factor must be positive; got {self.drift_factor}")
        if self.euler_dt not in ("1/N", "grid"):
            try:
                ok = 0 < float(self.euler_dt) < float("inf")
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"loop.euler_dt must be '1/N', 'grid' or a positive number; "
                                 f"got {self.euler_dt!r}")

    @property
    def n_fixed(self) -> int:
        """Iterations with the IPO translation frozen."""
        if self.fixed_translation_steps is None:
            return self.steps // 5
        return min(self.fixed_translation_steps, self.steps)

    def dt(self, sde) -> float:
        """The Euler step of the reverse diffusion."""
        if self.euler_dt == "1/N":
            return 1.0 / sde.N
        if self.euler_dt == "grid":
            return (self.t_start - self.t_end) / max(self.steps - 1, 1)
        return float(self.euler_dt)

    def time_grid(self, dtype=jnp.float32):
        """``[steps]`` diffusion times of the loop's iterations."""
        return jnp.linspace(self.t_start, self.t_end, self.steps, dtype=dtype)


@dataclasses.dataclass(frozen=True)
class AnatomyConfig:
    """Bone steps that rebuild the skeleton with symmetric, proportioned bones
    (:mod:`zedo_jax.core.anatomy`; off in the release).

    in_loop: a bone step after every ray step, from the fraction ``loop_from`` of the loop on.
    strength: fraction of the way to the rebuilt skeleton per in-loop step.
    final: ``final_iters`` full bone steps on the returned pose, with a ray step between two.
    prior_weight: blend of the lengths toward the training means scaled to the person.
    ratio_tol: shin/thigh and forearm/upper-arm ratios kept within this fraction of the
      training means' ratios (needs reference bones).
    size_weight: pull of the person's size toward the training mean (0: none).
    on_rays: keep visible joints on their rays while rebuilding (else keep bone directions).
    missing_from_observed: a bone ending at a missing joint takes the length of its detected
      mirror bone, or the reference length at the person's size when both are missing.
    missing_size_weight: with ``missing_from_observed``, limbs missing on both sides get
      ``s ** (1 - w)`` times the training means (``s`` the visible body's size).
    reference_bones: ``[16]`` training-mean bone lengths (metres); ``None`` = taken from the
      prior's training statistics by :func:`zedo_jax.lifting.lift`.
    """

    in_loop: bool = False
    loop_from: float = 0.0
    strength: float = 1.0
    final: bool = False
    final_iters: int = 1
    prior_weight: float = 0.0
    ratio_tol: float = 0.2
    size_weight: float = 0.0
    on_rays: bool = True
    missing_from_observed: bool = False
    missing_size_weight: float = 0.0
    reference_bones: tuple | None = None

    def __post_init__(self):
        if not 0.0 <= self.missing_size_weight <= 1.0:
            raise ValueError(f"anatomy.missing_size_weight must be in [0, 1] (0: the person's "
                             f"size, 1: the training means); got {self.missing_size_weight}")

    @property
    def enabled(self) -> bool:
        return self.in_loop or self.final


@dataclasses.dataclass(frozen=True)
class DenoiseConfig:
    """final_t: after everything else, one Tweedie step ``x + std(t)^2 score(x, t)`` of the
    returned pose at this diffusion time (0 = off, the release). The ray steps put every
    joint on its observed ray, pixel noise included; this lets the prior pull joints off by
    about the noise's size (0.02-0.03 matches 2-5 px at 5 m)."""

    final_t: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.final_t <= 1.0:
            raise ValueError(f"denoise.final_t must be in [0, 1]; got {self.final_t}")


@dataclasses.dataclass(frozen=True)
class SelectionConfig:
    """The prior's likelihood term of the selection score (S > 1): the denoising error of
    each result at diffusion time ``likelihood_t``, averaged over ``likelihood_draws`` noise
    draws (seed ``likelihood_seed``) shared by every hypothesis and frame."""

    likelihood_t: float = 0.05
    likelihood_draws: int = 8
    likelihood_seed: int = 0

    def __post_init__(self):
        if not 0.0 < self.likelihood_t <= 1.0 or self.likelihood_draws < 1:
            raise ValueError(f"need 0 < selection.likelihood_t <= 1 and "
                             f"selection.likelihood_draws >= 1; got {self.likelihood_t}, "
                             f"{self.likelihood_draws}")


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
    """Coupling of consecutive frames (sigmas in frames). A sequence is cut into windows of
    ``window`` frames overlapping by ``overlap``; each window is optimised as one unit.

    translation_sigma: Gaussian smoothing of the translation trajectory every iteration.
    smooth_sigma, smooth_weight: every iteration each visible joint moves ``smooth_weight`` of
      the way to its Gaussian-smoothed trajectory.
    fill_missing: joints with confidence 0 take their smoothed trajectory.
    bone_lengths: every iteration, one bone-length profile per window (bone directions kept).
    post_filter: 'savgol' (``savgol_window`` frames, order ``savgol_order``) or 'none', on the
      final trajectories.
    input_window: Savitzky-Golay window on the 2D keypoint trajectories before lifting
      (confidence-weighted; 0 = raw keypoints).
    key_stride: > 1: only every ``key_stride``-th frame of a window (and its last) runs the IPO
      and the full loop; every frame then starts from the key frames' poses interpolated in
      time and runs ``refine_steps`` iterations on ``linspace(refine_t_start, loop.t_end)``.
    """

    window: int = 120
    overlap: int = 24
    translation_sigma: float = 8.0
    smooth_sigma: float = 2.0
    smooth_weight: float = 0.05
    fill_missing: bool = True
    bone_lengths: bool = False
    post_filter: str = "savgol"
    savgol_window: int = 15
    savgol_order: int = 2
    input_window: int = 0
    key_stride: int = 1
    refine_steps: int = 50
    refine_t_start: float = 0.03

    def __post_init__(self):
        if self.window < 1:
            raise ValueError(f"temporal.window must be >= 1 frame, got {self.window}")
        if not 0 <= self.overlap < self.window:
            raise ValueError(f"temporal.overlap must be in [0, window - 1] = "
                             f"[0, {self.window - 1}], got {self.overlap}")
        if not 0.0 <= self.smooth_weight <= 1.0:
            raise ValueError(f"temporal.smooth_weight must be in [0, 1], got "
                             f"{self.smooth_weight}")
        if self.translation_sigma < 0 or self.smooth_sigma < 0:
            raise ValueError("temporal.translation_sigma and smooth_sigma must be >= 0 (frames)")
        if self.post_filter not in ("savgol", "none"):
            raise ValueError(f"temporal.post_filter must be 'savgol' or 'none', got "
                             f"{self.post_filter!r}")
        if self.key_stride < 1 or self.refine_steps < 1 or not 0 < self.refine_t_start <= 1:
            raise ValueError(f"need temporal.key_stride >= 1, refine_steps >= 1 and "
                             f"refine_t_start in (0, 1]; got {self.key_stride}, "
                             f"{self.refine_steps}, {self.refine_t_start}")
        if self.post_filter == "savgol" and (self.savgol_window < 3 or self.savgol_order < 0):
            raise ValueError(f"temporal.savgol_window must be >= 3 frames and savgol_order "
                             f">= 0; got {self.savgol_window}, {self.savgol_order}")


@dataclasses.dataclass(frozen=True)
class LiftConfig:
    """Everything a lift computes (defaults: the release's H36M / in-the-wild configuration).
    ``temporal`` = ``None`` lifts every frame on its own."""

    ipo: IPOConfig = IPOConfig()
    loop: LoopConfig = LoopConfig()
    anatomy: AnatomyConfig = AnatomyConfig()
    denoise: DenoiseConfig = DenoiseConfig()
    selection: SelectionConfig = SelectionConfig()
    temporal: TemporalConfig | None = None

    def __post_init__(self):
        if self.temporal is not None and self.loop.translation_solver == "lstsq":
            raise ValueError("temporal lifting needs loop.translation_solver 'closed' or "
                             "'normal': jaxlib's batched SVD behind 'lstsq' can deadlock on the "
                             "CPU in the windows' program")

    def replace(self, **dotted) -> "LiftConfig":
        """A copy with leaves replaced by dotted name: ``cfg.replace(**{"loop.steps": 10})``."""
        return apply_overrides(self, dotted)


#: Per-dataset settings of the release's configuration files.
PRESETS = {
    "h36m": {},
    "wild": {},
    "3dhp": {},
    "3dpw": {"ipo.keypoints": tuple(range(17)), "ipo.distance": 8.0, "ipo.min_scale": 0.2},
    "ski": {"ipo.keypoints": tuple(range(17)), "ipo.rot_axes": "y", "ipo.distance": 20.0},
}

#: The anatomy steps of the default lift: two bone steps after the loop (symmetric lengths,
#: limb ratios near the training means, bone directions kept) with a ray step between them;
#: bones ending at undetected joints sized from the detected ones, limbs missing on both
#: sides half way (geometrically) from the visible body's size to the training means.
ANATOMY = {"anatomy.final": True, "anatomy.on_rays": False, "anatomy.final_iters": 2,
           "anatomy.missing_from_observed": True, "anatomy.missing_size_weight": 0.5}

#: Named schedules. ``faithful``: the release (500 IPO steps, 1000 loop iterations of
#: dt = 1e-3 on t in [0.1, 0.01], the full SDE drift, no anatomy). ``fast``: the same t range
#: in 100 iterations of dt = 0.01 without the linear drift, then the anatomy steps and one
#: denoising step at t = 0.02. ``temporal``: windows of consecutive frames, 200 iterations of
#: a 5x Euler step (the release's total time), the linear drift kept, the anatomy steps.
SCHEDULES = {
    "faithful": {},
    "fast": {"ipo.steps": 100, "loop.steps": 100, "loop.euler_dt": 0.01,
             "loop.linear_drift": 0.0, "loop.translation_solver": "closed",
             "denoise.final_t": 0.02, **ANATOMY},
    "temporal": {"loop.steps": 200, "loop.euler_dt": 0.005, "loop.translation_solver": "closed",
                 "temporal": TemporalConfig(), **ANATOMY},
}


#: Stages that are ``None`` (off) by default, with the config that a dotted override of one of
#: their fields turns on.
OPTIONAL_STAGES = {"temporal": TemporalConfig}


def _leaf_names(cls, prefix: str = "") -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        if dataclasses.is_dataclass(f.default):
            out.update(_leaf_names(type(f.default), name + "."))
        elif f.default is None and f.name in OPTIONAL_STAGES:
            out.update(_leaf_names(OPTIONAL_STAGES[f.name], name + "."))
        else:
            out[name] = f
    return out


def leaves(cls=LiftConfig) -> dict:
    """``{dotted name: dataclasses.Field}`` of every leaf of ``cls`` (optional stages
    included)."""
    return _leaf_names(cls)


def apply_overrides(cfg, dotted: dict, prefix: str = ""):
    """``cfg`` with each ``"stage.field": value`` of ``dotted`` replaced (a ``"temporal"``
    key sets the whole temporal stage; ``"temporal.x"`` turns it on with the defaults).
    ``prefix``: the dotted path of ``cfg`` itself, for error messages."""
    grouped: dict[str, dict] = {}
    direct = {}
    for name, value in dotted.items():
        head, _, rest = name.partition(".")
        if not any(f.name == head for f in dataclasses.fields(cfg)):
            raise ValueError(f"unknown config field {prefix + name!r}; known: "
                             f"{', '.join(prefix + k for k in sorted(leaves(type(cfg))))}")
        if rest:
            grouped.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in grouped.items():
        node = direct.get(head, getattr(cfg, head))
        if node is None and head in OPTIONAL_STAGES:
            node = OPTIONAL_STAGES[head]()
        direct[head] = apply_overrides(node, sub, prefix + head + ".")
    return dataclasses.replace(cfg, **direct) if direct else cfg


def make_config(preset: str = "h36m", schedule: str = "fast", anatomy: bool | None = None,
                overrides: dict | None = None) -> LiftConfig:
    """A :class:`LiftConfig` from names: a dataset ``preset`` (:data:`PRESETS`), a
    ``schedule`` (:data:`SCHEDULES`), the :data:`ANATOMY` steps (``None``: as the schedule
    has them; ``True`` / ``False``: on / off) and dotted ``overrides``, applied in that order.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {sorted(SCHEDULES)}")
    cfg = apply_overrides(LiftConfig(), PRESETS[preset])
    cfg = apply_overrides(cfg, SCHEDULES[schedule])
    if anatomy is True:
        cfg = apply_overrides(cfg, ANATOMY)
    elif anatomy is False:
        cfg = dataclasses.replace(cfg, anatomy=AnatomyConfig())
    return apply_overrides(cfg, overrides or {})


def ipo_only(cfg: LiftConfig) -> LiftConfig:
    """``cfg`` reduced to its IPO: no loop iterations, no anatomy or denoising steps, frames on
    their own (what ranking the starts of a lift runs)."""
    return dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, steps=0),
                               anatomy=AnatomyConfig(), denoise=DenoiseConfig(), temporal=None)
