"""Training data: labels from any supported format to cropped, split, model-ready examples.

One registry of label formats (:data:`dpk.trainer.labels.formats.LABEL_FORMATS`: SLEAP,
DeepPoseKit HDF5, DeepLabCut, COCO) tells a labels file's format and picks the module of
:mod:`dpk.trainer.data.formats` that reads, crops and splits it; the readers themselves
are in :mod:`dpk.trainer.labels.formats`.
"""

from dpk.trainer.data.crops import (
    CropStats,
    crop_frames,
    crop_image,
    crop_labels,
    crop_origin,
    crop_sleap,
    keypoint_columns,
)
from dpk.trainer.data.loading import (
    Format,
    detect_format,
    load_training_data,
    resolve_data_path,
)
from dpk.trainer.data.splits import FrameKey, Split, frame_keys, split_examples, split_labels

__all__ = [
    "CropStats",
    "Format",
    "FrameKey",
    "Split",
    "crop_frames",
    "crop_image",
    "crop_labels",
    "crop_origin",
    "crop_sleap",
    "detect_format",
    "frame_keys",
    "keypoint_columns",
    "load_training_data",
    "resolve_data_path",
    "split_examples",
    "split_labels",
]
