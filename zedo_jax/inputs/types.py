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
      frame_index: ``[N]`` int, several people per frame: the index (``0..F-1``, file order) of
        the row's frame among the input's ``F = info['frames']`` frames; ``None`` for
        single-person inputs (row ``i`` is frame ``i``).
      person: ``[N]`` int, several people per frame: the row's person id (given by the file, or
        a track id from :func:`zedo_jax.inputs.tracking.assign_tracks`); ``None`` for
        single-person inputs (person 0). Multi-person inputs set ``seq`` to the person (or a
        unique id of the file's (sequence, person) pair) and ``frame`` to ``frame_index`` (or
        the file's ``frame``), so temporal lifting follows each person as a sequence.
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
    frame_index: np.ndarray | None = None
    person: np.ndarray | None = None

    @property
    def multi_person(self) -> bool:
        """Whether rows are people in frames (``frame_index`` / ``person`` set)."""
        return self.person is not None

    def __len__(self):
        return len(self.keypoints)

    def subset(self, index) -> "LiftInput":
        """Rows ``index`` (a slice or an index array) of every per-frame field."""
        pick = lambda a: None if a is None else a[index]
        return LiftInput(self.keypoints[index], self.confidence[index], self.K[index],
                         pick(self.poses3d), pick(self.seq), pick(self.frame_ids),
                         pick(self.image_size), pick(self.images), dict(self.info),
                         pick(self.frame), pick(self.frame_index), pick(self.person))


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
      max_people: files with several people per frame (JSON ``"people"``, COCO, OpenPose):
        keep the highest-ranked ``max_people`` per frame; ``None`` keeps all. ``1`` reads the
        file as single-person, exactly as before multi-person support (one row per frame with
        a person, ``frame_index`` / ``person`` ``None``).
      min_person_score: drop people whose score is below: the detector's ``score`` when the
        file gives one, else the mean of the person's raw keypoint confidences (missing
        joints count 0; detector layouts: over their 17 COCO joints; COCO annotations: the
        fraction of labelled keypoints).
    """

    K: object = None
    image_size: object = None
    fov_deg: float = 55.0
    focal: float | None = None
    normalized: bool | None = None
    min_confidence: float = 0.0
    confidence_mode: str = "auto"
    max_people: int | None = None
    min_person_score: float = 0.0

    def __post_init__(self):
        m = self.max_people
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, np.integer))
                              or m < 1):
            raise ValueError(f"max_people must be a positive integer or None (all); got {m!r}")
        s = self.min_person_score
        if isinstance(s, bool) or not isinstance(s, (int, float, np.integer, np.floating)) \
                or not np.isfinite(s) or s < 0:
            raise ValueError(f"min_person_score must be a number >= 0; got {s!r}")

    @classmethod
    def make(cls, options: "InputOptions | None" = None, **overrides) -> "InputOptions":
        """``options`` (or the defaults) with keyword overrides; unknown names are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown input option(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(options or cls(), **overrides)
