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
change. Both crops come from the same anchor pixel, so the labels are cropped once, at
``C``, and the ``S`` crops are their centres, pixel for pixel
(:func:`load_training_data_with_context`: one read of the labels, one decode of the
frames).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from dpk.specs.model import ModelSpec
from dpk.specs.training import Augmentation
from dpk.trainer.data.crops import _shift_into_crop
from dpk.trainer.data.loading import load_training_data
from dpk.trainer.labels import Labels

__all__ = ["centre_crop", "context_size", "load_training_data_with_context"]


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


def _context_side(spec: ModelSpec) -> int | None:
    """The context crops' side for ``spec``, or None when it trains without them."""
    data = spec.data
    if data is None or data.crop is None or not data.crop.context:
        return None
    side = context_size(data.crop.size, spec.augmentation)
    return None if side == data.crop.size else side


def centre_crop(labels: Labels, size: int) -> Labels:
    """The centre ``size`` x ``size`` of square crops, with their keypoints and offsets.

    Keypoints that fall outside the smaller crop become NaN by the same rule as cropping a
    frame (:mod:`dpk.trainer.data.crops`), so the result equals cropping at ``size``
    directly when both crops share their centre pixel (sides of the same parity).
    """
    side = labels.images.shape[1]
    margin = (side - size) // 2
    keypoints = _shift_into_crop(labels.keypoints.copy(), margin, margin, size)
    offsets = None if labels.crop_offsets is None else labels.crop_offsets + margin
    return replace(
        labels,
        images=np.ascontiguousarray(
            labels.images[:, margin : margin + size, margin : margin + size]
        ),
        keypoints=keypoints,
        crop_offsets=offsets,
    )


def load_training_data_with_context(
    spec: ModelSpec, base_dir: str | Path
) -> tuple[Labels, Labels, np.ndarray | None]:
    """:func:`dpk.trainer.data.load_training_data` and the training crops' context crops,
    reading the labels and decoding the frames once.

    When the spec trains with context crops, the labels are cropped once at the context
    side and the training and validation crops are their centres (:func:`centre_crop`);
    otherwise this is ``load_training_data`` with no context.

    Returns:
        ``(train, validation, context)``: ``context`` is uint8 (N, C, C, channels) for the
        N training crops, or None when the spec does not crop, ``data.crop.context`` is
        off or the augmentation has no spatial transform.

    Raises:
        DpkError: As ``load_training_data``.
    """
    side = _context_side(spec)
    if side is None:
        train, validation = load_training_data(spec, base_dir)
        return train, validation, None
    assert spec.data is not None and spec.data.crop is not None  # _context_side checked
    crop = spec.data.crop
    if (spec.preprocessing.height, spec.preprocessing.width) != (crop.size, crop.size):
        return (*load_training_data(spec, base_dir), None)  # raises the size error
    wide = spec.model_copy(
        update={
            "data": spec.data.model_copy(update={"crop": crop.model_copy(update={"size": side})}),
            # the crops must match the input while loading; only the centres train
            "preprocessing": spec.preprocessing.model_copy(update={"height": side, "width": side}),
        }
    )
    wide_train, wide_validation = load_training_data(wide, base_dir)
    train = centre_crop(wide_train, crop.size)
    validation = centre_crop(wide_validation, crop.size)
    if len(train.images) == 0:
        return train, validation, None
    return train, validation, wide_train.images
