"""Dataset loaders on small synthetic files in each official layout: keys, shapes, a known pose
round-tripped through the published cameras, reprojection consistency, protocol frame counts,
and one-line errors for malformed files."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from zedo_jax.datasets import (DatasetError, cameras, h36m, load, load_init_poses, mpi_inf_3dhp,
                               pw3d, synthetic)
from zedo_jax.training import data as data_lib

pytest.importorskip("h5py")
pytest.importorskip("scipy")


def reprojection_px(ev) -> float:
    return float(np.abs(cameras.project_pinhole(ev.poses3d, ev.K) - ev.keypoints[..., :2]).max())


# ----------------------------------------------------------------------------------------------
# camera maths
# ----------------------------------------------------------------------------------------------

def test_quaternion_matrix_is_a_rotation_and_matches_the_quaternion_product():
    q = np.array([0.3, -0.5, 0.7, 0.2])
    q /= np.linalg.norm(q)
    R = cameras.quaternion_to_matrix(q)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    v = np.array([0.4, -1.2, 2.0])
    u, w = q[1:], q[0]                       # v' = v + 2 w (u x v) + 2 u x (u x v)
    ref = v + 2 * w * np.cross(u, v) + 2 * np.cross(u, np.cross(u, v))
    np.testing.assert_allclose(R @ v, ref, atol=1e-12)


def test_h36m_cameras_look_at_the_capture_area():
    """Every published camera sees the world origin (pelvis height) in front, near the image
    centre; world -> camera -> world is the identity."""
    for s in cameras.H36M_EXTRINSICS:
        for c, cam in enumerate(cameras.H36M_CAMERAS):
            R, t = cameras.h36m_world_to_camera(s, c)
            X = np.array([0.0, 0.0, 0.9]) @ R.T + t
            assert 4.0 < X[2] < 7.0
            uv = cameras.project_pinhole(X[None], cam.K)[0]
            assert np.all(np.abs(uv - np.array(cam.size) / 2) < 250)
            Rw, tw = cameras.h36m_camera_to_world(s, c)
            np.testing.assert_allclose(X @ Rw.T + tw, [0, 0, 0.9], atol=1e-9)


def test_undistort_inverts_the_h36m_lens_model():
    rng = np.random.default_rng(0)
    cam = cameras.H36M_CAMERAS[0]
    X = np.stack([rng.uniform(-1.5, 1.5, 200), rng.uniform(-1.5, 1.5, 200),
                  rng.uniform(3, 7, 200)], -1)
    distorted = cameras.project_distorted(X, cam)
    pinhole = cameras.project_pinhole(X[None], cam.K)[0]
    assert np.abs(distorted - pinhole).max() > 5          # the lens matters (pixels)
    np.testing.assert_allclose(cameras.undistort_pixels(distorted, cam), pinhole, atol=1e-6)


def test_3dhp_official_test_intrinsics():
    K1 = cameras.MPI_INF_3DHP_TEST_CAMERAS["TS1"].K
    K5 = cameras.MPI_INF_3DHP_TEST_CAMERAS["TS6"].K
    np.testing.assert_allclose([K1[0, 0], K1[0, 2], K1[1, 2]],
                               [1500.172288, 1017.38733568, 1043.03198208])
    np.testing.assert_allclose([K5[0, 0], K5[0, 2], K5[1, 2]],
                               [1683.98345952, 939.85754016, 560.140743168])
    assert cameras.MPI_INF_3DHP_TEST_CAMERAS["TS5"].size == (1920, 1080)


# ----------------------------------------------------------------------------------------------
# Human3.6M
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def h36m_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("h36m")
    truth = synthetic.write_h36m(str(d))
    return str(d), truth


def test_h36m_files_have_videopose3d_keys_and_shapes(h36m_dir):
    d, _ = h36m_dir
    with np.load(f"{d}/data_3d_h36m.npz", allow_pickle=True) as f:
        p3 = f["positions_3d"].item()
    assert p3["S9"]["Directions 1"].shape == (250, 32, 3)
    assert p3["S9"]["Directions 1"].dtype == np.float32
    with np.load(f"{d}/data_2d_h36m_gt.npz", allow_pickle=True) as f:
        p2, meta = f["positions_2d"].item(), f["metadata"].item()
    assert len(p2["S11"]["Photo"]) == 4 and p2["S11"]["Photo"][0].shape == (252, 17, 2)
    assert meta["keypoints_symmetry"][0] == [4, 5, 6, 11, 12, 13]


@pytest.mark.parametrize("keypoints", ["gt", "proj"])
def test_h36m_round_trips_the_known_pose(h36m_dir, keypoints):
    d, truth = h36m_dir
    ev = load("h36m", d, keypoints=keypoints)
    # protocol: S9 + S11, 2 actions each, 4 cameras, 250 frames -> 4,000 poses, every 640th.
    assert ev.total_frames == 4000 and len(ev) == 7
    np.testing.assert_array_equal(ev.index, np.arange(0, 4000, 640))
    assert ev.keypoints.shape == (7, 17, 3) and ev.K.shape == (7, 3, 3)
    assert reprojection_px(ev) < 0.1                     # undistorted file 2D == pinhole
    np.testing.assert_array_equal(ev.keypoints[..., 2], 1.0)
    for i in range(len(ev)):
        s, a, c, fr = ev.meta["subject"][i], ev.meta["action"][i], ev.meta["camera"][i], \
            ev.frame[i]
        Rw, tw = cameras.h36m_camera_to_world(s, c)
        world = ev.poses3d[i] @ Rw.T + tw
        np.testing.assert_allclose(world, truth[s][a][fr], atol=1e-5)
    assert set(ev.group) == {"Directions", "Sitting", "Photo", "WalkDog"}
    assert ev.seq[0] == "S9/Directions 1/54138969"


def test_h36m_cpn_keypoints_are_noisy_but_close(h36m_dir):
    d, _ = h36m_dir
    ev = load("h36m", d, keypoints="cpn")
    err = np.abs(cameras.project_pinhole(ev.poses3d, ev.K) - ev.keypoints[..., :2])
    assert 0.5 < err.mean() < 6


def test_h36m_protocol_count_on_the_full_release_size():
    """886 frames at [::640] means 566,401..567,040 poses; our subsampling gives ceil(n/640)."""
    from zedo_jax.datasets.base import subsample
    assert len(subsample(566_401, 640)) == 886 and len(subsample(567_040, 640)) == 886
    assert len(subsample(35_515, 35)) == 1015


def test_h36m_errors_name_the_file_and_field(tmp_path, h36m_dir):
    d, _ = h36m_dir
    with pytest.raises(DatasetError, match="data_3d_h36m.npz"):
        load("h36m", str(tmp_path))
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d={"S9": {"Walking": np.zeros((5, 20, 3))}})
    with pytest.raises(DatasetError, match=r"positions_3d\['S9'\]\['Walking'\] must be"):
        load("h36m", str(tmp_path), keypoints="proj", subjects=("S9",))
    with pytest.raises(DatasetError, match="data_2d_h36m_nope.npz"):
        load("h36m", d, keypoints="nope")


def test_h36m_train_poses_in_the_real_cameras(h36m_dir):
    d, truth = h36m_dir
    ps = data_lib.load_poses(f"{d}/data_3d_h36m.npz", split="train", frame="camera")
    assert ps.frame == "camera" and ps.poses.shape == (4 * 50, 17, 3)
    np.testing.assert_allclose(ps.poses[:, 0], 0, atol=1e-6)
    # Upright in camera axes (head above pelvis = negative y), bone lengths kept.
    assert (ps.poses[:, 10, 1] < -0.3).all()
    world = truth["S1"]["Walking"]
    np.testing.assert_allclose(np.linalg.norm(ps.poses[:50, 2] - ps.poses[:50, 1], axis=-1),
                               np.linalg.norm(world[:, 2] - world[:, 1], axis=-1), atol=1e-5)


def test_h36m_sitting_poses_for_ski_hypotheses(h36m_dir):
    d, _ = h36m_dir
    p = h36m.camera_frame_poses(f"{d}/data_3d_h36m.npz", ("S9",), actions=h36m.SITTING_ACTIONS)
    assert p.shape == (4 * 250, 17, 3)


def test_h36m_refinement_predictions_nested_and_flat(tmp_path, h36m_dir):
    d, _ = h36m_dir
    ev = load("h36m", d)
    rng = np.random.default_rng(0)
    with np.load(f"{d}/data_3d_h36m.npz", allow_pickle=True) as f:
        p3 = f["positions_3d"].item()
    preds = {s: {a: [rng.normal(0, .2, (len(v), 17, 3)).astype(np.float32) for _ in range(4)]
                 for a, v in p3[s].items()} for s in ("S9", "S11")}
    np.savez(tmp_path / "vp3d.npz", positions_3d=preds)
    init, per_frame = load_init_poses(str(tmp_path / "vp3d.npz"), ev)
    assert per_frame and init.shape == (len(ev), 17, 3)
    i = 3
    ref = preds[ev.meta["subject"][i]][ev.meta["action"][i]][ev.meta["camera"][i]][ev.frame[i]]
    np.testing.assert_allclose(init[i], ref - ref[:1], atol=1e-6)
    # A flat array over all un-subsampled frames is picked with the protocol's indices.
    flat = rng.normal(0, .2, (ev.total_frames, 17, 3)).astype(np.float32)
    np.save(tmp_path / "flat.npy", flat)
    init2, per_frame2 = load_init_poses(str(tmp_path / "flat.npy"), ev)
    assert per_frame2
    np.testing.assert_allclose(init2, flat[ev.index] - flat[ev.index][:, :1], atol=1e-6)
    # [S, 17, 3] of another size are shared hypotheses.
    np.save(tmp_path / "hyp.npy", flat[:5])
    hyp, per_frame3 = load_init_poses(str(tmp_path / "hyp.npy"), ev)
    assert not per_frame3 and hyp.shape == (5, 17, 3)


# ----------------------------------------------------------------------------------------------
# 3DPW
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pw3d_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("pw3d")
    return str(d), synthetic.write_pw3d(str(d))


def test_pw3d_pickles_load_like_python2_files(pw3d_dir):
    d, _ = pw3d_dir
    with open(f"{d}/sequenceFiles/test/office_test_01.pkl", "rb") as f:
        doc = pickle.load(f, encoding="latin1")
    assert len(doc["jointPositions"]) == 2 and doc["jointPositions"][0].shape == (40, 72)
    assert doc["poses2d"][1].shape == (40, 3, 18) and doc["cam_poses"].shape == (40, 4, 4)


def test_pw3d_round_trips_the_known_pose(pw3d_dir):
    d, truth = pw3d_dir
    ev = load("3dpw", d, sample_interval=1)
    want = np.concatenate([p for name in sorted(truth) for _, p in truth[name]])
    assert ev.total_frames == len(want) == 3 * 36              # 4 of 40 frames invalid
    np.testing.assert_allclose(ev.poses3d, want, atol=1e-5)
    assert reprojection_px(ev) < 0.1
    assert ev.seq[0] == "downtown_test_00/person0" and ev.frame[0] == 1


def test_pw3d_protocol_subsamples_every_35th(pw3d_dir):
    d, _ = pw3d_dir
    ev = load("3dpw", d)
    assert len(ev) == int(np.ceil(108 / 35)) == 4


def test_pw3d_openpose_keypoints_map_to_h36m(pw3d_dir):
    d, _ = pw3d_dir
    gt = load("3dpw", d, sample_interval=1)
    op = load("3dpw", d, keypoints="openpose", sample_interval=1)
    assert op.keypoints.shape == gt.keypoints.shape
    direct = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]      # limbs come straight from COCO
    np.testing.assert_allclose(op.keypoints[:, direct, :2], gt.keypoints[:, direct, :2],
                               atol=0.1)
    np.testing.assert_allclose(op.keypoints[..., 2], 0.9, atol=1e-6)


def test_pw3d_regressor_variant_says_what_is_missing(pw3d_dir):
    with pytest.raises(DatasetError, match="SMPL body model"):
        load("3dpw", pw3d_dir[0], joints="regressor")


def test_pw3d_malformed_file_is_named(tmp_path):
    (tmp_path / "test").mkdir()
    with open(tmp_path / "test" / "bad.pkl", "wb") as f:
        pickle.dump({"jointPositions": [np.zeros((3, 72))], "cam_poses": np.zeros((3, 4, 4)),
                     "cam_intrinsics": np.eye(3), "campose_valid": [np.ones(4)]}, f)
    with pytest.raises(DatasetError, match=r"bad.pkl: campose_valid\[0\] must have 3"):
        load("3dpw", str(tmp_path))


# ----------------------------------------------------------------------------------------------
# MPI-INF-3DHP
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["7.3", "5"])
def test_3dhp_round_trips_the_known_pose(tmp_path, version):
    truth = synthetic.write_3dhp(str(tmp_path), mat_version=version)
    raw = mpi_inf_3dhp.read_mat(str(tmp_path / "mpi_inf_3dhp_test_set/TS1/annot_data.mat"))
    assert raw["annot2"].shape == ((30, 1, 17, 2) if version == "7.3" else (2, 17, 1, 30))
    ev = load("3dhp", str(tmp_path), gt3d="annot3", sample_interval=1)
    want = np.concatenate([truth[ts][1] for ts in ("TS1", "TS5")])
    assert ev.total_frames == len(want) == 2 * 22               # valid: 22 of 30 per sequence
    np.testing.assert_allclose(ev.poses3d, want, atol=1e-5)
    assert reprojection_px(ev) < 0.1
    np.testing.assert_allclose(ev.K[-1], cameras.MPI_INF_3DHP_TEST_CAMERAS["TS5"].K, rtol=1e-6)
    univ = load("3dhp", str(tmp_path), sample_interval=1)       # default: universal skeleton
    np.testing.assert_allclose(univ.poses3d, np.concatenate([truth[ts][2] for ts in truth]),
                               atol=1e-5)
    acts = np.concatenate([truth[ts][3] for ts in ("TS1", "TS5")])
    np.testing.assert_array_equal(ev.meta["activity"], acts)


def test_3dhp_protocol_keeps_every_3rd_valid_frame(tmp_path):
    synthetic.write_3dhp(str(tmp_path))
    ev = load("3dhp", str(tmp_path))
    assert len(ev) == int(np.ceil(44 / 3)) == 15
    np.testing.assert_array_equal(ev.index, np.arange(0, 44, 3))


def test_3dhp_missing_field_is_named(tmp_path):
    import h5py
    (tmp_path / "TS1").mkdir()
    with h5py.File(tmp_path / "TS1" / "annot_data.mat", "w") as f:
        f["annot2"] = np.zeros((4, 1, 17, 2))
    with pytest.raises(DatasetError, match="annot_data.mat lacks 'univ_annot3'"):
        load("3dhp", str(tmp_path))


# ----------------------------------------------------------------------------------------------
# Ski-Pose
# ----------------------------------------------------------------------------------------------

def test_skipose_round_trips_the_known_pose(tmp_path):
    truth = synthetic.write_skipose(str(tmp_path), n=12)
    ev = load("ski", str(tmp_path))
    assert len(ev) == ev.total_frames == 12 and not ev.absolute
    np.testing.assert_allclose(ev.poses3d, truth["poses3d"], atol=1e-6)
    np.testing.assert_allclose(ev.K, truth["K"], rtol=1e-5)
    # The file holds root-relative 3D; with the true translation it reprojects onto the 2D.
    X = ev.poses3d + truth["translation"][:, None]
    assert np.abs(cameras.project_pinhole(X, ev.K) - ev.keypoints[..., :2]).max() < 0.1
    assert ev.seq[5] == "seq_001/cam_01"


def test_skipose_wrong_shape_is_named(tmp_path):
    import h5py
    (tmp_path / "test").mkdir()
    with h5py.File(tmp_path / "test" / "labels.h5", "w") as f:
        for k in ("seq", "cam", "frame"):
            f[k] = np.zeros(3)
        f["cam_intrinsic"] = np.tile(np.eye(3), (3, 1, 1))
        f["2D"] = np.zeros((3, 30))
        f["3D"] = np.zeros((3, 51))
    with pytest.raises(DatasetError, match=r"labels.h5: '2D' must be \[N=3, 34\]"):
        load("ski", str(tmp_path))


def test_pw3d_mapping_uses_smpl_joints():
    j = np.random.default_rng(0).normal(size=(2, 24, 3))
    h = pw3d.smpl24_to_h36m(j)
    np.testing.assert_allclose(h[:, 0], j[:, 0])
    np.testing.assert_allclose(h[:, 1], j[:, 2])      # right hip = SMPL 2
    np.testing.assert_allclose(h[:, 11], j[:, 16])    # left shoulder = SMPL 16
    np.testing.assert_allclose(h[:, 10], 2 * j[:, 15] - j[:, 12])
