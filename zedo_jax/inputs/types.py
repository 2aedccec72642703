"""The validated lifting input and the options that control how files are read."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class LiftInput:
    """Validated lifting input (numpy, float32). Immutable: :meth:`subset` makes a new one.

    Attributes:
      keypoints: ``[N, 17, 2]`` pixels.  confidence: ``[N, 17]`` in [0, 1] (0 = missing).
      K: ``[N, 3, 3]``.  poses3d: ``[N, 17, 3]`` metres or ``None``.
      seq: ``[N]`` group ids or ``None``.  frame_ids: ``[N]`` or ``None``.
      image_size: ``[N, 2]`` (width, height) or ``None``.
      images: ``[N]`` picture paths (``''`` = none) for the plots, or ``None``.
      info: notes about the input (``format``, ``camera`` description, ``warnings`` list,
        ``fps`` when known: a number, or ``[G]`` per sequence).
      frame: ``[N]`` frame index within its sequence (order for temporal lifting), or ``None``
        (file order).
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    K: np.ndarray
    poses3d: np.ndarray | None = None
    seq: np.ndarray | None = None
    frame_ids: np.ndarray | None = None
    image_size: np.ndarray | None = None
    images: np.ndarray | None = None
    info: dict = dataclasses.field(default_factory=dict)
    frame: np.ndarray | None = None

    def __len__(self):
        return len(self.keypoints)

    def subset(self, index) -> "LiftInput":
        """Rows ``index`` (a slice or an index array) of every per-frame field."""
        pick = lambda a: None if a is None else a[index]
        return LiftInput(self.keypoints[index], self.confidence[index], self.K[index],
                         pick(self.poses3d), pick(self.seq), pick(self.frame_ids),
                         pick(self.image_size), pick(self.images), dict(self.info),
                         pick(self.frame))


@dataclasses.dataclass(frozen=True)
class InputOptions:
    """How to read keypoints and build cameras (the same for every reader).

    Attributes:
      K: ``[3, 3]`` / ``[N, 3, 3]`` intrinsics overriding the file's, or ``None``.
      image_size: ``(width, height)`` / ``[N, 2]`` pixels overriding the file's (for the
        default camera and for normalised coordinates), or ``None``.
      fov_deg: field of view of the default camera across the larger image side (degrees).
      focal: focal length of the default camera in pixels (overrides ``fov_deg``).
      normalized: coordinates are fractions of the image size; ``None`` = the file decides
        (JSON ``"normalized"``), else ``False``.
      min_confidence: detector joints below this confidence count as missing.
      confidence_mode: how to read a detector's score column
        (:data:`zedo_jax.inputs.layouts.CONFIDENCE_MODES`).
    """

    K: object = None
    image_size: object = None
    fov_deg: float = 55.0
    focal: float | None = None
    normalized: bool | None = None
    min_confidence: float = 0.0
    confidence_mode: str = "auto"

    @classmethod
    def make(cls, options: "InputOptions | None" = None, **overrides) -> "InputOptions":
        """``options`` (or the defaults) with keyword overrides; unknown names are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown input option(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(options or cls(), **overrides)
