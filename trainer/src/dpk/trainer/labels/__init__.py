"""Labelled frames in memory: images, keypoints, skeleton and where each frame came from.

Every label reader of :mod:`dpk.trainer.labels.formats` (DeepPoseKit HDF5, DeepLabCut,
COCO, SLEAP after cropping) produces a :class:`Labels`; training consumes it. One row is
one single-animal example. A video frame's source string is
:func:`dpk.runtime.video.video_source` (``"video.mp4#frame=123"``), shared with the
prediction writers.

Conventions (DESIGN.md, section 2): images are ``uint8`` (N, H, W, C) with C = 1 (gray) or
3 (RGB: readers convert OpenCV's BGR), every frame the same size. Keypoints are float32
(N, K, 2) = x, y in pixels of the image, the centre of the top-left pixel at (0, 0);
a missing keypoint is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

if TYPE_CHECKING:
    from dpk.runtime.preprocess import FrameTransform

__all__ = [
    "Labels",
    "LabelsError",
    "describe_outside",
    "restrict_skeleton",
]

OUTSIDE_TOLERANCE = 0.5
"""How far (pixels) a keypoint may lie outside the image's extent before it is an error."""


class LabelsError(DpkError, ValueError):
    """Labels that are inconsistent or do not fit their images; the message names the file."""


def restrict_skeleton(skeleton: Skeleton, names: Sequence[str]) -> Skeleton:
    """The skeleton of a subset of keypoints, in the order of ``names``.

    A keypoint whose parent is dropped hangs from its nearest kept ancestor; a swap
    partner that is dropped leaves no swap.

    Raises:
        LabelsError: A name is not a keypoint of ``skeleton`` (the message lists them).
    """
    names = list(names)
    unknown = [n for n in names if n not in skeleton.names]
    if unknown:
        raise LabelsError(
            f"unknown keypoint name(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(skeleton.names)}"
        )
    kept = set(names)
    parent_of = dict(zip(skeleton.names, skeleton.parents or [], strict=True))
    swap_of = dict(zip(skeleton.names, skeleton.swaps or [], strict=True))
    parents: list[str | None] = []
    for name in names:
        parent = parent_of[name]
        while parent is not None and parent not in kept:
            parent = parent_of[parent]
        parents.append(parent)
    swaps = [swap_of[n] if swap_of[n] in kept else None for n in names]
    return Skeleton(
        names=names,
        parents=parents,
        swaps=swaps,
        allow_asymmetric_swaps=skeleton.allow_asymmetric_swaps,
    )


def describe_outside(labels: Labels, hits: np.ndarray, *, limit: int = 5) -> str:
    """Text naming the frames and keypoints of ``hits`` (rows of ``(example, keypoint)``)."""
    height, width = labels.images.shape[1:3]
    parts = []
    for row, kp in hits[:limit]:
        x, y = labels.keypoints[row, kp]
        parts.append(
            f"{labels.sources[row]} (frame {labels.frame_indices[row]}) keypoint "
            f"{labels.skeleton.names[kp]!r} at x={x:.2f}, y={y:.2f}"
        )
    more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
    return (
        f"{len(hits)} keypoint(s) outside the {width}x{height} image by more than "
        f"{OUTSIDE_TOLERANCE} px: " + "; ".join(parts) + more
    )


@dataclass
class Labels:
    """Single-animal labelled examples, all of one image size.

    Attributes:
        images: uint8 (N, H, W, C), C = 1 (gray) or 3 (RGB).
        keypoints: float32 (N, K, 2): x, y in pixels of the image; NaN = missing.
        skeleton: Keypoint names, parents and swaps (K keypoints).
        sources: Where each example came from: an image path, or ``"video.mp4#frame=123"``
            (:func:`dpk.runtime.video.video_source`).
            Examples cut from one frame (crops of several animals) share the frame's source.
        frame_indices: int64 (N,): the video frame index of each example, or the image's
            position (or the number in its file name) for image folders. Defaults to 0..N-1.
        annotated: bool (N, K): whether a person confirmed each keypoint (DeepPoseKit's
            ``annotated`` flags), or None where the format does not say.
        origin: The labels file or folder, for messages.
        crop_offsets: int64 (N, 2): for crops, the (x, y) of the crop's top-left pixel in
            its source frame (frame coordinates = crop coordinates + offset); else None.
        frame_transform: When the images were fitted to a model input of another size (see
            :class:`dpk.runtime.preprocess.FrameTransform`), the transform every example
            shares: ``keypoints`` are in model-input pixels and ``frame_transform.to_frame``
            maps them back to the labelled frames' pixels. None otherwise.
    """

    images: np.ndarray
    keypoints: np.ndarray
    skeleton: Skeleton
    sources: list[str]
    frame_indices: np.ndarray = None  # type: ignore[assignment]  # None: 0..N-1 (__post_init__)
    annotated: np.ndarray | None = None
    origin: str = ""
    crop_offsets: np.ndarray | None = field(default=None)
    frame_transform: FrameTransform | None = None

    def __post_init__(self) -> None:
        where = f"{self.origin}: " if self.origin else ""
        images = np.asarray(self.images)
        if images.dtype != np.uint8:
            raise LabelsError(f"{where}images must be uint8, got {images.dtype}")
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise LabelsError(
                f"{where}images must have shape (N, H, W, C) with C = 1 or 3, got {images.shape}"
            )
        n = images.shape[0]
        k = self.skeleton.n_keypoints
        keypoints = np.asarray(self.keypoints, dtype=np.float32)
        if keypoints.shape != (n, k, 2):
            raise LabelsError(
                f"{where}keypoints must have shape ({n}, {k}, 2) for {n} images and {k} "
                f"keypoints, got {keypoints.shape}"
            )
        if np.isinf(keypoints).any():
            row = int(np.argwhere(np.isinf(keypoints))[0][0])
            raise LabelsError(
                f"{where}infinite keypoint coordinates in example {row}; use NaN for missing"
            )
        if len(self.sources) != n:
            raise LabelsError(f"{where}{len(self.sources)} sources for {n} images")
        if self.frame_indices is None:
            frame_indices = np.arange(n, dtype=np.int64)
        else:
            frame_indices = np.asarray(self.frame_indices)
            if frame_indices.shape != (n,) or not np.issubdtype(frame_indices.dtype, np.integer):
                raise LabelsError(
                    f"{where}frame_indices must be integers of shape ({n},), "
                    f"got {frame_indices.dtype} {frame_indices.shape}"
                )
            frame_indices = frame_indices.astype(np.int64)
        annotated = self.annotated
        if annotated is not None:
            annotated = np.asarray(annotated)
            if annotated.shape != (n, k):
                raise LabelsError(
                    f"{where}annotated must have shape ({n}, {k}), got {annotated.shape}"
                )
            annotated = annotated.astype(bool)
        offsets = self.crop_offsets
        if offsets is not None:
            offsets = np.asarray(offsets)
            if offsets.shape != (n, 2):
                raise LabelsError(
                    f"{where}crop_offsets must have shape ({n}, 2), got {offsets.shape}"
                )
            offsets = offsets.astype(np.int64)
        self.images = images
        self.keypoints = keypoints
        self.sources = [str(s) for s in self.sources]
        self.frame_indices = frame_indices
        self.annotated = annotated
        self.crop_offsets = offsets

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_keypoints(self) -> int:
        """Number of keypoints K."""
        return self.skeleton.n_keypoints

    @property
    def names(self) -> list[str]:
        """Keypoint names."""
        return list(self.skeleton.names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of every image."""
        _, h, w, c = self.images.shape
        return (int(h), int(w), int(c))

    def annotated_or_labelled(self) -> np.ndarray:
        """The ``annotated`` flags, or where keypoints are present when there are none."""
        if self.annotated is not None:
            return self.annotated
        return ~np.isnan(self.keypoints).any(axis=-1)

    # ------------------------------------------------------------- selections
    def subset(self, index: np.ndarray | Sequence[int] | slice) -> Labels:
        """The examples at ``index`` (integer indices, a boolean mask or a slice), in its order."""
        if isinstance(index, slice):
            rows = np.arange(len(self))[index]
        else:
            rows = np.asarray(index)
            if rows.dtype == bool:
                if rows.shape != (len(self),):
                    raise LabelsError(
                        f"a boolean mask needs {len(self)} values, got shape {rows.shape}"
                    )
                rows = np.flatnonzero(rows)
            rows = rows.astype(np.int64).reshape(-1)
        return Labels(
            images=self.images[rows],
            keypoints=self.keypoints[rows],
            skeleton=self.skeleton,
            sources=[self.sources[i] for i in rows],
            frame_indices=self.frame_indices[rows],
            annotated=None if self.annotated is None else self.annotated[rows],
            origin=self.origin,
            crop_offsets=None if self.crop_offsets is None else self.crop_offsets[rows],
            frame_transform=self.frame_transform,
        )

    def select_keypoints(self, keypoints: Sequence[str] | Skeleton) -> Labels:
        """Keep and reorder keypoints by name.

        Args:
            keypoints: Names in the wanted order, or a skeleton whose names are used and
                which becomes the labels' skeleton (parents and swaps included).

        Raises:
            LabelsError: A name is not in these labels; the message lists the unknown and
                the known names and names the labels file.
        """
        if isinstance(keypoints, Skeleton):
            names, skeleton = list(keypoints.names), keypoints
        else:
            names, skeleton = list(keypoints), None
        unknown = [n for n in names if n not in self.skeleton.names]
        if unknown:
            where = f"{self.origin}: " if self.origin else ""
            raise LabelsError(
                f"{where}unknown keypoint name(s) {', '.join(map(repr, unknown))}: the labels "
                f"have {', '.join(self.skeleton.names)}"
            )
        if skeleton is None:
            skeleton = restrict_skeleton(self.skeleton, names)
        columns = [self.skeleton.names.index(n) for n in names]
        return Labels(
            images=self.images,
            keypoints=self.keypoints[:, columns],
            skeleton=skeleton,
            sources=self.sources,
            frame_indices=self.frame_indices,
            annotated=None if self.annotated is None else self.annotated[:, columns],
            origin=self.origin,
            crop_offsets=self.crop_offsets,
            frame_transform=self.frame_transform,
        )

    @classmethod
    def concatenate(cls, parts: Sequence[Labels], *, origin: str | None = None) -> Labels:
        """Join labels with the same keypoint names and image shape, in order.

        ``annotated`` flags are kept when any part has them (parts without take
        :meth:`annotated_or_labelled`); crop offsets only when every part has them.

        Raises:
            LabelsError: No parts, different keypoint names, or different image shapes.
        """
        if not parts:
            raise LabelsError("nothing to concatenate: no labels given")
        first = parts[0]
        for part in parts[1:]:
            if part.names != first.names:
                raise LabelsError(
                    f"cannot join labels with different keypoints: {part.origin or 'one part'} "
                    f"has {part.names}, {first.origin or 'the first'} has {first.names}"
                )
            if part.image_shape != first.image_shape:
                raise LabelsError(
                    f"cannot join labels with different image shapes: "
                    f"{part.origin or 'one part'} has {part.image_shape}, "
                    f"{first.origin or 'the first'} has {first.image_shape}"
                )
        any_annotated = any(p.annotated is not None for p in parts)
        all_offsets = all(p.crop_offsets is not None for p in parts)
        return cls(
            images=np.concatenate([p.images for p in parts]),
            keypoints=np.concatenate([p.keypoints for p in parts]),
            skeleton=first.skeleton,
            sources=[s for p in parts for s in p.sources],
            frame_indices=np.concatenate([p.frame_indices for p in parts]),
            annotated=(
                np.concatenate([p.annotated_or_labelled() for p in parts])
                if any_annotated
                else None
            ),
            origin=first.origin if origin is None else origin,
            crop_offsets=np.concatenate([p.crop_offsets for p in parts]) if all_offsets else None,
        )

    # ------------------------------------------------------------------ checks
    def outside_image(self, tolerance: float = OUTSIDE_TOLERANCE) -> np.ndarray:
        """``(example, keypoint)`` rows of keypoints outside the image by more than ``tolerance``.

        The image covers x in [-0.5, W - 0.5] and y in [-0.5, H - 0.5] (pixel centres at
        integers); NaN keypoints are never outside.
        """
        h, w = self.images.shape[1:3]
        x, y = self.keypoints[..., 0], self.keypoints[..., 1]
        low = -0.5 - tolerance
        with np.errstate(invalid="ignore"):
            bad = (x < low) | (y < low) | (x > w - 0.5 + tolerance) | (y > h - 0.5 + tolerance)
        return np.argwhere(bad)

    def check_inside(self, tolerance: float = OUTSIDE_TOLERANCE) -> None:
        """Refuse keypoints outside the image by more than ``tolerance`` pixels.

        Raises:
            LabelsError: Naming the labels file, the frames and the keypoints.
        """
        hits = self.outside_image(tolerance)
        if len(hits):
            where = f"{self.origin}: " if self.origin else ""
            raise LabelsError(
                f"{where}{describe_outside(self, hits)}. Fix or delete these labels "
                "(coordinates are pixels of the image, the top-left pixel's centre at 0, 0)"
            )

    def __repr__(self) -> str:
        h, w, c = self.image_shape
        return (
            f"Labels({len(self)} examples of {h}x{w}x{c}, {self.n_keypoints} keypoints, "
            f"origin={self.origin!r})"
        )
