"""Pictures of lifting results: the 2D input beside the 3D pose seen from two viewpoints.

Needs matplotlib (the optional extra ``pip install 'zedo_jax[viz]'``); it is imported inside
the functions, and figures are drawn with the non-interactive Agg canvas (no display, safe in
scripts, servers and notebooks alike; pyplot's global state is not touched).

Every figure row shows one frame:

1. the 2D keypoints over the image (or a blank canvas of the image size), bones coloured by
   body side, marker opacity by confidence, missing joints (confidence 0) left out, and the
   chosen 3D pose reprojected (grey crosses);
2. the 3D pose seen from the camera ("front"), upright (camera axes x right, y down, z forward
   are drawn as right / depth / up = -y);
3. the same pose from the camera's right-hand side ("side"; the camera is to the left, the
   person faces left when facing the camera).

With several hypotheses, all are drawn thin and translucent and the chosen one (lowest mean
reprojection error over the visible joints, :func:`best_hypothesis`) thick. Joints that were
missing in the 2D input (filled in by the prior) are hollow circles. Ground truth, when given,
is a black dashed skeleton (pelvis-aligned). Colours: the person's left side blue, right side
red, torso and head grey (:data:`LEFT_COLOR`, :data:`RIGHT_COLOR`, :data:`CENTER_COLOR`).

    from zedo_jax import viz
    fig = viz.summary_figure(inp, out)           # inp: io.LiftInput, out: lifting.lift(...)
    fig.savefig("summary.png")
    viz.save_frames("plots/", inp, out, every=5)
    viz.save_gif("plots/animation.gif", inp, out)
"""
from __future__ import annotations

import os

import numpy as np

from zedo_jax.core import skeleton
from zedo_jax.core.temporal import sequence_order

LEFT_COLOR = "#1f5fbf"
RIGHT_COLOR = "#d62728"
CENTER_COLOR = "#555555"
GT_COLOR = "#000000"
VIEWS = {"front": (5.0, -90.0), "side": (5.0, 0.0)}   # (elevation, azimuth) in degrees
FRAME_SIZE = (10.5, 3.9)        # inches, one frame (three panels)
ROW_HEIGHT = 3.4                # inches per frame in the summary figure
VIEW_TITLES = {"front": "3D, camera view", "side": "3D, side view (camera at left)"}

MISSING_MATPLOTLIB = ("zedo_jax plots need matplotlib, which is not installed: pip install "
                "'zedo_jax[viz]' (or pip install matplotlib)")


def _mpl():
    """Import matplotlib lazily; ``ImportError`` with an install hint when it is missing."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  (registers the 3d projection)
    except ImportError as e:
        raise ImportError(MISSING_MATPLOTLIB) from e
    return Figure, FigureCanvasAgg


def available() -> bool:
    """Whether matplotlib can be imported (plots are possible)."""
    try:
        _mpl()
        return True
    except ImportError:
        return False


def new_figure(width: float, height: float, dpi: int = 100):
    """A matplotlib ``Figure`` on an Agg canvas (``width``/``height`` in inches)."""
    Figure, Canvas = _mpl()
    fig = Figure(figsize=(width, height), dpi=dpi)
    Canvas(fig)
    return fig


def joint_color(j: int) -> str:
    return LEFT_COLOR if j in skeleton.LEFT_JOINTS else \
        RIGHT_COLOR if j in skeleton.RIGHT_JOINTS else CENTER_COLOR


def bone_color(parent: int, child: int) -> str:
    """Colour of a bone: the side of its child joint (torso/head grey)."""
    del parent
    return joint_color(child)


def best_hypothesis(reprojection_error_px, confidence=None) -> np.ndarray:
    """Index of the hypothesis with the lowest mean reprojection error over the joints with
    confidence > 0: ``[N, S, 17] (, [N, 17]) -> [N]`` int."""
    err = np.asarray(reprojection_error_px, np.float64)
    w = np.ones(err.shape[::2]) if confidence is None else \
        (np.asarray(confidence) > 0).astype(np.float64)
    mean = (err * w[:, None]).sum(-1) / np.maximum(w.sum(-1), 1.0)[:, None]
    mean = np.where(np.isfinite(mean), mean, np.inf)
    return np.argmin(mean, axis=1)


def _load_image(image):
    if image is None or isinstance(image, np.ndarray):
        return image
    if isinstance(image, str) and image and os.path.exists(image):
        import matplotlib.image as mpimg
        try:
            return mpimg.imread(image)
        except Exception:                     # unreadable picture: plot without it
            return None
    return None


def draw_2d(ax, keypoints, confidence=None, *, image=None, image_size=None, reprojected=None,
            crop: bool = True, title=None):
    """Draw 2D Human3.6M keypoints on a matplotlib 2D ``ax``.

    Args:
      keypoints: ``[17, 2]`` pixels (or ``[17, 3]`` with confidences).
      confidence: ``[17]`` in [0, 1]; 0 = missing (not drawn).
      image: optional ``[H, W(, C)]`` array or a path of a picture to draw underneath.
      image_size: ``(width, height)`` pixels; the axes span the image (default: the picture's
        size, else the keypoints' extent with a margin).
      reprojected: optional ``[17, 2]`` pixels (the 3D result projected), grey crosses.
      crop: zoom on the person (keypoints plus a margin) instead of the whole image; the
        image border is still drawn where it is in view.
    """
    kp = np.asarray(keypoints, np.float64)
    conf = kp[:, 2] if confidence is None and kp.shape[1] > 2 else \
        np.ones(17) if confidence is None else np.asarray(confidence, np.float64)
    uv = kp[:, :2]
    vis = (conf > 0) & np.isfinite(uv).all(-1)
    img = _load_image(image)
    if img is not None:
        h, w = img.shape[:2]
        ax.imshow(img, extent=(0, w, h, 0), zorder=0)
        if image_size is None:
            image_size = (w, h)
    if image_size is not None and img is None:
        ax.add_patch(_rect((0, 0), float(image_size[0]), float(image_size[1])))
    if crop or image_size is None:
        pts = uv[vis]
        if reprojected is not None:
            rp = np.asarray(reprojected, np.float64)
            pts = np.concatenate([pts, rp[np.isfinite(rp).all(-1)]])
        lo, hi = pts.min(0), pts.max(0)
        centre, half = (lo + hi) / 2, 0.62 * max(hi - lo) + 10
        x0, x1 = centre[0] - half, centre[0] + half
        y0, y1 = centre[1] - half, centre[1] + half
    else:
        x0, x1, y0, y1 = 0.0, float(image_size[0]), 0.0, float(image_size[1])
    for p, c in skeleton.BONES:
        if vis[p] and vis[c]:
            ax.plot(uv[[p, c], 0], uv[[p, c], 1], color=bone_color(p, c), lw=2.2,
                    alpha=0.35 + 0.65 * min(conf[p], conf[c]), solid_capstyle="round", zorder=2)
    for j in np.flatnonzero(vis):
        ax.scatter(uv[j, 0], uv[j, 1], s=22, color=joint_color(j), edgecolors="white",
                   linewidths=0.6, alpha=0.35 + 0.65 * conf[j], zorder=3)
    if reprojected is not None:
        rp = np.asarray(reprojected, np.float64)
        ax.scatter(rp[:, 0], rp[:, 1], s=18, marker="x", color="#222222", linewidths=0.9,
                   alpha=0.8, zorder=4)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)                                  # image rows grow downwards
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)
    missing = [skeleton.JOINT_NAMES[j] for j in np.flatnonzero(~vis)]
    if missing:
        ax.text(0.01, 0.01, "missing: " + ", ".join(missing), transform=ax.transAxes,
                fontsize=6, color="#333333", va="bottom",
                bbox=dict(facecolor="white", alpha=0.7, lw=0, pad=1))
    if title:
        ax.set_title(title, fontsize=8)


def _rect(xy, w, h):
    from matplotlib.patches import Rectangle
    return Rectangle(xy, w, h, facecolor="#f4f4f4", edgecolor="#999999", lw=0.8, zorder=0)


def _to_plot(p):
    """Camera axes (x right, y down, z forward) -> plot axes (right, depth, up)."""
    p = np.asarray(p, np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


def _skeleton_3d(ax, pose, *, lw, alpha, gt=False, missing=None, markers=True):
    q = _to_plot(pose)
    for p, c in skeleton.BONES:
        ax.plot(q[[p, c], 0], q[[p, c], 1], q[[p, c], 2],
                color=GT_COLOR if gt else bone_color(p, c), lw=lw, alpha=alpha,
                ls="--" if gt else "-", solid_capstyle="round")
    if markers:
        for j in range(17):
            hollow = missing is not None and missing[j]
            ax.scatter(q[j, 0], q[j, 1], q[j, 2], s=16 if not hollow else 26,
                       color="white" if hollow else joint_color(j),
                       edgecolors=joint_color(j), linewidths=1.0, alpha=alpha,
                       depthshade=False)


def draw_3d(ax, poses, *, view: str = "front", chosen: int | None = None, gt=None,
            missing=None, radius: float | None = None, title=None):
    """Draw root-relative 3D poses on a matplotlib 3D ``ax`` (``projection='3d'``).

    Args:
      poses: ``[S, 17, 3]`` or ``[17, 3]`` metres, camera axes (x right, y down, z forward);
        drawn pelvis-centred and upright.
      view: ``'front'`` (seen from the camera) or ``'side'`` (from the camera's right).
      chosen: the hypothesis drawn thick (default: the first); others thin and translucent.
      gt: optional ``[17, 3]`` ground truth (black dashed, pelvis-aligned).
      missing: optional ``[17]`` bool, joints missing in the 2D input (hollow markers).
      radius: half-size of the plotted cube in metres (default: 1 m, or more to fit).
    """
    P = np.asarray(poses, np.float64)
    P = P[None] if P.ndim == 2 else P
    P = P - P[:, :1]
    chosen = 0 if chosen is None else int(chosen)
    for s in range(len(P)):
        if s != chosen:
            _skeleton_3d(ax, P[s], lw=0.8, alpha=0.25, markers=False)
    if gt is not None:
        g = np.asarray(gt, np.float64)
        _skeleton_3d(ax, g - g[:1], lw=1.1, alpha=0.8, gt=True, markers=False)
    _skeleton_3d(ax, P[chosen], lw=2.6, alpha=1.0, missing=missing)
    extent = float(np.abs(P).max()) * 1.05
    r = max(1.0, extent) if radius is None else radius
    ax.set_xlim(-r, r)
    ax.set_ylim(-r, r)
    ax.set_zlim(-r, r)
    ax.set_box_aspect((1, 1, 1), zoom=1.15)
    ax.set_proj_type("ortho")
    elev, azim = VIEWS[view]
    ax.view_init(elev=elev, azim=azim)
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_pane_color((0.97, 0.97, 0.97, 1.0))
        axis._axinfo["grid"]["color"] = (0.85, 0.85, 0.85, 1.0)
    ticks = [-0.5, 0.0, 0.5]
    ax.set_zticks(ticks)
    ax.tick_params(labelsize=5, pad=0)
    ax.set_zlabel("up (m)", fontsize=6, labelpad=-8)
    # The axis seen edge-on (depth from the front, x from the side) gets no ticks.
    if view == "front":
        ax.set_xticks(ticks)
        ax.set_yticks([])
        ax.set_xlabel("x (m)", fontsize=6, labelpad=-8)
    else:
        ax.set_yticks(ticks)
        ax.set_xticks([])
        ax.set_ylabel("depth z (m)", fontsize=6, labelpad=-8)
    if title:
        ax.set_title(title, fontsize=8, pad=0)


def _arrays(out) -> dict:
    """The arrays of a :class:`zedo_jax.lifting.LiftResult`, or a mapping (a saved result)."""
    return out.arrays() if hasattr(out, "arrays") else out


def _frame_data(inp, out, i: int, chosen=None):
    """Everything needed to draw frame ``i`` of a LiftInput and a ``lift`` result."""
    out = _arrays(out)
    poses = np.asarray(out["poses"][i])
    conf = np.asarray(inp.confidence[i])
    if chosen is None:
        chosen = int(best_hypothesis(out["reprojection_error_px"][i:i + 1], conf[None])[0]) \
            if "reprojection_error_px" in out else 0
    K = np.asarray(inp.K[i], np.float64)
    reproj = None
    if "translation" in out:
        X = poses[chosen] + np.asarray(out["translation"][i][chosen])
        uvw = X @ K.T
        reproj = uvw[:, :2] / uvw[:, 2:3]
    size = inp.image_size[i] if inp.image_size is not None else (2 * K[0, 2], 2 * K[1, 2])
    image = inp.images[i] if getattr(inp, "images", None) is not None else None
    fid = inp.frame_ids[i] if inp.frame_ids is not None else i
    gt = None if inp.poses3d is None else np.asarray(inp.poses3d[i])
    return dict(uv=inp.keypoints[i], conf=conf, poses=poses, chosen=chosen, reproj=reproj,
                size=size, image=image, gt=gt, label=f"frame {fid}", missing=conf <= 0)


def _draw_row(fig, gs, row: int, d: dict, radius=None):
    ax = fig.add_subplot(gs[row, 0])
    draw_2d(ax, d["uv"], d["conf"], image=d["image"], image_size=d["size"],
            reprojected=d["reproj"], title=f"{d['label']}: 2D input")
    S = d["poses"].shape[0]
    which = f" (hypothesis {d['chosen'] + 1} of {S})" if S > 1 else ""
    for k, view in enumerate(("front", "side")):
        ax3 = fig.add_subplot(gs[row, 1 + k], projection="3d")
        draw_3d(ax3, d["poses"], view=view, chosen=d["chosen"], gt=d["gt"],
                missing=d["missing"], radius=radius, title=VIEW_TITLES[view] + which)


def _grid(fig, rows: int, top: float, bottom: float):
    """Rows of (2D | front | side) panels; ``top``/``bottom`` margins in inches."""
    h = fig.get_figheight()
    return fig.add_gridspec(rows, 3, left=0.04, right=0.99, top=1 - top / h, bottom=bottom / h,
                            wspace=0.05, hspace=0.22)


def _legend(fig, has_gt: bool, S: int):
    parts = ["blue = left side, red = right side, grey = torso/head",
             "hollow = missing in 2D (from the prior)", "x = 3D result reprojected"]
    if S > 1:
        parts.append(f"thin = the other {S - 1} hypotheses")
    if has_gt:
        parts.append("dashed = ground truth")
    fig.text(0.5, 0.005, "   |   ".join(parts), ha="center", va="bottom", fontsize=7,
             color="#333333")


def plot_frame(keypoints, poses, *, confidence=None, K=None, translation=None, image=None,
               image_size=None, gt=None, chosen=None, title=None, fig=None):
    """One frame: 2D input | 3D camera view | 3D side view. Returns the ``Figure``.

    Args:
      keypoints: ``[17, 2|3]`` Human3.6M pixels (+ confidence).  poses: ``[S, 17, 3]`` or
        ``[17, 3]`` root-relative metres, camera axes.  confidence: ``[17]``.
      K: ``[3, 3]`` and translation ``[S, 3]`` / ``[3]``: draw the chosen pose reprojected.
      image / image_size: background picture (array or path) / ``(width, height)``.
      gt: ``[17, 3]`` ground truth.  chosen: hypothesis to highlight (default 0).
      fig: draw into this figure (cleared) instead of a new one.
    """
    kp = np.asarray(keypoints, np.float64)
    conf = np.asarray(confidence, np.float64) if confidence is not None else \
        kp[:, 2] if kp.shape[1] > 2 else np.ones(17)
    P = np.asarray(poses, np.float64)
    P = P[None] if P.ndim == 2 else P
    chosen = 0 if chosen is None else int(chosen)
    reproj = None
    if K is not None and translation is not None:
        T = np.asarray(translation, np.float64).reshape(-1, 3)
        X = P[chosen] + T[min(chosen, len(T) - 1)]
        uvw = X @ np.asarray(K, np.float64).T
        reproj = uvw[:, :2] / uvw[:, 2:3]
    if image_size is None and K is not None:
        image_size = (2 * K[0][2], 2 * K[1][2])
    d = dict(uv=kp[:, :2], conf=conf, poses=P, chosen=chosen, reproj=reproj, size=image_size,
             image=image, gt=gt, label=title or "frame", missing=conf <= 0)
    if fig is None:
        fig = new_figure(*FRAME_SIZE)
    else:
        fig.clear()
    _draw_row(fig, _grid(fig, 1, 0.3, 0.45), 0, d)
    _legend(fig, gt is not None, len(P))
    return fig


def summary_figure(inp, out, *, frames=None, max_frames: int = 4, title: str | None = None):
    """A few frames of a lifting run, one row each (2D input | camera view | side view).

    Args:
      inp: :class:`zedo_jax.inputs.LiftInput`.  out: a :class:`zedo_jax.lifting.LiftResult` (or its arrays).
      frames: frame indices to show (default: ``max_frames`` evenly spaced ones).
      title: figure title (default: a short description of the run).
    Returns:
      the ``Figure`` (save with ``fig.savefig(path)``).
    """
    n = len(inp)
    if frames is None:
        frames = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))
    frames = [int(f) for f in frames]
    rows = len(frames)
    fig = new_figure(FRAME_SIZE[0], ROW_HEIGHT * rows + 0.9)
    gs = _grid(fig, rows, 0.6, 0.5)
    for r, i in enumerate(frames):
        _draw_row(fig, gs, r, _frame_data(inp, out, i))
    S = np.asarray(_arrays(out)["poses"]).shape[1]
    if title is None:
        title = (f"ZeDO lifting: {n} frame{'s' if n != 1 else ''}, {S} hypothes"
                 f"{'es' if S != 1 else 'is'} (showing {rows})")
    fig.suptitle(title, fontsize=10, y=1 - 0.12 / fig.get_figheight(), va="top")
    _legend(fig, inp.poses3d is not None, S)
    return fig


def save_summary(path: str, inp, out, **kwargs) -> str:
    """:func:`summary_figure` written to ``path`` (PNG). Returns ``path``."""
    fig = summary_figure(inp, out, **kwargs)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _frame_indices(n: int, every: int):
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    return list(range(0, n, every))


def _single_frame(fig, inp, out, i):
    fig.clear()
    d = _frame_data(inp, out, i)
    _draw_row(fig, _grid(fig, 1, 0.3, 0.45), 0, d)
    _legend(fig, d["gt"] is not None, d["poses"].shape[0])


def save_frames(directory: str, inp, out, *, every: int = 1, prefix: str = "frame",
                dpi: int = 90, log=None) -> list[str]:
    """One PNG per frame (every ``every``-th) in ``directory``: ``{prefix}_{index:05d}.png``.
    ``log``: a progress callback (a line about every tenth of the frames). Returns the paths."""
    os.makedirs(directory, exist_ok=True)
    fig = new_figure(*FRAME_SIZE)
    paths = []
    frames = list(_frame_indices(len(inp), every))
    for k, i in enumerate(frames):
        _single_frame(fig, inp, out, i)
        path = os.path.join(directory, f"{prefix}_{i:05d}.png")
        fig.savefig(path, dpi=dpi)
        paths.append(path)
        if log is not None and len(frames) >= 20 and (k + 1) % max(len(frames) // 10, 1) == 0:
            log(f"[plot] {k + 1}/{len(frames)} frames drawn")
    return paths


def save_gif(path: str, inp, out, *, every: int = 1, fps: float = 8.0, dpi: int = 70) -> str:
    """An animated GIF of the frames (every ``every``-th), written with matplotlib's
    ``PillowWriter`` (Pillow ships with matplotlib). Returns ``path``."""
    _mpl()
    from matplotlib.animation import PillowWriter
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig = new_figure(*FRAME_SIZE)
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, path, dpi):
        for i in _frame_indices(len(inp), every):
            _single_frame(fig, inp, out, i)
            writer.grab_frame()
    return path


# --- sequences ---------------------------------------------------------------------------------

def sequence_frames(inp, every: int = 1) -> list[int]:
    """Frame indices of ``inp`` in playback order (by ``seq``, then ``frame``; file order when
    they are absent), every ``every``-th."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    seq = np.zeros(len(inp)) if inp.seq is None else inp.seq
    order, _ = sequence_order(seq, getattr(inp, "frame", None))
    return [int(i) for i in order[::every]]


def save_animation(path: str, inp, out, *, every: int = 1, fps: float | None = None,
                   dpi: int = 70, mp4: bool | None = None) -> list[str]:
    """Animation of a sequence, 2D input beside the 3D result, in playback order
    (:func:`sequence_frames`): ``path`` + ``.gif`` (Pillow, shipped with matplotlib) and, when
    ffmpeg is available (or ``mp4=True``), ``path`` + ``.mp4``.

    Args:
      path: output path without extension.  every: draw every k-th frame.
      fps: playback rate (default: the input's ``info['fps']`` divided by ``every``, else 8).
    Returns:
      the paths written.
    """
    _mpl()
    from matplotlib import animation
    if fps is None:
        rate = inp.info.get("fps")
        fps = float(np.min(rate)) / every if rate is not None else 8.0
    frames = sequence_frames(inp, every)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    writers = [(path + ".gif", animation.PillowWriter(fps=fps))]
    if mp4 if mp4 is not None else animation.writers.is_available("ffmpeg"):
        writers.append((path + ".mp4", animation.FFMpegWriter(fps=fps)))
    fig = new_figure(*FRAME_SIZE)
    written = []
    for target, writer in writers:
        with writer.saving(fig, target, dpi):
            for i in frames:
                _single_frame(fig, inp, out, i)
                writer.grab_frame()
        written.append(target)
    return written


def save_accuracy_cost(path: str, records: list[dict], marks: dict | None = None) -> str:
    """Accuracy against cost (:func:`experiments.benchmarks.accuracy_vs_cost` records): one
    panel per file, PA-MPJPE (solid) and MPJPE (dashed) in mm against network evaluations
    per frame (log scale), one colour per variant; ``marks`` ``{label: evals}`` draws
    vertical lines (the named schedules). Returns ``path``."""
    files = list(dict.fromkeys(r["file"] for r in records))
    variants = list(dict.fromkeys(r["variant"] for r in records))
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    fig = new_figure(4.2 * len(files), 3.6)
    axes = [fig.add_subplot(1, len(files), i + 1) for i in range(len(files))]
    for ax, f in zip(axes, files):
        for c, v in zip(colors, variants):
            rs = sorted((r for r in records if r["file"] == f and r["variant"] == v),
                        key=lambda r: r["evals_per_frame"])
            x = [r["evals_per_frame"] for r in rs]
            ax.plot(x, [r["pa_mpjpe_mm"] for r in rs], "-o", color=c, ms=3,
                    label=f"{v}: PA-MPJPE")
            ax.plot(x, [r["mpjpe_mm"] for r in rs], "--o", color=c, ms=3, alpha=0.6,
                    label=f"{v}: MPJPE")
        ax.set_xscale("log")
        longest = [r for r in records if r["file"] == f and r["evals_per_frame"] == max(
            q["evals_per_frame"] for q in records if q["file"] == f)]
        if longest:             # the shortest loops are far off: keep the useful range in view
            ax.set_ylim(0.8 * min(r["pa_mpjpe_mm"] for r in longest),
                        1.5 * max(r["mpjpe_mm"] for r in longest))
        ax.set_xlabel("network evaluations per frame (S = 1)")
        for label, evals in (marks or {}).items():
            ax.axvline(evals, color="#888888", lw=0.8, ls=":")
            ax.text(evals, ax.get_ylim()[1], f" {label}", fontsize=7, va="top", color="#555555")
        ax.set_title(f"{f} ({rs[0]['frames']} frames)" if rs else f, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("error (mm)")
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    return path


def save_plots(folder: str, inp, out, *, every: int = 1, fps: float | None = None,
               log=None) -> str:
    """One PNG per ``every``-th frame in ``folder`` (:func:`save_frames`, progress to ``log``)
    and, for more than one frame, an animation (:func:`save_animation`; ``fps`` ``None``: the
    input's frame rate). Returns a line saying what was written."""
    paths = save_frames(folder, inp, out, every=every, log=log)
    anims = []
    if len(paths) > 1:
        anims = save_animation(os.path.join(folder, "animation"), inp, out, every=every, fps=fps)
    return f"Wrote {len(paths)} frame plots to {folder}" + "".join(f", {a}" for a in anims)
