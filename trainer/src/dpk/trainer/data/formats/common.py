"""What every single-animal label format does after reading: names, crops, split."""

from __future__ import annotations

from dpk.specs.model import ModelSpec
from dpk.trainer.data.crops import crop_labels
from dpk.trainer.data.splits import split_labels
from dpk.trainer.labels import Labels

__all__ = ["select_crop_split"]


def select_crop_split(
    labels: Labels, spec: ModelSpec, *, crop: bool = True
) -> tuple[Labels, Labels]:
    """Keypoints in the spec's skeleton order, crops when ``data.crop`` is set (and
    ``crop``), then ``(train, validation)`` split by frame."""
    data = spec.data
    assert data is not None
    labels = labels.select_keypoints(spec.skeleton)
    if crop and data.crop is not None:
        labels = crop_labels(labels, data.crop)
    return split_labels(labels, data=data, training=spec.training)
