"""From a model spec to training and validation examples.

:func:`load_training_data` resolves ``data.path`` (relative to the spec file's folder, with
``~`` and environment variables expanded), detects the format, reads the labels, cuts
crops when ``data.crop`` is set (required when frames hold several animals), maps the
keypoints to the spec's skeleton by name, brings the images to the spec's channels and
colour order, checks their size, and splits by frame.

Decisions, so that nothing is guessed silently:

- Keypoints more than 0.5 px outside their image (or frame, before cropping) are an
  error naming the file, frame and keypoint. After cropping, keypoints of the cropped
  animal that fall outside the crop become NaN, and other animals are only pixels.
- Label images are gray (1 channel) or RGB; they are converted to the spec's
  ``channels``/``color_order`` (gray -> colour repeats the channel; colour -> gray uses
  OpenCV's luma weights). Whole frames of another size than ``preprocessing.height`` x
  ``width`` are fitted to it as ``preprocessing.fit`` says, exactly as the runtime fits
  video frames, and the labels remember the transform (``Labels.frame_transform``) so that
  errors can be reported in the labelled frames' pixels. Crops must be the input size.
- DeepPoseKit files do not store keypoint names: their keypoints take the spec's names in
  order (the counts must match), unless dpk wrote the names into the file.
- Frames keep the file's order (SLEAP: ascending frame index, instances in file order).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from dpk.runtime.formats import hdf5_kind
from dpk.runtime.formats.coco import is_coco_json
from dpk.runtime.formats.dlc import is_dlc_path, load_dlc
from dpk.runtime.formats.dpk_h5 import load_dpk_h5, stored_keypoint_names
from dpk.runtime.formats.sleap import SleapLabels, load_slp_videos
from dpk.runtime.labels import Labels
from dpk.runtime.preprocess import convert_channels
from dpk.specs.data import DataSpec, resolve_path
from dpk.specs.errors import DpkError
from dpk.specs.model import ModelSpec
from dpk.specs.preprocessing import Preprocessing
from dpk.trainer.data.crops import CropStats, crop_frames, crop_labels, crop_sleap, keypoint_columns
from dpk.trainer.data.formats.coco import load_coco_labels
from dpk.trainer.data.splits import split_examples, split_labels

__all__ = [
    "Format",
    "detect_format",
    "load_training_data",
    "resolve_data_path",
]

Format = Literal["dpk_h5", "dlc", "slp", "coco"]


def resolve_data_path(path: str, base_dir: str | Path) -> Path:
    """``path`` with ``~`` and ``$VARS`` expanded, relative paths taken from ``base_dir``,
    made absolute: :func:`dpk.specs.resolve_path` (the one rule)."""
    return resolve_path(path, base_dir)


def detect_format(path: Path, declared: str = "auto") -> Format:
    """The label format of ``path``: ``.slp`` -> slp; ``.h5`` with an ``annotations``
    dataset -> dpk_h5; a DeepLabCut project folder, ``config.yaml`` or CollectedData
    CSV/HDF5 -> dlc; a ``.json`` with COCO ``images``, ``annotations`` and keypoint
    ``categories`` -> coco.

    Raises:
        DpkError: The path does not exist or its format cannot be told.
    """
    if not path.exists():
        raise DpkError(f"{path}: labels not found (data.path)")
    if declared != "auto":
        return declared  # type: ignore[return-value]
    suffix = path.suffix.lower()
    if suffix == ".slp":
        return "slp"
    if suffix in (".h5", ".hdf5") and path.is_file():
        kind = hdf5_kind(path)
        if kind == "dpk_annotations":
            return "dpk_h5"
        if kind == "dlc_table":
            return "dlc"
        if kind == "dpk_predictions":
            raise DpkError(
                f"{path}: predictions written by dpk predict, not labels; give labelled "
                "frames as data.path (DeepPoseKit .h5, DeepLabCut, SLEAP .slp)"
            )
    if is_dlc_path(path):
        return "dlc"
    if suffix == ".json" and path.is_file() and is_coco_json(path):
        return "coco"
    raise DpkError(
        f"{path}: cannot tell the labels format: expected a SLEAP .slp, a DeepPoseKit .h5 "
        "(with an 'annotations' dataset), a DeepLabCut project folder, config.yaml or "
        "CollectedData CSV/HDF5, or a COCO keypoints .json; set data.format if the name "
        "misleads"
    )


def _to_model_channels(images: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Label images (gray or RGB) in the spec's channels and colour order, by the runtime's
    :func:`~dpk.runtime.preprocess.convert_channels` (an empty set keeps its shape)."""
    return convert_channels(images, preprocessing.color_order, frame_order="rgb")


def _load_dpk_h5(path: Path, spec: ModelSpec) -> Labels:
    if stored_keypoint_names(path) is not None:
        return load_dpk_h5(path, on_asymmetric_swap="accept")
    # No names in the file: the spec's skeleton names its keypoints, in order.
    return load_dpk_h5(path, spec.skeleton)


def _load_coco(path: Path, spec: ModelSpec) -> Labels:
    """COCO images: whole images (one animal each), or crops around every animal."""
    coco = load_coco_labels(path)
    data = spec.data
    assert data is not None
    if data.crop is None:
        return coco.to_labels()
    columns = keypoint_columns(coco.skeleton.names, spec.skeleton.names, str(path))
    stats = CropStats()
    labels = crop_frames(
        coco.iter_frames(),
        {i: points[:, columns] for i, points in coco.instances.items()},
        skeleton=spec.skeleton,
        crop=data.crop,
        source_of=coco.source,
        origin=str(path),
        stats=stats,
    )
    stats.warn_skipped(str(path), data.crop)
    return labels


def _warn_unconfirmed(labels: Labels) -> None:
    if labels.annotated is None:
        return
    unconfirmed = int((~labels.annotated.all(axis=1)).sum())
    if unconfirmed:
        warnings.warn(
            f"{labels.origin}: {unconfirmed} of {len(labels)} frames have keypoints not marked "
            "'annotated' (placed by a model or an initial guess, not confirmed by a person); "
            "they are used as they are",
            stacklevel=3,
        )


def _sleap_full_frames(sleap: SleapLabels, spec: ModelSpec, frames: list[int]) -> Labels:
    """Whole frames as examples, for SLEAP files with one animal per frame."""
    origin = str(sleap.path)
    columns = keypoint_columns(sleap.skeleton.names, spec.skeleton.names, origin)
    images: list[np.ndarray] = []
    keypoints: list[np.ndarray] = []
    for index, image in sleap.iter_frames(frames):
        if images and image.shape != images[0].shape:
            raise DpkError(
                f"{origin}: frames of {sleap.video_key} differ in size ({images[0].shape[1]}x"
                f"{images[0].shape[0]} and {image.shape[1]}x{image.shape[0]} at frame {index}); "
                "add data.crop to train on crops, which may come from frames of any size"
            )
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


def _load_sleap(path: Path, spec: ModelSpec, base_dir: Path) -> tuple[Labels, Labels]:
    """Every video of a SLEAP file (video files, image sequences or embedded frames),
    split by frame before any frame is decoded."""
    data = spec.data
    assert data is not None
    video = Path(data.video) if data.video else None  # absolute: load_training_data resolved it
    videos = load_slp_videos(path, video=video)
    keypoint_columns(videos[0].skeleton.names, spec.skeleton.names, str(path))
    most = max(v.max_instances for v in videos)
    if data.crop is None and most > 1:
        raise DpkError(
            f"{path}: frames hold up to {most} animals; add data.crop to the "
            "spec to train on one crop per animal, for example: "
            f"crop: {{anchor: {spec.skeleton.names[0]}, size: {spec.preprocessing.height}}}"
        )
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
        if data.crop is not None:
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


def _check_size(labels: Labels, spec: ModelSpec, data: DataSpec) -> None:
    """Crops must be the model's input size (they are cut at it)."""
    height, width, _ = labels.image_shape
    pre = spec.preprocessing
    if (height, width) == (pre.height, pre.width) or data.crop is None:
        return
    hint = (
        f"set data.crop.size to {pre.height}"
        if pre.height == pre.width
        else f"set preprocessing.height and width to {data.crop.size} (crops are square)"
    )
    raise DpkError(
        f"{labels.origin}: crops are {width}x{height} but the model's input is "
        f"{pre.width}x{pre.height} (width x height): {hint}"
    )


def _fit_to_input(labels: Labels, spec: ModelSpec) -> Labels:
    """Bring whole frames of another size to the model input as ``preprocessing.fit`` says
    (exactly as the runtime will), with their keypoints; remember the transform so that
    evaluation can report errors in the labelled frames' pixels."""
    from dpk.runtime.preprocess import fit_frames

    pre = spec.preprocessing
    if labels.image_shape[:2] == (pre.height, pre.width):
        return labels
    order: Literal["rgb", "bgr"] = "rgb" if pre.color_order == "rgb" else "bgr"
    images, transforms = fit_frames(labels.images, pre, frame_order=order)
    transform = transforms[0]
    labels.images = images
    labels.keypoints = transform.to_model(labels.keypoints).astype(np.float32)
    labels.frame_transform = transform
    return labels


def load_training_data(spec: ModelSpec, base_dir: str | Path) -> tuple[Labels, Labels]:
    """Training and validation examples for a model spec.

    Args:
        spec: The model spec; its ``data`` section says where the labels are.
        base_dir: The spec file's folder (for a run folder's spec: the run folder).
            Relative ``data.path`` and ``data.video`` are taken from ``data.relative_to``
            when set, else from this folder (:meth:`dpk.specs.DataSpec.resolved`).

    Returns:
        ``(train, validation)``: labels in the spec's skeleton order, images of the spec's
        height, width, channels and colour order, in a deterministic order. The validation
        set is empty only with ``training.validation_fraction: 0`` and no
        ``data.validation_frames``.

    Raises:
        DpkError: With a message naming the labels file: not found, unknown format,
            unknown keypoint names, several animals without ``data.crop``, keypoints
            outside the images, a size that does not match, or an empty set.
    """
    data = spec.data
    if data is None:
        raise DpkError("the spec has no data section: add data.path (the labels file or folder)")
    data = data.resolved(base_dir)
    spec = spec.model_copy(update={"data": data})
    base_dir = Path(data.base_dir(base_dir))
    path = Path(data.path)
    fmt = detect_format(path, data.format)
    if fmt == "slp":
        train, validation = _load_sleap(path, spec, base_dir)
    else:
        if fmt == "coco":
            labels = _load_coco(path, spec)
        elif fmt == "dpk_h5":
            labels = _load_dpk_h5(path, spec)
            _warn_unconfirmed(labels)
        else:
            labels = load_dlc(path)
        labels = labels.select_keypoints(spec.skeleton)
        if data.crop is not None and fmt != "coco":
            labels = crop_labels(labels, data.crop)
        train, validation = split_labels(labels, data=data, training=spec.training)
    for part in (train, validation):
        _check_size(part, spec, data)
        part.images = _to_model_channels(part.images, spec.preprocessing)
        _fit_to_input(part, spec)
    return train, validation
