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

Each format's reading, cropping and splitting is in its module of
:mod:`dpk.trainer.data.formats`, chosen by the one registry of label formats
(:data:`~dpk.trainer.labels.formats.LABEL_FORMATS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from dpk.runtime.preprocess import convert_channels
from dpk.specs.data import DataSpec, resolve_path
from dpk.specs.errors import DpkError
from dpk.specs.model import ModelSpec
from dpk.specs.preprocessing import Preprocessing
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats import label_format

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
    """The label format of ``path``: the first of
    :data:`~dpk.trainer.labels.formats.LABEL_FORMATS` whose ``detect`` accepts it
    (``declared``, when not ``auto``, is taken as it is).

    Raises:
        DpkError: The path does not exist, holds dpk predictions, or no format reads it.
    """
    return label_format(path, declared).name  # type: ignore[return-value]


def _to_model_channels(images: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """Label images (gray or RGB) in the spec's channels and colour order, by the runtime's
    :func:`~dpk.runtime.preprocess.convert_channels` (an empty set keeps its shape)."""
    return convert_channels(images, preprocessing.color_order, frame_order="rgb")


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
    if len(labels.images) == 0 or labels.image_shape[:2] == (pre.height, pre.width):
        return labels  # nothing to fit (an empty validation set, or frames of the input size)
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
    train, validation = label_format(path, data.format).function("load")(path, spec)
    for part in (train, validation):
        _check_size(part, spec, data)
        part.images = _to_model_channels(part.images, spec.preprocessing)
        _fit_to_input(part, spec)
    return train, validation
