"""zedo_jax.export: world frame, pitch from the feet, JSON, CSV and BVH (checked with an
independent BVH reader and forward kinematics written from the format description)."""
from __future__ import annotations

import csv
import json
import math
import os
import types

import numpy as np
import pytest

from zedo_jax import export
from zedo_jax.core.skeleton import BONES, JOINT_NAMES, PARENTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get("ZEDO_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
SEQUENCES = os.path.join(SHARED_DATA, "cmu_test_sequences.npz")


# --------------------------------------------------------------------------------------------
# An independent BVH reader and forward kinematics
# --------------------------------------------------------------------------------------------

def read_bvh(path):
    """Parse a BVH file: joints (name, parent index, offset, channels), end sites, motion."""
    with open(path) as f:
        text = f.read()
    head, motion = text.split("MOTION")
    tokens = head.split()
    assert tokens[0] == "HIERARCHY"
    joints, ends, stack = [], [], []
    i = 1
    while i < len(tokens):
        t = tokens[i]
        if t in ("ROOT", "JOINT"):
            joints.append({"name": tokens[i + 1], "parent": stack[-1] if stack else -1})
            stack.append(len(joints) - 1)
            assert tokens[i + 2] == "{"
            i += 3
        elif t == "End":
            assert tokens[i + 1] == "Site" and tokens[i + 2] == "{" and tokens[i + 3] == "OFFSET"
            ends.append((stack[-1], np.array(tokens[i + 4:i + 7], float)))
            assert tokens[i + 7] == "}"
            i += 8
        elif t == "OFFSET":
            joints[stack[-1]]["offset"] = np.array(tokens[i + 1:i + 4], float)
            i += 4
        elif t == "CHANNELS":
            k = int(tokens[i + 1])
            joints[stack[-1]]["channels"] = tokens[i + 2:i + 2 + k]
            i += 2 + k
        elif t == "}":
            stack.pop()
            i += 1
        else:
            raise AssertionError(f"unexpected token {t}")
    assert not stack
    lines = [ln for ln in motion.strip().splitlines() if ln.strip()]
    frames = int(lines[0].split(":")[1])
    frame_time = float(lines[1].split(":")[1])
    data = np.array([[float(v) for v in ln.split()] for ln in lines[2:]])
    assert data.shape == (frames, sum(len(j["channels"]) for j in joints))
    return joints, ends, frame_time, data


def _axis_rotation(axis, deg):
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (4, 4))
    m[..., 3, 3] = 1
    i, j = {"X": (1, 2), "Y": (2, 0), "Z": (0, 1)}[axis]
    k = 3 - i - j
    m[..., k, k] = 1
    m[..., i, i], m[..., i, j], m[..., j, i], m[..., j, j] = c, -s, s, c
    return m


def bvh_fk(joints, data):
    """Global joint positions ``[F, J, 3]``: global = parent @ T(offset) @ (channel transforms
    in the listed order), the standard BVH reading."""
    frames = len(data)
    out = np.zeros((frames, len(joints), 3))
    glob = []
    col = 0
    for j, joint in enumerate(joints):
        m = np.tile(np.eye(4), (frames, 1, 1))
        m[:, :3, 3] = joint["offset"]
        for ch in joint["channels"]:
            v = data[:, col]
            col += 1
            if ch.endswith("position"):
                t = np.tile(np.eye(4), (frames, 1, 1))
                t[:, "XYZ".index(ch[0]), 3] = v
                m = m @ t
            else:
                m = m @ _axis_rotation(ch[0], v)
        if joint["parent"] >= 0:
            m = glob[joint["parent"]] @ m
        glob.append(m)
        out[:, j] = m[:, :3, 3]
    return out


def bvh_positions(path):
    """FK positions of the 17 Human3.6M joints ``[F, 17, 3]`` of a BVH file, found by name."""
    joints, _, _, data = read_bvh(path)
    pos = bvh_fk(joints, data)
    index = {j["name"]: k for k, j in enumerate(joints)}
    return pos[:, [index[n] for n in JOINT_NAMES]]


# --------------------------------------------------------------------------------------------
# Synthetic motion
# --------------------------------------------------------------------------------------------

LENGTHS = np.array([0, .13, .44, .43, .13, .44, .43, .24, .25, .12, .12, .15, .28, .25,
                    .15, .28, .25])
BASE = {1: (-1, 0, 0), 2: (0, 1, 0), 3: (0, 1, 0), 4: (1, 0, 0), 5: (0, 1, 0), 6: (0, 1, 0),
        7: (0, -1, 0), 8: (0, -1, 0), 9: (0, -1, -.3), 10: (0, -1, 0), 11: (1, 0, 0),
        12: (.3, .9, 0), 13: (0, 1, -.5), 14: (-1, 0, 0), 15: (-.3, .9, 0), 16: (0, 1, -.5)}


def build(directions, lengths=LENGTHS):
    """Root-relative poses ``[F, 17, 3]`` from bone directions ``[F, 17, 3]`` and lengths."""
    d = directions / np.maximum(np.linalg.norm(directions, axis=-1, keepdims=True), 1e-12)
    poses = np.zeros(d.shape)
    for p, c in BONES:
        poses[:, c] = poses[:, p] + lengths[c] * d[:, c]
    return poses


def synthetic_motion(frames=240, seed=0, special=True):
    """Camera-axes motion with fixed bone lengths: every bone wanders smoothly and widely
    on its own (hips and shoulders are not rigid with the spine / neck), plus (``special``)
    28 frames with random and reversed bone directions first."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 4 * np.pi, frames)[:, None, None]
    base = np.zeros((17, 3))
    for c, v in BASE.items():
        base[c] = v
    phases = rng.uniform(0, 2 * np.pi, (3, 17, 3))
    amp = rng.uniform(0.2, 1.2, (17, 3))
    d = base + amp * (np.sin(t + phases[0]) + 0.5 * np.sin(2.3 * t + phases[1]))
    if not special:
        poses = build(d)
        return poses, _trajectory(t)
    d[:20] = rng.normal(size=(20, 17, 3))                  # arbitrary directions
    poses = build(d)
    # Folded limbs: a bone exactly reversed against its parent bone.
    poses[25] = build(np.concatenate([np.zeros((1, 1, 3)), -np.tile([[0, 1.0, 0]], (1, 16, 1))],
                                     axis=1))[0]
    folded = np.array(d[26:28])
    folded[:, 3] = -folded[:, 2]
    folded[:, 13] = -folded[:, 12]
    poses[26:28] = build(folded)
    return poses, _trajectory(t)


def _trajectory(t):
    t = t[:, 0, 0]
    return np.stack([0.4 * np.sin(t), 0.2 + 0.05 * np.cos(3 * t), 4.0 + t / 4], axis=-1)


def world_walk(pitch_deg, frames=300, seed=0, camera_height=1.6):
    """A walker on a floor, seen by a camera pitched down by ``pitch_deg`` degrees.

    The y-up world of :mod:`zedo_jax.export` with the floor at y = 0 and the camera at
    ``(0, camera_height, 6)``; the walker goes diagonally across the floor (toward the camera
    and sideways). Returns camera-axes ``(poses [F, 17, 3] root-relative, root [F, 3])``.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    start, end = np.array([-1.5, 0, -2.0]), np.array([1.2, 0, 3.0])
    heading = (end - start) / np.linalg.norm(end - start)
    side = np.cross([0, 1.0, 0], heading)
    duration = t[-1]
    phase = 2 * np.pi * t / 1.0                               # one stride per second
    progress = lambda s: start + np.clip(s, 0, 1)[:, None] * (end - start)
    joints = np.zeros((frames, 17, 3))
    pelvis = progress(t / duration) + np.array([0, 0.95, 0])
    joints[:, 0] = pelvis
    for idx, sgn, ph in ((3, -1, 0.0), (6, 1, np.pi)):
        # Each foot is planted (at ankle height 0.08 m) half of the cycle, in the air the other.
        swing = np.maximum(0.0, np.sin(phase + ph))
        s = (t - np.sin(phase + ph) / (2 * np.pi)) / duration
        foot = progress(s) + sgn * 0.1 * side
        foot[:, 1] = 0.08 + 0.15 * swing
        joints[:, idx] = foot
    joints[:, (2, 5)] = (joints[:, (3, 6)] + pelvis[:, None]) / 2
    joints[:, (1, 4)] = pelvis[:, None] + np.array([-1, 1])[None, :, None] * 0.12 * side
    for j in (7, 8, 9, 10, 11, 12, 13, 14, 15, 16):
        joints[:, j] = pelvis + np.array([0, 0.1 * j - 0.5, 0])
    joints += rng.normal(0, 0.005, joints.shape)              # 5 mm jitter
    camera = np.array([0, camera_height, 6.0])
    cam = export.from_world(joints - camera, pitch_deg)
    return cam - cam[:, :1], cam[:, 0]


def retarget(poses):
    """Constant bone lengths (the sequence's mean) along each frame's bone directions."""
    d = np.zeros_like(poses)
    lengths = np.zeros(17)
    for p, c in BONES:
        v = poses[:, c] - poses[:, p]
        lengths[c] = np.linalg.norm(v, axis=-1).mean()
        d[:, c] = v
    return build(d, lengths)


# --------------------------------------------------------------------------------------------
# Frames and pitch
# --------------------------------------------------------------------------------------------

def test_to_world_geometry_and_round_trip():
    # A camera h above the floor looking down at a floor point d ahead: the point sits on the
    # optical axis, D = hypot(h, d) away, and lands h below and d in front of the camera.
    h, d = 1.5, 4.0
    pitch = math.degrees(math.atan2(h, d))
    w = export.to_world([0.0, 0.0, math.hypot(h, d)], pitch)
    np.testing.assert_allclose(w, [0.0, -h, -d], atol=1e-12)
    np.testing.assert_allclose(export.to_world([[1.0, 2.0, 3.0]], "y"), [[1.0, -2.0, -3.0]])
    p = np.random.default_rng(0).normal(size=(5, 17, 3))
    np.testing.assert_array_equal(export.to_world(p, "camera"), p)
    for up in ("y", 0.0, 17.5, -8.0, 90.0):
        r = export.world_rotation(up)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        np.testing.assert_allclose(export.from_world(export.to_world(p, up), up), p, atol=1e-12)
    with pytest.raises(ValueError, match="up"):
        export.to_world(p, "z")
    with pytest.raises(ValueError, match="points"):
        export.to_world(np.zeros((4, 2)), "y")


@pytest.mark.parametrize("pitch", [-5.0, 0.0, 12.0, 25.0])
def test_pitch_from_feet_recovers_synthetic_camera(pitch, tmp_path):
    poses, root = world_walk(pitch, seed=int(pitch) + 10)
    est = export.estimate_pitch_from_feet(poses, root)
    print(f"pitch {pitch}: estimated {est:.3f} deg")
    assert abs(est - pitch) < 2.0, (est, pitch)
    path = export.write_json(str(tmp_path / "p.json"), {"poses": poses, "translation": root},
                             world="feet")
    with open(path) as f:
        assert json.load(f)["pitch_deg"] == pytest.approx(est)
    # The world frame it gives puts the feet on a level floor.
    ankles = export.to_world(poses[:, (3, 6)] + root[:, None], est)[..., 1].min(1)
    assert np.ptp(ankles) < 0.05


def test_pitch_from_feet_refuses_feet_in_place():
    poses, root = world_walk(10.0)
    with pytest.raises(ValueError, match="poses"):
        export.estimate_pitch_from_feet(poses[:1].repeat(50, 0), root[:1].repeat(50, 0))
    with pytest.raises(ValueError, match="translation"):
        export.estimate_pitch_from_feet(poses, root[:-1])
    lying = poses.copy()
    lying[:, 8] = [0.5, 0.0, 0.0]                    # a trunk along the floor: not a walker
    with pytest.raises(ValueError, match="trunk"):
        export.estimate_pitch_from_feet(lying, root)


# --------------------------------------------------------------------------------------------
# JSON and CSV
# --------------------------------------------------------------------------------------------

def _result(frames=6, hypotheses=3, seed=0):
    rng = np.random.default_rng(seed)
    poses = rng.normal(0, 0.3, (frames, hypotheses, 17, 3)).astype(np.float32)
    poses -= poses[:, :, :1]
    translation = rng.normal(0, 1, (frames, hypotheses, 3)).astype(np.float32) + [0, 0, 5]
    best = rng.integers(0, hypotheses, frames)
    return types.SimpleNamespace(poses=poses, translation=translation, best=best)


def test_json_schema_and_numbers(tmp_path):
    r = _result()
    path = export.write_json(str(tmp_path / "p.json"), r, frame_ids=np.arange(10, 16), fps=25)
    with open(path) as f:
        doc = json.load(f)
    assert doc["format"] == "zedo_jax.poses/1"
    assert doc["joint_names"] == list(JOINT_NAMES) and doc["units"] == "metres"
    assert "y down" in doc["axes"] and doc["fps"] == 25 and doc["pitch_deg"] is None
    assert [fr["index"] for fr in doc["frames"]] == list(range(10, 16))
    rows = np.arange(6)
    for i, fr in enumerate(doc["frames"]):
        (person,) = fr["people"]
        assert person["id"] == 0
        np.testing.assert_allclose(person["joints"], r.poses[i, r.best[i]], atol=1e-6)
        np.testing.assert_allclose(person["root"], r.translation[i, r.best[i]], atol=1e-6)
    # A y-up world, from a mapping without "best" (hypothesis 0).
    path = export.write_json(str(tmp_path / "w.json"), {"poses": r.poses[:, 0],
                                                         "translation": r.translation[:, 0]},
                             world=10.0)
    with open(path) as f:
        doc = json.load(f)
    assert doc["pitch_deg"] == 10.0 and "y up" in doc["axes"] and doc["fps"] is None
    joints = np.array([fr["people"][0]["joints"] for fr in doc["frames"]])
    np.testing.assert_allclose(export.from_world(joints, 10.0), r.poses[rows, 0], atol=2e-6)
    with pytest.raises(ValueError, match="frame_ids"):
        export.write_json(str(tmp_path / "x.json"), r, frame_ids=[1, 2])
    with pytest.raises(ValueError, match="world"):
        export.write_json(str(tmp_path / "x.json"), r, world="up")
    with pytest.raises(ValueError, match="best"):
        export.write_json(str(tmp_path / "x.json"), types.SimpleNamespace(
            poses=r.poses, translation=r.translation, best=np.full(6, 3)))


def test_csv_header_and_values(tmp_path):
    r = _result()
    path = export.write_csv(str(tmp_path / "p.csv"), r, world="y")
    with open(path) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert header[:4] == ["frame", "root_x", "root_y", "root_z"]
    assert header[4:7] == ["pelvis_x", "pelvis_y", "pelvis_z"] and header[-1] == "r_wrist_z"
    assert len(header) == 4 + 17 * 3 and len(rows) == 7
    values = np.array(rows[1:], float)
    np.testing.assert_array_equal(values[:, 0], np.arange(6))
    poses, root = export.best_hypothesis(r)
    np.testing.assert_allclose(values[:, 1:4], export.to_world(root, "y"), atol=1e-6)
    k = header.index("l_wrist_x")
    np.testing.assert_allclose(values[:, k:k + 3], export.to_world(poses[:, 13], "y"), atol=1e-6)


# --------------------------------------------------------------------------------------------
# BVH
# --------------------------------------------------------------------------------------------

def _fk_error_mm(path, poses, root, up="y", scale=1.0):
    fk = bvh_positions(path) / scale
    want = export.to_world(poses + root[:, None], up)
    return 1000 * np.linalg.norm(fk - want, axis=-1).max()


def test_bvh_structure(tmp_path):
    poses, root = synthetic_motion(frames=12, special=False)
    path = export.write_bvh(str(tmp_path / "m.bvh"), poses, root, fps=25)
    joints, ends, frame_time, data = read_bvh(path)
    assert frame_time == pytest.approx(1 / 25)
    assert joints[0]["name"] == "pelvis" and joints[0]["parent"] == -1
    assert joints[0]["channels"] == ["Xposition", "Yposition", "Zposition",
                                     "Zrotation", "Xrotation", "Yrotation"]
    assert all(j["channels"] == ["Zrotation", "Xrotation", "Yrotation"] for j in joints[1:])
    names = [j["name"] for j in joints]
    assert set(JOINT_NAMES) <= set(names) and len(names) == 17 + 4
    # Every Human3.6M parent is the BVH ancestor (possibly through one link joint).
    for c, p in enumerate(PARENTS):
        if p < 0:
            continue
        up = joints[names.index(JOINT_NAMES[c])]["parent"]
        if names[up] != JOINT_NAMES[p]:
            assert np.allclose(joints[up]["offset"], 0)
            up = joints[up]["parent"]
        assert names[up] == JOINT_NAMES[p]
    assert sorted(names[j] for j, _ in ends) == sorted(
        ["r_ankle", "l_ankle", "head_top", "l_wrist", "r_wrist"])
    # Rest T-pose facing +z (y up, the person's left on +x).
    rest = {n: joints[names.index(n)]["offset"] for n in JOINT_NAMES}
    for name, axis, sign in (("l_hip", 0, 1), ("r_hip", 0, -1), ("r_knee", 1, -1),
                             ("l_ankle", 1, -1), ("spine", 1, 1), ("head_top", 1, 1),
                             ("l_elbow", 0, 1), ("r_wrist", 0, -1)):
        assert sign * rest[name][axis] == pytest.approx(np.linalg.norm(rest[name]))
    # Offsets: the mean bone lengths.
    for p, c in BONES:
        assert np.linalg.norm(joints[names.index(JOINT_NAMES[c])]["offset"]) == pytest.approx(
            LENGTHS[c], abs=1e-5)
    with pytest.raises(ValueError, match="poses"):
        export.write_bvh(str(tmp_path / "x.bvh"), poses[:, :16], root)
    with pytest.raises(ValueError, match="fps"):
        export.write_bvh(str(tmp_path / "x.bvh"), poses, root, fps=0)


@pytest.mark.parametrize("up,scale", [("y", 1.0), (15.0, 100.0), ("camera", 1.0)])
def test_bvh_fk_reproduces_synthetic_motion(tmp_path, up, scale):
    poses, root = synthetic_motion()
    path = export.write_bvh(str(tmp_path / "m.bvh"), poses, root, up=up, scale=scale)
    err = _fk_error_mm(path, poses, root, up, scale)
    print(f"synthetic BVH FK error (up={up}, scale={scale}): max {err:.4f} mm")
    assert err <= 1.0


def _sequences():
    with np.load(SEQUENCES) as f:
        return {k: f[k] for k in ("poses3d", "seq")}


def test_bvh_feet_pitch(tmp_path):
    poses, root = world_walk(12.0)
    poses = retarget(poses)
    path = export.write_bvh(str(tmp_path / "f.bvh"), poses, root, up="feet")
    pitch = export.estimate_pitch_from_feet(poses, root)
    assert abs(pitch - 12.0) < 2.0
    assert _fk_error_mm(path, poses, root, pitch) <= 1.0


def test_bvh_fk_reproduces_real_motion(tmp_path):
    if not os.path.exists(SEQUENCES):
        pytest.skip(f"shared data not found: {SEQUENCES} (set ZEDO_SHARED_DATA to its folder)")
    data = _sequences()
    worst, worst_raw, bound_ok = 0.0, 0.0, True
    for w in range(0, 40, 4):                                 # 10 windows x 120 frames
        absolute = data["poses3d"][data["seq"] == w].astype(np.float64)
        root = absolute[:, 0]
        poses = retarget(absolute - root[:, None])
        path = export.write_bvh(str(tmp_path / f"w{w}.bvh"), poses, root, fps=30)
        worst = max(worst, _fk_error_mm(path, poses, root))
        # Raw (variable) bone lengths: off by at most the accumulated length deviations.
        raw = absolute - root[:, None]
        path = export.write_bvh(str(tmp_path / f"raw{w}.bvh"), raw, root, fps=30)
        err = 1000 * np.linalg.norm(bvh_positions(path) - export.to_world(absolute, "y"), axis=-1)
        dev = np.zeros(raw.shape[:2])
        for p, c in BONES:
            length = np.linalg.norm(raw[:, c] - raw[:, p], axis=-1)
            dev[:, c] = dev[:, p] + np.abs(length - length.mean())
        bound_ok &= bool(np.all(err <= 1000 * dev + 0.01))
        worst_raw = max(worst_raw, err.max())
    print(f"real BVH FK error: constant lengths max {worst:.4f} mm, raw lengths max "
          f"{worst_raw:.2f} mm")
    assert worst <= 1.0
    assert bound_ok


# --------------------------------------------------------------------------------------------
# Blender (optional)
# --------------------------------------------------------------------------------------------

def test_bvh_imports_in_blender(tmp_path):
    bpy = pytest.importorskip("bpy")
    poses, root = synthetic_motion(frames=60)
    path = export.write_bvh(str(tmp_path / "m.bvh"), poses, root, fps=30)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=path, axis_forward="-Z", axis_up="Y", global_scale=1.0,
                            frame_start=1, use_fps_scale=False, rotate_mode="NATIVE")
    arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    want = export.to_world(poses + root[:, None], "y")
    # BVH (x, y, z) with y up and -z forward -> Blender (x, -z, y).
    want = np.stack([want[..., 0], -want[..., 2], want[..., 1]], axis=-1)
    worst = 0.0
    for f in (0, 13, 25, 26, 40, 59):                         # random, folded, smooth
        bpy.context.scene.frame_set(f + 1)
        for j, name in enumerate(JOINT_NAMES):
            head = arm.matrix_world @ arm.pose.bones[name].head
            worst = max(worst, 1000 * np.linalg.norm(np.array(head) - want[f, j]))
    print(f"Blender pose-bone heads vs lifted joints: max {worst:.4f} mm")
    assert worst <= 1.0
