"""Identities across frames: link each frame's animals to tracks.

Each track predicts where its keypoints are in the next frame with a constant velocity
(the last step's motion per keypoint). The cost of giving an instance to a track is the
mean distance, over keypoints seen in both, between the instance and the prediction; the
assignment of least total cost is found with ``scipy.optimize.linear_sum_assignment``
when SciPy is installed, else by trying every pairing (up to 7 animals) or greedily.
A pair costing more than ``max_distance`` is no pair: the instance starts a new track.
A track not seen for more than ``max_gap`` frames ends. Absent instances (NaN rows) get
track id -1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["Track", "assign", "track_instances"]


@dataclass
class Track:
    """One animal's state: last keypoints (K, 2), velocity per frame (K, 2), last frame."""

    id: int
    points: np.ndarray
    velocity: np.ndarray
    frame: int

    def predict(self, frame: int) -> np.ndarray:
        """Keypoints (K, 2) expected at ``frame``."""
        return self.points + self.velocity * (frame - self.frame)


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, column) of least total cost over a (R, C) matrix (inf = never)."""
    r, c = cost.shape
    if r == 0 or c == 0:
        return []
    finite = np.where(np.isfinite(cost), cost, 1e12)
    try:
        from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]
    except ImportError:
        linear_sum_assignment = None
    if linear_sum_assignment is not None:
        rows, cols = linear_sum_assignment(finite)
        pairs = list(zip(rows.tolist(), cols.tolist(), strict=True))
    elif min(r, c) <= 7:
        best, pairs = np.inf, []
        if r <= c:
            for perm in itertools.permutations(range(c), r):
                total = finite[np.arange(r), perm].sum()
                if total < best:
                    best, pairs = total, list(enumerate(perm))
        else:
            for perm in itertools.permutations(range(r), c):
                total = finite[perm, np.arange(c)].sum()
                if total < best:
                    best, pairs = total, [(p, j) for j, p in enumerate(perm)]
    else:  # greedy, cheapest first
        pairs, used_r, used_c = [], set(), set()
        for flat in np.argsort(finite, axis=None, kind="stable"):
            i, j = divmod(int(flat), c)
            if i not in used_r and j not in used_c:
                pairs.append((i, j))
                used_r.add(i)
                used_c.add(j)
    return [(i, j) for i, j in pairs if np.isfinite(cost[i, j])]


def _cost(expected: np.ndarray, points: np.ndarray) -> float:
    distance = np.linalg.norm(expected - points, axis=-1)
    seen = np.isfinite(distance)
    return float(distance[seen].mean()) if seen.any() else np.inf


def track_instances(
    keypoints: np.ndarray,
    frame_indices: np.ndarray | None = None,
    *,
    max_distance: float = 50.0,
    max_gap: int = 10,
) -> np.ndarray:
    """Track ids for every instance of every frame.

    Args:
        keypoints: (N, A, K, 2+) keypoints in frame pixels; NaN rows for absent animals.
        frame_indices: (N,) frame index of each row (default 0..N-1), for gaps and motion.
        max_distance: Largest mean keypoint distance (pixels) from a track's prediction.
        max_gap: Frames a track may go unseen and still continue.

    Returns:
        int64 (N, A): track id per instance (0, 1, ... in order of appearance), -1 where
        the instance is absent.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)[..., :2]
    n, a = keypoints.shape[:2]
    frames = np.arange(n) if frame_indices is None else np.asarray(frame_indices, np.int64)
    ids = np.full((n, a), -1, np.int64)
    tracks: list[Track] = []
    next_id = 0
    for t in range(n):
        frame = int(frames[t])
        tracks = [tr for tr in tracks if frame - tr.frame <= max_gap + 1]
        present = [j for j in range(a) if np.isfinite(keypoints[t, j]).any()]
        cost = np.full((len(tracks), len(present)), np.inf)
        for i, tr in enumerate(tracks):
            expected = tr.predict(frame)
            for c, j in enumerate(present):
                value = _cost(expected, keypoints[t, j])
                if value <= max_distance:
                    cost[i, c] = value
        taken = set()
        for i, c in assign(cost):
            tr, j = tracks[i], present[c]
            points = keypoints[t, j]
            step = (points - tr.points) / max(1, frame - tr.frame)
            tr.velocity = np.where(np.isfinite(step), step, tr.velocity)
            tr.points = np.where(np.isfinite(points), points, tr.predict(frame))
            tr.frame = frame
            ids[t, j] = tr.id
            taken.add(c)
        for c, j in enumerate(present):
            if c not in taken:
                points = keypoints[t, j]
                tracks.append(Track(next_id, points.copy(), np.zeros_like(points), frame))
                ids[t, j] = next_id
                next_id += 1
    return ids
