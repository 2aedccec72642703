"""Sequence inputs: seq / frame / fps in .npz, JSON and OpenPose directories as one
ordered sequence, VideoPose3D custom 2D files, and fps / seq / frame in the output."""
import json
import os

import numpy as np
import pytest

from zedo_jax import inputs, lifting
from zedo_jax.core import skeleton

from _people import zero_result

H36M = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}


def h36m_frames(n, shift=5.0):
    """``[n, 17, 3]`` Human3.6M keypoints (pixels, confidence 1); frame i is shifted by
    ``i * shift`` pixels in u, so the order of the frames can be read back."""
    base = np.stack([np.linspace(300, 340, 17), np.linspace(200, 600, 17)], -1)
    kp = np.concatenate([base[None] + np.array([shift, 0.0]) * np.arange(n)[:, None, None],
                         np.ones((n, 17, 1))], -1)
    return kp.astype(np.float32)


def coco_rows(shift=0.0):
    pts = [(100, 60), (108, 55), (92, 55), (115, 58), (85, 58), (130, 100), (70, 100),
           (135, 150), (65, 150), (138, 195), (62, 195), (120, 300), (80, 300), (121, 400),
           (79, 400), (122, 490), (78, 490)]
    return np.array([[u + shift, v] for u, v in pts], np.float32)


def test_npz_seq_frame_fps(tmp_path):
    kp = h36m_frames(6)
    path = os.path.join(tmp_path, "seq.npz")
    np.savez(path, keypoints=kp, K=np.diag([1000.0, 1000.0, 1.0]), seq=[0, 0, 0, 1, 1, 1],
             frame=[2, 0, 1, 0, 2, 1], fps=[30.0, 25.0])
    inp = inputs.load_input(path)
    np.testing.assert_array_equal(inp.frame, [2, 0, 1, 0, 2, 1])
    np.testing.assert_array_equal(inp.seq, [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(inp.info["fps"], [30.0, 25.0])
    sub = inp.subset(slice(0, 3))
    np.testing.assert_array_equal(sub.frame, [2, 0, 1])
    np.savez(path, keypoints=kp, K=np.diag([1000.0, 1000.0, 1.0]), fps=50.0)
    assert inputs.load_input(path).info["fps"] == 50.0
    # the same frame twice in one sequence, and wrong lengths, are refused
    np.savez(path, keypoints=kp, K=np.diag([1000.0, 1000.0, 1.0]), frame=[0, 1, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="frame 1 appears 2 times"):
        inputs.load_input(path)
    np.savez(path, keypoints=kp, K=np.diag([1000.0, 1000.0, 1.0]), frame=[0, 1])
    with pytest.raises(ValueError, match="frame has 2 entries for 6 frames"):
        inputs.load_input(path)
    np.savez(path, keypoints=kp, K=np.diag([1000.0, 1000.0, 1.0]), fps=-1.0)
    with pytest.raises(ValueError, match="fps must be positive"):
        inputs.load_input(path)


def test_json_frames_are_one_sequence_with_fps(tmp_path):
    frames = [{"id": f"f{i}", "keypoints": kp.tolist()} for i, kp in enumerate(h36m_frames(4))]
    path = os.path.join(tmp_path, "clip.json")
    with open(path, "w") as f:
        json.dump({"K": np.diag([1000.0, 1000.0, 1.0]).tolist(), "fps": 24, "frames": frames}, f)
    inp = inputs.load_input(path)
    assert inp.info["fps"] == 24.0 and inp.seq is None and inp.frame is None
    assert not inp.info["warnings"]
    np.testing.assert_allclose(np.diff(inp.keypoints[:, 0, 0]), 5.0)   # list order kept
    with open(path, "w") as f:
        json.dump({"K": np.diag([1000.0, 1000.0, 1.0]).tolist(), "fps": "30", "frames": frames},
                  f)
    with pytest.raises(ValueError, match="'fps' must be a positive number"):
        inputs.load_input(path)


def test_openpose_directory_in_natural_order(tmp_path):
    d = os.path.join(tmp_path, "op")
    os.makedirs(d)
    body25 = np.zeros((25, 3), np.float32)
    coco = coco_rows()
    # BODY_25 from COCO rows: nose 0, neck 1, shoulders/elbows/wrists, mid-hip 8, legs, eyes/ears
    op_idx = [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11]
    for i in (0, 1, 2, 9, 10, 11):
        pts = body25.copy()
        pts[op_idx, :2] = coco + [10.0 * i, 0.0]
        pts[op_idx, 2] = 0.9
        pts[1, :2] = (pts[2, :2] + pts[5, :2]) / 2
        pts[8, :2] = (pts[9, :2] + pts[12, :2]) / 2
        pts[[1, 8], 2] = 0.9
        with open(os.path.join(d, f"clip_{i}_keypoints.json"), "w") as f:
            json.dump({"people": [{"pose_keypoints_2d": pts.reshape(-1).tolist()}]}, f)
    inp = inputs.load_input(d, image_size=(640, 480))
    assert inp.frame_ids.tolist() == [f"clip_{i}" for i in (0, 1, 2, 9, 10, 11)]
    u = inp.keypoints[:, H36M["pelvis"], 0]
    assert (np.diff(u) > 0).all()                       # clip_9 before clip_10


def _write_videopose3d(path, videos):
    positions = {v: {"custom": [kp]} for v, (kp, _) in videos.items()}
    meta = {"layout_name": "coco", "num_joints": 17,
            "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]],
            "video_metadata": {v: {"w": wh[0], "h": wh[1]} for v, (_, wh) in videos.items()}}
    np.savez_compressed(path, positions_2d=positions, metadata=meta)


def test_videopose3d_custom_file(tmp_path):
    path = os.path.join(tmp_path, "data_2d_custom_myvideos.npz")
    a = np.stack([coco_rows(3.0 * t) for t in range(5)])
    b = np.stack([coco_rows(-2.0 * t) for t in range(3)])
    _write_videopose3d(path, {"walk.mp4": (a, (1920, 1080)), "jump.mp4": (b, (640, 480))})
    inp = inputs.load_input(path)
    assert len(inp) == 8 and inp.info["format"] == "coco17"
    assert inp.info["videos"] == ["jump.mp4", "walk.mp4"]            # sorted video names
    np.testing.assert_array_equal(inp.seq, [0, 0, 0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(inp.frame, [0, 1, 2, 0, 1, 2, 3, 4])
    np.testing.assert_allclose(inp.K[0, :2, 2], [320, 240])          # each video's own size
    np.testing.assert_allclose(inp.K[3, :2, 2], [960, 540])
    np.testing.assert_allclose(inp.keypoints[3:, H36M["pelvis"], 0], 100 + 3.0 * np.arange(5))
    np.testing.assert_allclose(inp.confidence, 1.0)
    bad = os.path.join(tmp_path, "data_2d_custom_bad.npz")
    np.savez(bad, positions_2d={"v": {"other": []}}, metadata={})
    with pytest.raises(ValueError, match=r"has no \['custom'\]\[0\]"):
        inputs.load_input(bad)


def test_output_carries_fps_seq_frame(tmp_path):
    kp = h36m_frames(3)
    inp = inputs.make_input(kp, np.diag([1000.0, 1000.0, 1.0]), seq=[4, 4, 4], frame=[0, 1, 2],
                        fps=30.0)
    out = zero_result(3)
    path = lifting.save_result(os.path.join(tmp_path, "out.npz"), out, inp)
    with np.load(path) as f:
        assert float(f["fps"]) == 30.0
        np.testing.assert_array_equal(f["frame"], [0, 1, 2])
        np.testing.assert_array_equal(f["seq"], [4, 4, 4])
