"""One assembler for every reader: arrays or per-frame records -> a validated :class:`LiftInput`.

Readers (:mod:`zedo_jax.inputs.readers`) turn their file into per-frame records::

    {"id": str | int, "label": the id as the file names it (or None), "keypoints": [J, C],
     "K": [3, 3] | None, "image_size": [2] | None, "image": path | None}

and :func:`assemble` resolves the intrinsics of each frame (first available: the caller's
``K``; the frame's ``"K"``; the file's ``"K"``; else a default camera from the image size),
converts the layout and validates everything through :func:`make_input`.
"""
from __future__ import annotations

import numpy as np

from zedo_jax.core import camera
from zedo_jax.evaluation import quality
from zedo_jax.inputs import layouts
from zedo_jax.inputs.types import InputOptions, LiftInput
from zedo_jax.inputs.validation import (check_not_normalized, image_sizes, validate_fps, validate_frames, validate_intrinsics, validate_keypoints, validate_poses3d)


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
               info: dict | None = None, frame_name=None, frame=None, fps=None) -> LiftInput:
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
    if frame is not None:
        frame = validate_frames(frame, seq, source)
    if fps is not None:
        info["fps"] = validate_fps(fps, source)
    info["warnings"] = warnings
    info.setdefault("source", source)
    return LiftInput(uv, conf, Ks, gt, None if seq is None else np.asarray(seq),
                     None if frame_ids is None else np.asarray(frame_ids), size,
                     None if images is None else np.asarray(images, dtype=str), info, frame)


def assemble(records: list, path: str, fmt: str, options: InputOptions, *, where,
             top_K=None, top_size=None, warnings=(), fps=None) -> LiftInput:
    """Per-frame records of one file -> :class:`LiftInput` (see the module docstring).

    Args:
      records: the reader's per-frame dicts.  path: the file (for messages).
      fmt: the resolved layout.  options: :class:`InputOptions` (``normalized`` resolved).
      where: the reader's message builder ``where(index, label, field) -> str``.
      top_K, top_size: file-level intrinsics / image size (frames may override them).
      warnings: notes gathered while reading.
      fps: the file's frame rate (its frames are one sequence in record order), or ``None``.
    """
    warnings = list(warnings)
    fov_deg, focal = options.fov_deg, options.focal
    normalized = bool(options.normalized)
    n = len(records)
    for axis, what in ((1, "values per row"), (0, "joints")):
        counts = [r["keypoints"].shape[axis] for r in records]
        bad = next((i for i, m in enumerate(counts) if m != counts[0]), None)
        if bad is not None:
            raise ValueError(f"{where(bad, records[bad].get('label'), 'keypoints')} has "
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
                        f"{where(i, r.get('label'))}: no intrinsics: give \"K\" or "
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
            raise ValueError(f"{where(i, records[i].get('label'))}: normalized coordinates "
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
        label = records[i].get("label") if 0 <= i < n else None
        return f"frame {i}" + (f" (id {label!r})" if label is not None else "")

    known = np.isfinite(sizes).all()
    return make_input(kps, Ks, frame_ids=frame_ids, image_size=sizes if known else None,
                      fov_deg=fov_deg, focal=focal, source=path, format=fmt,
                      normalized=normalized, min_confidence=options.min_confidence,
                      confidence_mode=options.confidence_mode, images=images,
                      info={"camera": camera_note, "warnings": warnings},
                      frame_name=frame_name, fps=fps)
