"""Readers of lifting inputs (``.npz``, JSON, COCO and OpenPose files), one per source.

Each reader turns its file into per-frame records and hands them to the one assembler,
:func:`zedo_jax.inputs.assemble.assemble`.

:func:`load_input` dispatches on the path: ``.npz``, ``.json`` (the frames schema below, a
COCO keypoint results list, a COCO annotation file, or one OpenPose frame) or a directory of
OpenPose ``*_keypoints.json`` files. Keypoints in detector layouts (``format`` = ``coco17``,
``mediapipe``, ``openpose``; default ``h36m``) are converted by
:mod:`zedo_jax.inputs.layouts`, which also documents the derived joints (pelvis, spine,
thorax, neck/nose, head top) and how missing joints are handled.

**Input ``.npz``** ("custom data" format, the same layout as ``cmu_test_views.npz``):

==================  ===================  ==========================================================
key                 shape                meaning
==================  ===================  ==========================================================
``keypoints``       [N, J, 2|3]          pixels u, v (+ confidence in [0, 1]); Human3.6M-17 order
                                         unless a ``format`` is given
``K``               [3, 3] or [N, 3, 3]  intrinsics in pixels (or give ``image_size``)
``image_size``      [2] or [N, 2]        optional (width, height); used for a default K when ``K``
                                         is absent (see :func:`zedo_jax.core.camera.default_intrinsics`)
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
``frame_index``     [N]                  optional, several people per frame: the row's frame
                                         (0..F-1); without ``person``, track ids are assigned;
                                         ``seq`` / ``frame`` become per person (see above)
``person``          [N]                  optional person ids (with ``frame_index``, or ``frame``:
                                         then the frames are the distinct (``seq``, ``frame``))
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

**Several people per frame**: a frame may hold ``"people"`` instead of ``"keypoints"``::

        {"id": "frame_000", "people": [{"id": 3, "keypoints": [[u, v, c], ...]},
                                       {"id": 5, "keypoints": [...], "score": 0.8}]}

(``"people": []``: a frame without people, no row). Each person becomes one row of the
:class:`~zedo_jax.inputs.types.LiftInput` (``frame_index`` = the frame's index in the list,
``person`` = its ``"id"``: integers, different within a frame, given for every person or for
none; without ids, track ids come from :func:`zedo_jax.inputs.tracking.assign_tracks`).
``seq`` is then the person and ``frame`` the frame index, so temporal lifting follows each
person; ``info['frames']`` is the number of frames. ``max_people`` / ``min_person_score``
(:class:`~zedo_jax.inputs.types.InputOptions`) keep the best people per frame (by
``"score"``, else the mean keypoint confidence); ``max_people=1`` reads the file as
single-person.

A top-level list of frame objects is accepted as ``frames`` without top-level settings.
The frames of a JSON file (and of an OpenPose directory) form one sequence in list (file
name) order; an optional top-level ``"fps"`` is carried to the output.
Numbers must be JSON numbers (not strings). Errors name the frame (index and id) and field.

**COCO keypoint results** (MMPose / Detectron2 / YOLO ``--save-json``): a list of
``{"image_id", "category_id", "keypoints": [x1, y1, s1, ...], "score"}``. Every person
(``category_id`` 1; other entries are ignored) is kept, grouped by image (several people per
frame as above; an integer ``"track_id"`` on every entry is used as the person id, else
tracks are assigned); ``max_people=1`` keeps the highest ``"score"`` per image (without
scores: the largest sum of keypoint scores), as single-person input. A file with at most one
person per image is single-person input. Frames are
ordered by ``image_id`` (numerically when all ids are numbers). The file has no image sizes:
give ``image_size`` (``--image_size W,H``) or ``K``. A COCO **annotation** file (``{"images",
"annotations"}``) works too: every annotated person with at least 2 labelled keypoints
(``max_people=1``: the one with the most labelled keypoints, then the largest area), image
sizes and file names from ``"images"``; visibility flags 0/1/2 become confidence 0/1/1.

**OpenPose**: one ``*_keypoints.json`` file (``{"people": [{"pose_keypoints_2d": [...]}]}``;
the older key ``pose_keypoints`` works too)
or a directory of them (one frame per file, in natural name order - ``f_2`` before ``f_10`` -
the file name as frame id). Every person is kept (several people per frame as above;
OpenPose's ``"person_id"`` when its tracking set one >= 0 on everyone, else assigned tracks);
``max_people=1`` keeps the one with the largest sum of keypoint confidences per frame and, as
single-person input, skips files without people (with a warning).

**Intrinsics** per frame, first available: the ``K`` argument; the frame's ``"K"``; the
file's ``"K"``; otherwise a default camera from the image size (``image_size`` argument, else
the frame's, else the file's ``"image_size"``): principal point at the image centre, square
pixels, focal ``max(w, h) / (2 tan(fov_deg / 2))`` with ``fov_deg = 55`` (a typical phone /
webcam lens) unless ``focal`` (pixels) is given. Without K and image size: an error.

**Missing joints**: confidence 0 (or NaN / null coordinates). ZeDO gives them zero weight,
does not move them onto their rays and leaves them out of the IPO loss; their 3D position
comes from the prior. Other joints weigh ``confidence^2`` in the least-squares translation.

"""
from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import re
import zipfile

import numpy as np

from zedo_jax.core import camera
from zedo_jax.inputs import layouts
from zedo_jax.inputs.assemble import assemble, make_input
from zedo_jax.inputs.types import InputOptions, LiftInput
from zedo_jax.inputs.validation import check_joint_count, check_not_normalized


def load_npz(path: str, format: str | None = None, options: InputOptions | None = None,
             **overrides) -> LiftInput:
    """Read a lifting input ``.npz`` (see the module docstring).

    ``options.K`` / ``options.image_size`` override the file's; keyword overrides build
    :class:`InputOptions`.
    """
    path = os.fspath(path)
    o = InputOptions.make(options, **overrides)
    if not os.path.exists(path):
        raise FileNotFoundError(f"input file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise ValueError(f"{path}: a bare array, not an .npz with a 'keypoints' field")
            if "positions_2d" in f.files and "keypoints" not in f.files:
                videopose3d = True
            else:
                videopose3d = False
                arrays = {}
                for k in f.files:
                    try:
                        arrays[k] = f[k]
                    except ValueError:            # object arrays need pickle: refused
                        raise ValueError(f"{path}: field {k!r} holds Python objects (dtype "
                                         f"object); save it as numbers or strings") from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); is it "
                         f"truncated? write it again") from None
    if videopose3d:
        return load_videopose3d_custom(path, format=format, options=o)
    if "keypoints" not in arrays:
        raise ValueError(f"{path}: missing field 'keypoints' [N, 17, 2|3] (fields found: "
                         f"{sorted(arrays)})")
    get = arrays.get
    K = get("K") if o.K is None else o.K
    warnings = []
    if o.focal is not None and K is not None:
        warnings.append("--focal / focal is ignored: the input has K")
    if not o.normalized and np.ndim(arrays["keypoints"]) == 3:
        check_not_normalized(np.asarray(arrays["keypoints"], np.float64), path)
    frame_index = get("frame_index")
    if get("person") is not None and frame_index is None:
        if get("frame") is None:
            raise ValueError(f"{path}: 'person' needs 'frame_index' [N] (or 'frame'): the frame "
                             f"of each row")
        frame = np.asarray(get("frame"))
        seq = np.zeros(len(frame), np.int64) if get("seq") is None else \
            np.unique(np.asarray(get("seq")), return_inverse=True)[1].reshape(-1)
        if seq.shape != frame.shape or frame.ndim != 1:
            raise ValueError(f"{path}: 'seq' and 'frame' must be [N] like 'person'")
        _, first, frame_index = np.unique(np.stack([seq, frame], 1), axis=0,
                                          return_index=True, return_inverse=True)
        frame_index = np.argsort(np.argsort(first))[frame_index.reshape(-1)]  # file order
    return make_input(arrays["keypoints"], K,
                      confidence=get("confidence"), poses3d=get("poses3d"), seq=get("seq"),
                      frame_ids=get("frame_ids"),
                      image_size=get("image_size") if o.image_size is None else o.image_size,
                      source=path, format=format, fov_deg=o.fov_deg, focal=o.focal,
                      normalized=bool(o.normalized), min_confidence=o.min_confidence,
                      confidence_mode=o.confidence_mode, info={"warnings": warnings},
                      frame=get("frame"), fps=get("fps"), frame_index=frame_index,
                      person=get("person"))


def load_input(path: str, format: str | None = None, options: InputOptions | None = None,
               **overrides) -> LiftInput:
    """Read any supported input: ``.npz``, ``.json`` (frames schema, COCO results / annotations,
    one OpenPose frame) or a directory of OpenPose JSON files (see the module docstring).

    Args:
      path: the file or directory.
      format: keypoint layout (:data:`zedo_jax.inputs.layouts.FORMATS`); ``None`` = the
        file's ``"format"`` field, else ``h36m`` (COCO files: ``coco17``; OpenPose: by count).
      options: :class:`InputOptions` (camera, normalisation, confidences).
      **overrides: fields of :class:`InputOptions` (``image_size``, ``K``, ``fov_deg``,
        ``focal``, ``normalized``, ``min_confidence``, ``confidence_mode``).
    """
    path = os.fspath(path)
    o = InputOptions.make(options, **overrides)
    if os.path.isdir(path):
        return load_openpose_dir(path, format=format, options=o)
    if not os.path.exists(path):
        raise FileNotFoundError(f"input file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npz", ".json"):
        raise ValueError(f"{path}: unsupported input type {ext!r}; use .npz, .json or a "
                         f"directory of OpenPose JSON files")
    kind = _content_kind(path)
    if kind is None:
        raise ValueError(f"{path}: neither an .npz archive nor JSON text (is it truncated or "
                         f"another kind of file?)")
    if kind != ext:
        raise ValueError(f"{path}: named {ext} but holds {kind[1:].upper()} data; rename it to "
                         f"{os.path.splitext(os.path.basename(path))[0]}{kind}")
    if ext == ".npz":
        return load_npz(path, format=format, options=o)
    return load_json(path, format=format, options=o)


def _content_kind(path: str) -> str | None:
    """``'.npz'`` for a zip archive, ``'.json'`` for text starting with ``{`` or ``[``, else
    ``None``, from the first bytes of the file."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK"):
        return ".npz"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return ".json" if text[:1] in (b"{", b"[") else None


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


_FRAME_KEYS = {"id", "keypoints", "people", "K", "image_size", "image", "score", "bbox"}
_PERSON_KEYS = {"id", "keypoints", "score", "bbox"}


def _mean_confidence(kp: np.ndarray, fmt: str) -> float:
    """A person's score without a detector score: the mean raw confidence (column 2,
    MediaPipe's visibility column 3; 1 without one; 0 for missing joints) of the joints
    ``kp [J, C]`` that the conversion reads: the 17 COCO joints of a detector layout (not
    OpenPose's feet or MediaPipe's hands), all 17 of Human3.6M."""
    names = layouts.LAYOUTS[layouts.canonical_format(fmt, len(kp))]
    if names is not layouts.LAYOUTS["h36m"]:
        kp = kp[[names.index(n) for n in layouts.COCO17_NAMES]]
    ok = np.isfinite(kp[:, :2]).all(-1)
    if kp.shape[1] < 3:
        return float(ok.mean())
    c = kp[:, 3 if kp.shape[1] > 3 else 2]
    return float(np.where(ok & np.isfinite(c), c, 0.0).mean())


def _json_people(people, where, i, fid, fmt, max_cols, unknown) -> list:
    """A frame's ``"people"`` list -> person candidates (see :func:`_people_records`)."""
    if not isinstance(people, list):
        raise ValueError(f"{where(i, fid, 'people')} must be a list of {{\"id\", "
                         f"\"keypoints\"}} objects; got {type(people).__name__}")
    cands = []
    for p, person in enumerate(people):
        field = f"people[{p}]"
        if not isinstance(person, dict) or "keypoints" not in person:
            raise ValueError(f"{where(i, fid, field)} must be an object with 'keypoints' (and "
                             f"an optional integer 'id')")
        unknown |= set(person) - _PERSON_KEYS
        pid = person.get("id")
        if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid < 0):
            raise ValueError(f"{where(i, fid, field + '.id')} must be an integer >= 0; got "
                             f"{json.dumps(pid)[:40]}")
        kp = _keypoint_rows(person["keypoints"], where(i, fid, field + ".keypoints"), max_cols)
        check_joint_count(kp, fmt, where(i, fid, field + ".keypoints"))
        score = person.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise ValueError(f"{where(i, fid, field + '.score')} must be a number; got "
                             f"{json.dumps(score)[:40]}")
        score = _mean_confidence(kp, fmt) if score is None else float(score)
        cands.append({"kp": kp, "person": pid, "slot": p, "score": score, "rank": (score, -p)})
    ids = [c["person"] for c in cands if c["person"] is not None]
    if len(set(ids)) < len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise ValueError(f"{where(i, fid, 'people')}: person id {dup} appears {ids.count(dup)} "
                         f"times; ids must differ within a frame")
    return cands


def _keep(cands: list, o: InputOptions) -> list:
    """The candidates kept by ``o.min_person_score`` and ``o.max_people`` (the highest
    ``rank`` first; ties: file order), in file order."""
    kept = [c for c in cands if o.min_person_score <= 0 or c["score"] >= o.min_person_score]
    if o.max_people is not None and len(kept) > o.max_people:
        best = sorted(range(len(kept)), key=lambda k: kept[k]["rank"], reverse=True)
        kept = [kept[k] for k in sorted(best[:o.max_people])]
    return kept


def _people_records(frames_people: list, o: InputOptions, path: str, fmt: str,
                    multi: bool = False):
    """Per frame ``(frame record, person candidates)`` -> ``(records, num_frames, warnings)``.

    A candidate is ``{"kp": [J, C], "person": id | None, "slot": its place in the frame's
    list, "score": for min_person_score, "rank": for max_people}``. The input is read as
    several people per frame (``num_frames`` = F, one record per kept person with ``"frame"``
    and ``"person"``) when ``multi`` (JSON ``"people"``) or some frame keeps two or more
    people, unless ``o.max_people == 1``; otherwise one record per frame with a person
    (``num_frames`` None), frames without one skipped with a warning, as single-person
    readers always did. Several people per frame: people left with fewer than 2 joints of
    confidence > 0 in Human3.6M are dropped (with a warning).
    """
    kept = [(rec, _keep(cands, o)) for rec, cands in frames_people]
    multi = o.max_people != 1 and (multi or any(len(k) > 1 for _, k in kept))
    n_kept = sum(len(k) for _, k in kept)
    empty = [str(rec["id"]) for rec, k in kept if not k]
    if not any(k for _, k in kept):
        raise ValueError(f"{path}: no person detected in any frame" +
                         (f" (with score >= min_person_score {o.min_person_score:g})"
                          if o.min_person_score > 0 else ""))
    listed = f"{empty[:5]}{' ...' if len(empty) > 5 else ''}"
    if not multi:
        records = [dict(rec, keypoints=k[0]["kp"]) for rec, k in kept if k]
        notes = [f"skipped {len(empty)} frames without people: {listed}"] if empty else []
        return records, None, notes
    kept = [(rec, [c for c in k if _usable(c["kp"], fmt, o)]) for rec, k in kept]
    dropped = n_kept - sum(len(k) for _, k in kept)
    if not any(k for _, k in kept):
        raise ValueError(f"{path}: no person with 2 or more usable joints in any frame")
    empty = [str(rec["id"]) for rec, k in kept if not k]
    listed = f"{empty[:5]}{' ...' if len(empty) > 5 else ''}"
    records = [dict(rec, keypoints=c["kp"], frame=f, person=c["person"], slot=c["slot"])
               for f, (rec, k) in enumerate(kept) for c in k]
    if any(r["person"] is None for r in records):          # ids only when all have one
        for r in records:
            r["person"] = None
    notes = [f"{len(empty)} of {len(kept)} frames have no people: {listed}"] if empty else []
    if dropped:
        notes.append(f"dropped {dropped} people with fewer than 2 joints of confidence > 0 "
                     f"(after conversion to Human3.6M)")
    return records, len(kept), notes


def _usable(kp: np.ndarray, fmt: str, o: InputOptions) -> bool:
    """Whether a person keeps 2 or more joints of confidence > 0 in Human3.6M (a detector's
    fragment does not, and would stop the whole file in validation)."""
    try:
        h36m = layouts.to_h36m(kp[None], fmt, min_confidence=o.min_confidence,
                               confidence_mode=o.confidence_mode)
    except ValueError:
        return True                                     # validation reports it
    return int((h36m[0, :, 2] > 0).sum()) >= 2 if h36m.shape[-1] > 2 else True
_TOP_KEYS = {"format", "image_size", "K", "normalized", "frames", "description", "info", "fps"}


def load_json(path: str, format: str | None = None, options: InputOptions | None = None,
              **overrides) -> LiftInput:
    """Read a JSON input (frames schema, COCO results / annotations, or one OpenPose frame;
    see the module docstring). Options as for :func:`load_input`."""
    path = os.fspath(path)
    o = InputOptions.make(options, **overrides)
    with open(path) as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column "
                             f"{e.colno}") from None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "image_id" in doc[0]:
        return _coco_results(doc, path, format, o)
    if isinstance(doc, dict) and "annotations" in doc:
        return _coco_annotations(doc, path, format, o)
    if isinstance(doc, dict) and "people" in doc:
        return _openpose_frames([(os.path.splitext(os.path.basename(path))[0], doc)], path,
                                format, o)
    if isinstance(doc, list):
        top, frames = {}, doc
    elif isinstance(doc, dict):
        top = doc
        if "frames" not in doc:
            raise ValueError(f"{path}: missing field 'frames' (a list of {{\"keypoints\": "
                             f"[[u, v, c], ...]}} objects); found fields {sorted(doc)}. The "
                             f"schema is in the zedo_jax.inputs.readers docstring and README.md, 'Input files'")
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
    frames_people = []                  # per frame: (frame record, [person candidates])
    unknown_frame, unknown_person = set(), set()
    any_people = False
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict):
            raise ValueError(f"{where(i)}: expected an object like {{\"keypoints\": [[u, v, c], "
                             f"...]}}; got {type(fr).__name__} {json.dumps(fr)[:40]}")
        fid = fr.get("id")
        if fid is not None and (not isinstance(fid, (str, int)) or isinstance(fid, bool)):
            raise ValueError(f"{where(i, None, 'id')} must be a string or an integer; got "
                             f"{json.dumps(fid)[:40]}")
        unknown_frame |= set(fr) - _FRAME_KEYS
        if "keypoints" not in fr and "people" not in fr:
            raise ValueError(f"{where(i, fid)}: missing field 'keypoints' (J rows [u, v, "
                             f"confidence]) or 'people' (a list of {{\"id\", \"keypoints\"}}); "
                             f"fields found: {sorted(fr)}")
        if "keypoints" in fr and "people" in fr:
            raise ValueError(f"{where(i, fid)}: give 'keypoints' (one person) or 'people' "
                             f"(several), not both")
        rec = {"id": i if fid is None else fid, "label": fid,
               "K": _matrix(fr["K"], where(i, fid, "K")) if fr.get("K") is not None else None,
               "image_size": _size(fr["image_size"], where(i, fid, "image_size"))
               if fr.get("image_size") is not None else None,
               "image": None}
        if fr.get("image") is not None:
            if not isinstance(fr["image"], str):
                raise ValueError(f"{where(i, fid, 'image')} must be a file path string")
            rec["image"] = os.path.join(os.path.dirname(os.path.abspath(path)), fr["image"])
        if "keypoints" in fr:
            kp = _keypoint_rows(fr["keypoints"], where(i, fid, "keypoints"), max_cols)
            check_joint_count(kp, fmt, where(i, fid, "keypoints"))
            cands = [{"kp": kp, "person": None, "slot": 0, "score": math.inf,
                      "rank": (0.0, 0)}]                      # a lone person: always kept
        else:
            any_people = True
            cands = _json_people(fr["people"], where, i, fid, fmt, max_cols, unknown_person)
        frames_people.append((rec, cands))
    if unknown_frame:
        warnings.append(f"{path}: ignored unknown frame fields {sorted(unknown_frame)} (known: "
                        f"{sorted(_FRAME_KEYS)})")
    if unknown_person:
        warnings.append(f"{path}: ignored unknown person fields {sorted(unknown_person)} "
                        f"(known: {sorted(_PERSON_KEYS)})")
    has_id = [c["person"] is not None for _, cands in frames_people for c in cands]
    if any_people and any(has_id) and not all(has_id):
        raise ValueError(f"{path}: some people have an 'id' and others not; give every person "
                         f"an integer 'id' (and use 'people' in every frame), or none (then "
                         f"tracks are assigned)")
    records, num_frames, notes = _people_records(frames_people, o, path, fmt, multi=any_people)
    warnings += notes
    if o.normalized is None:
        o = dataclasses.replace(o, normalized=bool(top.get("normalized", False)))
    fps = top.get("fps")                  # the frames are one sequence, in list order
    if fps is not None and (not isinstance(fps, (int, float)) or isinstance(fps, bool)
                            or fps <= 0):
        raise ValueError(f"{where(field='fps')} must be a positive number (frames per "
                         f"second); got {json.dumps(fps)[:40]}")
    return assemble(records, path, fmt, o, where=where, top_K=top_K, top_size=top_size,
                    warnings=warnings, fps=None if fps is None else float(fps),
                    num_frames=num_frames)


def _resolve_format(arg, in_file, path: str) -> str:
    """The layout to read: ``--format`` / the argument, else the file's ``"format"``, else
    ``h36m``; both given and different is an error."""
    if in_file is not None and not isinstance(in_file, str):
        raise ValueError(f"{path}: field 'format' must be a string such as \"coco17\"; got "
                         f"{json.dumps(in_file)[:40]}")
    try:
        if arg is not None and in_file is not None and \
                layouts.canonical_format(arg) != layouts.canonical_format(in_file):
            raise ValueError(f"{path} says \"format\": {in_file!r} but format {arg!r} was "
                             f"requested (--format); drop one of them")
        return layouts.canonical_format(arg if arg is not None else in_file or "h36m")
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}: {e}") from None


def _coco_results(doc, path, fmt, o: InputOptions) -> LiftInput:
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
        check_joint_count(kp, fmt, where(i, fid, "keypoints"))
        score = e.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise ValueError(f"{where(i, fid, 'score')} must be a number; got "
                             f"{json.dumps(score)[:40]}")
        if iid not in people:
            people[iid] = []
            order.append(iid)
        rank = score if score is not None else float(np.nansum(kp[:, 2])) \
            if kp.shape[1] > 2 else 0.0
        people[iid].append({"kp": kp, "person": _track_id(e), "slot": len(people[iid]),
                            "rank": (rank, -i),
                            "score": _mean_confidence(kp, fmt) if score is None else float(score)})
    if not order:
        raise ValueError(f"{path}: no person (category_id 1) entries with keypoints")
    if all(isinstance(x, int) for x in order):
        order = sorted(order)
    frames = [({"id": iid, "label": iid, "K": None, "image_size": None, "image": None},
               people[iid]) for iid in order]
    records, num_frames, notes = _people_records(frames, o, path, fmt)
    return assemble(records, path, fmt, o, where=_Where(path), warnings=notes,
                    num_frames=num_frames)


def _track_id(entry: dict):
    """A COCO entry's ``"track_id"`` (PoseTrack, trackers) when it is an integer >= 0."""
    t = entry.get("track_id")
    return t if isinstance(t, int) and not isinstance(t, bool) and t >= 0 else None


def _coco_annotations(doc, path, fmt, o: InputOptions) -> LiftInput:
    where = _Where(path, kind="annotation")
    fmt = _resolve_format(fmt or "coco17", None, path)
    anns = doc["annotations"]
    if not isinstance(anns, list):
        raise ValueError(f"{path}: field 'annotations' must be a list")
    images = {}
    for j, im in enumerate(doc.get("images") or []):
        if isinstance(im, dict) and "id" in im:
            images[im["id"]] = im
    people = {}
    order = []
    for i, a in enumerate(anns):
        if not isinstance(a, dict) or "keypoints" not in a or "image_id" not in a:
            continue
        if a.get("category_id", 1) != 1 or not a["keypoints"]:
            continue
        iid = a["image_id"]
        kp = _keypoint_rows(a["keypoints"], where(i, f"image_id {iid!r}", "keypoints"), 3)
        check_joint_count(kp, fmt, where(i, f"image_id {iid!r}", "keypoints"))
        labelled = int((kp[:, 2] > 0).sum())
        if labelled < 2:
            continue
        if iid not in people:
            order.append(iid)
            people[iid] = []
        people[iid].append({"kp": kp, "person": _track_id(a), "slot": len(people[iid]),
                            "rank": (labelled, float(a.get("area", 0) or 0), -i),
                            "score": labelled / len(kp)})
    if not order:
        raise ValueError(f"{path}: no person annotation with at least 2 labelled keypoints")
    if all(isinstance(x, int) for x in order):
        order = sorted(order)
    base = os.path.dirname(os.path.abspath(path))
    frames = []
    for iid in order:
        im = images.get(iid, {})
        size = None
        if "width" in im and "height" in im:
            size = _size([im["width"], im["height"]], f"{path}: image {iid!r}: 'width'/'height'")
        name = im.get("file_name")
        frames.append(({"id": iid, "label": iid, "K": None, "image_size": size,
                        "image": os.path.join(base, name) if isinstance(name, str) else None},
                       people[iid]))
    records, num_frames, notes = _people_records(frames, o, path, fmt)
    return assemble(records, path, fmt, o, where=_Where(path), warnings=notes,
                    num_frames=num_frames)

# ----------------------------------------------------------------------------------------------
# OpenPose
# ----------------------------------------------------------------------------------------------

def load_openpose_dir(path: str, format: str | None = None,
                      options: InputOptions | None = None, **overrides) -> LiftInput:
    """A directory of OpenPose per-frame JSON files (one frame each, one sequence), in
    natural name order (``f_2`` before ``f_10``)."""
    path = os.fspath(path)
    o = InputOptions.make(options, **overrides)
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
    return _openpose_frames(docs, path, format, o)


def _openpose_frames(docs, path, fmt, o: InputOptions) -> LiftInput:
    fmt = _resolve_format(fmt or "openpose", None, path)
    where = _Where(path)
    frames = []
    for i, (fid, doc) in enumerate(docs):
        people = doc.get("people")
        if not isinstance(people, list):
            raise ValueError(f"{where(i, fid, 'people')} must be a list")
        cands = []
        for p, person in enumerate(people):
            # OpenPose before 1.2 wrote 'pose_keypoints' (same layout), still common in
            # published data.
            key = next((k for k in ("pose_keypoints_2d", "pose_keypoints")
                        if isinstance(person, dict) and k in person), None)
            if key is None:
                raise ValueError(f"{where(i, fid, 'people')}[{p}] has no 'pose_keypoints_2d' "
                                 f"(or the older 'pose_keypoints')")
            kp = _keypoint_rows(person[key], where(i, fid, f"people[{p}].{key}"), 3)
            check_joint_count(kp, fmt, where(i, fid, f"people[{p}].{key}"))
            cands.append({"kp": kp, "person": _openpose_id(person), "slot": p,
                          "rank": (float(np.nansum(kp[:, 2])), -p),
                          "score": _mean_confidence(kp, fmt)})
        frames.append(({"id": fid, "label": fid, "K": None, "image_size": None, "image": None},
                       cands))
    records, num_frames, notes = _people_records(frames, o, path, fmt)
    return assemble(records, path, fmt, o, where=where, warnings=notes, num_frames=num_frames)


def _openpose_id(person: dict):
    """OpenPose's ``"person_id"`` (``[-1]`` unless its tracking is on) as an id, or None."""
    pid = person.get("person_id")
    if isinstance(pid, list) and len(pid) == 1:
        pid = pid[0]
    return pid if isinstance(pid, int) and not isinstance(pid, bool) and pid >= 0 else None


def _natural_key(path: str):
    """Sort key that orders digit runs numerically (``frame_9`` before ``frame_10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.path.basename(path))]


# ----------------------------------------------------------------------------------------------
# VideoPose3D custom 2D detections
# ----------------------------------------------------------------------------------------------

def load_videopose3d_custom(path: str, format: str | None = None,
                            options: InputOptions | None = None, **overrides) -> LiftInput:
    """VideoPose3D's custom 2D file (``data_2d_custom_*.npz`` written by its
    ``prepare_data_2d_custom.py``): ``positions_2d[video]['custom'][0]`` ``[T, 17, 2]`` COCO
    pixels and ``metadata['video_metadata'][video]`` with ``w``, ``h``.

    One sequence per video (``seq`` = video index in sorted name order, names in
    ``info['videos']``, ``frame`` = 0..T-1), a default camera from each video's size unless
    ``options.K`` / ``options.image_size`` are given (``options.normalized`` does not apply).
    The file holds pickled dictionaries, so it is read with ``allow_pickle=True``: open only
    files you trust. Options as for :func:`load_input`.
    """
    path = os.fspath(path)
    o = InputOptions.make(options, **overrides)
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
        elif o.image_size is None and o.K is None:
            raise ValueError(f"{path}: metadata['video_metadata'][{video!r}] has no 'w', 'h'; "
                             f"give --image_size W,H or K")
        kps.append(kp)
        seq.append(np.full(len(kp), v))
        frame.append(np.arange(len(kp)))
        names.append(str(video))
    image_size = o.image_size if o.image_size is not None else \
        (np.concatenate(sizes) if len(sizes) == len(kps) else None)
    return make_input(np.concatenate(kps), o.K, seq=np.concatenate(seq),
                      frame=np.concatenate(frame), image_size=image_size, source=path,
                      format=fmt, fov_deg=o.fov_deg, focal=o.focal,
                      min_confidence=o.min_confidence, confidence_mode=o.confidence_mode,
                      info={"videos": names})
