"""JSON / COCO / OpenPose inputs: schema, default intrinsics and overrides, and error messages
that name the frame (index and id) and the field."""
import json
import os

import numpy as np
import pytest

from zedo_jax import inputs as io, lifting
from zedo_jax.core import camera, skeleton
from zedo_jax.inputs import layouts as kf

from _people import zero_result

H36M = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}


def coco_rows(shift=0.0, conf=0.9):
    """One upright person, COCO-17 rows [u, v, c] (pixels)."""
    pts = [(100, 60), (108, 55), (92, 55), (115, 58), (85, 58), (130, 100), (70, 100),
           (135, 150), (65, 150), (138, 195), (62, 195), (120, 300), (80, 300), (121, 400),
           (79, 400), (122, 490), (78, 490)]
    return [[u + shift, v, conf] for u, v in pts]


def write(tmp_path, doc, name="in.json"):
    path = os.path.join(tmp_path, name)
    with open(path, "w") as f:
        json.dump(doc, f) if not isinstance(doc, str) else f.write(doc)
    return path


def test_frames_schema_with_default_intrinsics(tmp_path):
    doc = {"format": "coco17", "image_size": [640, 480],
           "frames": [{"id": "a", "keypoints": coco_rows()},
                      {"id": "b", "keypoints": coco_rows(10.0)}]}
    inp = io.load_input(write(tmp_path, doc))
    assert len(inp) == 2 and inp.keypoints.shape == (2, 17, 2)
    assert inp.frame_ids.tolist() == ["a", "b"]
    np.testing.assert_allclose(inp.K[0], camera.default_intrinsics(640, 480, fov_deg=55.0))
    assert inp.K[0, 0, 2] == 320 and inp.K[0, 1, 2] == 240
    f = 640 / (2 * np.tan(np.radians(55) / 2))
    assert inp.K[0, 0, 0] == pytest.approx(f, rel=1e-5)
    assert "default intrinsics" in inp.info["camera"] and inp.info["format"] == "coco17"
    np.testing.assert_allclose(inp.image_size, [[640, 480]] * 2)
    np.testing.assert_allclose(inp.keypoints[0, H36M["pelvis"]], [100, 300])
    np.testing.assert_allclose(inp.keypoints[1, H36M["pelvis"]], [110, 300])
    # Overrides: focal / field of view / image size.
    path = write(tmp_path, doc)
    assert io.load_input(path, focal=1000.0).K[0, 0, 0] == pytest.approx(1000.0)
    wide = io.load_input(path, fov_deg=90.0).K[0, 0, 0]
    assert wide == pytest.approx(320.0, rel=1e-5)
    big = io.load_input(path, image_size=(1920, 1080))
    np.testing.assert_allclose(big.K[0, :2, 2], [960, 540])


def test_per_frame_K_null_joints_and_flat_keypoints(tmp_path):
    K = [[1000.0, 0, 300.0], [0, 1000.0, 250.0], [0, 0, 1]]
    rows = coco_rows()
    rows[COCO_L_WRIST] = None                                  # a missing joint
    flat = [v for r in coco_rows() for v in r]
    doc = {"format": "coco17", "image_size": [640, 480],
           "frames": [{"keypoints": rows, "K": K}, {"id": 7, "keypoints": flat},
                      {"keypoints": coco_rows(), "image_size": [800, 600]}]}
    inp = io.load_input(write(tmp_path, doc))
    np.testing.assert_allclose(inp.K[0], K)
    np.testing.assert_allclose(inp.K[1, :2, 2], [320, 240])
    np.testing.assert_allclose(inp.K[2, :2, 2], [400, 300])
    assert inp.confidence[0, H36M["l_wrist"]] == 0.0
    assert inp.confidence[1, H36M["l_wrist"]] == pytest.approx(0.9)
    assert inp.frame_ids.tolist() == [0, 7, 2]          # all integers: an int array
    assert "for 2 of 3 frames" in inp.info["camera"]


COCO_L_WRIST = kf.COCO17_NAMES.index("l_wrist")


def test_h36m_json_and_top_level_list(tmp_path):
    kp = kf.to_h36m(np.array(coco_rows())[None], "coco17")[0]
    rows = [[float(u), float(v), float(c)] for u, v, c in np.nan_to_num(kp)]
    inp = io.load_input(write(tmp_path, [{"keypoints": rows}]), image_size=(640, 480))
    assert inp.info["format"] == "h36m"
    np.testing.assert_allclose(inp.keypoints[0], kp[:, :2], atol=1e-4)


def test_missing_intrinsics_is_a_clear_error(tmp_path):
    path = write(tmp_path, {"format": "coco17", "frames": [{"id": "x", "keypoints": coco_rows()}]})
    with pytest.raises(ValueError, match=r"frame 0 \(id 'x'\): no intrinsics.*image_size"):
        io.load_input(path)


BAD = [
    ({"format": "coco17", "image_size": [640, 480]}, r"missing field 'frames'"),
    ({"image_size": [640, 480], "format": "coco17",
      "frames": [{"keypoints": coco_rows()}, {"id": "f1", "kp": coco_rows()}]},
     r"frame 1 \(id 'f1'\): missing field 'keypoints'"),
    ({"image_size": [640, 480], "format": "coco17",
      "frames": [{"id": "f0", "keypoints": coco_rows()[:16]}]},
     r"frame 0 \(id 'f0'\): field 'keypoints' has 16 joints but format 'coco17' needs 17"),
    ({"image_size": [640, 480], "format": "coco17",
      "frames": [{"keypoints": coco_rows()}, {"id": "s", "keypoints":
                                               [["12.5", 3, 1]] + coco_rows()[1:]}]},
     r"frame 1 \(id 's'\): field 'keypoints'\[0\]\[0\] is a string \(\"12.5\"\); write numbers"),
    ({"image_size": [640, 480], "frames": [{"id": "n", "keypoints": "0,0,1"}]},
     r"frame 0 \(id 'n'\): field 'keypoints' must be a list"),
    ({"image_size": [640, 480], "format": "coco17",
      "frames": [{"id": "k", "keypoints": coco_rows(), "K": [[1, 0, 0], [0, 1, 0]]}]},
     r"frame 0 \(id 'k'\): field 'K' must be a 3x3 matrix"),
    ({"format": "coco17", "frames": [{"id": "z", "keypoints": coco_rows(),
                                      "image_size": ["640", 480]}]},
     r"frame 0 \(id 'z'\): field 'image_size'\[0\] is a string"),
    ({"format": "coco17", "image_size": [640, -1], "frames": [{"keypoints": coco_rows()}]},
     r"field 'image_size' must be \[width, height\]"),
    ({"format": "coco17", "image_size": [640, 480],
      "frames": [{"id": "r", "keypoints": [[1, 2, 1], [3, 4]] + coco_rows()[2:]}]},
     r"frame 0 \(id 'r'\): field 'keypoints': rows have different lengths"),
    ({"format": "coco17", "image_size": [640, 480],
      "frames": [{"id": "b", "keypoints": [[True, 2, 1]] + coco_rows()[1:]}]},
     r"frame 0 \(id 'b'\): field 'keypoints'\[0\]\[0\] is a boolean"),
    ({"format": "coco17", "image_size": [640, 480],
      "frames": [{"keypoints": coco_rows()}, {"keypoints": coco_rows()[:5] + [1, 2]}]},
     r"frame 1: field 'keypoints'\[5\] is 1; expected a row"),
    ({"format": "coco17", "image_size": [640, 480], "frames": [{"keypoints": coco_rows()}, 3]},
     r"frame 1: expected an object"),
    ({"format": "coco17", "image_size": [640, 480],
      "frames": [{"id": [1], "keypoints": coco_rows()}]}, r"frame 0: field 'id' must be"),
    ({"format": "yolo-v99", "image_size": [640, 480], "frames": [{"keypoints": coco_rows()}]},
     r"unknown keypoint format"),
    ({"format": "coco17", "image_size": [640, 480], "normalized": "yes",
      "frames": [{"keypoints": coco_rows()}]}, r"field 'normalized' must be true or false"),
    ({"image_size": [640, 480], "frames": [{"id": "c", "keypoints": coco_rows() + [[1, 1, 1]]}]},
     r"frame 0 \(id 'c'\): field 'keypoints' has 18 joints but format 'h36m' needs 17 "
     r"\(set \"format\""),
    ({"format": "coco17", "image_size": [640, 480],
      "frames": [{"keypoints": coco_rows()}, {"id": "two", "keypoints":
                                               [r[:2] for r in coco_rows()]}]},
     r"frame 1 \(id 'two'\): field 'keypoints' has 2 values per row but frame 0 has 3"),
    ({"format": "coco17", "image_size": [640, 480],
      "frames": [{"keypoints": coco_rows()},
                 {"id": "c2", "keypoints": [[u, v, 7.0] for u, v, _ in coco_rows()]}]},
     r"first at frame 1 \(id 'c2'\), joint 0: 7\).*sigmoid"),
]


@pytest.mark.parametrize("doc, match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_json_names_frame_and_field(tmp_path, doc, match):
    path = write(tmp_path, doc)
    with pytest.raises(ValueError, match=match) as e:
        io.load_input(path)
    assert path in str(e.value)


def test_invalid_json_syntax_and_format_conflict(tmp_path):
    with pytest.raises(ValueError, match=r"not valid JSON: .* line 1, column"):
        io.load_input(write(tmp_path, '{"frames": [}'))
    path = write(tmp_path, {"format": "coco17", "image_size": [640, 480],
                            "frames": [{"keypoints": coco_rows()}]})
    with pytest.raises(ValueError, match="says \"format\": 'coco17' but format 'mediapipe'"):
        io.load_input(path, format="mediapipe")
    assert io.load_input(path, format="coco").info["format"] == "coco17"   # alias agrees


def test_mediapipe_normalised_json(tmp_path):
    rows = np.full((33, 4), 0.5)
    rows[:, 3] = 0.9
    doc = {"format": "mediapipe", "image_size": [640, 480], "frames": [{"keypoints":
                                                                        rows.tolist()}]}
    with pytest.raises(ValueError, match="look like normalised coordinates.*normalized"):
        io.load_input(write(tmp_path, doc))
    inp = io.load_input(write(tmp_path, dict(doc, normalized=True)))
    np.testing.assert_allclose(inp.keypoints[0, 0], [320, 240])
    inp = io.load_input(write(tmp_path, doc), normalized=True)          # the flag works too
    np.testing.assert_allclose(inp.keypoints[0, 0], [320, 240])


def test_coco_results_file(tmp_path):
    flat = lambda rows: [v for r in rows for v in r]
    doc = [{"image_id": 2, "category_id": 1, "keypoints": flat(coco_rows(50.0)), "score": 0.9},
           {"image_id": 1, "category_id": 1, "keypoints": flat(coco_rows(0.0)), "score": 0.4},
           {"image_id": 1, "category_id": 1, "keypoints": flat(coco_rows(20.0)), "score": 0.8},
           {"image_id": 1, "category_id": 3, "keypoints": flat(coco_rows(90.0)), "score": 1.0}]
    path = write(tmp_path, doc)
    with pytest.raises(ValueError, match="no intrinsics.*--image_size"):
        io.load_input(path)
    inp = io.load_input(path, image_size=(640, 480), max_people=1)     # the best person
    assert inp.frame_ids.tolist() == [1, 2]                        # sorted image ids
    np.testing.assert_allclose(inp.keypoints[:, H36M["pelvis"]], [[120, 300], [150, 300]])
    bad = [{"image_id": 5, "keypoints": flat(coco_rows())[:-3], "score": 0.5}]
    with pytest.raises(ValueError, match=r"entry 0 \(image_id 5\): field 'keypoints' has 16"):
        io.load_input(write(tmp_path, bad), image_size=(640, 480))


def test_coco_annotation_file(tmp_path):
    rows = [[u, v, 2] for u, v, _ in coco_rows()]
    rows[0] = [0, 0, 0]                                            # nose not labelled
    doc = {"images": [{"id": 3, "width": 640, "height": 480, "file_name": "a.jpg"}],
           "annotations": [{"image_id": 3, "category_id": 1, "num_keypoints": 16, "area": 9.0,
                            "keypoints": [v for r in rows for v in r]}]}
    inp = io.load_input(write(tmp_path, doc))
    assert inp.confidence[0, H36M["r_hip"]] == 1.0
    np.testing.assert_allclose(inp.image_size, [[640, 480]])
    assert inp.images[0].endswith("a.jpg")
    assert inp.confidence[0, H36M["neck_nose"]] == 1.0             # face centre stands in


def test_openpose_file_and_directory(tmp_path):
    names = kf.BODY25_NAMES
    coco = {n: r for n, r in zip(kf.COCO17_NAMES, coco_rows())}

    def person(shift, conf):
        rows = [[coco[n][0] + shift, coco[n][1], conf] if n in coco else [0, 0, 0]
                for n in names]
        return {"pose_keypoints_2d": [v for r in rows for v in r]}

    d = tmp_path / "op"
    d.mkdir()
    for i in range(3):
        people = [] if i == 1 else [person(0.0, 0.3), person(40.0, 0.9)]
        with open(d / f"clip_{i:012d}_keypoints.json", "w") as f:
            json.dump({"version": 1.3, "people": people}, f)
    inp = io.load_input(str(d), image_size=(640, 480), max_people=1)
    assert len(inp) == 2 and inp.info["format"] == "body25"
    assert inp.frame_ids.tolist() == ["clip_000000000000", "clip_000000000002"]
    np.testing.assert_allclose(inp.keypoints[:, H36M["pelvis"]], [[140, 300]] * 2)  # best person
    assert any("skipped 1 frames" in w for w in inp.info["warnings"])
    one = io.load_input(str(d / "clip_000000000000_keypoints.json"), image_size=(640, 480),
                        max_people=1)
    assert len(one) == 1


def test_npz_inputs_and_output(tmp_path):
    coco = np.array([coco_rows(), coco_rows(5.0)])
    path = os.path.join(tmp_path, "det.npz")
    np.savez(path, keypoints=coco, image_size=np.array([640, 480]))
    inp = io.load_input(path, format="coco17")
    assert inp.info["format"] == "coco17" and inp.K.shape == (2, 3, 3)
    # Read as Human3.6M, the COCO order triggers a hint.
    assert any("--format coco17" in w for w in io.load_input(path).info["warnings"])
    out = zero_result(2)
    saved = np.load(lifting.save_result(os.path.join(tmp_path, "o", "out.npz"), out, inp))
    np.testing.assert_allclose(saved["image_size"], [[640, 480]] * 2)
    assert saved["keypoints"].shape == (2, 17, 3)
    with pytest.raises(ValueError, match="unsupported input type"):
        io.load_input(write(tmp_path, "x", name="in.csv"))


def test_npz_ground_truth_behind_the_camera_is_refused(tmp_path, cmu_views):
    gt = cmu_views["poses3d"][:3].copy()
    gt[1, :, 2] *= -1.0
    path = tmp_path / "behind.npz"
    np.savez(path, keypoints=cmu_views["keypoints"][:3], K=cmu_views["K"][:3], poses3d=gt)
    with pytest.raises(ValueError, match="poses3d frame 1 puts the person behind the camera"):
        io.load_input(str(path))
