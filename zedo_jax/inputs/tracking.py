"""Track ids for several people per frame, from 2D keypoints alone (numpy only).

:func:`assign_tracks` links each person to the track it continues, frame after frame:

* **distance** between a person ``a`` and the last detection ``b`` of a track: the mean over
  the joints visible in both (confidence > 0, finite coordinates) of ``|a_j - b_j|`` in
  pixels, divided by the people's 2D size (the mean of the two bounding-box diagonals of their
  visible joints). A pair with fewer than ``min_joints`` joints visible in both does not match.
  The distance is scale-free: 0.1 is a tenth of the body's diagonal, whatever the resolution.
* **matching**, greedy (no Hungarian algorithm): all (person, track) pairs of a frame whose
  distance is at most ``threshold`` are taken in increasing distance (ties: file order), each
  person and each track at most once. Candidate tracks are those seen within the last
  ``max_gap`` frames (so a track survives a few missed detections).
* **new tracks**: a person left unmatched starts a new track; ids ``0, 1, 2, ...`` in order
  of first appearance (frame, then file order).

The defaults suit video: a walking person moves a few hundredths of their size per frame at
30 fps, while two people next to each other are about half a body diagonal apart or more.
Crossing people whose joints overlap can swap ids (2D proximity cannot tell them apart).
"""
from __future__ import annotations

import warnings

import numpy as np

#: Largest matching distance (fraction of the person's 2D size).
THRESHOLD = 0.3
#: Frames a track may go unseen and still be continued.
MAX_GAP = 5


def person_sizes(keypoints, visible) -> np.ndarray:
    """``[M]`` diagonal (pixels) of the bounding box of each person's visible joints (0 when
    fewer than 2 are visible)."""
    kp = np.where(visible[..., None], keypoints, np.nan)
    with warnings.catch_warnings():                     # all-NaN rows: "All-NaN slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        span = np.nanmax(kp, axis=1) - np.nanmin(kp, axis=1)          # [M, 2]
    size = np.hypot(span[:, 0], span[:, 1])
    return np.where((visible.sum(-1) >= 2) & np.isfinite(size), size, 0.0)


def pair_distances(kp_a, vis_a, size_a, kp_b, vis_b, size_b, min_joints: int = 2):
    """``[A, B]`` distances (see the module docstring) between people ``a`` and ``b``
    (``inf`` where they share fewer than ``min_joints`` visible joints or have no size)."""
    both = vis_a[:, None] & vis_b[None]                                # [A, B, J]
    d = np.linalg.norm(np.nan_to_num(kp_a[:, None] - kp_b[None]), axis=-1)
    count = both.sum(-1)
    mean = np.where(count > 0, (d * both).sum(-1) / np.maximum(count, 1), np.inf)
    size = 0.5 * (size_a[:, None] + size_b[None])
    ok = (count >= min_joints) & (size > 0)
    return np.where(ok, mean / np.where(size > 0, size, 1.0), np.inf)


def assign_tracks(keypoints, confidence, frame_index, *, threshold: float = THRESHOLD,
                  max_gap: int = MAX_GAP, min_joints: int = 2) -> np.ndarray:
    """Track ids of people detected frame by frame (see the module docstring).

    Args:
      keypoints: ``[M, J, 2]`` pixels, one row per person and frame, in any order.
      confidence: ``[M, J]`` (0 = missing joint).
      frame_index: ``[M]`` integer frame of each row (frames are processed in increasing
        order; rows of one frame in file order).
      threshold: largest distance that continues a track.  max_gap: how many frames a track
        may be unseen.  min_joints: joints two detections must share to be compared.
    Returns:
      ``[M]`` int64 track ids ``0..T-1``; rows of one frame always get different ids.
    """
    kp = np.asarray(keypoints, np.float64)
    conf = np.asarray(confidence, np.float64)
    fi = np.asarray(frame_index)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be [M, J, 2]; got {list(kp.shape)}")
    if conf.shape != kp.shape[:2] or fi.shape != kp.shape[:1]:
        raise ValueError(f"confidence must be [M, J] and frame_index [M] for keypoints "
                         f"{list(kp.shape)}; got {list(conf.shape)} and {list(fi.shape)}")
    if fi.size and fi.dtype.kind not in "iu":
        raise ValueError(f"frame_index must hold integers; got dtype {fi.dtype}")
    vis = (conf > 0) & np.isfinite(kp).all(-1)
    size = person_sizes(kp, vis)
    person = np.full(len(kp), -1, np.int64)
    last_row = np.zeros(0, np.int64)           # per track: its latest row and frame
    last_frame = np.zeros(0, np.int64)
    for f in np.unique(fi):
        rows = np.flatnonzero(fi == f)
        tracks = np.flatnonzero(f - last_frame <= max_gap)
        taken = np.zeros(len(rows), bool)
        if len(tracks):
            b = last_row[tracks]
            cost = pair_distances(kp[rows], vis[rows], size[rows], kp[b], vis[b], size[b],
                                  min_joints)
            used = np.zeros(len(tracks), bool)
            r_idx, t_idx = np.nonzero(cost <= threshold)
            for k in np.lexsort((t_idx, r_idx, cost[r_idx, t_idx])):
                r, t = r_idx[k], t_idx[k]
                if not taken[r] and not used[t]:
                    taken[r] = used[t] = True
                    person[rows[r]] = tracks[t]
        new = rows[~taken]
        ids = np.arange(len(last_row), len(last_row) + len(new))
        person[new] = ids
        last_row = np.concatenate([last_row, np.zeros(len(new), np.int64)])
        last_frame = np.concatenate([last_frame, np.zeros(len(new), np.int64)])
        last_row[person[rows]] = rows
        last_frame[person[rows]] = f
    return person
