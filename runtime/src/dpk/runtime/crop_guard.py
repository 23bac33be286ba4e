"""Refuse to run a crop-trained model on whole frames of another size.

A model trained on crops cut around one animal (``data.crop`` in its spec: an anchor
keypoint and a crop side) sees one animal, centred, at the scale of the crop. Squeezing a
whole frame into its input gives numbers that look like keypoints and mean nothing, so
the runtime refuses, in one line that says what to pass instead: an anchor model
(:class:`dpk.runtime.topdown.TopDown`) to find the animals first, or ``cropped=True``
(``--cropped``) when the frames already are crops around the anchor.
"""

from __future__ import annotations

from dpk.specs.errors import DpkError
from dpk.specs.model import ModelSpec

__all__ = ["CropMismatchError", "check_frame_size", "crop_of"]


class CropMismatchError(DpkError):
    """A crop-trained model was given whole frames of another size."""


def crop_of(spec: ModelSpec) -> tuple[str, int] | None:
    """``(anchor keypoint, crop side)`` when the model was trained on crops, else None."""
    crop = spec.data.crop if spec.data is not None else None
    return None if crop is None else (crop.anchor, int(crop.size))


def check_frame_size(
    spec: ModelSpec, height: int, width: int, name: str | None = None, *, cropped: bool = False
) -> None:
    """Raise :class:`CropMismatchError` when frames do not fit a crop-trained model.

    Frames whose size is the training crop's side pass, and so does anything when
    ``cropped`` says the caller cut the crops itself.

    Args:
        spec: The model's spec (from its file).
        height: Frame height in pixels.
        width: Frame width in pixels.
        name: The model's name for the message.
        cropped: The frames are already crops around the anchor keypoint.

    Raises:
        CropMismatchError: The model was trained on crops and the frames are another size.
    """
    found = crop_of(spec)
    if cropped or found is None:
        return
    anchor, size = found
    if (int(height), int(width)) == (size, size):
        return
    raise CropMismatchError(
        f"{name or spec.name} was trained on {size}x{size} crops centred on {anchor!r}, but "
        f"these frames are {width}x{height}: run it behind an anchor model that finds the "
        f"animals first (Python: dpk.runtime.topdown.TopDown(ANCHOR_MODEL, MODEL)), or pass "
        f"--cropped (Python: cropped=True) if the frames already are crops around {anchor!r}"
    )
