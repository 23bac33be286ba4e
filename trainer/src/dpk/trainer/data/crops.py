"""Square crops around an anchor keypoint: one single-animal example per instance.

A crop of side ``size`` is centred on the anchor keypoint rounded to the nearest pixel
(``floor(x + 0.5)``), so pixels are copied, never resampled: the anchor lands within half
a pixel of the crop's pixel ``size // 2``. Parts of the crop outside the frame are zero.
Keypoints are shifted into crop coordinates; keypoints of the cropped instance that fall
outside the crop become NaN, and other animals in the crop are only pixels.

An instance gives an example when its anchor is labelled and at least ``min_visible`` of
its keypoints are labelled (counted in the frame, before cropping).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dpk.specs.data import Crop
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton
from dpk.trainer.labels import OUTSIDE_TOLERANCE, Labels
from dpk.trainer.labels.formats.sleap import SleapLabels

__all__ = [
    "CropStats",
    "crop_frames",
    "crop_image",
    "crop_labels",
    "crop_origin",
    "crop_sleap",
    "keypoint_columns",
]


@dataclass
class CropStats:
    """What cropping kept and skipped."""

    instances: int = 0
    kept: int = 0
    no_anchor: int = 0
    too_few: int = 0

    def warn_skipped(self, origin: str, crop: Crop) -> None:
        """Warn once about skipped instances, if any."""
        skipped = self.no_anchor + self.too_few
        if skipped:
            warnings.warn(
                f"{origin}: skipped {skipped} of {self.instances} instance(s) when cropping "
                f"({self.no_anchor} without the anchor {crop.anchor!r}, {self.too_few} with "
                f"fewer than {crop.min_visible:.0%} of keypoints labelled)",
                stacklevel=3,
            )


def crop_origin(anchor_xy: Sequence[float], size: int) -> tuple[int, int]:
    """The (x, y) in the frame of the top-left pixel of the crop centred on ``anchor_xy``."""
    half = size // 2
    return (
        math.floor(float(anchor_xy[0]) + 0.5) - half,
        math.floor(float(anchor_xy[1]) + 0.5) - half,
    )


def crop_image(image: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    """Pixels ``[y0, y0 + size) x [x0, x0 + size)`` of an (H, W, C) image, zero outside it."""
    height, width = image.shape[:2]
    out = np.zeros((size, size, image.shape[2]), dtype=image.dtype)
    ax0, ay0 = max(x0, 0), max(y0, 0)
    ax1, ay1 = min(x0 + size, width), min(y0 + size, height)
    if ax0 < ax1 and ay0 < ay1:
        out[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = image[ay0:ay1, ax0:ax1]
    return out


def _shift_into_crop(points: np.ndarray, x0: int, y0: int, size: int) -> np.ndarray:
    shifted = points - np.array([x0, y0], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        outside = ((shifted < -0.5) | (shifted > size - 0.5)).any(axis=-1)
    shifted[outside] = np.nan
    return shifted


def keypoint_columns(have: Sequence[str], want: Sequence[str], origin: str) -> list[int]:
    """Column of each wanted keypoint name among ``have``.

    Raises:
        DpkError: Names the labels file and lists the unknown and the available names.
    """
    unknown = [n for n in want if n not in have]
    if unknown:
        raise DpkError(
            f"{origin}: unknown keypoint name(s) {', '.join(map(repr, unknown))}: the labels "
            f"have {', '.join(have)}. Use the labels' names in the spec's skeleton"
        )
    return [list(have).index(n) for n in want]


def _usable(points: np.ndarray, anchor: int, min_visible: float, stats: CropStats) -> bool:
    stats.instances += 1
    labelled = ~np.isnan(points).any(axis=-1)
    if not labelled[anchor]:
        stats.no_anchor += 1
        return False
    if labelled.mean() + 1e-9 < min_visible:
        stats.too_few += 1
        return False
    stats.kept += 1
    return True


def _check_in_frame(
    points: np.ndarray, frame_index: int, shape: tuple[int, int], names: Sequence[str], origin: str
) -> None:
    height, width = shape
    low = -0.5 - OUTSIDE_TOLERANCE
    with np.errstate(invalid="ignore"):
        bad = (
            (points[..., 0] < low)
            | (points[..., 1] < low)
            | (points[..., 0] > width - 0.5 + OUTSIDE_TOLERANCE)
            | (points[..., 1] > height - 0.5 + OUTSIDE_TOLERANCE)
        )
    if bad.any():
        hits = np.argwhere(bad)
        text = "; ".join(
            f"instance {a} keypoint {names[k]!r} at x={points[a, k, 0]:.2f}, "
            f"y={points[a, k, 1]:.2f}"
            for a, k in hits[:5]
        )
        raise DpkError(
            f"{origin}: frame {frame_index}: {len(hits)} keypoint(s) outside the "
            f"{width}x{height} frame by more than {OUTSIDE_TOLERANCE} px: {text}. Fix these labels"
        )


@dataclass
class _Cut:
    images: list[np.ndarray]
    keypoints: list[np.ndarray]
    picked: list[tuple[int, int]]
    offsets: list[tuple[int, int]]


def _cut(
    frames: Iterable[tuple[int, np.ndarray]],
    instances: Mapping[int, np.ndarray],
    skeleton: Skeleton,
    crop: Crop,
    origin: str,
    stats: CropStats,
) -> _Cut:
    anchor = keypoint_columns(skeleton.names, [crop.anchor], origin)[0]
    cut = _Cut([], [], [], [])
    for key, image in frames:
        points = np.asarray(instances[key], dtype=np.float32)
        _check_in_frame(points, key, image.shape[:2], skeleton.names, origin)
        for a, instance in enumerate(points):
            if not _usable(instance, anchor, crop.min_visible, stats):
                continue
            x0, y0 = crop_origin(instance[anchor], crop.size)
            cut.images.append(crop_image(image, x0, y0, crop.size))
            cut.keypoints.append(_shift_into_crop(instance, x0, y0, crop.size))
            cut.picked.append((int(key), a))
            cut.offsets.append((x0, y0))
    if not cut.images:
        raise DpkError(
            f"{origin}: no examples after cropping: none of {stats.instances} instance(s) has "
            f"the anchor {crop.anchor!r} labelled and at least {crop.min_visible:.0%} of its "
            "keypoints (empty set); check data.crop.anchor and data.crop.min_visible"
        )
    return cut


def crop_frames(
    frames: Iterable[tuple[int, np.ndarray]],
    instances: Mapping[int, np.ndarray],
    *,
    skeleton: Skeleton,
    crop: Crop,
    source_of: Callable[[int], str],
    origin: str,
    stats: CropStats | None = None,
) -> Labels:
    """Cut one crop per usable instance from each frame.

    Args:
        frames: ``(frame_index, image (H, W, C))`` pairs, in the order examples should have.
        instances: Frame index -> (A, K, 2) keypoints, columns in ``skeleton`` order.
        skeleton: The keypoints of the examples (the anchor must be one of them).
        crop: Anchor, size and minimum labelled fraction.
        source_of: Frame index -> the frame's source string.
        origin: The labels file, for messages.
        stats: Filled with the counts of kept and skipped instances.

    Returns:
        One example per usable instance, frame by frame, instances in their file order;
        ``crop_offsets`` holds each crop's position in its frame.

    Raises:
        DpkError: Keypoints outside a frame, or no instance usable (empty set).
    """
    cut = _cut(frames, instances, skeleton, crop, origin, stats or CropStats())
    return Labels(
        images=np.stack(cut.images),
        keypoints=np.stack(cut.keypoints),
        skeleton=skeleton,
        sources=[source_of(f) for f, _ in cut.picked],
        frame_indices=np.array([f for f, _ in cut.picked], dtype=np.int64),
        origin=origin,
        crop_offsets=np.asarray(cut.offsets, dtype=np.int64),
    )


def crop_sleap(
    sleap: SleapLabels,
    crop: Crop,
    *,
    skeleton: Skeleton | None = None,
    frames: Iterable[int] | None = None,
) -> Labels:
    """Crops around every usable instance of a SLEAP file, decoding its video once, in order.

    Args:
        sleap: Labels from :func:`dpk.trainer.labels.formats.sleap.load_slp`.
        crop: Anchor, size and minimum labelled fraction.
        skeleton: Keypoints of the examples, matched to the file's by name (default: the
            file's skeleton).
        frames: Labelled frames to use (default: all).

    Raises:
        DpkError: Unknown keypoint names, keypoints outside a frame, or no usable instance.
    """
    origin = str(sleap.path)
    skeleton = skeleton or sleap.skeleton
    columns = keypoint_columns(sleap.skeleton.names, skeleton.names, origin)
    wanted = sleap.frame_indices if frames is None else sorted({int(f) for f in frames})
    missing = [f for f in wanted if f not in sleap.instances]
    if missing:
        raise DpkError(f"{origin}: frame(s) {missing[:5]} have no user-labelled instances")
    instances = {f: sleap.instances[f][:, columns] for f in wanted}
    stats = CropStats()
    labels = crop_frames(
        sleap.iter_frames(wanted),
        instances,
        skeleton=skeleton,
        crop=crop,
        source_of=sleap.source,
        origin=origin,
        stats=stats,
    )
    stats.warn_skipped(origin, crop)
    return labels


def crop_labels(labels: Labels, crop: Crop) -> Labels:
    """Crops around the anchor of single-animal labels (one instance per image).

    Keypoints of each crop are in crop coordinates; ``crop_offsets`` holds each crop's
    position in its image; sources, frame indices and ``annotated`` flags follow their rows.

    Raises:
        DpkError: The anchor is not a keypoint, or no example is usable (empty set).
    """
    origin = labels.origin or "labels"
    stats = CropStats()
    frames = ((i, labels.images[i]) for i in range(len(labels)))
    instances = {i: labels.keypoints[i : i + 1] for i in range(len(labels))}
    cut = _cut(frames, instances, labels.skeleton, crop, origin, stats)
    stats.warn_skipped(origin, crop)
    rows = np.array([i for i, _ in cut.picked], dtype=np.int64)
    offsets = np.asarray(cut.offsets, dtype=np.int64)
    if labels.crop_offsets is not None:
        offsets = offsets + labels.crop_offsets[rows]
    return Labels(
        images=np.stack(cut.images),
        keypoints=np.stack(cut.keypoints),
        skeleton=labels.skeleton,
        sources=[labels.sources[i] for i in rows],
        frame_indices=labels.frame_indices[rows],
        annotated=None if labels.annotated is None else labels.annotated[rows],
        origin=labels.origin,
        crop_offsets=offsets,
    )
