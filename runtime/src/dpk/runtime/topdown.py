"""Top-down inference: an anchor model finds the animals, a pose model reads each one.

One frame in, one row per animal out::

    from dpk.runtime.topdown import TopDown
    pipeline = TopDown("fly_anchor.onnx", "stacked_densenet.fly13.onnx")
    found = pipeline.predict(frames)      # found.keypoints: (N, A, K, 3), found.scores: (N, A)

The steps, each in its own function: :meth:`TopDown.find_anchors` (the anchor model on
whole frames fitted to its input; anchors mapped back to frame pixels), :func:`crop_origin`
and :func:`cut_crops` (square crops of the pose model's training crop size, centred on
each anchor rounded to a pixel exactly as the trainer cut them; outside the frame is
zero), the pose model on the batch of crops, and the exact shift back to frame pixels
(crop pixel + crop origin). Rows of absent animals are NaN; a frame without animals is a
row of NaN, not an error.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpk.runtime.crop_guard import CropMismatchError, crop_of
from dpk.runtime.model_file import (
    INPUT_NAME,
    META_SPEC,
    ModelFile,
    ModelSource,
    open_model_session,
)
from dpk.runtime.predictions import Predictions
from dpk.runtime.predictor import Predictor
from dpk.runtime.preprocess import FrameOrder, fit_frames, to_frame_coordinates
from dpk.runtime.providers import Device
from dpk.specs.errors import DpkError

__all__ = [
    "ANCHORS_NAME",
    "TopDown",
    "TopDownResult",
    "crop_origin",
    "cut_crops",
    "pose_at",
]

ANCHORS_NAME = "anchors"
"""Output of an anchor model: float32 (N, max_animals, 3), NaN rows for absent animals."""


def crop_origin(x: float, y: float, size: int) -> tuple[int, int]:
    """Frame (x, y) of the top-left pixel of the ``size`` crop centred on (x, y): the anchor
    rounded half up, minus ``size // 2`` (the trainer's rule, so crops match training)."""
    half = size // 2
    return math.floor(x + 0.5) - half, math.floor(y + 0.5) - half


def cut_crops(frame: np.ndarray, origins: np.ndarray, size: int) -> np.ndarray:
    """uint8 (A, size, size, C) crops of an (H, W[, C]) frame at (x0, y0) ``origins``; the
    parts outside the frame are zero."""
    if frame.ndim == 2:
        frame = frame[..., None]
    height, width = frame.shape[:2]
    out = np.zeros((len(origins), size, size, frame.shape[2]), frame.dtype)
    for i, (x0, y0) in enumerate(np.asarray(origins, np.int64)):
        ax0, ay0 = max(x0, 0), max(y0, 0)
        ax1, ay1 = min(x0 + size, width), min(y0 + size, height)
        if ax0 < ax1 and ay0 < ay1:
            out[i, ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = frame[ay0:ay1, ax0:ax1]
    return out


@dataclass
class TopDownResult:
    """What the pipeline found in a batch of frames.

    Attributes:
        keypoints: float32 (N, A, K, 3) in frame pixels; NaN rows for absent animals.
        scores: float32 (N, A): mean keypoint confidence per animal; NaN when absent.
        anchors: float32 (N, A, 3): the anchor points in frame pixels and their map value.
        frame_indices: int64 (N,) frame index per row (videos), else None.
        track_ids: int64 (N, A) track per instance, -1 when absent (videos), else None.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    anchors: np.ndarray
    frame_indices: np.ndarray | None = None
    track_ids: np.ndarray | None = None


class TopDown:
    """Anchor model -> crops -> pose model, for several animals (or one in a large frame).

    Args:
        anchor_model: A dpk anchor model file (``targets.anchor`` in its spec).
        pose_model: A dpk pose model file trained on crops (``data.crop`` in its spec), or
            a :class:`Predictor`.
        device: See :class:`Predictor`.
        threads: CPU threads for onnxruntime.
        crop_size: Side of the crops in frame pixels (default: the pose model's
            ``data.crop.size``, else the anchor model's ``targets.anchor.crop_size``).

    Raises:
        DpkError: The first file is not an anchor model.
        CropMismatchError: The pose model was trained on crops of another size than the
            anchor model's ``crop_size``, or no crop size is known.
    """

    def __init__(
        self,
        anchor_model: ModelSource,
        pose_model: ModelSource | Predictor,
        device: Device = "auto",
        threads: int | None = None,
        crop_size: int | None = None,
    ):
        label = "<anchor bytes>" if isinstance(anchor_model, bytes) else os.fspath(anchor_model)
        self.anchor_session, _ = open_model_session(anchor_model, device, threads, label)
        self.anchor_file = ModelFile.from_session(self.anchor_session, label)
        anchor = self.anchor_file.spec.targets.anchor
        if anchor is None or ANCHORS_NAME not in self.anchor_file.outputs:
            raise DpkError(
                f"{label}: not an anchor model (no targets.anchor in its spec, or no "
                f"{ANCHORS_NAME!r} output); train one with targets.anchor in the spec"
            )
        self.pose = (
            pose_model
            if isinstance(pose_model, Predictor)
            else Predictor(pose_model, device=device, threads=threads, cropped=True)
        )
        self.pose.cropped = True
        self.crop_size = self._crop_size(crop_size, anchor.crop_size)

    @classmethod
    def from_pretrained(cls, name: str, device: Device = "auto", **kwargs) -> TopDown:
        """The pipeline of a zoo entry that names a pair (``pipeline: {anchor, pose}``).

        Both models are downloaded (and checked) when not cached yet.

        Raises:
            ZooError: ``name`` is not a pipeline entry of the zoo, or a download fails.
        """
        from dpk.runtime.predictor import resolve_model
        from dpk.zoo import ZooError, pipeline_models

        pair = pipeline_models(name)
        if pair is None:
            raise ZooError(
                f"{name!r} is not a top-down pipeline of the zoo (`dpk zoo list` shows them); "
                "give TopDown(anchor_model, pose_model) instead"
            )
        anchor, _ = resolve_model(pair[0])
        pose_path, pose_name = resolve_model(pair[1])
        pose = Predictor(
            pose_path, device=device, threads=kwargs.get("threads"), name=pose_name, cropped=True
        )
        return cls(anchor, pose, device=device, **kwargs)

    def _crop_size(self, given: int | None, intended: int | None) -> int:
        trained = crop_of(self.pose.spec)
        name = self.pose.name or self.pose.spec.name
        if trained is not None and intended is not None and trained[1] != intended:
            raise CropMismatchError(
                f"{name} was trained on {trained[1]}x{trained[1]} crops but the anchor model "
                f"cuts {intended}x{intended} crops (targets.anchor.crop_size); use a pose model "
                f"trained on {intended} px crops, or pass crop_size={trained[1]} to override"
            )
        size = given or (trained[1] if trained else None) or intended
        if size is None:
            raise CropMismatchError(
                f"{name} has no data.crop and the anchor model no crop_size: pass crop_size"
            )
        anchor_name = self.anchor_file.skeleton.names[0]
        if trained is not None and trained[0] != anchor_name:
            raise CropMismatchError(
                f"{name} was trained on crops centred on {trained[0]!r}, but the anchor model "
                f"finds {anchor_name!r}; use an anchor model of {trained[0]!r}"
            )
        return int(size)

    @property
    def max_animals(self) -> int:
        """Rows per frame (the anchor model's ``max_animals``)."""
        anchor = self.anchor_file.spec.targets.anchor
        assert anchor is not None
        return anchor.max_animals

    def find_anchors(self, frames, frame_order: FrameOrder = "bgr") -> np.ndarray:
        """float32 (N, A, 3): anchors in frame pixels and their map value (NaN = absent)."""
        batch, transforms = fit_frames(
            frames, self.anchor_file.preprocessing, frame_order=frame_order
        )
        if not len(batch):
            return np.empty((0, self.max_animals, 3), np.float32)
        found = self.anchor_session.run([ANCHORS_NAME], {INPUT_NAME: batch})[0]
        return to_frame_coordinates(found, transforms)

    def pose_at(self, frames, anchors: np.ndarray, frame_order: FrameOrder = "bgr"):
        """Keypoints (N, A, K, 3) and scores (N, A) of the animals at ``anchors`` (N, A, 2+)."""
        return pose_at(self.pose, frames, anchors, self.crop_size, frame_order)

    def predict(self, frames, frame_order: FrameOrder = "bgr") -> TopDownResult:
        """Every animal's keypoints in a batch of frames (a list or an (N, H, W[, C]) array)."""
        if isinstance(frames, np.ndarray) and (
            frames.ndim == 2 or (frames.ndim == 3 and frames.shape[-1] in (1, 3))
        ):
            frames = frames[None]
        frames = frames if isinstance(frames, np.ndarray) else list(frames)
        anchors = self.find_anchors(frames, frame_order)
        keypoints, scores = self.pose_at(frames, anchors, frame_order)
        return TopDownResult(keypoints, scores, anchors)

    def predict_video(
        self,
        path: str | os.PathLike,
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        *,
        batch_size: int = 16,
        max_distance: float = 50.0,
        max_gap: int = 10,
    ) -> TopDownResult:
        """Every animal of frames ``start, start + step, ...`` below ``stop``, tracked.

        Unreadable frames are NaN rows. Tracks come from
        :func:`dpk.runtime.tracking.track_instances` (``max_distance`` in frame pixels,
        ``max_gap`` in frames).
        """
        from dpk.runtime.tracking import track_instances

        a, k = self.max_animals, self.pose.model_file.n_keypoints
        parts: list[TopDownResult] = []
        all_indices: list[int] = []
        for indices, frames in _video_batches(path, start, stop, step, batch_size):
            parts.append(self._predict_reads(frames, a, k))
            all_indices += indices
        frame_indices = np.asarray(all_indices, np.int64)
        keypoints = (
            np.concatenate([p.keypoints for p in parts])
            if parts
            else np.empty((0, a, k, 3), np.float32)
        )
        return TopDownResult(
            keypoints=keypoints,
            scores=np.concatenate([p.scores for p in parts]) if parts else np.empty((0, a)),
            anchors=np.concatenate([p.anchors for p in parts]) if parts else np.empty((0, a, 3)),
            frame_indices=frame_indices,
            track_ids=track_instances(
                keypoints, frame_indices, max_distance=max_distance, max_gap=max_gap
            ),
        )

    def predict_path(
        self,
        path: str | os.PathLike,
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        *,
        batch_size: int = 16,
        max_distance: float = 50.0,
        max_gap: int = 10,
        progress: bool = False,
    ) -> Predictions:
        """Every animal of a video (or an image folder), tracked, as :class:`Predictions`.

        Keypoints (N, A, K, 3) in frame pixels (NaN rows for absent animals), ``track_ids``
        from :func:`dpk.runtime.tracking.track_instances` (``max_distance`` px,
        ``max_gap`` frames), ``instance_scores`` (mean keypoint confidence), the pose
        model's skeleton and spec; unreadable frames are NaN rows listed in ``errors``.

        Raises:
            SourceError: The source is missing, cannot be opened, the frame range is
                empty, or no frame can be read.
        """
        from tqdm.auto import tqdm

        from dpk.runtime.tracking import track_instances
        from dpk.runtime.video import ImageFolderSource, SourceError, open_source

        source = open_source(path, start, stop, step)
        total = len(source.indices) if source.indices is not None else None
        if total == 0:
            raise SourceError(f"{source.path}: the frame range start={start} stop={stop} is empty")
        a, k = self.max_animals, self.pose.model_file.n_keypoints
        parts: list[TopDownResult] = []
        indices: list[int] = []
        errors: dict[int, str] = {}
        with tqdm(total=total, unit="frame", desc=source.path.name, disable=not progress) as bar:
            for reads in _batched(iter(source), batch_size):
                part = self._predict_reads([r.frame for r in reads], a, k)
                parts.append(part)
                indices += [r.index for r in reads]
                errors.update({r.index: r.error or "unreadable" for r in reads if r.frame is None})
                bar.update(len(reads))
        if indices and len(errors) == len(indices):
            raise SourceError(
                f"{source.path}: none of its frames could be read ({next(iter(errors.values()))}); "
                "check the file, or re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
            )
        frame_indices = np.asarray(indices, np.int64)
        keypoints = (
            np.concatenate([p.keypoints for p in parts])
            if parts
            else np.empty((0, a, k, 3), np.float32)
        )
        scores = np.concatenate([p.scores for p in parts]) if parts else np.empty((0, a))
        names = None
        if isinstance(source, ImageFolderSource):
            names = [source.files[i].name for i in frame_indices]
        return Predictions(
            keypoints=keypoints,
            frame_indices=frame_indices,
            skeleton=self.pose.skeleton,
            source=str(source.path),
            source_info=dict(source.info),
            image_names=names,
            model_spec=self.pose.model_file.metadata.get(META_SPEC),
            model_name=self.pose.name,
            errors=errors,
            track_ids=track_instances(
                keypoints, frame_indices, max_distance=max_distance, max_gap=max_gap
            ),
            instance_scores=scores,
        )

    def _predict_reads(self, frames: list, a: int, k: int) -> TopDownResult:
        """Every animal of a batch of frames; None frames (unreadable) are NaN rows."""
        good = [i for i, f in enumerate(frames) if f is not None]
        part = TopDownResult(
            np.full((len(frames), a, k, 3), np.nan, np.float32),
            np.full((len(frames), a), np.nan, np.float32),
            np.full((len(frames), a, 3), np.nan, np.float32),
        )
        if good:
            found = self.predict([frames[i] for i in good])
            part.keypoints[good], part.scores[good] = found.keypoints, found.scores
            part.anchors[good] = found.anchors
        return part


def _batched(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _video_batches(path, start: int, stop: int | None, step: int, size: int):
    from dpk.runtime.video import VideoSource

    indices, frames = [], []
    for read in VideoSource(Path(path), start, stop, step):
        indices.append(read.index)
        frames.append(read.frame)
        if len(frames) == size:
            yield indices, frames
            indices, frames = [], []
    if frames:
        yield indices, frames


def pose_at(
    pose: Predictor, frames, anchors: np.ndarray, size: int, frame_order: FrameOrder = "bgr"
) -> tuple[np.ndarray, np.ndarray]:
    """The pose model on ``size`` crops around ``anchors`` (N, A, 2+) of ``frames``.

    Returns:
        ``(keypoints, scores)``: float32 (N, A, K, 3) in frame pixels and (N, A) mean
        confidences; NaN where the anchor is NaN.
    """
    k = pose.model_file.n_keypoints
    n, a = anchors.shape[:2]
    keypoints = np.full((n, a, k, 3), np.nan, np.float32)
    crops, origins, where = [], [], []
    for i in range(n):
        for j in np.flatnonzero(np.isfinite(anchors[i, :, :2]).all(axis=1)):
            origin = crop_origin(float(anchors[i, j, 0]), float(anchors[i, j, 1]), size)
            crops.append(cut_crops(np.asarray(frames[i]), np.array([origin]), size)[0])
            origins.append(origin)
            where.append((i, j))
    if crops:
        found = pose.predict(np.stack(crops), frame_order=frame_order)
        found[..., :2] += np.asarray(origins, np.float32)[:, None, :]
        rows, cols = np.array(where).T
        keypoints[rows, cols] = found
    with warnings.catch_warnings():  # absent animals: 'mean of empty slice', NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = np.nanmean(keypoints[..., 2], axis=-1).astype(np.float32)
    return keypoints, scores
