"""Metrics, k-means hypotheses and prior sampling."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zedo_jax.core import model, sampling, sde as sde_lib
from zedo_jax.evaluation import metrics
from zedo_jax.training import clustering


def rot(axis, th):
    c, s = np.cos(th), np.sin(th)
    R = {"z": [[c, -s, 0], [s, c, 0], [0, 0, 1]], "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]]}[axis]
    return np.array(R)


@pytest.fixture
def poses():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.4, (6, 17, 3))
    return gt - gt[:, :1], rng


def test_mpjpe_root_handling(poses):
    gt, _ = poses
    assert float(metrics.mpjpe(gt, gt).max()) == 0
    shifted = gt + np.array([0.1, 0, 0])
    # Faithful (Q9): the prediction is not re-centred, so a pelvis offset counts ...
    np.testing.assert_allclose(metrics.mpjpe(shifted, gt), 0.1, rtol=1e-6)
    # ... unless asked; the ground truth is always root-centred.
    np.testing.assert_allclose(metrics.mpjpe(shifted, gt + 5.0, recenter=True), 0, atol=1e-6)


def test_pa_mpjpe_invariances_and_reflection(poses):
    gt, rng = poses
    R = rot("y", 0.7) @ rot("z", -0.3)
    sim = 1.7 * gt @ R.T + np.array([0.3, -0.2, 4.0])
    np.testing.assert_allclose(metrics.pa_mpjpe(sim, gt), 0, atol=1e-6)
    mirrored = gt * np.array([-1, 1, 1])
    # Reflections are allowed by default (Q10) ...
    np.testing.assert_allclose(metrics.pa_mpjpe(mirrored, gt), 0, atol=1e-6)
    # ... and excluded on request.
    assert float(metrics.pa_mpjpe(mirrored, gt, allow_reflection=False).min()) > 0.01
    noisy = gt + rng.normal(0, 0.02, gt.shape)
    assert np.all(np.asarray(metrics.pa_mpjpe(noisy, gt)) <= np.asarray(metrics.mpjpe(noisy, gt)))


def test_n_mpjpe_scale_invariance(poses):
    gt, _ = poses
    np.testing.assert_allclose(metrics.n_mpjpe(0.6 * gt + 2.0, gt), 0, atol=1e-6)
    assert float(metrics.n_mpjpe(gt @ rot("z", 0.5).T, gt).min()) > 0.01


def test_pck_auc(poses):
    gt, _ = poses
    assert float(metrics.pck(gt, gt).min()) == 1.0 and float(metrics.auc(gt, gt).min()) == 1.0
    far = gt + np.array([0.2, 0, 0])
    assert float(metrics.pck(far, gt).max()) == 0.0 and float(metrics.auc(far, gt).max()) == 0.0
    half = gt + np.array([0.075, 0, 0])
    np.testing.assert_allclose(metrics.auc(half, gt), 16 / 31, atol=1e-6)


def test_evaluate_min_over_hypotheses_per_metric(poses):
    gt, rng = poses
    a = gt + np.array([0.05, 0, 0])                   # good MPJPE, perfect after alignment
    b = gt + rng.normal(0, 0.01, gt.shape)            # better MPJPE (~1.6 cm), not after PA
    b = b @ rot("z", 0.0).T
    pred = np.stack([a, b], 1)
    res = metrics.evaluate(pred, gt + 3.0, groups=np.array([0, 0, 1, 1, 1, 2]))
    np.testing.assert_allclose(res["pa_mpjpe"], 0, atol=1e-6)           # from hypothesis a
    np.testing.assert_allclose(res["mpjpe"], res["mpjpe_all"][:, 1])     # from hypothesis b
    s = res["summary"]
    assert s["frames"] == 6 and s["hypotheses"] == 2
    assert set(s["per_group"]) == {"0", "1", "2"}
    np.testing.assert_allclose(s["mpjpe_mm"], res["mpjpe"].mean() * 1000, rtol=1e-6)
    with pytest.raises(ValueError, match="pred must be"):
        metrics.evaluate(pred[:, :, :16], gt)


def test_kmeans_recovers_separated_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 0.5, (4, 17, 3)).astype(np.float32)
    centres -= centres[:, :1]
    pts = np.concatenate([c + rng.normal(0, 0.01, (200 + 50 * i, 17, 3))
                          for i, c in enumerate(centres)]).astype(np.float32)
    pts -= pts[:, :1]
    found = clustering.kmeans_poses(pts, 4, jax.random.PRNGKey(1))
    assert found.shape == (4, 17, 3) and np.allclose(found[:, 0], 0)
    # Largest cluster first; each true centre is matched within the noise.
    d = np.linalg.norm((found[:, None] - centres[None]).reshape(4, 4, -1), axis=-1)
    assert np.all(d.min(1) < 0.02) and np.argmin(d[0]) == 3
    np.testing.assert_allclose(clustering.kmeans_poses(pts, 1)[0], pts.mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="S must"):
        clustering.kmeans_poses(pts[:3], 5)


def test_s1_hypothesis_faces_the_camera(cmu_poses_path):
    from zedo_jax.core import skeleton
    from zedo_jax.training import data
    ps = data.load_poses(cmu_poses_path, split="train")
    front = clustering.hypotheses(ps, 1)[0]
    blob = clustering.hypotheses(ps, 1, s1="kmeans")[0]
    # The k-means mean over all yaws collapses the hips onto the pelvis; the front-facing mean
    # keeps a real hip width, right hip on the image left, face toward the camera (-z).
    assert np.linalg.norm(blob[1] - blob[4]) < 0.03
    assert front[1, 0] < -0.08 and front[4, 0] > 0.08
    assert front[9, 2] < front[8, 2]
    bl = skeleton.bone_lengths(front[None])[0]
    assert np.all(bl > 0.05)
    cam = data.PoseSet(data.camera_frame_poses(ps)[:3000], "camera", "views")
    turned = data.front_facing_poses(cam)
    np.testing.assert_allclose(skeleton.bone_lengths(turned), skeleton.bone_lengths(cam.poses),
                               atol=1e-5)
    assert np.median(turned[:, 4, 0] - turned[:, 1, 0]) > 0.15


def test_prior_sampling_runs():
    cfg = model.ScoreNetConfig(hidden_dim=64, embed_dim=32)
    params = model.init_params(cfg, jax.random.PRNGKey(0))
    x = sampling.sample(params, jax.random.PRNGKey(1), net_config=cfg, sde=sde_lib.SubVPSDE(),
                        n=8, steps=50)
    assert x.shape == (8, 17, 3) and bool(jnp.isfinite(x).all())
    from zedo_jax import prior as prior_lib
    from zedo_jax.core import skeleton
    truth = np.asarray(x, np.float64)
    res = sampling.bone_length_check(x, prior_lib.training_stats(truth))
    assert res["n"] == 8 and len(res["bones"]) == 16
    assert res["mean_abs_diff_mm"] < 0.01        # same poses (statistics stored to 0.01 mm)
    res = sampling.bone_length_check(2 * truth, prior_lib.training_stats(truth))
    expect = skeleton.bone_lengths(truth).mean(0).mean() * 1000
    assert abs(res["mean_abs_diff_mm"] - expect) < 0.1


def test_flexed_legs_marks_sitting_not_standing_or_walking():
    from tests._people import standing_pose
    stand = standing_pose(yaw_deg=30.0)
    walk = standing_pose(stride_deg=25.0)      # one thigh forward, the other back
    sit = standing_pose()
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):   # thighs horizontal forward (-z), shins down
        thigh = np.linalg.norm(sit[knee] - sit[hip])
        shin = np.linalg.norm(sit[ankle] - sit[knee])
        sit[knee] = sit[hip] + [0, 0, -thigh]
        sit[ankle] = sit[knee] + [0, shin, 0]
    R = rot("y", 1.0)                           # the camera does not matter
    mask = metrics.flexed_legs(np.stack([stand, walk, sit, sit @ R.T]))
    np.testing.assert_array_equal(mask, [False, False, True, True])
    assert metrics.flexed_legs(np.zeros((0, 17, 3))).shape == (0,)
    with pytest.raises(ValueError, match="poses3d"):
        metrics.flexed_legs(np.zeros((3, 16, 3)))
    res = {k: np.array([0.01, 0.02, 0.03, 0.05]) for k in ("mpjpe", "pa_mpjpe", "n_mpjpe")}
    s = metrics.subset_summary(res, mask)
    assert s["frames"] == 2 and abs(s["mpjpe_mm"] - 40.0) < 1e-6
    assert metrics.subset_summary(res, np.zeros(4, bool)) is None


def test_reverse_sde_samplers_recover_a_gaussian():
    # Data N(0, s^2 I) under the sub-VP SDE has the exact score -x / (m(t)^2 s^2 + std(t)^2):
    # Euler-Maruyama gives back std s; the Langevin corrector at snr 0.16 inflates it by its
    # discretisation bias (about 5% here, 200 or 1000 steps), no more.
    sde, s = sde_lib.SubVPSDE(), 0.3

    def score(x, t):
        m, std = sde.marginal(t)
        return -x / (m ** 2 * s ** 2 + std ** 2)

    x0 = sde.prior_sample(jax.random.PRNGKey(0), (4000, 17, 3))
    for snr, tol in ((0.0, 0.01), (sampling.CORRECTOR_SNR, 0.06)):
        x = jax.jit(lambda k, x: sampling.reverse_sde(score, k, x, sde=sde, steps=200,
                                                      corrector_snr=snr))(
            jax.random.PRNGKey(1), x0)
        assert abs(float(jnp.std(x)) / s - 1) < tol, (snr, float(jnp.std(x)))
        assert abs(float(jnp.mean(x))) < 0.01
