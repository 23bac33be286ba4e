"""Find frames worth a person's look in a predicted video (the paper's outlier search).

Three per-frame scores, each turned into a robust z-score (distance from the median in
units of 1.4826 x the median absolute deviation) so that they can be compared:

- ``confidence``: how low the frame's lowest keypoint confidence is;
- ``jump``: the largest keypoint displacement from the previous predicted frame;
- ``bones``: the largest deviation of a bone's length (a skeleton edge) from its
  distribution in the project's labelled frames (the posture graph), or from the video's
  own predictions when nothing is labelled yet.

A frame's outlier score is the largest of its three z-scores. Frames already in the
project, and frames closer than ``min_gap`` to a better one, are not picked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpk.trainer.labelling.project import PREDICTED, Project, ProjectError

__all__ = ["Outlier", "add_outliers", "find_outliers", "robust_z"]


@dataclass(frozen=True)
class Outlier:
    """One frame picked for review.

    Attributes:
        frame: The video frame index.
        score: The largest of the three z-scores.
        reason: Which score it was (``confidence``, ``jump`` or ``bones``).
    """

    frame: int
    score: float
    reason: str


def robust_z(values: np.ndarray) -> np.ndarray:
    """(values - median) / (1.4826 MAD); NaN stays NaN, a flat series gives zeros."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.zeros_like(values)
    median = np.median(finite)
    mad = 1.4826 * np.median(np.abs(finite - median))
    scale = mad if mad > 1e-9 else (np.std(finite) or 1.0)
    return (values - median) / scale


def _bone_lengths(xy: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    if not edges:
        return np.zeros((len(xy), 0))
    child, parent = np.array(edges).T
    return np.linalg.norm(xy[:, child] - xy[:, parent], axis=-1)


def find_outliers(
    keypoints: np.ndarray,
    frame_indices: np.ndarray,
    edges: list[tuple[int, int]],
    labelled: np.ndarray | None = None,
    *,
    n: int = 20,
    min_gap: int = 5,
    exclude: set[int] | frozenset[int] = frozenset(),
) -> list[Outlier]:
    """The ``n`` most unusual frames of one predicted video (see the module docs).

    Args:
        keypoints: (N, K, 3) x, y, confidence.
        frame_indices: (N,) their frame indices.
        edges: Skeleton edges as ``(child, parent)`` keypoint indices.
        labelled: (M, K, 2) labelled keypoints (NaN = not labelled) giving the bone-length
            distribution, or None to use the predictions' own.
        n: How many frames.
        min_gap: Picked frames are at least this many frames apart.
        exclude: Frame indices never picked (already in the project).
    """
    keypoints = np.asarray(keypoints, np.float64)
    if not len(keypoints):
        return []
    xy, confidence = keypoints[..., :2], keypoints[..., 2]
    with np.errstate(all="ignore"):
        low = -np.nanmin(np.where(np.isfinite(confidence), confidence, 0.0), axis=1)
        steps = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
        jump = np.concatenate([[np.nan], np.nanmax(np.where(np.isfinite(steps), steps, 0), axis=1)])
        bones = _bone_lengths(xy, edges)
        reference = (
            bones if labelled is None or not len(labelled) else _bone_lengths(labelled, edges)
        )
        if bones.shape[1]:
            centre = np.nanmedian(reference, axis=0)
            spread = 1.4826 * np.nanmedian(np.abs(reference - centre), axis=0)
            spread = np.where(np.isfinite(spread) & (spread > 1e-6), spread, 1.0)
            deviation = np.nanmax(np.abs(bones - centre) / spread, axis=1)
        else:
            deviation = np.zeros(len(xy))
    scores = {"confidence": robust_z(low), "jump": robust_z(jump), "bones": robust_z(deviation)}
    stacked = np.stack([np.nan_to_num(s, nan=-np.inf) for s in scores.values()], axis=1)
    best = stacked.max(axis=1)
    reasons = list(scores)
    picked: list[Outlier] = []
    for row in np.argsort(-best, kind="stable"):
        frame = int(frame_indices[row])
        if frame in exclude or any(abs(frame - p.frame) < min_gap for p in picked):
            continue
        picked.append(Outlier(frame, float(best[row]), reasons[int(stacked[row].argmax())]))
        if len(picked) >= n:
            break
    return picked


def add_outliers(
    project: Project, predictions, video, *, n: int = 20, min_gap: int = 5
) -> list[Outlier]:
    """Find outliers in ``predictions`` of ``video`` and add them to ``project`` with the
    predicted points marked unreviewed.

    Raises:
        ProjectError: The predictions' keypoints are not the project's.
    """
    names = list(predictions.skeleton.names)
    if names != list(project.skeleton.names):
        raise ProjectError(
            f"{predictions.source or 'predictions'}: keypoints {names} are not the project's "
            f"{list(project.skeleton.names)}"
        )
    vid = project.video_id(video)
    in_project = {f.index for f in project.frames.values() if f.video == vid}
    _, labelled = project.training_arrays()
    outliers = find_outliers(
        predictions.keypoints,
        predictions.frame_indices,
        list(project.skeleton.edges),
        labelled if len(labelled) else None,
        n=n,
        min_gap=min_gap,
        exclude=in_project,
    )
    rows = {int(f): i for i, f in enumerate(predictions.frame_indices)}
    for outlier in outliers:
        frame = project.add_frame(vid, outlier.frame, added=f"outlier:{outlier.reason}")
        points = np.asarray(predictions.keypoints[rows[outlier.frame]], np.float64)
        finite = np.asarray(np.isfinite(points[:, :2]).all(axis=1), bool)
        frame.xy = np.where(finite[:, None], points[:, :2], np.nan)
        frame.score = points[:, 2].astype(np.float32)
        frame.state = np.where(finite, PREDICTED, 0).astype(np.int8)
    return outliers
