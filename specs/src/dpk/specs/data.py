"""Where training data comes from: labels file or folder, format, crops and frame ranges."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from dpk.specs._base import StrictModel

__all__ = ["Crop", "DataSpec", "FrameRange", "LabelFormat"]

LabelFormat = Literal["auto", "dpk_h5", "dlc", "slp"]


class FrameRange(StrictModel):
    """A half-open range of frame indices ``[start, stop)`` (``stop`` None = to the end)."""

    start: int = Field(default=0, ge=0)
    """First frame index."""
    stop: int | None = Field(default=None, ge=1)
    """One past the last frame index; None = to the end."""

    @model_validator(mode="after")
    def _check(self) -> FrameRange:
        if self.stop is not None and self.stop <= self.start:
            raise ValueError(f"stop ({self.stop}) must be greater than start ({self.start})")
        return self

    def contains(self, index: int) -> bool:
        """Whether ``index`` lies in the range."""
        return index >= self.start and (self.stop is None or index < self.stop)


class Crop(StrictModel):
    """Cut one square crop per animal, centred on an anchor keypoint.

    Used for multi-animal labels (SLEAP) and for small animals in large frames.
    """

    anchor: str
    """Keypoint name the crop is centred on (for example ``thorax``)."""
    size: int = Field(ge=16, le=4096)
    """Side of the square crop in pixels."""
    min_visible: float = Field(default=0.5, gt=0, le=1)
    """Skip instances with fewer than this fraction of keypoints labelled."""


class DataSpec(StrictModel):
    """The labelled frames a model is trained on."""

    path: str
    """Labels file or folder: DeepPoseKit ``.h5``, a DeepLabCut project folder or
    ``CollectedData_*.csv|.h5``, or a SLEAP ``.slp``. Relative paths are resolved from
    the spec file's folder."""
    format: LabelFormat = "auto"
    """File format; ``auto`` decides from the file name and contents."""
    video: str | None = None
    """Video file for labels that reference one (SLEAP) when the stored path is stale."""
    crop: Crop | None = None
    """Crop around an anchor keypoint (required for frames with several animals)."""
    train_frames: FrameRange | None = None
    """Frames used for training; None = all that are not held out."""
    validation_frames: FrameRange | None = None
    """Frames held out for validation; None = a seeded split of the training frames."""
    keypoints: list[str] | None = None
    """Subset and order of keypoints to train on; None = all, in the file's order."""

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        t, v = self.train_frames, self.validation_frames
        if t and v:
            t_stop = t.stop if t.stop is not None else float("inf")
            v_stop = v.stop if v.stop is not None else float("inf")
            if t.start < v_stop and v.start < t_stop:
                raise ValueError(
                    "train_frames and validation_frames overlap: held-out frames must not be "
                    "trained on"
                )
        return self
