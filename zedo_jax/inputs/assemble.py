"""One assembler for every reader: arrays or per-frame records -> a validated :class:`LiftInput`.

Readers (:mod:`zedo_jax.inputs.readers`) turn their file into per-frame records::

    {"id": str | int, "label": the id as the file names it (or None), "keypoints": [J, C],
     "K": [3, 3] | None, "image_size": [2] | None, "image": path | None}

With several people per frame a record is one person in one frame and adds
``"frame": int`` (the frame's index among the file's frames) and ``"person": int | None`` (the
given id; ``None`` everywhere = assign tracks); ``id``, ``K``, ``image_size`` and ``image`` are
the frame's.

and :func:`assemble` resolves the intrinsics of each frame (first available: the caller's
``K``; the frame's ``"K"``; the file's ``"K"``; else a default camera from the image size),
converts the layout and validates everything through :func:`make_input`.
"""
from __future__ import annotations

import numpy as np

from zedo_jax.core import camera
from zedo_jax.evaluation import quality
from zedo_jax.inputs import layouts, tracking
from zedo_jax.inputs.types import InputOptions, LiftInput
from zedo_jax.inputs.validation import (check_not_normalized, image_sizes, validate_fps,
                                        validate_frames, validate_intrinsics, validate_keypoints,
                                        validate_poses3d)


def describe_default_camera(width: float, height: float, fov_deg: float = 55.0,
                            focal: float | None = None) -> str:
    """One line describing :func:`zedo_jax.core.camera.default_intrinsics` for an image size."""
    K = camera.default_intrinsics(width, height, fov_deg=fov_deg, focal=focal)
    how = "given focal" if focal is not None else \
        f"{fov_deg:g} deg field of view across {max(width, height):g} px"
    return (f"default intrinsics for {width:g}x{height:g} px: f = {K[0, 0]:.1f} px ({how}), "
            f"principal point at the image centre")


def _prefixed(source: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, with ``source`` put in front of a ``ValueError``'s message."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def make_input(keypoints, K=None, *, confidence=None, poses3d=None, seq=None, frame_ids=None,
               image_size=None, fov_deg: float = 55.0, focal: float | None = None,
               source: str = "input", format: str | None = None, normalized: bool = False,
               min_confidence: float = 0.0, confidence_mode: str = "auto", images=None,
               info: dict | None = None, frame_name=None, frame=None, fps=None,
               frame_index=None, person=None) -> LiftInput:
    """Validate arrays into a :class:`LiftInput` (errors name ``source`` and the field).

    Args:
      keypoints: ``[N, 17, 2|3]`` Human3.6M pixels, or ``[N, J, C]`` in ``format``'s layout.
      K: ``[3, 3]`` / ``[N, 3, 3]``; when ``None`` it is built from ``image_size`` by
        :func:`zedo_jax.core.camera.default_intrinsics` (``fov_deg`` / ``focal``).
      format: ``None`` (Human3.6M, strict validation) or a layout of
        :mod:`zedo_jax.inputs.layouts`; then ``normalized``, ``min_confidence`` and
        ``confidence_mode`` apply as in :func:`zedo_jax.inputs.layouts.to_h36m`.
      images: optional ``[N]`` picture paths for the plots.  info: notes kept with the input.
      frame_name: ``int -> str`` naming frames in errors (default ``frame <index>``).
      frame: optional ``[N]`` integer frame index within each sequence (``seq``).
      fps: optional frame rate: a number, or one per sequence (kept as ``info['fps']``).
      frame_index: ``[N]`` integers, several people per frame: each row's frame (``0..F-1``);
        see :func:`people_sequences` for what ``seq`` and ``frame`` become.
      person: ``[N]`` integer person ids (with ``frame_index``), or ``None``: track ids from
        :func:`zedo_jax.inputs.tracking.assign_tracks`.
    """
    info = dict(info or {})
    warnings = list(info.get("warnings", []))
    name_kw = {} if frame_name is None else {"frame_name": frame_name}
    if format is None and (normalized or min_confidence > 0 or confidence_mode != "auto"):
        format = "h36m"
    kp = np.asarray(keypoints)
    n_guess = kp.shape[0] if kp.ndim == 3 else 1
    size = image_sizes(image_size, n_guess, source) if kp.ndim in (2, 3) else None
    if format is not None:
        kp = _prefixed(source, layouts.to_h36m, kp, format, confidence=confidence,
                       confidence_mode=confidence_mode, min_confidence=min_confidence,
                       normalized=normalized, image_size=size, **name_kw)
        confidence = None
        raw = np.asarray(keypoints)
        info["format"] = layouts.canonical_format(format, raw.shape[-2])
        hint = layouts.layout_warning(raw, "coco17") if info["format"] == "coco17" else None
        if hint:
            warnings.append(hint)
    else:
        info.setdefault("format", "h36m")
    uv, conf = _prefixed(source, validate_keypoints, kp, confidence, **name_kw)
    if info["format"] == "h36m":
        hint = layouts.layout_warning(np.concatenate([uv, conf[..., None]], -1), "h36m")
        if hint:
            warnings.append(hint)
    n = len(uv)
    if size is not None and len(size) != n:
        size = image_sizes(image_size, n, source)
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
    Ks = _prefixed(source, validate_intrinsics, K, n, name="K")
    warnings += quality.input_warnings(uv, conf, Ks, source)
    gt = None if poses3d is None else _prefixed(source, validate_poses3d, poses3d, n)
    for name, arr in (("seq", seq), ("frame_ids", frame_ids), ("images", images),
                      ("frame", frame)):
        if arr is not None and len(np.asarray(arr)) != n:
            raise ValueError(f"{source}: {name} has {len(np.asarray(arr))} entries for {n} frames")
    if fps is not None:
        fps = validate_fps(fps, source)
    if person is not None and frame_index is None:
        raise ValueError(f"{source}: person needs frame_index (or frame): the frame of each row")
    if frame_index is not None:
        frame_index = _integers(frame_index, n, "frame_index", source)
        if person is None:
            person = tracking.assign_tracks(uv, conf, frame_index)
            info.setdefault("tracks", f"person ids are tracks (2D proximity, "
                                      f"zedo_jax.inputs.tracking): {int(person.max()) + 1} tracks")
        else:
            person = _integers(person, n, "person", source)
        seq, frame, fps = people_sequences(frame_index, person, seq, frame, fps, source, info)
    if frame is not None:
        frame = validate_frames(frame, seq, source)
    if fps is not None:
        info["fps"] = fps
    info["warnings"] = warnings
    info.setdefault("source", source)
    return LiftInput(uv, conf, Ks, gt, None if seq is None else np.asarray(seq),
                     None if frame_ids is None else np.asarray(frame_ids), size,
                     None if images is None else np.asarray(images, dtype=str), info, frame,
                     frame_index, person)


def _integers(values, n: int, name: str, source: str) -> np.ndarray:
    a = np.asarray(values)
    if a.shape != (n,):
        raise ValueError(f"{source}: {name} must be [{n}] (one per row); got shape "
                         f"{list(a.shape)}")
    if a.dtype.kind not in "iu":
        if a.dtype.kind != "f" or not np.isfinite(a).all() or (a != np.round(a)).any():
            raise ValueError(f"{source}: {name} must hold integers; got dtype {a.dtype}")
    a = a.astype(np.int64)
    if (a < 0).any():
        raise ValueError(f"{source}: {name} must be >= 0; got {int(a.min())}")
    return a


def people_sequences(frame_index, person, seq=None, frame=None, fps=None,
                     source: str = "input", info: dict | None = None):
    """``seq``, ``frame`` and ``fps`` of a multi-person input: each person is a sequence.

    ``seq`` = ``person`` (no sequences given), else a unique id ``0..G-1`` of each
    (sequence, person) pair in sorted order (the pairs as ``info['seq_person']`` ``[G, 2]``:
    the index of the file's sequence among its sorted ids, and the person); ``frame`` = the
    given ``frame`` (within the file's sequence), else ``frame_index``; a per-sequence ``fps``
    ``[G0]`` is repeated for each person. A person appearing twice in one frame is an error.
    """
    info = {} if info is None else info
    pairs, counts = np.unique(np.stack([frame_index, person], 1), axis=0, return_counts=True)
    if (counts > 1).any():
        f, p = pairs[np.argmax(counts > 1)]
        raise ValueError(f"{source}: frame {f} holds person {p} {counts.max()} times; person "
                         f"ids must differ within a frame")
    info.setdefault("frames", int(frame_index.max()) + 1)
    if seq is None:
        new_seq = person.copy()
    else:
        _, codes = np.unique(np.asarray(seq), return_inverse=True)
        codes = codes.reshape(-1)
        table, new_seq = np.unique(np.stack([codes, person], 1), axis=0, return_inverse=True)
        new_seq = new_seq.reshape(-1).astype(np.int64)
        info["seq_person"] = table.tolist()
        if fps is not None and np.ndim(fps):
            if len(fps) != codes.max() + 1:
                raise ValueError(f"{source}: fps has {len(fps)} values for "
                                 f"{codes.max() + 1} sequences")
            fps = validate_fps(np.asarray(fps)[table[:, 0]], source)
    return new_seq, frame_index.copy() if frame is None else frame, fps


def assemble(records: list, path: str, fmt: str, options: InputOptions, *, where,
             top_K=None, top_size=None, warnings=(), fps=None,
             num_frames: int | None = None) -> LiftInput:
    """Per-frame records of one file -> :class:`LiftInput` (see the module docstring).

    Args:
      records: the reader's per-frame dicts.  path: the file (for messages).
      fmt: the resolved layout.  options: :class:`InputOptions` (``normalized`` resolved).
      where: the reader's message builder ``where(index, label, field) -> str``.
      top_K, top_size: file-level intrinsics / image size (frames may override them).
      warnings: notes gathered while reading.
      fps: the file's frame rate (its frames are one sequence in record order), or ``None``.
      num_frames: several people per frame: the file's frame count ``F`` (frames without
        people included; ``info['frames']``); the records then carry ``"frame"`` and
        ``"person"``. ``None``: one record per frame.
    """
    warnings = list(warnings)

    def at(i, field=None):            # message prefix of record i (its frame's index)
        return where(records[i].get("frame", i), records[i].get("label"), field)

    fov_deg, focal = options.fov_deg, options.focal
    normalized = bool(options.normalized)
    n = len(records)
    for axis, what in ((1, "values per row"), (0, "joints")):
        counts = [r["keypoints"].shape[axis] for r in records]
        bad = next((i for i, m in enumerate(counts) if m != counts[0]), None)
        if bad is not None:
            raise ValueError(f"{at(bad, 'keypoints')} has "
                             f"{counts[bad]} {what} but frame 0 has {counts[0]}; every frame "
                             f"needs the same keypoint layout")
    kps = np.stack([r["keypoints"] for r in records])
    size_arg = None if options.image_size is None else image_sizes(options.image_size, n, path)
    sizes = np.full((n, 2), np.nan)
    for i, r in enumerate(records):
        s = size_arg[i] if size_arg is not None else r["image_size"] \
            if r["image_size"] is not None else top_size
        if s is not None:
            sizes[i] = s
    if options.K is not None:
        Ks = options.K
        camera_note = "intrinsics K given by the caller"
    else:
        Ks = np.zeros((n, 3, 3))
        n_default = 0
        for i, r in enumerate(records):
            K = r["K"] if r["K"] is not None else top_K
            if K is None:
                if not np.isfinite(sizes[i]).all():
                    raise ValueError(
                        f"{at(i)}: no intrinsics: give \"K\" or "
                        f"\"image_size\" [width, height] (per frame or at the top level of the "
                        f"file), or pass --image_size W,H for a default camera (principal point "
                        f"at the centre, {fov_deg:g} deg field of view; see --fov_deg / --focal)")
                K = camera.default_intrinsics(*sizes[i], fov_deg=fov_deg, focal=focal)
                n_default += 1
            Ks[i] = K
        if n_default:
            first = next(i for i, r in enumerate(records) if r["K"] is None and top_K is None)
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
            raise ValueError(f"{at(i)}: normalized coordinates "
                             f"need the image size to scale them to pixels; give \"image_size\" "
                             f"or --image_size W,H")
    else:
        check_not_normalized(kps, path)
    ids = [r["id"] for r in records]
    frame_ids = np.asarray(ids) if all(isinstance(x, int) for x in ids) else \
        np.asarray([str(x) for x in ids])
    images = None
    if any(r.get("image") for r in records):
        images = np.asarray([r.get("image") or "" for r in records], dtype=str)

    def frame_name(i: int) -> str:
        if not 0 <= i < n:
            return f"frame {i}"
        r = records[i]
        label = r.get("label")
        name = f"frame {r.get('frame', i)}" + (f" (id {label!r})" if label is not None else "")
        if num_frames is not None:
            name += f" person {r['person']!r}" if r.get("person") is not None else \
                f" person #{r.get('slot', 0)}"
        return name

    frame_index = person = None
    info = {"camera": camera_note, "warnings": warnings}
    if num_frames is not None:
        frame_index = np.asarray([r["frame"] for r in records], np.int64)
        given = [r.get("person") for r in records]
        person = None if any(p is None for p in given) else np.asarray(given, np.int64)
        info["frames"] = int(num_frames)
    known = np.isfinite(sizes).all()
    return make_input(kps, Ks, frame_ids=frame_ids, image_size=sizes if known else None,
                      fov_deg=fov_deg, focal=focal, source=path, format=fmt,
                      normalized=normalized, min_confidence=options.min_confidence,
                      confidence_mode=options.confidence_mode, images=images,
                      info=info, frame_name=frame_name, fps=fps,
                      frame_index=frame_index, person=person)
