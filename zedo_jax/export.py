"""Export lifted poses for animation tools: JSON, CSV and BVH (numpy only).

    from zedo_jax import export
    poses, root = export.best_hypothesis(result)          # [N, 17, 3], [N, 3] camera axes
    export.write_json("poses.json", result, fps=30)
    export.write_csv("poses.csv", result)
    export.write_bvh("poses.bvh", poses, root, fps=30, up="y")

Frames
------
The lifter works in **camera axes**: x right, y down, z forward (right-handed), metres, origin
at the camera centre. :func:`to_world` turns them into a **y-up world frame**, also
right-handed: x right (the camera's x), y up (against gravity), z toward the camera (the
horizontal direction from the scene back to the camera), origin still at the camera centre.
This is the frame BVH files and Blender's BVH importer expect by default (``axis_up="Y"``,
``axis_forward="-Z"``). The conversion needs the camera's pitch (tilt down positive, degrees):
given by the user, or estimated from the feet with :func:`estimate_pitch_from_feet`. Camera
roll is assumed to be zero.

BVH conventions (:func:`write_bvh`)
-----------------------------------
* Joints are named as :data:`zedo_jax.core.skeleton.JOINT_NAMES`; every BVH joint sits at the
  Human3.6M joint of the same name. The pelvis is the ROOT with the channels
  ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``; every other joint has
  ``Zrotation Xrotation Yrotation``. Angles are degrees, intrinsic, applied in the listed
  order: a joint's local rotation is ``Rz(z) @ Rx(x) @ Ry(y)`` (column vectors), and a joint's
  global transform is ``parent_global @ translate(OFFSET) @ local_rotation`` (the standard BVH
  reading, the one Blender uses).
* Rest pose: a T-pose facing the camera (+z in the y-up frame) with the person's left on +x:
  legs straight down, spine, neck and head straight up, arms horizontal. OFFSET lengths are the
  sequence's mean bone lengths (times ``scale``).
* Joints with several children: the pelvis's rotation maps the spine exactly and takes its
  twist from the hip line (left hip - right hip); the thorax's maps the neck exactly and takes
  its twist from the shoulder line. The hips and the shoulders hang from the pelvis / thorax
  through zero-length link joints (``pelvis_to_r_hip``, ``pelvis_to_l_hip``,
  ``thorax_to_l_shoulder``, ``thorax_to_r_shoulder``: OFFSET 0, 3 rotation channels), like the
  ``LHipJoint`` / clavicle joints of the CMU BVH files, so each child bone gets its own
  rotation and the hips and shoulders need not be rigid relative to the spine and neck.
* Single-child joints take the smallest rotation (no added twist) that turns the bone from its
  parent-carried direction to the lifted one. Leaf joints (ankles, wrists, head top) have zero
  local rotation and an ``End Site`` continuing their bone by a fifth of its length (cosmetic:
  the lifter has no feet, hands or face direction).

Accuracy: the BVH's forward kinematics puts every joint on its lifted direction exactly; only
bone lengths cannot vary per frame (BVH offsets are constant). With constant bone lengths in
the input (e.g. the output of the lifter's anatomy steps) joints come back within float
rounding (micrometres). With variable lengths each joint is off by the accumulated length
deviations of the bones above it: at most ``sum(|length_t - mean length|)`` over its chain.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping

import numpy as np

from zedo_jax.core.skeleton import BONES, JOINT_NAMES, NUM_JOINTS, PARENTS
from zedo_jax.runtime import files

JSON_FORMAT = "zedo_jax.poses/1"
CAMERA_AXES = "camera: x right, y down, z forward (right-handed), origin at the camera centre"
BVH_CHANNELS = ("Zrotation", "Xrotation", "Yrotation")


# Rest (T-pose) direction of every joint's bone (from its parent) in the y-up frame.
_REST_DIRECTIONS = {
    1: (-1, 0, 0), 2: (0, -1, 0), 3: (0, -1, 0),
    4: (1, 0, 0), 5: (0, -1, 0), 6: (0, -1, 0),
    7: (0, 1, 0), 8: (0, 1, 0), 9: (0, 1, 0), 10: (0, 1, 0),
    11: (1, 0, 0), 12: (1, 0, 0), 13: (1, 0, 0),
    14: (-1, 0, 0), 15: (-1, 0, 0), 16: (-1, 0, 0),
}
# Joints with several children: (primary child mapped exactly, (left, right) child for twist).
_MULTI = {0: (7, (4, 1)), 8: (9, (11, 14))}
_LINKED = {1: 0, 4: 0, 11: 8, 14: 8}     # child joint -> multi-child parent, through a link
_LEAVES = (3, 6, 10, 13, 16)
_END_SITE_FRACTION = 0.2


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------

def world_rotation(up="y") -> np.ndarray:
    """``[3, 3]`` rotation ``R`` taking camera axes to the frame ``up`` names (``X = R @ x``).

    Args:
      up: ``"camera"`` (identity: keep camera axes), ``"y"`` (y-up world, level camera) or a
        number, the camera's pitch in degrees (tilt down positive) for the y-up world.
    """
    if isinstance(up, str):
        if up == "camera":
            return np.eye(3)
        if up == "y":
            pitch = 0.0
        else:
            raise ValueError(f"up must be 'camera', 'y' or a pitch in degrees, got {up!r}")
    elif isinstance(up, (int, float, np.integer, np.floating)) and not isinstance(up, bool) \
            and math.isfinite(float(up)):
        pitch = math.radians(float(up))
    else:
        raise ValueError(f"up must be 'camera', 'y' or a finite pitch in degrees, got {up!r}")
    c, s = math.cos(pitch), math.sin(pitch)
    # Columns: the camera's x (right), y (image down) and z (optical axis) in the y-up world.
    return np.array([[1.0, 0.0, 0.0],
                     [0.0, -c, -s],
                     [0.0, s, -c]])


def to_world(points, up="y") -> np.ndarray:
    """Camera axes -> the y-up world frame (see the module docstring), rotation only.

    Args:
      points: ``[..., 3]`` metres in camera axes (x right, y down, z forward): joints,
        root-relative poses or root translations alike (the origin stays at the camera centre).
      up: ``"camera"`` (returned unchanged), ``"y"`` (level camera) or the camera's pitch in
        degrees (tilt down positive).
    Returns:
      ``[..., 3]`` float64: x right, y up, z toward the camera (right-handed).
    """
    points = _points(points, "points")
    return points @ world_rotation(up).T


def from_world(points, up="y") -> np.ndarray:
    """Inverse of :func:`to_world`: ``[..., 3]`` y-up world -> ``[..., 3]`` camera axes."""
    points = _points(points, "points")
    return points @ world_rotation(up)


def _points(points, name):
    points = np.asarray(points, np.float64)
    if points.ndim < 1 or points.shape[-1] != 3:
        raise ValueError(f"{name} must have shape [..., 3], got {points.shape}")
    return points


def estimate_pitch_from_feet(poses, translation, *, keep: float = 0.8, iterations: int = 3,
                             min_spread: float = 0.1, max_trunk_tilt: float = 45.0) -> float:
    """Camera pitch (degrees, tilt down positive) from where the feet touch the floor.

    Each frame's lower ankle (along the current estimate of "up") is taken as a floor contact;
    a plane is fitted to these points (total least squares), the highest ``1 - keep`` of them
    above it (feet in the air: running, jumping) are dropped and the plane refitted,
    ``iterations`` times. The plane's normal is "up"; the pitch is its tilt in the camera's
    y-z plane (roll is ignored).

    Needs a walking or standing sequence whose feet cover ground **in depth** (toward / away
    from the camera or across the floor): ankles that stay in one place or move along one
    line parallel to the image's x axis do not define the floor's tilt (``ValueError``), and
    a floor normal far from the mean trunk direction is refused too (``ValueError``). A person
    moving in place (pelvis fixed, e.g. a treadmill) gives no reliable estimate.
    Ankles sit a few centimetres above the floor; this shifts the plane, not its tilt.

    Args:
      poses: ``[N, 17, 3]`` root-relative metres, camera axes (e.g. :func:`best_hypothesis`).
      translation: ``[N, 3]`` metres, the camera-frame position of the root.
      keep: fraction of the lowest contacts kept at each refit.  min_spread: the contacts'
        RMS spread (metres) needed along the floor's depth direction.  max_trunk_tilt: the
        largest angle (degrees) accepted between the floor's normal and the mean
        pelvis-to-thorax direction (a sanity check against ankles that trace no floor).
    Returns:
      The pitch in degrees, for :func:`to_world`'s ``up``.
    """
    poses, root = _check_pose_arrays(poses, translation, "poses", "translation")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if len(poses) < 3:
        raise ValueError(f"poses must hold at least 3 frames for a floor fit, got {len(poses)}")
    ankles = poses[:, (3, 6)] + root[:, None]                        # [N, 2, 3]
    ankles = ankles[np.isfinite(ankles).all(-1).all(-1)]
    if len(ankles) < 3:
        raise ValueError("poses: fewer than 3 frames with finite ankle positions")
    up = np.array([0.0, -1.0, 0.0])                                  # level-camera guess
    for _ in range(iterations):
        heights = ankles @ up                                        # [N, 2]
        contacts = ankles[np.arange(len(ankles)), np.argmin(heights, axis=1)]
        normal, centre = _fit_plane(contacts)
        up = normal if normal @ up > 0 else -normal
        above = (contacts - centre) @ up
        chosen = contacts[above <= np.quantile(above, keep)]
        if len(chosen) >= 3:
            normal, centre = _fit_plane(chosen)
            up = normal if normal @ up > 0 else -normal
            contacts = chosen
    depth = np.cross(np.array([1.0, 0.0, 0.0]), up)                 # in-plane, along the view
    depth /= max(np.linalg.norm(depth), 1e-12)
    spread = float(np.sqrt(np.mean(((contacts - contacts.mean(0)) @ depth) ** 2)))
    if spread < min_spread:
        raise ValueError(
            f"poses: the feet cover {spread:.3f} m RMS in depth (< min_spread {min_spread} m); "
            "the floor's tilt needs a walking sequence that moves toward or across the floor")
    trunk = poses[:, 8] - poses[:, 0]
    trunk = np.nanmean(trunk / np.maximum(np.linalg.norm(trunk, axis=-1, keepdims=True), 1e-12),
                       axis=0)
    tilt = math.degrees(math.acos(np.clip(trunk @ up / max(np.linalg.norm(trunk), 1e-12), -1, 1)))
    if tilt > max_trunk_tilt:
        raise ValueError(
            f"poses: the fitted floor is {tilt:.0f} deg off the mean trunk direction "
            f"(> max_trunk_tilt {max_trunk_tilt}); the ankles do not trace a floor")
    # up in camera axes is (0, -cos p, -sin p) for a camera pitched down by p.
    return math.degrees(math.atan2(-up[2], -up[1]))


def _fit_plane(points):
    centre = points.mean(0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    return vt[-1], centre


# --------------------------------------------------------------------------------------------
# Results -> arrays
# --------------------------------------------------------------------------------------------

def _field(result_like, name, required=True):
    if isinstance(result_like, Mapping):
        value = result_like.get(name)
    else:
        value = getattr(result_like, name, None)
    if value is None and required:
        raise ValueError(f"result_like has no {name!r}")
    return value


def _check_pose_arrays(poses, root, poses_name, root_name):
    poses = np.asarray(poses, np.float64)
    root = np.asarray(root, np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"{poses_name} must have shape [N, {NUM_JOINTS}, 3], got {poses.shape}")
    if root.shape != (len(poses), 3):
        raise ValueError(f"{root_name} must have shape [{len(poses)}, 3], got {root.shape}")
    return poses, root


def best_hypothesis(result_like):
    """Each frame's chosen hypothesis.

    Args:
      result_like: a :class:`zedo_jax.lifting.LiftResult` or any object / mapping with
        ``poses [N, S, 17, 3]`` (or ``[N, 17, 3]``) root-relative metres, ``translation
        [N, S, 3]`` (or ``[N, 3]``) metres, and optionally ``best [N]`` (default 0).
    Returns:
      ``(poses [N, 17, 3], root [N, 3])`` float64, camera axes.
    """
    poses = np.asarray(_field(result_like, "poses"), np.float64)
    root = np.asarray(_field(result_like, "translation"), np.float64)
    if poses.ndim == 4:
        n, s = poses.shape[:2]
        if poses.shape[2:] != (NUM_JOINTS, 3):
            raise ValueError(f"poses must have shape [N, S, {NUM_JOINTS}, 3], got {poses.shape}")
        if root.shape != (n, s, 3):
            raise ValueError(f"translation must have shape [{n}, {s}, 3], got {root.shape}")
        best = _field(result_like, "best", required=False)
        best = np.zeros(n, np.int64) if best is None else np.asarray(best)
        if best.shape != (n,) or not np.issubdtype(best.dtype, np.integer):
            raise ValueError(f"best must be integers of shape [{n}], got {best.dtype} {best.shape}")
        if n and (best.min() < 0 or best.max() >= s):
            raise ValueError(f"best must lie in [0, {s}), got {best.min()}..{best.max()}")
        rows = np.arange(n)
        poses, root = poses[rows, best], root[rows, best]
    poses, root = _check_pose_arrays(poses, root, "poses", "translation")
    return poses, root


def _resolve_up(up, poses, root, name):
    """``up`` / ``world`` argument -> (rotation, axes text, pitch or None)."""
    if isinstance(up, str) and up == "feet":
        up = estimate_pitch_from_feet(poses, root)
    try:
        rotation = world_rotation(up)
    except ValueError:
        raise ValueError(f"{name} must be 'camera', 'y', 'feet' or a pitch in degrees, "
                         f"got {up!r}") from None
    if isinstance(up, str) and up == "camera":
        return rotation, CAMERA_AXES, None
    pitch = 0.0 if isinstance(up, str) else float(up)
    return rotation, (f"y-up: x right, y up, z toward the camera (right-handed), origin at "
                      f"the camera centre, camera pitch {pitch:g} deg"), pitch


def _frame_ids(frame_ids, n):
    if frame_ids is None:
        return np.arange(n)
    ids = np.asarray(frame_ids)
    if ids.shape != (n,):
        raise ValueError(f"frame_ids must have shape [{n}], got {ids.shape}")
    return ids


def _check_fps(fps, allow_none=True):
    if fps is None and allow_none:
        return None
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(fps)) or float(fps) <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------------------------
# JSON and CSV
# --------------------------------------------------------------------------------------------

def _people(frame_index, person, n):
    """Row order grouped by frame, and each row's frame and person: ``(order, frames,
    people)``; the default (both ``None``) is row ``i`` = frame ``i``, person 0."""
    if frame_index is None and person is None:
        return np.arange(n), np.arange(n), np.zeros(n, np.int64)
    arrays = []
    for name, a in (("frame_index", frame_index), ("person", person)):
        if a is not None:
            a = np.asarray(a)
            if a.shape != (n,) or (n and a.dtype.kind not in "iu"):
                raise ValueError(f"{name} must be integers of shape [{n}], got {a.dtype} "
                                 f"{a.shape}")
        arrays.append(a)
    frames, people = arrays
    if frames is None:
        frames = np.arange(n)
    order = np.argsort(frames, kind="stable")
    if people is None:                                  # the row's place within its frame
        people = np.zeros(n, np.int64)
        sorted_frames = frames[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_frames)) + 1]
        people[order] = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    pairs, counts = np.unique(np.stack([frames, people], 1), axis=0, return_counts=True)
    if (counts > 1).any():
        f, p = pairs[np.argmax(counts > 1)]
        raise ValueError(f"frame_index {f} holds person {p} {counts.max()} times")
    return order, frames, people


def write_json(path, result_like, *, frame_ids=None, fps=None, world=None,
               decimals: int = 6, frame_index=None, person=None) -> str:
    """Write each frame's chosen hypothesis as JSON; returns ``path``.

    Schema (``"format": "zedo_jax.poses/1"``)::

        {"format": "zedo_jax.poses/1", "joint_names": [17 names], "units": "metres",
         "axes": "<the frame, in words>", "pitch_deg": <number or null>, "fps": <number or null>,
         "frames": [{"index": <frame id>,
                     "people": [{"id": 0, "joints": [[x, y, z] x 17], "root": [x, y, z]}]}]}

    ``joints`` are root-relative (the pelvis at 0), ``root`` is the pelvis's position (the
    trajectory); absolute joints are ``joints + root``. ``people`` has one entry per person in
    the frame (row order), ``id`` the person's id. Frames are in increasing ``frame_index``;
    frames without people are absent.

    Args:
      path: output file.  result_like: see :func:`best_hypothesis` (``best`` picks the
        hypothesis).  frame_ids: ``[N]`` each row's frame id (default: the row's frame index).
      fps: frame rate, stored as given (``null`` when None).
      world: ``None`` / ``"camera"`` (camera axes), ``"y"``, a pitch in degrees, or ``"feet"``
        (pitch from :func:`estimate_pitch_from_feet`): the y-up frame of :func:`to_world`.
      decimals: rounding of the coordinates (6: micrometres).
      frame_index: ``[N]`` each row's frame (several people per frame; rows of one frame are
        grouped into its ``people``).  person: ``[N]`` each row's person id (default: its
        place within its frame). Both ``None`` (default): row ``i`` is frame ``i``, person 0.
        With ``world="feet"`` the floor is fitted to every row (all people together).
    """
    poses, root = best_hypothesis(result_like)
    if not (np.isfinite(poses).all() and np.isfinite(root).all()):
        raise ValueError("result_like: poses and translation must be finite for JSON")
    order, frames_of, people_of = _people(frame_index, person, len(poses))
    ids = _frame_ids(frame_ids, len(poses)) if frame_ids is not None or frame_index is None \
        else frames_of
    fps = _check_fps(fps)
    rotation, axes, pitch = _resolve_up("camera" if world is None else world, poses, root,
                                        "world")
    poses = np.round(poses @ rotation.T, decimals)
    root = np.round(root @ rotation.T, decimals)
    frames = []
    for i in order:
        entry = {"id": _plain(people_of[i]), "joints": poses[i].tolist(),
                 "root": root[i].tolist()}
        if frames and frames_of[i] == frames_of[frames[-1][0]]:
            frames[-1][1]["people"].append(entry)
        else:
            frames.append((i, {"index": _plain(ids[i]), "people": [entry]}))
    doc = {"format": JSON_FORMAT, "joint_names": list(JOINT_NAMES), "units": "metres",
           "axes": axes, "pitch_deg": pitch, "fps": fps, "frames": [f for _, f in frames]}
    return files.save_json(path, doc, separators=(",", ":"))


def csv_header(people: bool = False) -> list:
    """The CSV columns: ``frame, root_x, root_y, root_z, pelvis_x, ..., r_wrist_z`` (55);
    with ``people``, ``frame, person, root_x, ...`` (56)."""
    return ["frame"] + (["person"] if people else []) + ["root_x", "root_y", "root_z"] + [
        f"{name}_{axis}" for name in JOINT_NAMES for axis in "xyz"]


def write_csv(path, result_like, *, frame_ids=None, world=None, decimals: int = 6,
              frame_index=None, person=None) -> str:
    """Write each frame's chosen hypothesis as CSV, one row per frame; returns ``path``.

    Columns (:func:`csv_header`): ``frame``, the root's position ``root_x, root_y, root_z``,
    then ``<joint>_x, <joint>_y, <joint>_z`` for the 17 joints, root-relative, metres.
    With ``frame_index`` or ``person`` (several people per frame): one row per person and
    frame, in increasing ``frame_index`` (row order within a frame), with a ``person`` column
    after ``frame``. Arguments as :func:`write_json`.
    """
    poses, root = best_hypothesis(result_like)
    people = frame_index is not None or person is not None
    order, frames_of, people_of = _people(frame_index, person, len(poses))
    ids = _frame_ids(frame_ids, len(poses)) if frame_ids is not None or frame_index is None \
        else frames_of
    rotation, _, _ = _resolve_up("camera" if world is None else world, poses, root, "world")
    values = np.concatenate([root @ rotation.T, (poses @ rotation.T).reshape(len(poses), -1)],
                            axis=1)
    fmt = f"{{:.{int(decimals)}f}}"
    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(csv_header(people))
            for i in order:
                who = [_plain(people_of[i])] if people else []
                writer.writerow([_plain(ids[i])] + who + [fmt.format(v) for v in values[i]])
    return files.atomic_write(path, write)


# --------------------------------------------------------------------------------------------
# BVH
# --------------------------------------------------------------------------------------------

def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _frame_from(primary, secondary):
    """``[..., 3, 3]`` rotation with columns (primary, secondary made orthogonal, cross)."""
    e1 = _unit(primary)
    e2 = secondary - np.sum(secondary * e1, -1, keepdims=True) * e1
    # Secondary along primary (no twist information): any perpendicular keeps it a rotation.
    helper = np.where(np.abs(e1[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    degenerate = np.linalg.norm(e2, axis=-1, keepdims=True) < 1e-9
    e2 = _unit(np.where(degenerate, np.cross(e1, helper), e2))
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def _align(a, b):
    """``[..., 3, 3]`` smallest rotations taking unit vectors ``a`` to unit vectors ``b``."""
    a, b = np.broadcast_arrays(_unit(a), _unit(b))
    c = np.sum(a * b, -1)
    flip = c < 0
    # For c < 0 go through -a: a 180-degree turn about an axis orthogonal to a, then the
    # (well-conditioned) small rotation from -a to b.
    helper = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    u = _unit(np.cross(a, helper))
    half_turn = 2 * u[..., :, None] * u[..., None, :] - np.eye(3)
    start = np.where(flip[..., None], -a, a)
    v = np.cross(start, b)
    cc = np.sum(start * b, -1)
    vx = np.zeros(v.shape + (3,))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    small = np.eye(3) + vx + vx @ vx / (1.0 + cc)[..., None, None]
    return np.where(flip[..., None, None], small @ half_turn, small)


def _euler_zxy_deg(m):
    """``[..., 3, 3]`` -> ``[..., 3]`` degrees (z, x, y) with ``m = Rz(z) @ Rx(x) @ Ry(y)``."""
    x = np.arctan2(m[..., 2, 1], np.hypot(m[..., 0, 1], m[..., 1, 1]))
    z = np.arctan2(-m[..., 0, 1], m[..., 1, 1])
    y = np.arctan2(-m[..., 2, 0], m[..., 2, 2])
    lock = np.hypot(m[..., 0, 1], m[..., 1, 1]) < 1e-9       # x = +-90: only z + -y is defined
    z = np.where(lock, np.arctan2(m[..., 1, 0], m[..., 0, 0]), z)
    y = np.where(lock, 0.0, y)
    return np.degrees(np.stack([z, x, y], axis=-1))


def bvh_joints() -> list:
    """The BVH hierarchy of :func:`write_bvh` in file order: ``(name, parent name or None,
    joint, child)``: ``joint`` the Human3.6M index the BVH joint sits at, ``child`` the index
    of the joint a link joint leads to (``None`` for the 17 named joints)."""
    children = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
    out = []

    def visit(j, parent_name):
        out.append((JOINT_NAMES[j], parent_name, j, None))
        for c in sorted(children[j], key=lambda c: (c not in _LINKED, c)):
            if c in _LINKED:
                link = f"{JOINT_NAMES[j]}_to_{JOINT_NAMES[c]}"
                out.append((link, JOINT_NAMES[j], j, c))
                visit(c, link)
            else:
                visit(c, JOINT_NAMES[j])
    visit(0, None)
    return out


def write_bvh(path, poses, root, fps=30, up="y", *, scale: float = 1.0) -> str:
    """Write a motion as a BVH file with the Human3.6M-17 skeleton; returns ``path``.

    Conventions (channels, rest T-pose, link joints, end sites, accuracy): see the module
    docstring. Bone lengths are the sequence's mean lengths; joint rotations are computed from
    the positions so that the file's forward kinematics returns the input joints (exactly for
    constant bone lengths, otherwise off by the accumulated length deviations).

    Args:
      path: output file.
      poses: ``[N, 17, 3]`` root-relative metres, camera axes (e.g. :func:`best_hypothesis`).
      root: ``[N, 3]`` metres, the camera-frame position of the root (pelvis) per frame.
      fps: frame rate (``Frame Time = 1 / fps``).
      up: the frame written, as :func:`to_world`: ``"y"`` (y-up, level camera; default),
        a pitch in degrees, ``"feet"`` (pitch from :func:`estimate_pitch_from_feet`) or
        ``"camera"`` (camera axes unchanged; the rest pose is then upright in camera axes).
      scale: multiplies every length (1: metres, 100: centimetres).
    """
    poses, root = _check_pose_arrays(poses, root, "poses", "root")
    fps = _check_fps(fps, allow_none=False)
    if len(poses) == 0:
        raise ValueError("poses must hold at least one frame, got 0")
    if not np.isfinite(poses).all() or not np.isfinite(root).all():
        raise ValueError("poses and root must be finite")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(scale)) or float(scale) <= 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    rotation, _, _ = _resolve_up(up, poses, root, "up")
    joints = ((poses + root[:, None]) @ rotation.T) * float(scale)   # [N, 17, 3] absolute
    # Rest directions are upright T-pose ones in the frame written.
    rest_frame = world_rotation("y").T if isinstance(up, str) and up == "camera" else np.eye(3)
    lengths = np.zeros(NUM_JOINTS)
    for p, c in BONES:
        lengths[c] = np.linalg.norm(joints[:, c] - joints[:, p], axis=-1).mean()
    offsets = np.zeros((NUM_JOINTS, 3))
    for c, direction in _REST_DIRECTIONS.items():
        offsets[c] = rest_frame @ np.asarray(direction, np.float64) * lengths[c]

    n = len(joints)
    glob = {}                                                         # name -> [N, 3, 3]
    local = {}
    names = bvh_joints()
    for name, parent, j, link_child in names:
        parent_rot = np.broadcast_to(np.eye(3), (n, 3, 3)) if parent is None else glob[parent]
        if link_child is None and j in _MULTI:       # pelvis, thorax: exact primary + twist
            first, (left, right) = _MULTI[j]
            posed = _frame_from(joints[:, first] - joints[:, j], joints[:, left] - joints[:, right])
            rest = _frame_from(offsets[first], offsets[left] - offsets[right])
            g = posed @ rest.T
        elif link_child is None and j in _LEAVES:
            g = parent_rot
        else:                                        # one bone: smallest turn onto it
            child = link_child if link_child is not None else PARENTS.index(j)
            g = _align(parent_rot @ offsets[child], joints[:, child] - joints[:, j]) @ parent_rot
        glob[name] = g
        local[name] = np.swapaxes(parent_rot, -1, -2) @ g

    lines = ["HIERARCHY"]
    depth = {}
    rot_channels = " ".join(BVH_CHANNELS)

    def fmt(v):
        return " ".join(f"{x:.6f}" for x in v)

    open_blocks = []
    for name, parent, j, link_child in names:
        while open_blocks and open_blocks[-1] != parent:
            closed = open_blocks.pop()
            lines.append("  " * depth[closed] + "}")
        depth[name] = 0 if parent is None else depth[parent] + 1
        pad = "  " * depth[name]
        link = link_child is not None
        offset = np.zeros(3) if parent is None or link else offsets[j]
        lines.append(pad + ("ROOT " if parent is None else "JOINT ") + name)
        lines.append(pad + "{")
        lines.append(pad + "  OFFSET " + fmt(offset))
        if parent is None:
            lines.append(pad + "  CHANNELS 6 Xposition Yposition Zposition " + rot_channels)
        else:
            lines.append(pad + "  CHANNELS 3 " + rot_channels)
        if not link and j in _LEAVES:
            end = offsets[j] / max(np.linalg.norm(offsets[j]), 1e-12) * lengths[j] \
                * _END_SITE_FRACTION
            lines += [pad + "  End Site", pad + "  {", pad + "    OFFSET " + fmt(end),
                      pad + "  }"]
        open_blocks.append(name)
    while open_blocks:
        closed = open_blocks.pop()
        lines.append("  " * depth[closed] + "}")

    angles = [np.unwrap(_euler_zxy_deg(local[name]), period=360.0, axis=0)
              for name, _, _, _ in names]
    motion = np.concatenate([joints[:, 0]] + angles, axis=1)         # [N, 6 + 3 * (J - 1)]
    lines += ["MOTION", f"Frames: {n}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [fmt(row) for row in motion]
    def write(tmp):
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
    return files.atomic_write(path, write)
