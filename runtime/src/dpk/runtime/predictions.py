"""Predicted poses for a sequence of frames, the object every prediction writer takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dpk.specs.skeleton import Skeleton

__all__ = ["Predictions"]


@dataclass
class Predictions:
    """Keypoints predicted for a video or a set of images.

    Attributes:
        keypoints: float32 (N, K, 3): x, y and confidence in pixels of the frames that were
            given (x right, y down, centre of the top-left pixel at 0, 0). Rows of frames
            that could not be read are NaN.
        frame_indices: int64 (N,): the video frame index of each row (for images, the
            position in ``image_names``).
        skeleton: Keypoint names, parents and swaps (from the model file).
        source: The video file or image folder that was read, if any.
        source_info: Facts about the source: ``fps``, ``width``, ``height``,
            ``n_frames``, ``codec`` for video.
        image_names: File names of the images, for image inputs.
        model_spec: The model's spec as JSON text (from the model file), if known.
        model_name: A name for the model (file name or zoo name).
        errors: Frame index -> what went wrong reading it.
        flags: uint8 (N, K) quality flag bits per keypoint (``dpk filter``; see
            :mod:`dpk.runtime.filtering`), or None when not computed.
    """

    keypoints: np.ndarray
    frame_indices: np.ndarray
    skeleton: Skeleton
    source: str | None = None
    source_info: dict[str, Any] = field(default_factory=dict)
    image_names: list[str] | None = None
    model_spec: str | None = None
    model_name: str | None = None
    errors: dict[int, str] = field(default_factory=dict)
    flags: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64)
        n = len(self.frame_indices)
        k = self.skeleton.n_keypoints
        if self.keypoints.shape != (n, k, 3):
            raise ValueError(
                f"keypoints must have shape ({n}, {k}, 3) for {n} frames and {k} keypoints, "
                f"got {self.keypoints.shape}"
            )
        if self.flags is not None:
            self.flags = np.asarray(self.flags, dtype=np.uint8)
            if self.flags.shape != (n, k):
                raise ValueError(f"flags must have shape ({n}, {k}), got {self.flags.shape}")
        if self.image_names is not None and len(self.image_names) != n:
            raise ValueError(f"{len(self.image_names)} image names for {n} frames")

    @property
    def n_frames(self) -> int:
        """Number of rows."""
        return len(self.frame_indices)

    @property
    def names(self) -> list[str]:
        """Keypoint names."""
        return list(self.skeleton.names)
