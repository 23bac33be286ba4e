"""How frames become the model's input: size, channels, colour order, fitting and scaling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dpk.specs._base import StrictModel

__all__ = ["ColorOrder", "FitMode", "Normalization", "Preprocessing"]

ColorOrder = Literal["gray", "rgb", "bgr"]
FitMode = Literal["letterbox", "resize", "pad_crop"]
Normalization = Literal["unit", "standardize", "imagenet"]


class Preprocessing(StrictModel):
    """The model's input and how any frame is brought to it.

    The exported model takes ``uint8`` images of exactly ``height x width x channels`` and
    normalises them inside the graph. Frames of another size or channel count are
    converted by the runtime as ``fit`` and ``color_order`` say, and keypoints are mapped
    back to the pixels of the frame that was given.
    """

    height: int = Field(ge=8, le=8192)
    """Model input height in pixels."""
    width: int = Field(ge=8, le=8192)
    """Model input width in pixels."""
    channels: Literal[1, 3] = 1
    """Model input channels: 1 (grayscale) or 3 (colour)."""
    color_order: ColorOrder = "gray"
    """Channel order the model expects: ``gray`` for one channel, ``rgb`` or ``bgr`` for three.
    Video decoded by OpenCV is BGR; the runtime converts."""
    fit: FitMode = "letterbox"
    """How a frame of another size is fitted: ``letterbox`` scales it to fit keeping the
    aspect ratio and pads the rest, ``resize`` stretches it, ``pad_crop`` never scales
    (pads a smaller frame, centre-crops a larger one)."""
    pad_value: int = Field(default=0, ge=0, le=255)
    """Grey level used for padding."""
    normalization: Normalization = "unit"
    """In-graph intensity scaling: ``unit`` maps 0..255 to 0..1; ``standardize`` then
    subtracts ``mean`` and divides by ``std``; ``imagenet`` uses ImageNet's statistics."""
    mean: list[float] | None = None
    """Per-channel mean (0..1 scale) for ``standardize``."""
    std: list[float] | None = None
    """Per-channel standard deviation (0..1 scale) for ``standardize``."""

    @model_validator(mode="after")
    def _check(self) -> Preprocessing:
        problems = []
        if self.channels == 1 and self.color_order != "gray":
            problems.append(
                f"color_order {self.color_order!r} needs channels: 3 (one channel is 'gray')"
            )
        if self.channels == 3 and self.color_order == "gray":
            problems.append("color_order 'gray' needs channels: 1 (use 'rgb' or 'bgr' for 3)")
        if self.normalization == "standardize":
            for name in ("mean", "std"):
                value = getattr(self, name)
                if value is None or len(value) != self.channels:
                    problems.append(
                        f"normalization 'standardize' needs {name} with {self.channels} value(s)"
                    )
            if self.std is not None and any(s <= 0 for s in self.std):
                problems.append("std values must be positive")
        elif self.mean is not None or self.std is not None:
            problems.append(
                f"mean/std are only used with normalization 'standardize', not {self.normalization!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)``."""
        return (self.height, self.width, self.channels)
