"""Predicted poses for a sequence of frames, the object every prediction writer takes.

Confidence is defined in [0, 1] everywhere in dpk: :class:`Predictions` clips it when it is
built (model files exported by older dpk versions may emit values slightly above 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dpk.specs.skeleton import Skeleton

__all__ = ["Predictions", "clip_confidence"]


def clip_confidence(keypoints: np.ndarray) -> np.ndarray:
    """Clip the confidence (last column) of float32 (..., 3) keypoints to [0, 1] in place.

    NaN stays NaN. Returns ``keypoints``.
    """
    np.clip(keypoints[..., 2], 0.0, 1.0, out=keypoints[..., 2])
    return keypoints


@dataclass
class Predictions:
    """Keypoints predicted for a video or a set of images.

    Attributes:
        keypoints: float32 (N, K, 3): x, y in pixels of the frames that were given (x
            right, y down, centre of the top-left pixel at 0, 0) and the confidence in
            [0, 1] (clipped here). Rows of frames that could not be read are NaN.
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
        self.keypoints = np.array(self.keypoints, dtype=np.float32)  # a copy: clipped below
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
        clip_confidence(self.keypoints)

    @property
    def n_frames(self) -> int:
        """Number of rows."""
        return len(self.frame_indices)

    @property
    def names(self) -> list[str]:
        """Keypoint names."""
        return list(self.skeleton.names)

    @property
    def edge_names(self) -> list[tuple[str, str]]:
        """Skeleton edges as (parent name, child name) pairs."""
        names = self.names
        return [(names[p], names[c]) for c, p in self.skeleton.edges]

    @property
    def fps(self) -> float | None:
        """Frames per second of the source video, if known."""
        fps = self.source_info.get("fps")
        return float(fps) if fps else None

    def to_dataframe(self, layout: str = "dlc") -> Any:
        """The predictions as a pandas DataFrame (pandas must be installed).

        Args:
            layout: ``dlc``: DeepLabCut's layout, one row per predicted frame indexed by
                frame index (image name for images), MultiIndex columns ``scorer``,
                ``bodyparts``, ``coords`` (``x``, ``y``, ``likelihood``). ``tidy``: one row
                per frame and keypoint, columns ``frame``, ``keypoint``, ``x``, ``y``,
                ``confidence`` (and ``image`` for images).

        Raises:
            ValueError: Unknown layout.
        """
        if layout == "dlc":
            from dpk.runtime.formats.dlc_predictions import dlc_dataframe

            index = (
                self.image_names if self.image_names is not None else self.frame_indices.tolist()
            )
            return dlc_dataframe(
                self.keypoints, self.names, index=index, scorer=self.model_name or "dpk"
            )
        if layout == "tidy":
            import pandas as pd

            n, k = self.n_frames, self.skeleton.n_keypoints
            flat = self.keypoints.reshape(n * k, 3)
            columns: dict[str, Any] = {
                "frame": np.repeat(self.frame_indices, k),
                "keypoint": pd.Categorical(np.tile(self.names, n), categories=self.names),
                "x": flat[:, 0],
                "y": flat[:, 1],
                "confidence": flat[:, 2],
            }
            if self.image_names is not None:
                columns["image"] = np.repeat(np.asarray(self.image_names, dtype=object), k)
            return pd.DataFrame(columns)
        raise ValueError(f"unknown layout {layout!r}; use 'dlc' or 'tidy'")

    def to_movement(self, individual: str = "individual_0") -> Any:
        """The predictions as a movement poses dataset (an xarray Dataset).

        Built with xarray alone, in movement's layout (see
        :mod:`dpk.runtime.formats.movement`): ``position`` (time, space, keypoints,
        individuals) with space = x, y, ``confidence`` (time, keypoints, individuals),
        ``time`` in seconds (frame index / fps) when the fps is known, else frame
        indices, a ``frame`` coordinate; attributes ``ds_type`` = ``poses``, ``fps``,
        ``time_unit``, ``source_software`` = ``dpk``, ``source_file``.

        Args:
            individual: The name of the one animal.

        Raises:
            DpkError: xarray is not installed.
        """
        from dpk.runtime.formats.movement import to_movement

        return to_movement(self, individual)
