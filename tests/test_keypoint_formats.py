"""Detector layouts -> Human3.6M-17: direct joints, derived joints, the min-confidence rule,
missing joints, MediaPipe normalisation, OpenPose fallbacks, confidence modes."""
import numpy as np
import pytest

from zedo_jax.core import camera, skeleton
from zedo_jax.inputs import layouts as kf

H36M = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
COCO = {n: i for i, n in enumerate(kf.COCO17_NAMES)}

# A hand-made upright person in COCO-17 order: (u, v, confidence), pixels, y down.
# Person faces the camera, so their left side is on the image right.
PERSON = {
    "nose": (100, 60, 0.9), "l_eye": (108, 55, 0.85), "r_eye": (92, 55, 0.8),
    "l_ear": (115, 58, 0.6), "r_ear": (85, 58, 0.5),
    "l_shoulder": (130, 100, 0.7), "r_shoulder": (70, 100, 0.95),
    "l_elbow": (135, 150, 0.9), "r_elbow": (65, 150, 0.9),
    "l_wrist": (138, 195, 0.9), "r_wrist": (62, 195, 0.9),
    "l_hip": (120, 300, 0.9), "r_hip": (80, 300, 0.8),
    "l_knee": (121, 400, 0.9), "r_knee": (79, 400, 0.9),
    "l_ankle": (122, 490, 0.9), "r_ankle": (78, 490, 0.9),
}


def coco_person(**changes) -> np.ndarray:
    """``[1, 17, 3]`` COCO keypoints of PERSON with some joints replaced."""
    d = dict(PERSON, **changes)
    return np.array([[d[n] for n in kf.COCO17_NAMES]], np.float64)


def expected_person():
    """The Human3.6M joints of PERSON by the documented rules (worked by hand)."""
    pelvis = np.array([100.0, 300.0])                       # mid-hips
    S = np.array([100.0, 100.0])                            # mid-shoulders
    thorax = S + 0.08 * (S - pelvis)                        # (100, 84)
    eyes, nose = np.array([100.0, 55.0]), np.array([100.0, 60.0])
    head_top = eyes + 1.3 * (eyes - nose)                   # (100, 48.5)
    return {"pelvis": (pelvis, 0.8), "thorax": (thorax, 0.7),
            "spine": ((pelvis + thorax) / 2, 0.7), "neck_nose": (nose, 0.9),
            "head_top": (head_top, 0.8)}


def test_coco17_direct_and_derived_joints():
    out = kf.to_h36m(coco_person(), "coco17")
    assert out.shape == (1, 17, 3) and out.dtype == np.float32
    for name in ("r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "l_shoulder",
                 "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"):
        np.testing.assert_allclose(out[0, H36M[name]], PERSON[name], rtol=1e-6, err_msg=name)
    for name, (uv, c) in expected_person().items():
        np.testing.assert_allclose(out[0, H36M[name], :2], uv, atol=1e-4, err_msg=name)
        assert out[0, H36M[name], 2] == pytest.approx(c), name
    np.testing.assert_allclose(out[0, H36M["thorax"], :2], [100, 84], atol=1e-4)
    np.testing.assert_allclose(out[0, H36M["head_top"], :2], [100, 48.5], atol=1e-4)


def test_min_confidence_rule_for_derived_joints():
    out = kf.to_h36m(coco_person(l_hip=(120, 300, 0.3), r_eye=(92, 55, 0.05)), "coco17")[0]
    assert out[H36M["pelvis"], 2] == pytest.approx(0.3)       # min(l_hip, r_hip)
    assert out[H36M["thorax"], 2] == pytest.approx(0.3)       # min(shoulders, pelvis)
    assert out[H36M["spine"], 2] == pytest.approx(0.3)
    assert out[H36M["head_top"], 2] == pytest.approx(0.05)    # min(eyes, nose)
    assert out[H36M["neck_nose"], 2] == pytest.approx(0.9)    # the nose itself


def test_missing_joints_get_confidence_zero():
    # r_hip undetected as detectors write it: (0, 0) with confidence 0.
    out = kf.to_h36m(coco_person(r_hip=(0, 0, 0)), "coco17")[0]
    for name in ("r_hip", "pelvis", "spine"):
        assert out[H36M[name], 2] == 0.0, name
        assert np.isnan(out[H36M[name], :2]).all(), name
    # Without a pelvis the thorax is the plain mid-shoulder point (shoulders' confidence).
    np.testing.assert_allclose(out[H36M["thorax"], :2], [100, 100], atol=1e-4)
    assert out[H36M["thorax"], 2] == pytest.approx(0.7)
    # Everything else is untouched.
    assert (out[[H36M[n] for n in ("l_hip", "r_knee", "l_wrist", "neck_nose")], 2] > 0).all()
    # NaN coordinates mean missing too, whatever the confidence.
    out = kf.to_h36m(coco_person(l_wrist=(np.nan, np.nan, 0.9)), "coco17")[0]
    assert out[H36M["l_wrist"], 2] == 0.0
    # min_confidence drops weak detections.
    out = kf.to_h36m(coco_person(l_knee=(121, 400, 0.2)), "coco17", min_confidence=0.3)[0]
    assert out[H36M["l_knee"], 2] == 0.0
    assert out[H36M["r_knee"], 2] == pytest.approx(0.9)


def test_head_fallbacks():
    thorax = np.array([100.0, 84.0])
    nose, face = np.array([100.0, 60.0]), np.array([100.0, 56.5])
    none = (0, 0, 0)
    # One eye missing: the visible eye stands in for the eye centre.
    out = kf.to_h36m(coco_person(r_eye=none), "coco17")[0]
    eye = np.array([108.0, 55.0])
    np.testing.assert_allclose(out[H36M["head_top"], :2], eye + 1.3 * (eye - nose), atol=1e-4)
    assert out[H36M["head_top"], 2] == pytest.approx(0.85)
    # No eyes: the ear centre with k = 0.15 (confidence: ears and thorax).
    out = kf.to_h36m(coco_person(l_eye=none, r_eye=none), "coco17")[0]
    ears = np.array([100.0, 58.0])
    np.testing.assert_allclose(out[H36M["head_top"], :2], ears + 0.15 * (ears - thorax),
                               atol=1e-4)
    assert out[H36M["head_top"], 2] == pytest.approx(0.5)
    # No eyes, no ears: the nose with k = 0.25.
    out = kf.to_h36m(coco_person(l_eye=none, r_eye=none, l_ear=none, r_ear=none), "coco17")[0]
    np.testing.assert_allclose(out[H36M["head_top"], :2], nose + 0.25 * (nose - thorax),
                               atol=1e-4)
    # No nose: neck_nose is the face centre (min of eyes and ears), head_top from the face.
    out = kf.to_h36m(coco_person(nose=none), "coco17")[0]
    np.testing.assert_allclose(out[H36M["neck_nose"], :2], face, atol=1e-4)
    assert out[H36M["neck_nose"], 2] == pytest.approx(0.5)
    np.testing.assert_allclose(out[H36M["head_top"], :2], face + 0.2 * (face - thorax),
                               atol=1e-4)
    # No nose, no ears: the eye centre for both.
    out = kf.to_h36m(coco_person(nose=none, l_ear=none, r_ear=none), "coco17")[0]
    eyes = np.array([100.0, 55.0])
    np.testing.assert_allclose(out[H36M["neck_nose"], :2], eyes, atol=1e-4)
    np.testing.assert_allclose(out[H36M["head_top"], :2], eyes + 0.12 * (eyes - thorax),
                               atol=1e-4)
    # No head at all: neck_nose and head_top are missing.
    out = kf.to_h36m(coco_person(nose=none, l_eye=none, r_eye=none, l_ear=none, r_ear=none),
                     "coco17")[0]
    assert out[H36M["neck_nose"], 2] == 0.0 and out[H36M["head_top"], 2] == 0.0


def _mediapipe_from_coco(coco, width, height):
    """33 MediaPipe landmarks (x, y, z, visibility), normalised, from COCO pixels."""
    mp = np.zeros((coco.shape[0], 33, 4))
    mp[..., 0:2] = 0.5                           # unused landmarks: somewhere, visible
    mp[..., 3] = 0.99
    for name, i in COCO.items():
        j = kf.MEDIAPIPE_NAMES.index(name)
        mp[:, j, 0] = coco[:, i, 0] / width
        mp[:, j, 1] = coco[:, i, 1] / height
        mp[:, j, 2] = -0.3                       # depth, ignored
        mp[:, j, 3] = coco[:, i, 2]
    return mp


def test_mediapipe_normalised_coordinates_and_visibility():
    coco = coco_person()
    ref = kf.to_h36m(coco, "coco17")
    mp = _mediapipe_from_coco(coco, 640.0, 480.0)
    out = kf.to_h36m(mp, "mediapipe", normalized=True, image_size=(640, 480))
    np.testing.assert_allclose(out, ref, atol=1e-3)
    # (x, y, z, visibility, presence) and pixel (x, y, visibility) inputs work too.
    mp5 = np.concatenate([mp, np.ones_like(mp[..., :1])], -1)
    np.testing.assert_allclose(kf.to_h36m(mp5, "mediapipe", normalized=True,
                                          image_size=[[640, 480]]), ref, atol=1e-3)
    px = np.concatenate([mp[..., :2] * [640.0, 480.0], mp[..., 3:4]], -1)
    np.testing.assert_allclose(kf.to_h36m(px[0], "blazepose"), ref, atol=1e-3)  # one frame
    with pytest.raises(ValueError, match="image size"):
        kf.to_h36m(mp, "mediapipe", normalized=True)
    with pytest.raises(ValueError, match="33"):
        kf.to_h36m(coco, "mediapipe")


def _openpose_from_coco(coco, names, mid_hip=None, neck=None):
    op = np.zeros((coco.shape[0], len(names), 3))
    for j, name in enumerate(names):
        if name in COCO:
            op[:, j] = coco[:, COCO[name]]
    if "neck" in names and neck is not None:
        op[:, names.index("neck")] = neck
    if "mid_hip" in names and mid_hip is not None:
        op[:, names.index("mid_hip")] = mid_hip
    return op


def test_openpose_body25_and_coco18():
    coco = coco_person()
    ref = kf.to_h36m(coco, "coco17")
    body25 = _openpose_from_coco(coco, kf.BODY25_NAMES, mid_hip=(100, 300, 0.9),
                                 neck=(100, 100, 0.9))
    coco18 = _openpose_from_coco(coco, kf.COCO18_NAMES, neck=(100, 100, 0.9))
    np.testing.assert_allclose(kf.to_h36m(body25, "openpose"), ref, atol=1e-4)
    np.testing.assert_allclose(kf.to_h36m(coco18, "openpose"), ref, atol=1e-4)
    np.testing.assert_allclose(kf.to_h36m(body25, "body25"), ref, atol=1e-4)
    # OpenPose writes (0, 0, 0) for undetected joints. A missing hip: pelvis from MidHip.
    body25[0, kf.BODY25_NAMES.index("r_hip")] = 0.0
    out = kf.to_h36m(body25, "openpose")[0]
    assert out[H36M["r_hip"], 2] == 0.0
    np.testing.assert_allclose(out[H36M["pelvis"]], [100, 300, 0.9], atol=1e-4)
    # A missing shoulder: the thorax is OpenPose's Neck.
    body25[0, kf.BODY25_NAMES.index("l_shoulder")] = 0.0
    out = kf.to_h36m(body25, "openpose")[0]
    np.testing.assert_allclose(out[H36M["thorax"]], [100, 100, 0.9], atol=1e-4)
    assert out[H36M["l_shoulder"], 2] == 0.0
    with pytest.raises(ValueError, match="25 .*or 18|25 or 18"):
        kf.to_h36m(np.zeros((1, 20, 3)), "openpose")


def test_h36m_passthrough_and_format_names():
    kp = np.random.default_rng(0).uniform(0, 500, (3, 17, 3))
    kp[..., 2] = 0.5
    np.testing.assert_allclose(kf.to_h36m(kp, "h36m"), kp, rtol=1e-6)
    assert kf.canonical_format("COCO") == "coco17"
    assert kf.canonical_format("openpose", 18) == "coco18"
    with pytest.raises(ValueError, match="unknown keypoint format 'vicon'.*coco17"):
        kf.to_h36m(kp, "vicon")
    with pytest.raises(ValueError, match="17 joints but format 'coco17'|has 18 joints"):
        kf.to_h36m(np.zeros((1, 18, 3)), "coco17")


def test_confidence_modes():
    raw = np.array([0.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(kf.source_confidence(raw), [0, 1, 1, 1])        # COCO flags
    np.testing.assert_allclose(kf.source_confidence([0.2, 0.9]), [0.2, 0.9])   # scores
    np.testing.assert_allclose(kf.source_confidence([0.0, 3.0], "sigmoid"),
                               [0.5, 1 / (1 + np.exp(-3.0))])
    with pytest.raises(ValueError, match="sigmoid"):
        kf.source_confidence([0.3, 4.7, -1.2])                                  # logits
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        kf.source_confidence([0.3, 1.5], "score")
    # Through to_h36m: COCO annotation flags, v = 0 -> missing.
    coco = coco_person()
    coco[..., 2] = 2.0
    coco[0, COCO["l_ankle"], 2] = 0.0
    out = kf.to_h36m(coco, "coco17")[0]
    assert out[H36M["l_ankle"], 2] == 0.0 and out[H36M["r_ankle"], 2] == 1.0


def test_layout_warning_tells_coco_from_h36m():
    coco = coco_person()
    assert kf.layout_warning(coco, "h36m") is not None          # a face read as a leg
    assert kf.layout_warning(coco, "coco17") is None
    h36m = kf.to_h36m(coco, "coco17")
    assert kf.layout_warning(h36m, "h36m") is None
    assert "--format h36m" in kf.layout_warning(h36m, "coco17")


def test_conversion_matches_projected_ground_truth(cmu_views):
    """COCO-17 synthesised from real mocap, projected, converted back: derived joints land near
    the true Human3.6M joints (relative to the person's height in the image)."""
    P = cmu_views["poses3d"][::5].astype(np.float64)
    K = cmu_views["K"][::5].astype(np.float64)
    coco3d = kf.synthetic_coco17_3d(P)
    np.testing.assert_allclose(coco3d[:, 0], P[:, 9])             # nose = neck_nose
    uv_coco = np.asarray(camera.project(coco3d, K))
    uv_true = np.asarray(camera.project(P, K))
    out = kf.to_h36m(uv_coco, "coco17")
    assert (out[..., 2] == 1).all()
    err = np.linalg.norm(out[..., :2] - uv_true, axis=-1)
    height = np.linalg.norm(uv_true[:, 10] - uv_true[:, 3], axis=-1)[:, None]
    rel = (err / height).mean(0)
    direct = [H36M[n] for n in ("r_hip", "l_knee", "r_ankle", "l_shoulder", "r_wrist")]
    assert rel[direct].max() < 1e-5
    assert rel[H36M["pelvis"]] < 0.002
    assert rel[H36M["thorax"]] < 0.025 and rel[H36M["spine"]] < 0.03
    assert rel[H36M["head_top"]] < 0.03
