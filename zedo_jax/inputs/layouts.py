"""Convert 2D keypoints of common detectors to the Human3.6M-17 order ZeDO lifts.

ZeDO's prior knows the 17 Human3.6M joints (:mod:`zedo_jax.core.skeleton`): 0 pelvis, 1 r_hip,
2 r_knee, 3 r_ankle, 4 l_hip, 5 l_knee, 6 l_ankle, 7 spine, 8 thorax, 9 neck_nose, 10 head_top,
11 l_shoulder, 12 l_elbow, 13 l_wrist, 14 r_shoulder, 15 r_elbow, 16 r_wrist. ("Left" and
"right" are the person's own sides, as in every detector format below.)

Supported source layouts (``format`` names; aliases in :data:`ALIASES`):

=============  ====  =========================================================================
format         J     source
=============  ====  =========================================================================
``h36m``       17    already Human3.6M-17 order (passed through)
``coco17``     17    COCO keypoints as written by MMPose / RTMPose, Detectron2, YOLO-pose,
                     ViTPose: nose, l_eye, r_eye, l_ear, r_ear, l_shoulder, r_shoulder,
                     l_elbow, r_elbow, l_wrist, r_wrist, l_hip, r_hip, l_knee, r_knee,
                     l_ankle, r_ankle
``mediapipe``  33    MediaPipe Pose / BlazePose landmarks (0 nose, 2 l_eye, 5 r_eye, 7 l_ear,
                     8 r_ear, 11/12 shoulders, 13/14 elbows, 15/16 wrists, 23/24 hips,
                     25/26 knees, 27/28 ankles; hands, mouth and feet are not used)
``body25``     25    OpenPose BODY_25 (adds Neck 1 and MidHip 8 to the COCO joints, plus feet)
``coco18``     18    OpenPose COCO-18 (COCO joints plus Neck 1, in OpenPose's order)
``openpose``   25|18 OpenPose; BODY_25 or COCO-18 chosen by the joint count
=============  ====  =========================================================================

Arrays are ``[N, J, C]`` (a single frame ``[J, C]`` is accepted too) with columns
``(u, v)`` or ``(u, v, confidence)`` in pixels; for MediaPipe also ``(x, y, z, visibility)`` or
``(x, y, z, visibility, presence)`` (the visibility is the confidence; ``z`` is ignored).
MediaPipe's normalised ``[0, 1]`` coordinates are scaled to pixels with ``normalized=True``
and ``image_size=(width, height)``. Without a confidence column every joint gets
confidence 1 (except NaN coordinates).

**Missing joints.** A source joint is *missing* when its confidence is 0 (OpenPose writes
``(0, 0, 0)`` for undetected joints), below ``min_confidence`` (default 0: keep everything),
or its coordinates are NaN. Missing joints get confidence 0 and NaN coordinates in the
output. ZeDO (``LiftConfig.loop.mask_zero_confidence``, on by default) then ignores them: they get
zero weight in the least-squares translation, are not moved onto their camera rays, and are
left out of the IPO loss; the prior fills them in. Every other joint weighs ``c^2`` in the
least-squares translation (as the release weighs them), so low confidences pull less.

**Derived joints.** The source layouts lack pelvis, spine, thorax, Human3.6M's neck/nose and
head top. They are built from the joints the source has; a derived joint's confidence is the
MINIMUM of the confidences of the joints it is computed from (so it is 0 when one is
missing). The rules were chosen to reproduce the geometry of the prior's training poses
(CMU mocap in Human3.6M-17 layout; the numbers are averages over its 66,722 poses):

* ``pelvis = (l_hip + r_hip) / 2``  (exact in the training data).  BODY_25: when a hip is
  missing, OpenPose's MidHip is used instead.
* ``thorax = S + 0.08 (S - pelvis)`` with ``S = (l_shoulder + r_shoulder) / 2``: the training
  thorax lies above the mid-shoulder point (on average 3.7 cm, 0 to 5.7 cm depending on the
  mocap subset); this rule cuts the mean 3D distance to it from 4.4 cm (``S`` alone) to
  2.7 cm. When the pelvis is missing (hips not detected): ``thorax = S``; when a shoulder is
  missing, OpenPose's Neck (if available).
* ``spine = (pelvis + thorax) / 2``  (the training spine sits at 0.50 of the way up).
* ``neck_nose = nose``  (Human3.6M's joint 9 is a nose-like point: in the training data it is
  14 cm above and 7.5 cm in front of the thorax).  When the nose is missing: the face centre
  ``F = (eye_centre + ear_centre) / 2``, else ``eye_centre``, else ``ear_centre``.
  ``eye_centre`` is the midpoint of the two eyes, or the one visible eye (profile views);
  ``ear_centre`` likewise.
* ``head_top``, extrapolated from the face; the first rule whose inputs are all present:

  ==========================================  ================================
  rule                                        inputs (confidence = their min)
  ==========================================  ================================
  ``eye_centre + 1.3 (eye_centre - nose)``    eyes, nose
  ``F + 0.2 (F - thorax)``                    eyes, ears, thorax
  ``ear_centre + 0.15 (ear_centre - thorax)`` ears, thorax
  ``eye_centre + 0.12 (eye_centre - thorax)`` eyes, thorax
  ``nose + 0.25 (nose - thorax)``             nose, thorax
  ==========================================  ================================

  The training "head top" is a forehead-height point about 10 cm from the nose, not the
  vertex. The factors were fitted on the training poses with eyes and ears placed at average
  human positions relative to the nose tip (eyes 3.5 cm above and 2 cm behind it, 6.4 cm
  apart; ears 1.5 cm above and 10 cm behind it, 15 cm apart; :func:`synthetic_coco17_3d`).
  The first rule follows the face's own up direction (nose -> eyes): on the projected test
  views it lands 2.3% of the person's height from the true head top, and keeps the
  neck_nose-head_top bone at its true length on average (the thorax-based rules, 2.6%, make
  it about 10% short).

All rules are affine combinations of image points, so they commute with the perspective
projection up to small depth effects. Confidences are never raised.

    from zedo_jax.inputs import layouts as kf
    h36m = kf.to_h36m(coco_kps, "coco17")          # [N, 17, 3] (u, v, confidence)
"""
from __future__ import annotations

import numpy as np

from zedo_jax.core import skeleton

#: Joint names of each source layout, in their order (person's left/right).
COCO17_NAMES = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder",
                "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee",
                "r_knee", "l_ankle", "r_ankle")
MEDIAPIPE_NAMES = (
    "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer",
    "l_ear", "r_ear", "mouth_l", "mouth_r", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb",
    "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel",
    "l_foot_index", "r_foot_index")
BODY25_NAMES = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "mid_hip", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye",
    "r_ear", "l_ear", "l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe",
    "r_heel")
COCO18_NAMES = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear",
    "l_ear")

#: Source joint names by format (``openpose`` picks body25/coco18 by the joint count).
LAYOUTS = {"h36m": skeleton.JOINT_NAMES, "coco17": COCO17_NAMES,
           "mediapipe": MEDIAPIPE_NAMES, "body25": BODY25_NAMES, "coco18": COCO18_NAMES}
FORMATS = ("h36m", "coco17", "mediapipe", "openpose", "body25", "coco18")
ALIASES = {"h36m17": "h36m", "human36m": "h36m", "coco": "coco17",
           "rtmpose": "coco17", "mmpose": "coco17", "detectron2": "coco17", "yolo": "coco17",
           "blazepose": "mediapipe", "mediapipe33": "mediapipe", "openpose25": "body25",
           "body_25": "body25", "openpose18": "coco18", "openpose_coco": "coco18"}

#: Head-top extrapolation factors ``k`` (see the module docstring): ``eyes_nose`` extrapolates
#: the eye centre away from the nose, the others extrapolate their anchor away from the thorax.
HEAD_TOP_FACTORS = {"eyes_nose": 1.3, "face": 0.2, "ears": 0.15, "eyes": 0.12, "nose": 0.25}
#: Thorax = mid-shoulders + THORAX_LIFT * (mid-shoulders - pelvis).
THORAX_LIFT = 0.08
#: Fraction of the way from pelvis to thorax at which the spine is placed.
SPINE_FRACTION = 0.5

#: The Human3.6M joints that every source layout has directly (h36m index -> name).
_DIRECT = {1: "r_hip", 2: "r_knee", 3: "r_ankle", 4: "l_hip", 5: "l_knee", 6: "l_ankle",
           11: "l_shoulder", 12: "l_elbow", 13: "l_wrist", 14: "r_shoulder", 15: "r_elbow",
           16: "r_wrist"}

CONFIDENCE_MODES = ("auto", "score", "visibility", "sigmoid")


def canonical_format(fmt: str, num_joints: int | None = None) -> str:
    """Resolve a format name or alias (the only place aliases are resolved).

    ``openpose`` becomes ``body25`` / ``coco18`` by ``num_joints`` (and stays ``openpose``
    when ``num_joints`` is ``None``). Raises ``ValueError`` listing the supported names."""
    name = str(fmt).strip().lower().replace("-", "_")
    name = ALIASES.get(name, name)
    if name == "openpose":
        if num_joints is None:
            return name                        # the family; the joint count decides later
        if num_joints == 25:
            return "body25"
        if num_joints == 18:
            return "coco18"
        raise ValueError(f"format 'openpose' needs 25 (BODY_25) or 18 (COCO-18) joints per "
                         f"person; got {num_joints}")
    if name not in LAYOUTS:
        raise ValueError(f"unknown keypoint format {fmt!r}; supported: {', '.join(FORMATS)} "
                         f"(aliases: {', '.join(sorted(ALIASES))})")
    return name


def num_joints(fmt: str) -> tuple[int, ...]:
    """Joint counts a format accepts (``openpose``: 25 or 18)."""
    name = canonical_format(fmt)
    if name == "openpose":
        return (25, 18)
    return (len(LAYOUTS[name]),)


def source_confidence(raw, mode: str = "auto", name: str = "confidence",
                      frame_name=None) -> np.ndarray:
    """Map a detector's per-joint score column to confidences in [0, 1].

    Args:
      raw: ``[...]`` scores (NaN allowed: treated as missing, confidence 0).
      mode: ``'score'`` values already in [0, 1] (MMPose, YOLO-pose, OpenPose, MediaPipe);
        ``'visibility'`` COCO annotation flags 0 (not labelled) / 1 (labelled, occluded) /
        2 (visible) -> 0 / 1 / 1; ``'sigmoid'`` unbounded logits (e.g. Detectron2's keypoint
        heatmap maxima) -> ``1 / (1 + exp(-x))``; ``'auto'`` (default): ``score`` when every
        value is in [0, 1], ``visibility`` when they are the integers 0, 1, 2, else an error.
    Returns:
      float64 array of the same shape in [0, 1].
    """
    c = np.asarray(raw, np.float64)
    finite = np.isfinite(c)
    vals = c[finite]
    if mode == "auto":
        if vals.size == 0 or ((vals >= 0) & (vals <= 1)).all():
            mode = "score"
        elif np.isin(vals, (0.0, 1.0, 2.0)).all():
            mode = "visibility"
        else:
            raise ValueError(
                f"{name} values range over [{vals.min():.4g}, {vals.max():.4g}]{_first_bad(c, frame_name)}, "
                f"not [0, 1] and "
                f"not COCO visibility flags 0/1/2: for unbounded detector scores (e.g. "
                f"Detectron2 logits) use confidence mode 'sigmoid' (--confidence_mode sigmoid), "
                f"otherwise rescale them to [0, 1]")
    if mode == "score":
        if vals.size and ((vals < 0) | (vals > 1)).any():
            raise ValueError(f"{name} must lie in [0, 1] for confidence mode 'score'; values "
                             f"range over [{vals.min():.4g}, {vals.max():.4g}]{_first_bad(c, frame_name)} "
                             f"(use 'sigmoid' "
                             f"for logits or 'visibility' for COCO 0/1/2 flags)")
        out = c
    elif mode == "visibility":
        if vals.size and not np.isin(vals, (0.0, 1.0, 2.0)).all():
            raise ValueError(f"{name}: confidence mode 'visibility' expects COCO flags 0, 1, 2; "
                             f"found {np.setdiff1d(vals, (0.0, 1.0, 2.0))[:5].tolist()}")
        out = (c > 0).astype(np.float64)
    elif mode == "sigmoid":
        out = 1.0 / (1.0 + np.exp(-np.clip(c, -60, 60)))
    else:
        raise ValueError(f"unknown confidence mode {mode!r}; use one of {CONFIDENCE_MODES}")
    return np.where(finite, out, 0.0)


def _first_bad(c, frame_name=None) -> str:
    """Where the first confidence outside [0, 1] is: ``' (first at frame f, joint j)'``
    (``frame_name(f)`` names the frame when given)."""
    bad = np.isfinite(c) & ((c < 0) | (c > 1))
    if c.ndim != 2 or not bad.any():
        return ""
    f, j = np.argwhere(bad)[0]
    where = frame_name(f) if frame_name is not None else f"frame {f}"
    return f" (first at {where}, joint {j}: {c[f, j]:.4g})"


def _split(keypoints, fmt: str, confidence, confidence_mode: str, normalized: bool,
           image_size, name: str, frame_name=None):
    """``[N, J, C]`` -> (uv [N, J, 2] float64 with NaN for missing, conf [N, J])."""
    kp = np.asarray(keypoints, dtype=np.float64) if not isinstance(keypoints, np.ndarray) \
        else keypoints.astype(np.float64)
    counts = num_joints(fmt)
    if kp.ndim == 2 and kp.shape[0] in counts:
        kp = kp[None]
    max_cols = 5 if fmt == "mediapipe" else 3
    if kp.ndim != 3 or not 2 <= kp.shape[2] <= max_cols:
        cols = "2-5 (x, y[, z], visibility[, presence])" if fmt == "mediapipe" else \
            "2 or 3 (u, v[, confidence])"
        raise ValueError(f"{name} must have shape [N, J, C] with J = "
                         f"{' or '.join(map(str, counts))} joints ({fmt}) and C = {cols} "
                         f"columns; got {list(kp.shape)}")
    if kp.shape[1] not in counts:
        raise ValueError(f"{name} has {kp.shape[1]} joints but format {fmt!r} has "
                         f"{' or '.join(map(str, counts))}; check --format")
    if kp.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 frames)")
    uv = kp[..., :2].copy()
    n, j = kp.shape[:2]
    if confidence is not None:
        raw = np.asarray(confidence, np.float64)
        if raw.shape != (n, j):
            raise ValueError(f"confidence must have shape [{n}, {j}], got {list(raw.shape)}")
        cname = "confidence"
    elif kp.shape[2] == 2:
        raw, cname = np.ones((n, j)), None
    elif fmt == "mediapipe" and kp.shape[2] >= 4:
        raw, cname = kp[..., 3], f"{name}[..., 3] (visibility)"
    else:
        raw, cname = kp[..., 2], f"{name}[..., 2] (confidence)"
    conf = np.ones((n, j)) if cname is None else source_confidence(raw, confidence_mode, cname,
                                                                    frame_name)
    if normalized:
        if image_size is None:
            raise ValueError(f"{name}: normalized coordinates need the image size (width, "
                             f"height) to be scaled to pixels; give image_size")
        size = np.broadcast_to(np.asarray(image_size, np.float64), (n, 2))
        uv = uv * size[:, None, :]
    missing = (conf <= 0) | ~np.isfinite(uv).all(-1)
    conf = np.where(missing, 0.0, conf)
    uv = np.where(missing[..., None], np.nan, uv)
    return uv, conf


class _Joints:
    """Named source joints ``name -> (uv [N, 2], conf [N])`` with NaN/0 for missing."""

    def __init__(self, uv, conf, names):
        self.j = {nm: (uv[:, i], conf[:, i]) for i, nm in enumerate(names)}
        self.n = uv.shape[0]

    def get(self, name):
        return self.j.get(name)


def _clean(uv, c):
    c = np.where(np.isfinite(uv).all(-1) & (c > 0), c, 0.0)
    return np.where((c > 0)[:, None], uv, np.nan), c


def _mid(a, b):
    """Midpoint, confidence = min (0 if either is missing)."""
    return _clean((a[0] + b[0]) / 2.0, np.minimum(a[1], b[1]))


def _mid_or_one(a, b):
    """Midpoint of the pair, or the one present joint (its own confidence)."""
    mid = _mid(a, b)
    only_a = (a[1] > 0) & (b[1] <= 0)
    only_b = (b[1] > 0) & (a[1] <= 0)
    uv = np.where(only_a[:, None], a[0], np.where(only_b[:, None], b[0], mid[0]))
    c = np.where(only_a, a[1], np.where(only_b, b[1], mid[1]))
    return _clean(uv, c)


def _first(*cands):
    """Per frame, the first candidate with confidence > 0."""
    uv, c = cands[-1]
    for cu, cc in reversed(cands[:-1]):
        use = cc > 0
        uv = np.where(use[:, None], cu, uv)
        c = np.where(use, cc, c)
    return _clean(uv, c)


def _extrapolate(anchor, base, k):
    """``anchor + k (anchor - base)``, confidence = min."""
    return _clean(anchor[0] + k * (anchor[0] - base[0]), np.minimum(anchor[1], base[1]))


def _lerp(a, b, t):
    return _clean(a[0] + t * (b[0] - a[0]), np.minimum(a[1], b[1]))


def _assemble(src: _Joints) -> np.ndarray:
    """Build ``[N, 17, 3]`` Human3.6M keypoints from named source joints (rules in the module
    docstring)."""
    out = np.full((src.n, 17, 3), np.nan)
    out[..., 2] = 0.0

    def put(i, jt):
        uv, c = _clean(*jt)
        out[:, i, :2], out[:, i, 2] = uv, c

    for i, nm in _DIRECT.items():
        put(i, src.get(nm))
    pelvis = _mid(src.get("l_hip"), src.get("r_hip"))
    if src.get("mid_hip") is not None:
        pelvis = _first(pelvis, src.get("mid_hip"))
    shoulders = _mid(src.get("l_shoulder"), src.get("r_shoulder"))
    thorax = [_extrapolate(shoulders, pelvis, THORAX_LIFT), shoulders]
    if src.get("neck") is not None:
        thorax.append(src.get("neck"))
    thorax = _first(*thorax)
    nose = _clean(*src.get("nose"))
    eyes = _mid_or_one(src.get("l_eye"), src.get("r_eye"))
    ears = _mid_or_one(src.get("l_ear"), src.get("r_ear"))
    face = _mid(eyes, ears)
    k = HEAD_TOP_FACTORS
    head_top = _first(_extrapolate(eyes, nose, k["eyes_nose"]),
                      _extrapolate(face, thorax, k["face"]), _extrapolate(ears, thorax, k["ears"]),
                      _extrapolate(eyes, thorax, k["eyes"]), _extrapolate(nose, thorax, k["nose"]))
    put(0, pelvis)
    put(7, _lerp(pelvis, thorax, SPINE_FRACTION))
    put(8, thorax)
    put(9, _first(nose, face, eyes, ears))
    put(10, head_top)
    return out


def to_h36m(keypoints, format: str = "h36m", *, confidence=None, confidence_mode: str = "auto",
            min_confidence: float = 0.0, normalized: bool = False, image_size=None,
            name: str = "keypoints", frame_name=None) -> np.ndarray:
    """Convert detector keypoints to Human3.6M-17 order.

    Args:
      keypoints: ``[N, J, C]`` (or one frame ``[J, C]``) in the ``format`` layout: pixels
        ``(u, v[, confidence])``; MediaPipe also ``(x, y, z, visibility[, presence])``.
      format: one of :data:`FORMATS` (or an alias).
      confidence: optional ``[N, J]`` scores (override a confidence column).
      confidence_mode: how to read scores, see :func:`source_confidence`.
      min_confidence: source joints with a confidence below this are treated as missing
        (confidence 0). Default 0: only confidence-0 / NaN joints are missing.
      normalized: coordinates are fractions of the image (MediaPipe's default output); they
        are multiplied by ``image_size``.
      image_size: ``(width, height)`` pixels, ``[2]`` or ``[N, 2]`` (needed for ``normalized``).
      name: used in error messages.  frame_name: ``int -> str`` naming frames in errors.
    Returns:
      ``[N, 17, 3]`` float32 ``(u, v, confidence)``, Human3.6M order; missing joints have
      confidence 0 and NaN coordinates. Derived joints follow the module docstring's rules.
    """
    fmt = canonical_format(format)             # raises with the list of formats
    uv, conf = _split(keypoints, fmt, confidence, confidence_mode, normalized, image_size, name,
                      frame_name)
    if min_confidence > 0:
        drop = conf < min_confidence
        conf = np.where(drop, 0.0, conf)
        uv = np.where(drop[..., None], np.nan, uv)
    fmt = canonical_format(fmt, uv.shape[1])
    if fmt == "h36m":
        out = np.concatenate([uv, conf[..., None]], -1)
    else:
        out = _assemble(_Joints(uv, conf, LAYOUTS[fmt]))
    return out.astype(np.float32)


def face_spread(keypoints) -> np.ndarray:
    """Per frame: extent of the first five joints (COCO: the face; Human3.6M: pelvis, right
    leg, left hip) over the extent of all joints. ``[N]``, NaN where undetermined."""
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    uv = kp[..., :2].copy()
    if kp.shape[-1] > 2:
        uv[kp[..., 2] <= 0] = np.nan
    ok = np.isfinite(uv).all(-1)
    out = np.full(len(uv), np.nan)
    for i in range(len(uv)):
        face, body = uv[i, :5][ok[i, :5]], uv[i][ok[i]]
        if len(face) >= 2 and len(body) >= 5:
            whole = np.linalg.norm(body.max(0) - body.min(0))
            if whole > 0:
                out[i] = np.linalg.norm(face.max(0) - face.min(0)) / whole
    return out


def layout_warning(keypoints, fmt: str) -> str | None:
    """A hint when 17-joint keypoints look like the other 17-joint layout (COCO-17 vs
    Human3.6M-17 cannot be told apart by their count). ``None`` when nothing looks wrong.

    Heuristic: in COCO order the first five joints are the face, a small cluster (< 15% of the
    body's extent in 99.9% of synthetic test views); in Human3.6M order they are pelvis, right
    leg and left hip (> 15% in 99.9%). The hint fires when most frames disagree with ``fmt``.
    """
    try:
        fmt = canonical_format(fmt)
    except ValueError:
        return None
    if fmt not in ("h36m", "coco17"):
        return None
    kp = np.asarray(keypoints)
    if kp.ndim < 2 or kp.shape[-2] != 17:
        return None
    r = face_spread(kp)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return None
    small = float(np.mean(r < 0.15))
    if fmt == "h36m" and small > 0.5:
        return ("the keypoints look like COCO-17 order (their first five joints cluster like a "
                "face) but are read as Human3.6M-17; pass --format coco17 (or format='coco17') "
                "if they come from a COCO detector")
    if fmt == "coco17" and small < 0.5:
        return ("the keypoints are read as COCO-17 but their first five joints (COCO: nose, "
                "eyes, ears) do not cluster like a face; if they are already in Human3.6M-17 "
                "order pass --format h36m")
    return None


#: Average face landmarks relative to the nose tip, metres, in a head frame (up, right, forward)
#: -- used by :func:`synthetic_coco17_3d` (and to fit :data:`HEAD_TOP_FACTORS`).
FACE_OFFSETS = {"l_eye": (0.035, -0.032, -0.02), "r_eye": (0.035, 0.032, -0.02),
                "l_ear": (0.015, -0.075, -0.10), "r_ear": (0.015, 0.075, -0.10)}


def synthetic_coco17_3d(poses3d) -> np.ndarray:
    """COCO-17 joints from 3D Human3.6M-17 poses, for tests and demos.

    Body joints are copied; the nose is Human3.6M's neck_nose; eyes and ears are placed at
    :data:`FACE_OFFSETS` in a head frame (up = thorax -> head_top, right = the person's
    right shoulder direction made orthogonal to up, forward = up x right). Works in any
    right-handed frame, e.g. camera axes (x right, y down, z forward).

    Args:
      poses3d: ``[N, 17, 3]`` (or ``[17, 3]``) metres.
    Returns:
      ``[N, 17, 3]`` (or ``[17, 3]``) COCO-17 points in the same frame; project them with
      :func:`zedo_jax.core.camera.project` to get detector-like 2D keypoints.
    """
    P = np.asarray(poses3d, np.float64)
    single = P.ndim == 2
    P = P[None] if single else P
    up = P[:, 10] - P[:, 8]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    right = P[:, 14] - P[:, 11]
    right -= np.sum(right * up, -1, keepdims=True) * up
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    fwd = np.cross(up, right)
    h36m = {nm: P[:, i] for i, nm in enumerate(skeleton.JOINT_NAMES)}
    h36m["nose"] = P[:, 9]
    for nm, (a, b, c) in FACE_OFFSETS.items():
        h36m[nm] = P[:, 9] + a * up + b * right + c * fwd
    out = np.stack([h36m[nm] for nm in COCO17_NAMES], 1)
    return out[0] if single else out
