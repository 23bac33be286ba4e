"""Per-frame quality flags from the skeleton: bone lengths and joint speed.

A bone (a keypoint and its parent) is flagged when its length is far from its usual
length: the labelled frames' distribution when a reference is given, else the video's own
(robust: median and MAD). A keypoint is flagged when it moves between consecutive frames
much faster than it usually does. Flags are bits (see :mod:`dpk.runtime.filtering`) in a
uint8 (N, K) array that every output format carries: dpk CSV (``NAME_flags`` columns) and
HDF5 (``flags``) inside the file, SLEAP, NWB and DeepLabCut in ``OUTPUT.flags.csv`` beside it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from dpk.runtime.filtering import FLAG_BONE_LENGTH, FLAG_NAMES, FLAG_SPEED
from dpk.runtime.predictions import Predictions
from dpk.specs.files import write_text_atomic
from dpk.specs.skeleton import Skeleton

__all__ = ["describe_flags", "flags_sidecar", "quality_flags", "write_flags_csv"]

_MAD = 1.4826


def _robust(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=axis)
        spread = _MAD * np.nanmedian(np.abs(values - median), axis=axis)
    return median, spread


def _bone_lengths(xy: np.ndarray, children: list[int], parents: list[int]) -> np.ndarray:
    return np.linalg.norm(xy[:, children] - xy[:, parents], axis=-1)


def quality_flags(
    keypoints: np.ndarray,
    skeleton: Skeleton,
    *,
    reference: np.ndarray | None = None,
    bone_sigma: float = 5.0,
    speed_sigma: float = 8.0,
    max_speed: float | None = None,
) -> np.ndarray:
    """Flag bones far from their usual length and keypoints that move too fast.

    Args:
        keypoints: (N, K, 2 or 3) positions (NaN = missing).
        skeleton: Gives the bones (keypoint -> parent); no parents, no bone flags.
        reference: (M, K, 2+) labelled positions giving the usual bone lengths (default:
            the video's own).
        bone_sigma: Robust standard deviations (at least 10% of the length, 2 px) beyond
            which a bone is flagged; its child keypoint gets ``BONE_LENGTH``.
        speed_sigma: Robust standard deviations above the median speed (at least 2 px per
            frame) beyond which a keypoint gets ``SPEED``.
        max_speed: A fixed speed limit in pixels per frame instead.

    Returns:
        uint8 (N, K) flags.
    """
    xy = np.asarray(keypoints, np.float64)[..., :2]
    n, k = xy.shape[:2]
    flags = np.zeros((n, k), np.uint8)
    if n == 0:
        return flags
    parents = skeleton.parent_indices if skeleton.parents else [-1] * k
    children = [i for i, p in enumerate(parents) if p is not None and p >= 0]
    if children:
        bone_parents = [parents[i] for i in children]
        lengths = _bone_lengths(xy, children, bone_parents)
        source = lengths
        if reference is not None:
            source = _bone_lengths(
                np.asarray(reference, np.float64)[..., :2], children, bone_parents
            )
        usual, spread = _robust(source)
        limit = np.maximum(bone_sigma * np.nan_to_num(spread), np.maximum(0.1 * usual, 2.0))
        far = np.abs(lengths - usual) > limit
        far &= np.isfinite(lengths) & np.isfinite(usual)
        for column, child in enumerate(children):
            flags[far[:, column], child] |= FLAG_BONE_LENGTH
    speed = np.full((n, k), np.nan)
    speed[1:] = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    if max_speed is not None:
        limit = np.full(k, float(max_speed))
    else:
        usual, spread = _robust(speed)
        limit = np.maximum(np.nan_to_num(usual) + speed_sigma * np.nan_to_num(spread), 2.0)
    fast = np.nan_to_num(speed, nan=0.0) > limit
    flags[fast] |= FLAG_SPEED
    return flags


def describe_flags(flags: np.ndarray) -> str:
    """One line: how many frames carry each flag."""
    n = len(flags)
    parts = []
    for bit, name in FLAG_NAMES.items():
        count = int(((flags & bit) > 0).any(axis=1).sum()) if n else 0
        if count:
            parts.append(f"{name} {count} ({count / n:.1%})")
    return ", ".join(parts) if parts else "none"


def flags_sidecar(path: str | os.PathLike) -> Path:
    """Where the flags of an output that cannot hold them go: ``OUTPUT.flags.csv``."""
    path = Path(path)
    return path.with_name(path.name + ".flags.csv")


def write_flags_csv(path: str | os.PathLike, predictions: Predictions) -> Path:
    """Write ``frame,NAME...`` rows of flag bits (atomically), for formats without a place."""
    if predictions.flags is None:
        raise ValueError("these predictions carry no quality flags")
    legend = "; ".join(f"{bit}={name}" for bit, name in FLAG_NAMES.items())
    lines = [f"# dpk quality flags, bits: {legend}", ",".join(["frame", *predictions.names])]
    for frame, row in zip(predictions.frame_indices.tolist(), predictions.flags.tolist()):
        lines.append(",".join(map(str, [frame, *row])))
    return write_text_atomic(path, "\n".join(lines) + "\n")
