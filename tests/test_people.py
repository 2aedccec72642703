"""Several people per frame: JSON "people", COCO results / annotations and OpenPose keeping
everyone (max_people / min_person_score), track ids (zedo_jax.inputs.tracking), seq / frame
for temporal lifting, and the JSON / CSV export grouped by frame."""
import csv
import json
import os

import numpy as np
import pytest

from zedo_jax import export, inputs
from zedo_jax.core import camera, skeleton, temporal
from zedo_jax.inputs import layouts as kf
from zedo_jax.inputs.tracking import assign_tracks

from _people import standing_pose, zero_result

H36M = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
SIZE = (1280, 720)
K = camera.default_intrinsics(*SIZE, fov_deg=60.0)


def walkers(frames=10, conf=(0.9, 0.6)):
    """Two people walking toward each other without meeting: COCO-17 ``[F, 2, 17, 3]``
    (pixels + confidence ``conf[person]``); person 0 starts on the left."""
    out = np.zeros((frames, 2, 17, 3))
    for t in range(frames):
        for p, (x0, step, yaw) in enumerate(((-1.2, 0.05, 20.0), (1.2, -0.05, -20.0))):
            pose = standing_pose(yaw, 15.0 * np.sin(t / 2 + p)) + [x0 + step * t, 0.1, 5.0]
            uv = np.asarray(camera.project(kf.synthetic_coco17_3d(pose[None]), K))[0]
            out[t, p] = np.concatenate([uv, np.full((17, 1), conf[p])], -1)
    return out


def pelvis_u(inp):
    return inp.keypoints[:, H36M["pelvis"], 0]


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return str(path)


def same_input(a, b):
    """Every field of two LiftInputs equal (info too, but the source path)."""
    for name in ("keypoints", "confidence", "K", "poses3d", "seq", "frame_ids", "image_size",
                 "images", "frame", "frame_index", "person"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)
    strip = lambda info: {k: v for k, v in info.items() if k != "source"}
    assert strip(a.info) == strip(b.info)


# ----------------------------------------------------------------------------------------------
# JSON frames with "people"
# ----------------------------------------------------------------------------------------------

def test_json_people_with_ids(tmp_path):
    kp = walkers(3)
    doc = {"format": "coco17", "image_size": list(SIZE), "fps": 25,
           "frames": [{"id": f"f{t}", "people": [{"id": 7, "keypoints": kp[t, 0].tolist()},
                                                 {"id": 3, "keypoints": kp[t, 1].tolist()}]}
                      for t in range(3)]}
    inp = inputs.load_input(write(tmp_path / "p.json", doc))
    assert len(inp) == 6 and inp.multi_person and inp.info["frames"] == 3
    np.testing.assert_array_equal(inp.frame_index, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(inp.person, [7, 3] * 3)
    assert inp.frame_ids.tolist() == ["f0", "f0", "f1", "f1", "f2", "f2"]
    # Each person is a sequence, ordered by its frame: temporal lifting follows them.
    np.testing.assert_array_equal(inp.seq, inp.person)
    np.testing.assert_array_equal(inp.frame, inp.frame_index)
    order, starts = temporal.sequence_order(inp.seq, inp.frame)
    np.testing.assert_array_equal(order, [1, 3, 5, 0, 2, 4])
    np.testing.assert_array_equal(starts, [0, 3, 6])
    assert inp.info["fps"] == 25.0
    ref = kf.to_h36m(kp[:, 1], "coco17")
    np.testing.assert_allclose(inp.keypoints[inp.person == 3], ref[..., :2], atol=1e-3)
    sub = inp.subset(inp.person == 7)
    np.testing.assert_array_equal(sub.frame_index, [0, 1, 2])
    np.testing.assert_array_equal(sub.person, [7, 7, 7])
    # max_people=1 reads it as before multi-person support: the best person per frame.
    one = inputs.load_input(str(tmp_path / "p.json"), max_people=1)
    assert one.person is None and one.frame_index is None and one.seq is None
    np.testing.assert_allclose(pelvis_u(one), pelvis_u(inp)[inp.person == 7])


def test_json_people_tracks_survive_order_swaps_and_empty_frames(tmp_path):
    kp = walkers(10)
    frames = []
    for t in range(10):
        people = [{"keypoints": kp[t, p].tolist()} for p in ((1, 0) if t % 3 == 1 else (0, 1))]
        frames.append({"people": [] if t == 4 else people[:1] if t == 6 else people})
    inp = inputs.load_input(write(tmp_path / "t.json", {"format": "coco17",
                                                         "image_size": list(SIZE),
                                                         "frames": frames}))
    assert inp.info["frames"] == 10 and len(inp) == 17
    assert 4 not in inp.frame_index and (inp.frame_index == 6).sum() == 1
    assert any("1 of 10 frames have no people" in w for w in inp.info["warnings"])
    assert "tracks" in inp.info
    left = pelvis_u(inp) < SIZE[0] / 2
    assert set(inp.person[left]) == {0} and set(inp.person[~left]) == {1}    # stable ids
    np.testing.assert_array_equal(inp.seq, inp.person)
    for p in (0, 1):                             # each track in frame order, one row a frame
        f = inp.frame[inp.seq == p]
        assert len(set(f)) == len(f)
    assert inp.frame_ids.tolist() == inp.frame_index.tolist()      # no ids: the frame index


def test_json_people_errors(tmp_path):
    rows = walkers(1)[0]
    base = {"format": "coco17", "image_size": list(SIZE)}
    cases = [
        ([{"people": [{"id": 1, "keypoints": rows[0].tolist()},
                      {"id": 1, "keypoints": rows[1].tolist()}]}], r"frame 0: field 'people': "
         r"person id 1 appears 2 times"),
        ([{"people": [{"id": 1, "keypoints": rows[0].tolist()},
                      {"keypoints": rows[1].tolist()}]}], "some people have an 'id'"),
        ([{"keypoints": rows[0].tolist(), "people": []}], "not both"),
        ([{"people": [{"id": "a", "keypoints": rows[0].tolist()}]}],
         r"field 'people\[0\].id' must be an integer"),
        ([{"people": [{"keypoints": rows[0].tolist()[:5]}]}],
         r"field 'people\[0\].keypoints' has 5 joints"),
        ([{"people": []}], "no person detected in any frame"),
    ]
    for frames, match in cases:
        with pytest.raises(ValueError, match=match):
            inputs.load_input(write(tmp_path / "bad.json", dict(base, frames=frames)))
    with pytest.raises(ValueError, match="max_people must be a positive integer"):
        inputs.InputOptions(max_people=0)


# ----------------------------------------------------------------------------------------------
# COCO results / annotations, OpenPose
# ----------------------------------------------------------------------------------------------

def coco_results(kp, scores):
    return [{"image_id": t + 1, "category_id": 1, "score": scores[p],
             "keypoints": kp[t, p].ravel().tolist()}
            for t in range(len(kp)) for p in (1, 0)]            # weaker person listed first


def test_coco_results_keep_everyone_and_max_people_one_is_the_old_choice(tmp_path):
    kp = walkers(4)
    path = write(tmp_path / "res.json", coco_results(kp, (0.9, 0.5)))
    inp = inputs.load_input(path, image_size=SIZE)
    assert len(inp) == 8 and inp.info["frames"] == 4
    np.testing.assert_array_equal(inp.frame_index, np.repeat(np.arange(4), 2))
    assert inp.frame_ids.tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert (pelvis_u(inp)[inp.person == inp.person[1]] < SIZE[0] / 2).all()
    # max_people=1: the highest score per image, as today's reader picked (the reference is
    # a file holding only that person: single-person files are read exactly as before).
    best_only = write(tmp_path / "best.json", [e for e in coco_results(kp, (0.9, 0.5))
                                               if e["score"] == 0.9])
    same_input(inputs.load_input(path, image_size=SIZE, max_people=1),
               inputs.load_input(best_only, image_size=SIZE))
    # min_person_score drops the weaker person: then one person per frame, read as today.
    same_input(inputs.load_input(path, image_size=SIZE, min_person_score=0.6),
               inputs.load_input(best_only, image_size=SIZE))
    # Tracker ids (PoseTrack "track_id") are used as given.
    doc = coco_results(kp, (0.9, 0.5))
    for e in doc:
        e["track_id"] = 11 if e["score"] == 0.9 else 12
    tracked = inputs.load_input(write(tmp_path / "trk.json", doc), image_size=SIZE)
    np.testing.assert_array_equal(tracked.person, [12, 11] * 4)
    assert "tracks" not in tracked.info


def test_coco_annotations_keep_everyone(tmp_path):
    kp = walkers(2)
    anns = []
    for t in range(2):
        for p in (0, 1):
            rows = kp[t, p].copy()
            rows[:, 2] = 2
            if p == 1:
                rows[:4, 2] = 0                                # fewer labelled keypoints
            anns.append({"image_id": t, "category_id": 1, "area": 100.0,
                         "keypoints": rows.ravel().tolist()})
    doc = {"images": [{"id": t, "width": SIZE[0], "height": SIZE[1], "file_name": f"{t}.jpg"}
                      for t in range(2)], "annotations": anns}
    path = write(tmp_path / "ann.json", doc)
    inp = inputs.load_input(path)
    assert len(inp) == 4 and inp.info["frames"] == 2
    assert [os.path.basename(x) for x in inp.images] == ["0.jpg", "0.jpg", "1.jpg", "1.jpg"]
    best_only = write(tmp_path / "best.json", dict(doc, annotations=anns[0::2]))
    same_input(inputs.load_input(path, max_people=1), inputs.load_input(best_only))


def openpose_person(coco_rows, conf):
    rows = np.zeros((25, 3))
    for name, r in zip(kf.COCO17_NAMES, coco_rows):
        rows[kf.BODY25_NAMES.index(name)] = [r[0], r[1], conf]
    return {"person_id": [-1], "pose_keypoints_2d": rows.ravel().tolist()}


def test_openpose_directory_keeps_everyone(tmp_path):
    kp = walkers(6)
    d, best = tmp_path / "op", tmp_path / "best"
    d.mkdir()
    best.mkdir()
    for t in range(6):
        people = [openpose_person(kp[t, p], (0.9, 0.6)[p]) for p in (1, 0)]
        if t == 2:
            people = []
        for folder, ppl in ((d, people), (best, people[1:])):
            write(folder / f"clip_{t}_keypoints.json", {"version": 1.3, "people": ppl})
    inp = inputs.load_input(str(d), image_size=SIZE)
    assert len(inp) == 10 and inp.info["frames"] == 6 and inp.info["format"] == "body25"
    np.testing.assert_array_equal(inp.frame_index, [0, 0, 1, 1, 3, 3, 4, 4, 5, 5])
    left = pelvis_u(inp) < SIZE[0] / 2
    assert len(set(inp.person[left])) == 1 and len(set(inp.person[~left])) == 1
    assert set(inp.person[left]) != set(inp.person[~left])
    assert inp.frame_ids[4] == "clip_3"
    old = inputs.load_input(str(best), image_size=SIZE)
    assert any("skipped 1 frames" in w for w in old.info["warnings"])
    same_input(inputs.load_input(str(d), image_size=SIZE, max_people=1), old)
    one = inputs.load_input(str(d / "clip_0_keypoints.json"), image_size=SIZE)
    assert len(one) == 2 and one.info["frames"] == 1
    # max_people=2 of three keeps the two best; min_person_score the confident one.
    three = [openpose_person(kp[0, 0], 0.9), openpose_person(kp[0, 1] + [5, 0, 0], 0.3),
             openpose_person(kp[0, 1], 0.6)]
    path = write(tmp_path / "three_keypoints.json", {"people": three})
    two = inputs.load_input(path, image_size=SIZE, max_people=2)
    np.testing.assert_allclose(two.keypoints, inputs.load_input(
        write(tmp_path / "two_keypoints.json", {"people": three[::2]}), image_size=SIZE
    ).keypoints)
    assert len(inputs.load_input(path, image_size=SIZE, min_person_score=0.5)) == 2
    # A detector's fragment (one joint) is dropped, not an error for the whole file.
    fragment = openpose_person(kp[0, 1], 0.0)
    fragment["pose_keypoints_2d"][2] = 0.9                             # the nose only
    path = write(tmp_path / "frag_keypoints.json", {"people": three[::2] + [fragment]})
    frag = inputs.load_input(path, image_size=SIZE)
    assert len(frag) == 2 and any("dropped 1 people" in w for w in frag.info["warnings"])


def test_npz_people_with_sequences(tmp_path):
    kp = walkers(3)
    rows = np.concatenate([kp.reshape(6, 17, 3)] * 2)                 # two clips of 3 frames
    path = tmp_path / "p.npz"
    np.savez(path, keypoints=rows, K=K, seq=np.repeat([5, 9], 6), frame=np.tile(
        np.repeat([0, 1, 2], 2), 2), person=np.tile([0, 1], 6), fps=[30.0, 25.0])
    inp = inputs.load_input(str(path), format="coco17")
    np.testing.assert_array_equal(inp.frame_index, np.repeat(np.arange(6), 2))
    np.testing.assert_array_equal(inp.seq, np.repeat([0, 2], 6) + np.tile([0, 1], 6))
    assert inp.info["seq_person"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    np.testing.assert_array_equal(inp.frame, np.tile(np.repeat([0, 1, 2], 2), 2))
    np.testing.assert_allclose(inp.info["fps"], [30, 30, 25, 25])
    np.savez(path, keypoints=rows[:6], K=K, frame_index=np.repeat([0, 1, 2], 2))   # tracks
    tracked = inputs.load_input(str(path), format="coco17")
    np.testing.assert_array_equal(tracked.person, [0, 1] * 3)
    np.savez(path, keypoints=rows[:6], K=K, person=[0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="'person' needs 'frame_index'"):
        inputs.load_input(str(path), format="coco17")


# ----------------------------------------------------------------------------------------------
# Tracking
# ----------------------------------------------------------------------------------------------

def test_assign_tracks():
    kp = walkers(10)
    h36m = kf.to_h36m(kp.reshape(20, 17, 3), "coco17").reshape(10, 2, 17, 3)
    rng = np.random.default_rng(0)
    rows, truth, frames = [], [], []
    for t in range(10):
        for p in rng.permutation(2):                                   # file order shuffled
            rows.append(h36m[t, p])
            truth.append(p)
            frames.append(t)
    rows, truth, frames = np.array(rows), np.array(truth), np.array(frames)
    person = assign_tracks(rows[..., :2], rows[..., 2], frames)
    assert person[truth == 0][0] != person[truth == 1][0]
    for p in (0, 1):
        assert len(set(person[truth == p])) == 1
    # Rows in any order give the same tracks (ids follow first appearance); a 3-frame gap is
    # bridged (max_gap 5).
    perm = rng.permutation(len(rows))
    again = assign_tracks(rows[perm, :, :2], rows[perm, :, 2], frames[perm])
    assert len(set(zip(again, person[perm]))) == 2
    keep = (frames < 3) | (frames > 5)
    gap = assign_tracks(rows[keep, :, :2], rows[keep, :, 2], frames[keep])
    assert len(set(gap[truth[keep] == 0])) == 1
    # A person jumping across the image starts a new track; so does a long gap.
    jump = rows.copy()
    jump[frames >= 5, :, 0] += 2000.0
    assert len(set(assign_tracks(jump[..., :2], jump[..., 2], frames))) == 4
    late = assign_tracks(rows[..., :2], rows[..., 2], np.where(frames >= 5, frames + 20, frames))
    assert len(set(late)) == 4
    with pytest.raises(ValueError, match="frame_index must hold integers"):
        assign_tracks(rows[..., :2], rows[..., 2], frames.astype(float))


# ----------------------------------------------------------------------------------------------
# Export grouped by frame
# ----------------------------------------------------------------------------------------------

def test_export_groups_people_by_frame(tmp_path):
    n = 5
    res = zero_result(n)
    res.translation[:, 0, 2] = np.arange(n) + 1.0                     # tell the rows apart
    frame_index, person = np.array([0, 0, 1, 2, 2]), np.array([4, 2, 4, 2, 4])
    ids = np.array(["a", "a", "b", "c", "c"])
    path = export.write_json(str(tmp_path / "o.json"), res, frame_ids=ids, fps=30,
                             frame_index=frame_index, person=person)
    with open(path) as f:
        doc = json.load(f)
    assert [fr["index"] for fr in doc["frames"]] == ["a", "b", "c"]
    assert [[p["id"] for p in fr["people"]] for fr in doc["frames"]] == [[4, 2], [4], [2, 4]]
    assert [p["root"][2] for fr in doc["frames"] for p in fr["people"]] == [1, 2, 3, 4, 5]
    # No frame_ids: frames are named by frame_index; rows out of order are grouped anyway.
    path = export.write_json(str(tmp_path / "r.json"), res, frame_index=frame_index[::-1],
                             person=person)
    with open(path) as f:
        doc = json.load(f)
    assert [fr["index"] for fr in doc["frames"]] == [0, 1, 2]
    assert [p["root"][2] for p in doc["frames"][0]["people"]] == [4, 5]
    path = export.write_csv(str(tmp_path / "o.csv"), res, frame_ids=ids,
                            frame_index=frame_index, person=person)
    with open(path) as f:
        table = list(csv.reader(f))
    assert table[0][:3] == ["frame", "person", "root_x"] and len(table[0]) == 56
    assert [r[:2] for r in table[1:]] == [["a", "4"], ["a", "2"], ["b", "4"], ["c", "2"],
                                          ["c", "4"]]
    # Defaults: one person (id 0) per frame, as before; repeated people in a frame refused.
    single = export.write_json(str(tmp_path / "s.json"), res)
    same = export.write_json(str(tmp_path / "s2.json"), res, frame_index=np.arange(n),
                             person=np.zeros(n, int))
    assert open(single).read() == open(same).read()
    assert export.csv_header() == export.csv_header(False) and len(export.csv_header()) == 55
    with pytest.raises(ValueError, match="holds person 4 2 times"):
        export.write_json(str(tmp_path / "x.json"), res, frame_index=[0, 0, 1, 1, 1],
                          person=person)


# ----------------------------------------------------------------------------------------------
# lifting several people
# ----------------------------------------------------------------------------------------------

def _two_people_json(tmp_path, frames=8):
    kp = walkers(frames)
    doc = {"format": "coco17", "image_size": list(SIZE), "K": K.tolist(),
           "frames": [{"id": t, "people": [{"keypoints": kp[t, p].tolist()} for p in (1, 0)]}
                      for t in range(frames)]}
    return write(tmp_path / "two.json", doc)


def test_each_person_lifts_as_if_alone(tmp_path, tiny_prior):
    import zedo_jax
    from zedo_jax.runtime.compile_cache import silent
    inp = inputs.load_input(_two_people_json(tmp_path))
    assert len(inp) == 16 and sorted(set(inp.person.tolist())) == [0, 1]
    cfg = zedo_jax.make_config(overrides={"ipo.steps": 20, "loop.steps": 10})
    both = zedo_jax.lift(tiny_prior, inp.keypoints, inp.K, confidence=inp.confidence,
                         config=cfg, log=silent)
    for p in (0, 1):
        rows = np.flatnonzero(inp.person == p)
        alone = zedo_jax.lift(tiny_prior, inp.keypoints[rows], inp.K[rows],
                              confidence=inp.confidence[rows], config=cfg, log=silent)
        assert np.abs(both.poses[rows] - alone.poses).max() <= 1e-3          # metres: 1 mm


def test_temporal_lift_follows_each_track_and_exports_people(tmp_path, tiny_prior):
    import zedo_jax
    from zedo_jax import lifting
    from zedo_jax.runtime.compile_cache import silent
    inp = inputs.load_input(_two_people_json(tmp_path))
    cfg = zedo_jax.make_config(schedule="temporal", overrides={
        "ipo.steps": 10, "loop.steps": 6, "temporal.window": 8, "temporal.overlap": 0})
    out = zedo_jax.lift(tiny_prior, inp.keypoints, inp.K, confidence=inp.confidence,
                        config=cfg, seq=inp.seq, frame=inp.frame, log=silent)
    assert out.temporal.windows == 2                     # one window per person's track
    doc = json.load(open(lifting.save_result(tmp_path / "o.json", out, inp)))
    assert [len(f["people"]) for f in doc["frames"]] == [2] * 8
    row = np.flatnonzero((inp.frame_index == 3) & (inp.person == 1))[0]
    got = next(p for p in doc["frames"][3]["people"] if p["id"] == 1)
    np.testing.assert_allclose(got["joints"], out.best_poses[row], atol=1e-6)
    saved = np.load(lifting.save_result(tmp_path / "o.npz", out, inp))
    np.testing.assert_array_equal(saved["person"], inp.person)
    lifting.save_result(tmp_path / "o.bvh", out, inp)
    assert sorted(os.listdir(tmp_path)) == ["o.json", "o.npz", "o_person0.bvh",
                                            "o_person1.bvh", "two.json"]
