"""Reading lifting inputs (``.npz``, JSON, COCO and OpenPose files) and writing outputs.

:func:`load_input` dispatches on the path: ``.npz``, ``.json`` (the frames schema below, a
COCO keypoint results list, a COCO annotation file, or one OpenPose frame) or a directory of
OpenPose ``*_keypoints.json`` files. Keypoints in detector layouts (``format`` = ``coco17``,
``mediapipe``, ``openpose``; default ``h36m``) are converted by
:mod:`zedo_jax.keypoint_formats`, which also documents the derived joints (pelvis, spine,
thorax, neck/nose, head top) and how missing joints are handled.

**Input ``.npz``** ("custom data" format, the same layout as ``cmu_test_views.npz``):

==================  ===================  ==========================================================
key                 shape                meaning
==================  ===================  ==========================================================
``keypoints``       [N, J, 2|3]          pixels u, v (+ confidence in [0, 1]); Human3.6M-17 order
                                         unless a ``format`` is given
``K``               [3, 3] or [N, 3, 3]  intrinsics in pixels (or give ``image_size``)
``image_size``      [2] or [N, 2]        optional (width, height); used for a default K when ``K``
                                         is absent (see :func:`zedo_jax.camera.default_intrinsics`)
``confidence``      [N, J]               optional, overrides a third keypoint column
``poses3d``         [N, 17, 3]           optional ground truth, metres, camera frame (absolute or
                                         root-relative); enables metrics
``seq``             [N]                  optional sequence / group id for per-sequence metrics
                                         and temporal lifting
``frame``           [N]                  optional integer frame index within its sequence (the
                                         order for temporal lifting; default: file order)
``fps``             [] or [G]            optional frame rate (one, or one per sequence); carried
                                         to the output
``frame_ids``       [N]                  optional ids carried to the output
==================  ===================  ==========================================================

A VideoPose3D custom 2D file (``data_2d_custom_*.npz``: ``positions_2d``, ``metadata``) is
read by :func:`load_videopose3d_custom`: one sequence per video, COCO order, default cameras
from the videos' sizes.

**Input JSON** (one person per frame)::

    {
      "format": "coco17",               # optional: h36m (default), coco17, mediapipe, openpose
      "image_size": [1920, 1080],       # optional (width, height) pixels, for all frames
      "K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],   # optional intrinsics for all frames
      "normalized": false,              # optional: coordinates are fractions of the image size
      "frames": [
        {"id": "frame_000",             # optional (default: the frame's index)
         "keypoints": [[u, v, c], ...], # J rows (u, v) or (u, v, confidence); a flat list
                                        # [u1, v1, c1, u2, ...] works too; null = missing joint
         "image_size": [w, h],          # optional, overrides the top-level value
         "K": [[...], [...], [...]],    # optional, overrides the top-level value
         "image": "frames/000.jpg"},    # optional picture for the plots (relative to the file)
        ...
      ]
    }

A top-level list of frame objects is accepted as ``frames`` without top-level settings.
The frames of a JSON file (and of an OpenPose directory) form one sequence in list (file
name) order; an optional top-level ``"fps"`` is carried to the output.
Numbers must be JSON numbers (not strings). Errors name the frame (index and id) and field.

**COCO keypoint results** (MMPose / Detectron2 / YOLO ``--save-json``): a list of
``{"image_id", "category_id", "keypoints": [x1, y1, s1, ...], "score"}``. Per image the person
with the highest ``"score"`` is lifted (without scores: the one with the largest sum of
keypoint scores); entries whose ``category_id`` is not 1 (person) are ignored. Frames are
ordered by ``image_id`` (numerically when all ids are numbers). The file has no image sizes:
give ``image_size`` (``--image_size W,H``) or ``K``. A COCO **annotation** file (``{"images",
"annotations"}``) works too: the annotated person with the most labelled keypoints per image,
image sizes and file names from ``"images"``; visibility flags 0/1/2 become confidence 0/1/1.

**OpenPose**: one ``*_keypoints.json`` file (``{"people": [{"pose_keypoints_2d": [...]}]}``)
or a directory of them (one frame per file, sorted by name, the file name as frame id). Per
frame the person with the largest sum of keypoint confidences is lifted; files without people
are skipped (with a warning).

**Intrinsics** per frame, first available: the ``K`` argument; the frame's ``"K"``; the
file's ``"K"``; otherwise a default camera from the image size (``image_size`` argument, else
the frame's, else the file's ``"image_size"``): principal point at the image centre, square
pixels, focal ``max(w, h) / (2 tan(fov_deg / 2))`` with ``fov_deg = 55`` (a typical phone /
webcam lens) unless ``focal`` (pixels) is given. Without K and image size: an error.

**Missing joints**: confidence 0 (or NaN / null coordinates). ZeDO gives them zero weight,
does not move them onto their rays and leaves them out of the IPO loss; their 3D position
comes from the prior. Other joints weigh ``confidence^2`` in the least-squares translation.

**Output ``.npz``**: ``poses [N, S, 17, 3]`` root-relative metres in camera axes, ``translation
[N, S, 3]`` metres, ``reprojection_error_px [N, S, 17]``, ``ipo_poses [N, S, 17, 3]``, and
``K``, ``keypoints`` (the Human3.6M input, with confidences), ``frame_ids`` and ``image_size``
(when known) for reference.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import re

import numpy as np

from . import camera, keypoint_formats, lifting


@dataclasses.dataclass
class LiftInput:
    """Validated lifting input (numpy, float32).

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


def _image_sizes(image_size, n: int, source: str):
    if image_size is None:
        return None
    size = np.asarray(image_size, np.float32)
    if size.shape == (2,):
        size = np.broadcast_to(size, (n, 2))
    if size.shape != (n, 2) or not np.isfinite(size).all() or (size <= 0).any():
        raise ValueError(f"{source}: image_size must be [2] or [N={n}, 2] positive (width, "
                         f"height) pixels; got shape {list(np.shape(image_size))}")
    return np.ascontiguousarray(size)


def describe_default_camera(width: float, height: float, fov_deg: float = 55.0,
                            focal: float | None = None) -> str:
    """One line describing :func:`zedo_jax.camera.default_intrinsics` for an image size."""
    K = camera.default_intrinsics(width, height, fov_deg=fov_deg, focal=focal)
    how = "given focal" if focal is not None else \
        f"{fov_deg:g} deg field of view across {max(width, height):g} px"
    return (f"default intrinsics for {width:g}x{height:g} px: f = {K[0, 0]:.1f} px ({how}), "
            f"principal point at the image centre")


def make_input(keypoints, K=None, *, confidence=None, poses3d=None, seq=None, frame_ids=None,
               image_size=None, fov_deg: float = 55.0, focal: float | None = None,
               source: str = "input", format: str | None = None, normalized: bool = False,
               min_confidence: float = 0.0, confidence_mode: str = "auto", images=None,
               info: dict | None = None, frame=None, fps=None) -> LiftInput:
    """Validate arrays into a :class:`LiftInput` (errors name ``source`` and the field).

    Args:
      keypoints: ``[N, 17, 2|3]`` Human3.6M pixels, or ``[N, J, C]`` in ``format``'s layout.
      K: ``[3, 3]`` / ``[N, 3, 3]``; when ``None`` it is built from ``image_size`` by
        :func:`zedo_jax.camera.default_intrinsics` (``fov_deg`` / ``focal``).
      format: ``None`` (Human3.6M, strict validation) or a
        :mod:`zedo_jax.keypoint_formats` format; then ``normalized``, ``min_confidence`` and
        ``confidence_mode`` apply as in :func:`zedo_jax.keypoint_formats.to_h36m`.
      images: optional ``[N]`` picture paths for the plots.  info: notes kept with the input.
      frame: optional ``[N]`` integer frame index within each sequence (``seq``).
      fps: optional frame rate: a number, or one per sequence (kept as ``info['fps']``).
    """
    info = dict(info or {})
    warnings = list(info.get("warnings", []))
    if format is None and (normalized or min_confidence > 0 or confidence_mode != "auto"):
        format = "h36m"
    kp = np.asarray(keypoints)
    n_guess = kp.shape[0] if kp.ndim == 3 else 1
    size = _image_sizes(image_size, n_guess, source) if kp.ndim in (2, 3) else None
    if format is not None:
        try:
            kp = keypoint_formats.to_h36m(kp, format, confidence=confidence,
                                          confidence_mode=confidence_mode,
                                          min_confidence=min_confidence, normalized=normalized,
                                          image_size=size)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
        confidence = None
        raw = np.asarray(keypoints)
        info["format"] = keypoint_formats.canonical_format(format, raw.shape[-2])
        hint = keypoint_formats.layout_warning(raw, "coco17") \
            if info["format"] == "coco17" else None
        if hint:
            warnings.append(hint)
    else:
        info.setdefault("format", "h36m")
    try:
        uv, conf = lifting.validate_keypoints(kp, confidence)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    if info["format"] == "h36m":
        hint = keypoint_formats.layout_warning(np.concatenate([uv, conf[..., None]], -1), "h36m")
        if hint:
            warnings.append(hint)
    n = len(uv)
    if size is not None and len(size) != n:
        size = _image_sizes(image_size, n, source)
    if K is None:
        if size is None:
            raise ValueError(f"{source}: no intrinsics: give 'K' [3, 3] / [N, 3, 3], or "
                             f"'image_size' (width, height) for a default camera "
                             f"(--image_size W,H; see --fov_deg / --focal)")
        K = np.stack([camera.default_intrinsics(w, h, fov_deg=fov_deg, focal=focal)
                      for w, h in size])
        sizes = np.unique(size, axis=0)
        info.setdefault("camera", describe_default_camera(*sizes[0], fov_deg, focal) +
                        (f" (and {len(sizes) - 1} other image sizes)" if len(sizes) > 1 else ""))
    else:
        info.setdefault("camera", "intrinsics K from the input")
    try:
        Ks = lifting.validate_intrinsics(K, n, name="K")
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    gt = None
    if poses3d is not None:
        gt = np.asarray(poses3d, np.float32)
        if gt.shape != (n, 17, 3):
            raise ValueError(f"{source}: poses3d must be [N={n}, 17, 3] metres; "
                             f"got {list(gt.shape)}")
        if not np.isfinite(gt).all():
            raise ValueError(f"{source}: poses3d contains NaN/inf")
        if np.abs(gt).max() > 100:
            raise ValueError(f"{source}: poses3d values reach {np.abs(gt).max():.0f}; they must "
                             f"be in metres (divide millimetres by 1000)")
        root_z = gt[:, 0, 2]
        absolute = np.abs(gt[:, 0]).max() > 1e-6
        if absolute and (root_z <= 0).any():
            f = int(np.flatnonzero(root_z <= 0)[0])
            raise ValueError(f"{source}: poses3d frame {f} puts the person behind the camera "
                             f"(pelvis z = {root_z[f]:.3f} m <= 0); camera axes are x right, "
                             f"y down, z forward")
    for name, arr in (("seq", seq), ("frame_ids", frame_ids), ("images", images),
                      ("frame", frame)):
        if arr is not None and len(np.asarray(arr)) != n:
            raise ValueError(f"{source}: {name} has {len(np.asarray(arr))} entries for {n} frames")
    if frame is not None:
        frame = _check_frames(frame, seq, source)
    if fps is not None:
        fps = np.asarray(fps, np.float64).reshape(-1)
        if not np.isfinite(fps).all() or (fps <= 0).any():
            raise ValueError(f"{source}: fps must be positive frames per second; got {fps[:4]}")
        info["fps"] = float(fps[0]) if np.all(fps == fps[0]) else fps
    info["warnings"] = warnings
    info.setdefault("source", source)
    return LiftInput(uv, conf, Ks, gt, None if seq is None else np.asarray(seq),
                     None if frame_ids is None else np.asarray(frame_ids), size,
                     None if images is None else np.asarray(images, dtype=str), info, frame)


def _check_frames(frame, seq, source: str) -> np.ndarray:
    """``frame`` must be integers, unique within each sequence (``seq``)."""
    frame = np.asarray(frame)
    if frame.dtype.kind not in "iu":
        if frame.dtype.kind != "f" or not np.all(np.isfinite(frame)) or \
                np.any(frame != np.round(frame)):
            raise ValueError(f"{source}: frame must hold integer frame indices; got dtype "
                             f"{frame.dtype}")
        frame = frame.astype(np.int64)
    groups = np.zeros(len(frame), np.int64) if seq is None else \
        np.unique(np.asarray(seq), return_inverse=True)[1].reshape(-1)
    pairs = np.stack([groups, frame], 1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    if (counts > 1).any():
        g, f = uniq[np.argmax(counts > 1)]
        raise ValueError(f"{source}: frame {f} appears {counts.max()} times in one sequence; "
                         f"give each sequence its own 'seq' id")
    return frame


def load_npz(path: str, format: str | None = None, **kwargs) -> LiftInput:
    """Read a lifting input ``.npz`` (see the module docstring).

    ``K`` / ``image_size`` keyword arguments override the file's; other keyword arguments go
    to :func:`make_input`.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"input file not found: {path}")
    with np.load(path, allow_pickle=False) as f:
        if "positions_2d" in f.files and "keypoints" not in f.files:
            return load_videopose3d_custom(path, format=format, **kwargs)
        if "keypoints" not in f.files:
            raise ValueError(f"{path}: missing field 'keypoints' [N, 17, 2|3] (fields found: "
                             f"{sorted(f.files)})")
        get = lambda k: f[k] if k in f.files else None
        K = kwargs.pop("K", None)
        size = kwargs.pop("image_size", None)
        return make_input(f["keypoints"], get("K") if K is None else K,
                          confidence=get("confidence"), poses3d=get("poses3d"), seq=get("seq"),
                          frame_ids=get("frame_ids"),
                          image_size=get("image_size") if size is None else size,
                          source=path, format=format, frame=get("frame"), fps=get("fps"),
                          **kwargs)


def load_input(path: str, format: str | None = None, **kwargs) -> LiftInput:
    """Read any supported input: ``.npz``, ``.json`` (frames schema, COCO results / annotations,
    one OpenPose frame) or a directory of OpenPose JSON files (see the module docstring).

    Args:
      path: the file or directory.
      format: keypoint layout (:data:`zedo_jax.keypoint_formats.FORMATS`); ``None`` = the
        file's ``"format"`` field, else ``h36m`` (COCO files: ``coco17``; OpenPose: by count).
      **kwargs: ``image_size``, ``K`` (override the file's), ``fov_deg``, ``focal``,
        ``normalized``, ``min_confidence``, ``confidence_mode`` (see :func:`make_input`).
    """
    if os.path.isdir(path):
        return load_openpose_dir(path, format=format, **kwargs)
    if not os.path.exists(path):
        raise FileNotFoundError(f"input file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        if kwargs.get("normalized") is None:
            kwargs.pop("normalized", None)
        return load_npz(path, format=format, **kwargs)
    if ext == ".json":
        return load_json(path, format=format, **kwargs)
    raise ValueError(f"{path}: unsupported input type {ext!r}; use .npz, .json or a directory "
                     f"of OpenPose JSON files")


# ----------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------

class _Where:
    """Builds error-message prefixes: ``PATH: frame 3 (id 'x'): field 'K'``."""

    def __init__(self, path, kind="frame"):
        self.path, self.kind = path, kind

    def __call__(self, index=None, fid=None, field=None):
        s = self.path
        if index is not None:
            s += f": {self.kind} {index}"
            if fid is not None:
                s += f" (id {fid!r})" if self.kind == "frame" else f" ({fid})"
        if field is not None:
            s += f": field {field!r}"
        return s


def _numbers(value, where: str, allow_null: bool = False) -> np.ndarray:
    """Nested JSON lists of numbers -> float64 array; clear errors for strings, booleans,
    objects and ragged rows. ``null`` becomes NaN when ``allow_null``."""
    def conv(v, loc):
        if isinstance(v, bool):
            raise ValueError(f"{where}{loc} is a boolean ({json.dumps(v)}); expected a number")
        if isinstance(v, (int, float)):
            return float(v)
        if v is None:
            if allow_null:
                return math.nan
            raise ValueError(f"{where}{loc} is null; expected a number")
        if isinstance(v, str):
            raise ValueError(f"{where}{loc} is a string ({json.dumps(v)[:40]}); write numbers "
                             f"without quotes")
        if isinstance(v, list):
            return [conv(x, f"{loc}[{i}]") for i, x in enumerate(v)]
        raise ValueError(f"{where}{loc} is a {type(v).__name__} ({json.dumps(v)[:40]}); "
                         f"expected a number or a list")
    out = conv(value, "")
    try:
        return np.asarray(out, np.float64)
    except ValueError:
        raise ValueError(f"{where}: rows have different lengths; every row must have the same "
                         f"number of values") from None


def _keypoint_rows(value, where: str, max_cols: int) -> np.ndarray:
    """A frame's ``keypoints`` value -> ``[J, C]``: rows ``[u, v(, c)]``, ``null`` rows
    (missing joint), or a flat ``[u1, v1, c1, ...]`` list."""
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list of [u, v, confidence] rows (or a flat list "
                         f"u1, v1, c1, ...); got {type(value).__name__} "
                         f"{json.dumps(value)[:40] if not isinstance(value, dict) else '{...}'}")
    if not value:
        raise ValueError(f"{where} is empty")
    if all(not isinstance(v, list) for v in value) and any(v is not None for v in value):
        flat = _numbers(value, where, allow_null=True)
        if flat.size % 3:
            raise ValueError(f"{where}: a flat list needs 3 values (u, v, confidence) per "
                             f"joint; got {flat.size} values")
        return flat.reshape(-1, 3)
    cols = {len(v) for v in value if isinstance(v, list)}
    if len(cols) > 1:
        raise ValueError(f"{where}: rows have different lengths ({sorted(cols)}); every joint "
                         f"needs the same columns (u, v[, confidence])")
    c = cols.pop() if cols else 3
    if not 2 <= c <= max_cols:
        raise ValueError(f"{where}: rows must be [u, v] or [u, v, confidence]"
                         f"{' (MediaPipe: up to 5 values)' if max_cols == 5 else ''}; "
                         f"got rows of {c} values")
    rows = []
    for j, v in enumerate(value):
        if v is None:
            rows.append(np.r_[np.nan, np.nan, np.zeros(c - 2)])
        elif isinstance(v, list):
            rows.append(_numbers(v, f"{where}[{j}]", allow_null=True))
        else:
            raise ValueError(f"{where}[{j}] is {json.dumps(v)[:40]}; expected a row "
                             f"[u, v(, confidence)] or null for a missing joint")
    return np.stack(rows)


def _matrix(value, where: str) -> np.ndarray:
    K = _numbers(value, where)
    if K.shape != (3, 3):
        raise ValueError(f"{where} must be a 3x3 matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]; "
                         f"got shape {list(K.shape)}")
    try:
        camera.check_intrinsics(K, where)
    except ValueError as e:
        raise ValueError(str(e)) from None
    return K


def _size(value, where: str) -> np.ndarray:
    s = _numbers(value, where)
    if s.shape != (2,) or not (s > 0).all():
        raise ValueError(f"{where} must be [width, height] in pixels, both > 0; got "
                         f"{json.dumps(value)[:60]}")
    return s


_FRAME_KEYS = {"id", "keypoints", "K", "image_size", "image", "score", "bbox"}
_TOP_KEYS = {"format", "image_size", "K", "normalized", "frames", "description", "info", "fps"}


def load_json(path: str, format: str | None = None, **kwargs) -> LiftInput:
    """Read a JSON input (frames schema, COCO results / annotations, or one OpenPose frame;
    see the module docstring). Keyword arguments as for :func:`load_input`."""
    with open(path) as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column "
                             f"{e.colno}") from None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "image_id" in doc[0]:
        return _coco_results(doc, path, format, kwargs)
    if isinstance(doc, dict) and "annotations" in doc:
        return _coco_annotations(doc, path, format, kwargs)
    if isinstance(doc, dict) and "people" in doc:
        return _openpose_frames([(os.path.splitext(os.path.basename(path))[0], doc)], path,
                                format, kwargs)
    if isinstance(doc, list):
        top, frames = {}, doc
    elif isinstance(doc, dict):
        top = doc
        if "frames" not in doc:
            raise ValueError(f"{path}: missing field 'frames' (a list of {{\"keypoints\": "
                             f"[[u, v, c], ...]}} objects); found fields {sorted(doc)}. The "
                             f"schema is in the zedo_jax.io docstring / docs/detector_input.md")
        frames = doc["frames"]
        if not isinstance(frames, list):
            raise ValueError(f"{path}: field 'frames' must be a list of frame objects; got "
                             f"{type(frames).__name__}")
    else:
        raise ValueError(f"{path}: expected a JSON object with 'frames' or a list of frames; "
                         f"got {type(doc).__name__}")
    if not frames:
        raise ValueError(f"{path}: 'frames' is empty")
    where = _Where(path)
    warnings = []
    unknown = sorted(set(top) - _TOP_KEYS)
    if unknown:
        warnings.append(f"{path}: ignored unknown top-level fields {unknown} (known: "
                        f"{sorted(_TOP_KEYS)})")
    fmt = _resolve_format(format, top.get("format"), path)
    if "normalized" in top and not isinstance(top["normalized"], bool):
        raise ValueError(f"{where(field='normalized')} must be true or false; got "
                         f"{json.dumps(top['normalized'])[:40]}")
    top_K = _matrix(top["K"], where(field="K")) if top.get("K") is not None else None
    top_size = _size(top["image_size"], where(field="image_size")) \
        if top.get("image_size") is not None else None
    max_cols = 5 if fmt == "mediapipe" else 3
    records = []
    unknown_frame = set()
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict):
            raise ValueError(f"{where(i)}: expected an object like {{\"keypoints\": [[u, v, c], "
                             f"...]}}; got {type(fr).__name__} {json.dumps(fr)[:40]}")
        fid = fr.get("id")
        if fid is not None and (not isinstance(fid, (str, int)) or isinstance(fid, bool)):
            raise ValueError(f"{where(i, None, 'id')} must be a string or an integer; got "
                             f"{json.dumps(fid)[:40]}")
        unknown_frame |= set(fr) - _FRAME_KEYS
        if "keypoints" not in fr:
            raise ValueError(f"{where(i, fid)}: missing field 'keypoints' (J rows [u, v, "
                             f"confidence]); fields found: {sorted(fr)}")
        kp = _keypoint_rows(fr["keypoints"], where(i, fid, "keypoints"), max_cols)
        _check_joint_count(kp, fmt, where(i, fid, "keypoints"))
        rec = {"id": i if fid is None else fid, "label": fid, "keypoints": kp,
               "K": _matrix(fr["K"], where(i, fid, "K")) if fr.get("K") is not None else None,
               "image_size": _size(fr["image_size"], where(i, fid, "image_size"))
               if fr.get("image_size") is not None else None,
               "image": None}
        if fr.get("image") is not None:
            if not isinstance(fr["image"], str):
                raise ValueError(f"{where(i, fid, 'image')} must be a file path string")
            rec["image"] = os.path.join(os.path.dirname(os.path.abspath(path)), fr["image"])
        records.append(rec)
    if unknown_frame:
        warnings.append(f"{path}: ignored unknown frame fields {sorted(unknown_frame)} (known: "
                        f"{sorted(_FRAME_KEYS)})")
    if kwargs.get("normalized") is None:
        kwargs["normalized"] = bool(top.get("normalized", False))
    if top.get("fps") is not None:            # the frames are one sequence, in list order
        fps = top["fps"]
        if not isinstance(fps, (int, float)) or isinstance(fps, bool) or fps <= 0:
            raise ValueError(f"{where(field='fps')} must be a positive number (frames per "
                             f"second); got {json.dumps(fps)[:40]}")
        kwargs["fps"] = float(fps)
    return _build(records, path, fmt, top_K, top_size, kwargs, warnings, where)


def _resolve_format(arg, in_file, path: str) -> str:
    if in_file is not None and not isinstance(in_file, str):
        raise ValueError(f"{path}: field 'format' must be a string such as \"coco17\"; got "
                         f"{json.dumps(in_file)[:40]}")
    if arg is not None and in_file is not None:
        a = keypoint_formats.ALIASES.get(arg.lower(), arg.lower())
        b = keypoint_formats.ALIASES.get(in_file.lower(), in_file.lower())
        if a != b:
            raise ValueError(f"{path} says \"format\": {in_file!r} but format {arg!r} was "
                             f"requested (--format); drop one of them")
    fmt = arg if arg is not None else in_file if in_file is not None else "h36m"
    fmt = fmt.strip().lower()
    fmt = keypoint_formats.ALIASES.get(fmt, fmt)
    if fmt != "openpose":
        try:
            fmt = keypoint_formats.canonical_format(fmt)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    return fmt


def _check_joint_count(kp, fmt, where):
    counts = keypoint_formats.num_joints(fmt)
    if kp.shape[0] not in counts:
        hint = ""
        if fmt == "h36m" and kp.shape[0] in (18, 25, 33):
            hint = " (set \"format\" / --format: 33 = mediapipe, 25 / 18 = openpose)"
        raise ValueError(f"{where} has {kp.shape[0]} joints but format {fmt!r} needs "
                         f"{' or '.join(map(str, counts))}{hint}")


def _build(records, path, fmt, top_K, top_size, kw, warnings, where) -> LiftInput:
    """Per-frame records -> :class:`LiftInput` (intrinsics resolved per the module docstring)."""
    kw = dict(kw)
    K_arg = kw.pop("K", None)
    size_arg = kw.pop("image_size", None)
    fov_deg = kw.pop("fov_deg", 55.0)
    focal = kw.pop("focal", None)
    normalized = bool(kw.pop("normalized", False) or False)
    n = len(records)
    for axis, what in ((1, "values per row"), (0, "joints")):
        sizes = [r["keypoints"].shape[axis] for r in records]
        bad = next((i for i, m in enumerate(sizes) if m != sizes[0]), None)
        if bad is not None:
            raise ValueError(f"{where(bad, records[bad].get('label'), 'keypoints')} has "
                             f"{sizes[bad]} {what} but frame 0 has {sizes[0]}; every frame "
                             f"needs the same keypoint layout")
    kps = np.stack([r["keypoints"] for r in records])
    if size_arg is not None:
        size_arg = _image_sizes(size_arg, n, path)
    sizes = np.full((n, 2), np.nan)
    for i, r in enumerate(records):
        s = size_arg[i] if size_arg is not None else r["image_size"] \
            if r["image_size"] is not None else top_size
        if s is not None:
            sizes[i] = s
    Ks = np.zeros((n, 3, 3))
    n_default = 0
    if K_arg is not None:
        Ks = None
        camera_note = "intrinsics K given by the caller"
    else:
        for i, r in enumerate(records):
            K = r["K"] if r["K"] is not None else top_K
            if K is None:
                if not np.isfinite(sizes[i]).all():
                    raise ValueError(
                        f"{where(i, r.get('label'))}: no intrinsics: give \"K\" or "
                        f"\"image_size\" [width, height] (per frame or at the top level of the "
                        f"file), or pass "
                        f"--image_size W,H for a default camera (principal point at the centre, "
                        f"{fov_deg:g} deg field of view; see --fov_deg / --focal)")
                K = camera.default_intrinsics(*sizes[i], fov_deg=fov_deg, focal=focal)
                n_default += 1
            Ks[i] = K
        if n_default:
            first = next(i for i, r in enumerate(records)
                         if r["K"] is None and top_K is None)
            camera_note = describe_default_camera(*sizes[first], fov_deg, focal)
            if n_default < n:
                camera_note += f" for {n_default} of {n} frames (K from the file for the rest)"
        else:
            camera_note = "intrinsics K from the input file"
            if focal is not None:
                warnings.append("--focal / focal is ignored: every frame has K in the file")
    if normalized:
        bad = np.flatnonzero(~np.isfinite(sizes).all(-1))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{where(i, records[i].get('label'))}: normalized coordinates "
                             f"need the image size to scale them to pixels; give \"image_size\" or "
                             f"--image_size W,H")
    else:
        _check_not_normalized(kps, path)
    ids = [r["id"] for r in records]
    frame_ids = np.asarray(ids) if all(isinstance(x, int) for x in ids) else \
        np.asarray([str(x) for x in ids])
    images = None
    if any(r.get("image") for r in records):
        images = np.asarray([r.get("image") or "" for r in records], dtype=str)
    known = np.isfinite(sizes).all()
    try:
        return make_input(kps, K_arg if K_arg is not None else Ks, frame_ids=frame_ids,
                          image_size=sizes if known else None, fov_deg=fov_deg, focal=focal,
                          source=path, format=fmt, normalized=normalized, images=images,
                          info={"camera": camera_note, "warnings": warnings}, **kw)
    except ValueError as e:                 # name the frame by its id, as the file does
        msg = str(e)
        m = re.search(r"frame (\d+)", msg)
        if m and int(m.group(1)) < n and records[int(m.group(1))].get("label") is not None:
            i = int(m.group(1))
            msg = msg[:m.end()] + f" (id {records[i]['label']!r})" + msg[m.end():]
        raise ValueError(msg) from None


def _check_not_normalized(kps, path):
    """Refuse pixel coordinates that all lie in [-1.5, 1.5]: normalised coordinates
    (MediaPipe's default output) read as pixels would describe a person 1 pixel tall."""
    uv = kps[..., :2]
    ok = np.isfinite(uv).all(-1)
    if kps.shape[-1] > 2:
        ok &= kps[..., 2 if kps.shape[-1] == 3 else 3] > 0
    vals = uv[ok]
    if vals.size and np.abs(vals).max() <= 1.5:
        raise ValueError(f"{path}: every keypoint coordinate lies within [-1.5, 1.5]: these look "
                         f"like normalised coordinates (MediaPipe), not pixels; set "
                         f"\"normalized\": true (or --normalized) and give the image size")


def _coco_results(doc, path, fmt, kw) -> LiftInput:
    where = _Where(path, kind="entry")
    fmt = _resolve_format(fmt or "coco17", None, path)
    people = {}
    order = []
    for i, e in enumerate(doc):
        if not isinstance(e, dict):
            raise ValueError(f"{where(i)}: expected an object with 'image_id' and 'keypoints'; "
                             f"got {type(e).__name__}")
        for field in ("image_id", "keypoints"):
            if field not in e:
                raise ValueError(f"{where(i)}: missing field {field!r} (COCO keypoint results "
                                 f"need image_id, keypoints [x1, y1, s1, ...], score)")
        iid = e["image_id"]
        if not isinstance(iid, (int, str)) or isinstance(iid, bool):
            raise ValueError(f"{where(i, None, 'image_id')} must be an integer or a string")
        if e.get("category_id", 1) != 1:
            continue
        fid = f"image_id {iid!r}"
        kp = _keypoint_rows(e["keypoints"], where(i, fid, "keypoints"), 3)
        _check_joint_count(kp, fmt, where(i, fid, "keypoints"))
        score = e.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise ValueError(f"{where(i, fid, 'score')} must be a number; got "
                             f"{json.dumps(score)[:40]}")
        if iid not in people:
            people[iid] = []
            order.append(iid)
        rank = score if score is not None else float(np.nansum(kp[:, 2])) \
            if kp.shape[1] > 2 else 0.0
        people[iid].append((rank, -i, kp))
    if not order:
        raise ValueError(f"{path}: no person (category_id 1) entries with keypoints")
    if all(isinstance(x, int) for x in order):
        order = sorted(order)
    records = [{"id": iid, "label": iid, "K": None,
                "keypoints": max(people[iid], key=lambda t: t[:2])[2],
                "image_size": None, "image": None} for iid in order]
    return _build(records, path, fmt, None, None, kw, [], _Where(path))


def _coco_annotations(doc, path, fmt, kw) -> LiftInput:
    where = _Where(path, kind="annotation")
    fmt = _resolve_format(fmt or "coco17", None, path)
    anns = doc["annotations"]
    if not isinstance(anns, list):
        raise ValueError(f"{path}: field 'annotations' must be a list")
    images = {}
    for j, im in enumerate(doc.get("images") or []):
        if isinstance(im, dict) and "id" in im:
            images[im["id"]] = im
    best = {}
    order = []
    for i, a in enumerate(anns):
        if not isinstance(a, dict) or "keypoints" not in a or "image_id" not in a:
            continue
        if a.get("category_id", 1) != 1 or not a["keypoints"]:
            continue
        iid = a["image_id"]
        kp = _keypoint_rows(a["keypoints"], where(i, f"image_id {iid!r}", "keypoints"), 3)
        _check_joint_count(kp, fmt, where(i, f"image_id {iid!r}", "keypoints"))
        labelled = int((kp[:, 2] > 0).sum())
        if labelled < 2:
            continue
        rank = (labelled, float(a.get("area", 0) or 0))
        if iid not in best:
            order.append(iid)
        if iid not in best or rank > best[iid][0]:
            best[iid] = (rank, kp)
    if not order:
        raise ValueError(f"{path}: no person annotation with at least 2 labelled keypoints")
    if all(isinstance(x, int) for x in order):
        order = sorted(order)
    base = os.path.dirname(os.path.abspath(path))
    records = []
    for iid in order:
        im = images.get(iid, {})
        size = None
        if "width" in im and "height" in im:
            size = _size([im["width"], im["height"]], f"{path}: image {iid!r}: 'width'/'height'")
        name = im.get("file_name")
        records.append({"id": iid, "label": iid, "keypoints": best[iid][1], "K": None,
                        "image_size": size,
                        "image": os.path.join(base, name) if isinstance(name, str) else None})
    return _build(records, path, fmt, None, None, kw, [], _Where(path))


# ----------------------------------------------------------------------------------------------
# OpenPose
# ----------------------------------------------------------------------------------------------

def load_openpose_dir(path: str, format: str | None = None, **kwargs) -> LiftInput:
    """A directory of OpenPose per-frame JSON files (one frame each, one sequence), in
    natural name order (``f_2`` before ``f_10``)."""
    files = sorted(glob.glob(os.path.join(path, "*.json")), key=_natural_key)
    if not files:
        raise FileNotFoundError(f"{path}: no *.json files (expected OpenPose per-frame output)")
    docs = []
    for fpath in files:
        with open(fpath) as fh:
            try:
                doc = json.load(fh)
            except json.JSONDecodeError as e:
                raise ValueError(f"{fpath}: not valid JSON: {e.msg} at line {e.lineno}") \
                    from None
        if not isinstance(doc, dict) or "people" not in doc:
            raise ValueError(f"{fpath}: not an OpenPose keypoint file (no 'people' field)")
        stem = os.path.splitext(os.path.basename(fpath))[0]
        docs.append((re.sub(r"_keypoints$", "", stem), doc))
    return _openpose_frames(docs, path, format, kwargs)


def _openpose_frames(docs, path, fmt, kw) -> LiftInput:
    fmt = _resolve_format(fmt or "openpose", None, path)
    where = _Where(path)
    records, skipped = [], []
    for i, (fid, doc) in enumerate(docs):
        people = doc.get("people")
        if not isinstance(people, list):
            raise ValueError(f"{where(i, fid, 'people')} must be a list")
        cands = []
        for p, person in enumerate(people):
            if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
                raise ValueError(f"{where(i, fid, 'people')}[{p}] has no 'pose_keypoints_2d'")
            kp = _keypoint_rows(person["pose_keypoints_2d"],
                                where(i, fid, f"people[{p}].pose_keypoints_2d"), 3)
            _check_joint_count(kp, fmt, where(i, fid, f"people[{p}].pose_keypoints_2d"))
            cands.append((float(np.nansum(kp[:, 2])), -p, kp))
        if not cands:
            skipped.append(str(fid))
            continue
        records.append({"id": fid, "label": fid, "K": None,
                        "keypoints": max(cands, key=lambda t: t[:2])[2],
                        "image_size": None, "image": None})
    if not records:
        raise ValueError(f"{path}: no person detected in any frame")
    warnings = [f"skipped {len(skipped)} frames without people: {skipped[:5]}"
                f"{' ...' if len(skipped) > 5 else ''}"] if skipped else []
    return _build(records, path, fmt, None, None, kw, warnings, where)


def _natural_key(path: str):
    """Sort key that orders digit runs numerically (``frame_9`` before ``frame_10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.path.basename(path))]


# ----------------------------------------------------------------------------------------------
# VideoPose3D custom 2D detections
# ----------------------------------------------------------------------------------------------

def load_videopose3d_custom(path: str, format: str | None = None, **kwargs) -> LiftInput:
    """VideoPose3D's custom 2D file (``data_2d_custom_*.npz`` written by its
    ``prepare_data_2d_custom.py``): ``positions_2d[video]['custom'][0]`` ``[T, 17, 2]`` COCO
    pixels and ``metadata['video_metadata'][video]`` with ``w``, ``h``.

    One sequence per video (``seq`` = video index, names in ``info['videos']``, ``frame`` =
    0..T-1), a default camera from each video's size. The file holds pickled dictionaries, so
    it is read with ``allow_pickle=True``: open only files you trust. Keyword arguments as for
    :func:`load_input`.
    """
    try:
        with np.load(path, allow_pickle=True) as f:
            positions = f["positions_2d"].item()
            meta = f["metadata"].item() if "metadata" in f.files else {}
    except (KeyError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: not a VideoPose3D custom 2D file (needs 'positions_2d', a "
                         f"dict video -> {{'custom': [array [T, 17, 2]]}}): {e}") from None
    if not isinstance(positions, dict) or not positions:
        raise ValueError(f"{path}: 'positions_2d' must be a non-empty dict video -> "
                         f"{{'custom': [array [T, 17, 2]]}}")
    vmeta = meta.get("video_metadata", {}) if isinstance(meta, dict) else {}
    layout = str(meta.get("layout_name", "coco")).lower() if isinstance(meta, dict) else "coco"
    fmt = format or ("coco17" if layout in ("coco", "detectron2") else layout)
    kps, seq, frame, sizes, names = [], [], [], [], []
    for v, video in enumerate(sorted(positions)):
        try:
            kp = np.asarray(positions[video]["custom"][0], np.float32)
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"{path}: positions_2d[{video!r}] has no ['custom'][0] keypoint "
                             f"array") from None
        if kp.ndim != 3 or kp.shape[0] == 0:
            raise ValueError(f"{path}: positions_2d[{video!r}]['custom'][0] must be [T, J, 2]; "
                             f"got {list(kp.shape)}")
        size = vmeta.get(video, {})
        if "w" in size and "h" in size:
            sizes.append(np.broadcast_to([float(size["w"]), float(size["h"])], (len(kp), 2)))
        elif kwargs.get("image_size") is None and kwargs.get("K") is None:
            raise ValueError(f"{path}: metadata['video_metadata'][{video!r}] has no 'w', 'h'; "
                             f"give --image_size W,H or K")
        kps.append(kp)
        seq.append(np.full(len(kp), v))
        frame.append(np.arange(len(kp)))
        names.append(str(video))
    K = kwargs.pop("K", None)
    size_arg = kwargs.pop("image_size", None)
    image_size = size_arg if size_arg is not None else \
        (np.concatenate(sizes) if len(sizes) == len(kps) else None)
    kwargs.pop("normalized", None)
    inp = make_input(np.concatenate(kps), K, seq=np.concatenate(seq),
                     frame=np.concatenate(frame), image_size=image_size, source=path,
                     format=fmt, **kwargs)
    inp.info["videos"] = names
    return inp


# ----------------------------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------------------------

def save_output(path: str, out: dict, inp: LiftInput | None = None) -> str:
    """Write a lifting result (``lifting.lift`` output) to ``path`` (``.npz``)."""
    arrays = {k: np.asarray(out[k], np.float32) for k in lifting.OUTPUT_KEYS
              if k in out and k != "ipo_translation"}
    for k in ("windows", "network_evals_per_frame"):       # temporal mode
        if k in out:
            arrays[k] = np.asarray(out[k])
    if inp is not None:
        arrays["K"] = inp.K
        for k in ("seq", "frame"):
            if getattr(inp, k) is not None:
                arrays[k] = getattr(inp, k)
        if inp.info.get("fps") is not None:
            arrays["fps"] = np.asarray(inp.info["fps"], np.float32)
        arrays["keypoints"] = np.concatenate([inp.keypoints, inp.confidence[..., None]], -1)
        if inp.frame_ids is not None:
            arrays["frame_ids"] = inp.frame_ids
        if inp.image_size is not None:
            arrays["image_size"] = inp.image_size
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    np.savez(path, **arrays)
    return path
