"""SLEAP projects (``.slp``) for training: every video, split by frame before decoding.

Read by :func:`dpk.trainer.labels.formats.sleap.load_slp_videos` (video files, image sequences and
embedded frames; videos may differ in size). Frames keep the file's order: videos in file
order, ascending frame index, instances in file order. Frames with several animals need
``data.crop``; whole frames must share one size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dpk.specs.errors import DpkError
from dpk.specs.model import ModelSpec
from dpk.trainer.data.crops import crop_sleap, keypoint_columns
from dpk.trainer.data.splits import split_examples
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats.sleap import SleapLabels, load_slp_videos

__all__ = ["load", "load_videos"]


def _check_same_size(
    sleap: SleapLabels, images: list[np.ndarray], image: np.ndarray, index: int, fix: str
) -> None:
    """Whole-frame examples of one video must share a size: a one-line error saying ``fix``."""
    if images and image.shape != images[0].shape:
        raise DpkError(
            f"{sleap.path}: frames of {sleap.video_key} differ in size ({images[0].shape[1]}x"
            f"{images[0].shape[0]} and {image.shape[1]}x{image.shape[0]} at frame {index}); "
            f"{fix}"
        )


def _sleap_full_frames(sleap: SleapLabels, spec: ModelSpec, frames: list[int]) -> Labels:
    """Whole frames as examples, for SLEAP files with one animal per frame."""
    origin = str(sleap.path)
    columns = keypoint_columns(sleap.skeleton.names, spec.skeleton.names, origin)
    images: list[np.ndarray] = []
    keypoints: list[np.ndarray] = []
    for index, image in sleap.iter_frames(frames):
        _check_same_size(
            sleap, images, image, index,
            "add data.crop to train on crops, which may come from frames of any size",
        )  # fmt: skip
        images.append(image)
        keypoints.append(sleap.instances[index][0, columns])
    labels = Labels(
        images=np.stack(images),
        keypoints=np.stack(keypoints),
        skeleton=spec.skeleton,
        sources=[sleap.source(f) for f in frames],
        frame_indices=np.asarray(frames, dtype=np.int64),
        origin=origin,
    )
    labels.check_inside()
    return labels


def _sleap_anchor_frames(sleap: SleapLabels, spec: ModelSpec, frames: list[int]) -> Labels:
    """Whole frames for an anchor model (``targets.anchor``): column i is the anchor
    keypoint of animal i, up to ``max_animals`` (NaN where fewer are labelled)."""
    from dpk.trainer.anchors import anchor_skeleton

    anchor = spec.targets.anchor
    assert anchor is not None
    origin = str(sleap.path)
    name = spec.skeleton.names[0]
    column = keypoint_columns(sleap.skeleton.names, [name], origin)[0]
    a = anchor.max_animals
    images: list[np.ndarray] = []
    keypoints: list[np.ndarray] = []
    for index, image in sleap.iter_frames(frames):
        _check_same_size(
            sleap, images, image, index,
            "an anchor model trains on whole frames of one size per video",
        )  # fmt: skip
        images.append(image)
    for index in frames:
        points = np.full((a, 2), np.nan, np.float32)
        found = np.asarray(sleap.instances[index])[:, column, :2]
        found = found[np.isfinite(found).all(axis=1)][:a]
        points[: len(found)] = found
        keypoints.append(points)
    labels = Labels(
        images=np.stack(images),
        keypoints=np.stack(keypoints),
        skeleton=anchor_skeleton(name, a),
        sources=[sleap.source(f) for f in frames],
        frame_indices=np.asarray(frames, dtype=np.int64),
        origin=origin,
    )
    labels.check_inside()
    return labels


def _join(parts: list[Labels], path: Path, crop: bool) -> Labels:
    """The examples of every video of a SLEAP file, in the file's video order."""
    if len(parts) == 1:
        return parts[0]
    shapes = {p.image_shape for p in parts}
    if len(shapes) > 1 and not crop:
        sizes = " and ".join(sorted({f"{w}x{h}" for h, w, _ in shapes}))
        raise DpkError(
            f"{path}: its videos have frames of different sizes ({sizes}); add data.crop to "
            "train on crops, or label videos of one size per file"
        )
    return Labels.concatenate(parts, origin=str(path))


def load(path: Path, spec: ModelSpec) -> tuple[Labels, Labels]:
    """Every video of a SLEAP file (video files, image sequences or embedded frames),
    split by frame before any frame is decoded."""
    data = spec.data
    assert data is not None
    video = Path(data.video) if data.video else None  # absolute: load_training_data resolved it
    videos = load_slp_videos(path, video=video)
    keypoint_columns(videos[0].skeleton.names, spec.skeleton.names, str(path))
    most = max(v.max_instances for v in videos)
    if data.crop is None and most > 1 and spec.targets.anchor is None:
        raise DpkError(
            f"{path}: frames hold up to {most} animals; add data.crop to the "
            "spec to train on one crop per animal, for example: "
            f"crop: {{anchor: {spec.skeleton.names[0]}, size: {spec.preprocessing.height}}}"
        )
    return load_videos(videos, path, spec)


def load_videos(videos: list[SleapLabels], path: Path, spec: ModelSpec) -> tuple[Labels, Labels]:
    """``(train, validation)`` from labelled instances, video by video, as for a ``.slp``:
    split by frame before decoding, then crops (``data.crop``), whole frames with every
    animal's anchor (``targets.anchor``) or whole frames of one animal.

    Also used for multi-animal DeepLabCut labels
    (:func:`dpk.trainer.labels.formats.dlc.load_dlc_instances`); ``path`` names the labels in
    messages. The caller has refused frames of several animals without crop or anchor.
    """
    data = spec.data
    assert data is not None
    keypoint_columns(videos[0].skeleton.names, spec.skeleton.names, str(path))
    # Split by frame before decoding, so that only the frames used are read.
    keys = [(v.video_key, int(f), "") for v in videos for f in v.frame_indices]
    split = split_examples(keys, data=data, training=spec.training, origin=str(path))
    validation_keys = {keys[i][:2] for i in split.validation}
    used_keys = validation_keys | {keys[i][:2] for i in split.train}
    parts, is_val = [], []
    for sleap in videos:
        used = sorted(f for key, f in used_keys if key == sleap.video_key)
        if not used:
            continue
        if spec.targets.anchor is not None:  # whole frames, every animal's anchor
            labels = _sleap_anchor_frames(sleap, spec, used)
        elif data.crop is not None:
            labels = crop_sleap(sleap, data.crop, skeleton=spec.skeleton, frames=used)
        else:
            labels = _sleap_full_frames(sleap, spec, used)
        parts.append(labels)
        is_val += [(sleap.video_key, int(f)) in validation_keys for f in labels.frame_indices]
    labels = _join(parts, path, data.crop is not None)
    mask = np.asarray(is_val, dtype=bool)
    train, validation = labels.subset(~mask), labels.subset(mask)
    if len(train) == 0:
        raise DpkError(f"{path}: no training examples after cropping (empty set)")
    return train, validation
