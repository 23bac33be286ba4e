"""Predicted poses for a sequence of frames, the object every prediction writer takes.

One animal per frame: keypoints (N, K, 3). Several animals (top-down inference,
:mod:`dpk.runtime.topdown`): keypoints (N, A, K, 3) with an instance axis of A rows per
frame (NaN rows for absent animals), ``track_ids`` (N, A) linking rows across frames
(-1 = no track), ``instance_scores`` (N, A) and ``track_names`` (one per track id).

Confidence is defined in [0, 1] everywhere in dpk: :class:`Predictions` clips it when it is
built (model files exported by older dpk versions may emit values slightly above 1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = ["Predictions", "clip_confidence", "default_track_name"]


def default_track_name(track_id: int) -> str:
    """The name of track ``track_id`` when no names are given: ``track_0``, ``track_1`` ..."""
    return f"track_{track_id}"


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
            :mod:`dpk.runtime.filtering`), or None when not computed; (N, A, K) with
            instances.
        track_ids: int64 (N, A) track id of every instance row (-1 = none; absent
            animals are -1), only with instances; None = no tracks.
        instance_scores: float32 (N, A) score of every instance row (NaN = absent), only
            with instances; default: the mean keypoint confidence of the row.
        track_names: Name of each track id (index = id), only with instances; default
            ``track_0``, ``track_1`` ... up to the largest id (set here).
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
    track_ids: np.ndarray | None = None
    instance_scores: np.ndarray | None = None
    track_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.array(self.keypoints, dtype=np.float32)  # a copy: clipped below
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64)
        n = len(self.frame_indices)
        k = self.skeleton.n_keypoints
        multi = self.keypoints.ndim == 4
        shape = self.keypoints.shape
        if multi and (shape[0], shape[2:]) != (n, (k, 3)):
            raise ValueError(
                f"keypoints must have shape ({n}, A, {k}, 3) for {n} frames, A animals and "
                f"{k} keypoints, got {shape}"
            )
        if not multi and shape != (n, k, 3):
            raise ValueError(
                f"keypoints must have shape ({n}, {k}, 3) for {n} frames and {k} keypoints, "
                f"got {shape}"
            )
        if self.flags is not None:
            self.flags = np.asarray(self.flags, dtype=np.uint8)
            if self.flags.shape != self.keypoints.shape[:-1]:
                raise ValueError(
                    f"flags must have shape {self.keypoints.shape[:-1]}, got {self.flags.shape}"
                )
        if self.image_names is not None and len(self.image_names) != n:
            raise ValueError(f"{len(self.image_names)} image names for {n} frames")
        clip_confidence(self.keypoints)
        if not multi:
            extra = (self.track_ids, self.instance_scores, self.track_names)
            if any(value is not None for value in extra):
                raise ValueError(
                    "track_ids, instance_scores and track_names need keypoints with an "
                    "instance axis, (N, A, K, 3)"
                )
            return
        self._check_instances(n, self.keypoints.shape[1])

    def _check_instances(self, n: int, a: int) -> None:
        if self.track_ids is not None:
            self.track_ids = np.asarray(self.track_ids, dtype=np.int64)
            if self.track_ids.shape != (n, a):
                raise ValueError(
                    f"track_ids must have shape ({n}, {a}), got {self.track_ids.shape}"
                )
            if (self.track_ids < -1).any():
                raise ValueError("track ids must be >= 0, or -1 for none")
        if self.instance_scores is None:
            with warnings.catch_warnings():  # absent animals: mean of empty slice, NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                self.instance_scores = np.nanmean(self.keypoints[..., 2], axis=-1)
        self.instance_scores = np.asarray(self.instance_scores, dtype=np.float32)
        if self.instance_scores.shape != (n, a):
            raise ValueError(
                f"instance_scores must have shape ({n}, {a}), got {self.instance_scores.shape}"
            )
        n_tracks = int(self.track_ids.max()) + 1 if self.track_ids is not None and n else 0
        names = list(self.track_names or [])
        if len(names) < n_tracks:
            names += [default_track_name(i) for i in range(len(names), n_tracks)]
        if len(set(names)) != len(names):
            raise ValueError(f"track names must differ, got {names}")
        self.track_names = names if names or self.track_names is not None else None

    @property
    def has_instances(self) -> bool:
        """Whether keypoints have an instance axis (N, A, K, 3) (several animals)."""
        return self.keypoints.ndim == 4

    @property
    def n_instances(self) -> int:
        """Instance rows per frame (A); 1 for single-animal predictions."""
        return self.keypoints.shape[1] if self.has_instances else 1

    def by_track(self) -> Predictions:
        """The same predictions with one instance row per track: row j = track j.

        Single-animal predictions come back unchanged. Without ``track_ids``, row j is
        animal j already (track names ``track_0`` ...).

        Raises:
            DpkError: An animal (a row with keypoints) has no track (-1): tracks are
                needed to name the animals (see :mod:`dpk.runtime.tracking`).
        """
        if not self.has_instances:
            return self
        n, a, k = self.keypoints.shape[:3]
        if self.track_ids is None:
            present = np.isfinite(self.keypoints[..., :2]).any(axis=(2, 3))
            ids = np.where(present, np.arange(a)[None, :], -1)
            return replace(self, track_ids=ids, track_names=self.track_names or None)
        present = np.isfinite(self.keypoints[..., :2]).any(axis=(2, 3))
        if (present & (self.track_ids < 0)).any():
            raise DpkError(
                f"{self.source or 'predictions'}: some animals have no track id (-1); link "
                "them first with dpk.runtime.tracking.track_instances"
            )
        names = list(self.track_names or [])
        t = len(names)
        keypoints = np.full((n, t, k, 3), np.nan, np.float32)
        scores = np.full((n, t), np.nan, np.float32)
        flags = None if self.flags is None else np.zeros((n, t, k), np.uint8)
        ids = np.full((n, t), -1, np.int64)
        rows, cols = np.nonzero(self.track_ids >= 0)
        tracks = self.track_ids[rows, cols]
        if len(np.unique(rows * t + tracks)) != len(rows):
            raise DpkError(
                f"{self.source or 'predictions'}: one track has two animals in a frame; "
                "track ids must be unique per frame"
            )
        keypoints[rows, tracks] = self.keypoints[rows, cols]
        assert self.instance_scores is not None
        scores[rows, tracks] = self.instance_scores[rows, cols]
        if flags is not None and self.flags is not None:
            flags[rows, tracks] = self.flags[rows, cols]
        ids[rows, tracks] = tracks
        return replace(
            self,
            keypoints=keypoints,
            track_ids=ids,
            instance_scores=scores,
            track_names=names,
            flags=flags,
        )

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
                ``confidence`` (and ``image`` for images). With instances, ``dlc`` has the
                ``individuals`` level (one per track, named by ``track_names``) and
                ``tidy`` one row per frame, instance and keypoint with ``instance`` and
                ``track`` (-1 = none) columns.

        Raises:
            ValueError: Unknown layout.
        """
        if layout == "dlc":
            from dpk.runtime.formats.dlc_predictions import dlc_dataframe

            index = (
                self.image_names if self.image_names is not None else self.frame_indices.tolist()
            )
            tracked = self.by_track()
            return dlc_dataframe(
                tracked.keypoints,
                self.names,
                index=index,
                scorer=self.model_name or "dpk",
                individuals=tracked.track_names if self.has_instances else None,
            )
        if layout == "tidy":
            import pandas as pd

            n, a, k = self.n_frames, self.n_instances, self.skeleton.n_keypoints
            flat = self.keypoints.reshape(n * a * k, 3)
            columns: dict[str, Any] = {
                "frame": np.repeat(self.frame_indices, a * k),
                "keypoint": pd.Categorical(np.tile(self.names, n * a), categories=self.names),
                "x": flat[:, 0],
                "y": flat[:, 1],
                "confidence": flat[:, 2],
            }
            if self.has_instances:
                columns["instance"] = np.tile(np.repeat(np.arange(a), k), n)
                ids = self.track_ids if self.track_ids is not None else np.full((n, a), -1)
                columns["track"] = np.repeat(ids.reshape(-1), k)
            if self.image_names is not None:
                columns["image"] = np.repeat(np.asarray(self.image_names, dtype=object), a * k)
            return pd.DataFrame(columns)
        raise ValueError(f"unknown layout {layout!r}; use 'dlc' or 'tidy'")

    def to_movement(self, individual: str = "individual_0") -> Any:
        """The predictions as a movement poses dataset (an xarray Dataset).

        Built with xarray alone, in movement's layout (see
        :mod:`dpk.runtime.formats.movement`): ``position`` (time, space, keypoints,
        individuals) with space = x, y, ``confidence`` (time, keypoints, individuals),
        ``time`` in seconds (frame index / fps) when the fps is known, else frame
        indices, a ``frame`` coordinate; attributes ``ds_type`` = ``poses``, ``fps``
        (when known), ``time_unit``, ``source_software`` = ``dpk``, ``source_file``.

        Args:
            individual: The name of the one animal.

        Raises:
            DpkError: xarray is not installed.
        """
        from dpk.runtime.formats.movement import to_movement

        return to_movement(self, individual)
