"""Plots: orientation, hypothesis choice, PNG / GIF writing, and the missing-matplotlib path.
(No lifting here: the "results" are hand-made poses, so these tests take a few seconds.)"""
import builtins
import os

import numpy as np
import pytest

from zedo_jax import inputs as io, viz
from zedo_jax.core import camera
from zedo_jax.inputs import layouts as kf

from _people import SCENES, coco_frames, standing_pose

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def fake_run():
    """A LiftInput from COCO keypoints and a lift-like output with 3 hypotheses (the truth and
    two perturbed copies), one joint missing in frame 1."""
    kp, poses = coco_frames(1280, 720, fov_deg=55.0)
    kp = kp[:3].copy()
    kp[1, kf.COCO17_NAMES.index("l_wrist"), 2] = 0.0
    inp = io.make_input(kp, image_size=(1280, 720), format="coco17", poses3d=poses[:3],
                        frame_ids=np.array(["a", "b", "c"]))
    rng = np.random.default_rng(0)
    rel = poses[:3] - poses[:3, :1]
    hyps = np.stack([rel + rng.normal(0, 0.05, rel.shape), rel,
                     rel + rng.normal(0, 0.05, rel.shape)], 1)
    T = np.broadcast_to(poses[:3, None, 0], (3, 3, 3))
    err = np.stack([np.linalg.norm(np.asarray(camera.project(hyps[:, s] + T[:, s, None],
                                                             inp.K)) - inp.keypoints, axis=-1)
                    for s in range(3)], 1)
    return inp, {"poses": hyps, "translation": T, "reprojection_error_px": err}


def test_plot_axes_make_people_upright():
    pose = standing_pose()                                   # camera axes, y down
    q = viz._to_plot(pose)                                   # (right, depth, up)
    assert q[10, 2] > q[0, 2] > q[3, 2]                      # head above pelvis above ankle
    np.testing.assert_allclose(q[:, 0], pose[:, 0])          # x stays to the right
    np.testing.assert_allclose(q[:, 1], pose[:, 2])          # depth grows away from the camera


def test_best_hypothesis_ignores_missing_joints():
    err = np.array([[[1.0, 1.0, 50.0], [2.0, 2.0, 0.0]]])    # [N=1, S=2, J=3]
    assert viz.best_hypothesis(err).tolist() == [1]
    assert viz.best_hypothesis(err, np.array([[1.0, 1.0, 0.0]])).tolist() == [0]


def _non_blank_png(path):
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img[..., :3].std() > 0.05
    return img


def test_summary_figure_and_plot_frame(fake_run, tmp_path):
    inp, out = fake_run
    assert viz.best_hypothesis(out["reprojection_error_px"], inp.confidence).tolist() == [1] * 3
    path = viz.save_summary(str(tmp_path / "summary.png"), inp, out, max_frames=2)
    _non_blank_png(path)
    image = np.full((720, 1280, 3), 0.8)                     # a grey picture behind the 2D
    fig = viz.plot_frame(np.concatenate([inp.keypoints[1], inp.confidence[1, :, None]], -1),
                         out["poses"][1], K=inp.K[1], translation=out["translation"][1],
                         image=image, gt=inp.poses3d[1], chosen=1, title="frame b")
    assert len(fig.axes) == 3
    fig.savefig(tmp_path / "frame.png")
    _non_blank_png(tmp_path / "frame.png")


def test_save_frames_and_gif(fake_run, tmp_path):
    inp, out = fake_run
    paths = viz.save_frames(str(tmp_path / "f"), inp, out, every=2)
    assert [os.path.basename(p) for p in paths] == ["frame_00000.png", "frame_00002.png"]
    gif = viz.save_gif(str(tmp_path / "f" / "a.gif"), inp, out)
    from PIL import Image
    with Image.open(gif) as im:
        assert im.n_frames == len(SCENES[:3])
    with pytest.raises(ValueError, match="every"):
        viz.save_frames(str(tmp_path / "g"), inp, out, every=0)


def test_missing_matplotlib_gives_an_install_hint(monkeypatch, fake_run):
    real_import = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name.startswith("matplotlib") or name.startswith("mpl_toolkits"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    assert not viz.available()
    with pytest.raises(ImportError, match=r"pip install 'zedo_jax\[viz\]'"):
        viz.summary_figure(*fake_run)
