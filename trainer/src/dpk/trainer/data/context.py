"""Context crops: the surroundings of each training crop, for augmentation.

Rotating, zooming out or shifting a crop of side ``S`` uncovers pixels the crop does not
hold; warped alone, the crop gets a black border (at 45 degrees, a third of the input),
and the model trains on animals whose neighbours were cut away, unlike the crops it
will see in validation and prediction. With ``data.crop.context`` (the default) the
training crops are also cut at a larger side ``C`` around the same anchor
(:func:`context_size`, the smallest side the widest transform of the spec's
augmentation still fills), and the augmenter warps that larger crop into the ``S`` x
``S`` input (:meth:`dpk.trainer.augment.Augmenter.apply`'s ``context``). Keypoints keep
the ``S`` crop's coordinates and labels, so targets, validation and evaluation do not
change. Both crops come from the same anchor pixel, so the centre ``S`` x ``S`` of each
context crop is the training crop, pixel for pixel (checked when loading).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dpk.specs.errors import DpkError
from dpk.specs.model import ModelSpec
from dpk.specs.training import Augmentation
from dpk.trainer.data.loading import _to_model_channels
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats import label_format

__all__ = ["context_size", "load_context_images"]


def context_size(size: int, augmentation: Augmentation) -> int:
    """Side of a crop that the widest spatial transform of ``augmentation`` maps onto a
    full ``size`` x ``size`` window (``size`` when nothing spatial is on).

    The output window's corner, rotated by up to ``rotation`` degrees (45 is the worst),
    sheared, shifted by up to ``translation`` of the side and divided by the smallest
    zoom, must stay inside the source; the result has the parity of ``size`` so the
    two crops share their centre pixel.
    """
    spatial = augmentation.enabled and augmentation.affine > 0
    if not spatial:
        return size
    angle = math.radians(min(augmentation.rotation, 45.0))
    spread = math.cos(angle) + math.sin(angle)
    spread *= 1.0 + math.tan(math.radians(augmentation.shear))
    zoom = min(augmentation.scale)
    half = (size / 2.0 + augmentation.translation * size) * spread / zoom
    side = max(size, math.ceil(2.0 * half))
    return side + (side - size) % 2


def load_context_images(spec: ModelSpec, base_dir: str | Path, train: Labels) -> np.ndarray | None:
    """The context crops of ``train`` (the training split of
    :func:`dpk.trainer.data.load_training_data`), or None when not needed.

    None when the spec does not crop, ``data.crop.context`` is off or the augmentation
    has no spatial transform.

    Raises:
        DpkError: The larger crops do not line up with the training crops (a bug, not
            bad input: the message says so).
    """
    data = spec.data
    if data is None or data.crop is None or not data.crop.context or len(train.images) == 0:
        return None
    crop = data.crop
    size = context_size(crop.size, spec.augmentation)
    if size == crop.size:
        return None
    data = data.resolved(base_dir)
    wide = data.model_copy(update={"crop": crop.model_copy(update={"size": size})})
    wide_spec = spec.model_copy(update={"data": wide})
    path = Path(wide.path)
    wide_train, _ = label_format(path, wide.format).function("load")(path, wide_spec)
    images = _to_model_channels(wide_train.images, spec.preprocessing)
    inner = slice((size - crop.size) // 2, (size - crop.size) // 2 + crop.size)
    centre = images[:, inner, inner]
    if centre.shape != train.images.shape or not np.array_equal(centre, train.images):
        raise DpkError(
            f"{data.path}: the {size}-pixel context crops do not contain the training "
            "crops (a dpk bug; train with data.crop.context: false meanwhile)"
        )
    return images
