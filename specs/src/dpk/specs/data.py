"""Where training data comes from: labels file or folder, format, crops and frame ranges."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from dpk.specs._base import StrictModel
from dpk.specs.errors import DpkError, SpecIssue

__all__ = ["Crop", "DataSpec", "FrameRange", "LabelFormat", "resolve_path", "training_issues"]

_UNSET_VARIABLE = re.compile(r"\$(\{[A-Za-z_]\w*\}|[A-Za-z_]\w*)")


def resolve_path(path: str, base_dir: str | Path) -> Path:
    """The one rule for paths in a data section: ``~`` and ``$VARS`` expanded now, a
    relative path taken from ``base_dir``, made absolute (``..`` removed, links kept).

    Args:
        path: The path as the user wrote it.
        base_dir: The folder relative paths are relative to.

    Raises:
        DpkError: The path names an environment variable that is not set.
    """
    expanded = os.path.expandvars(os.path.expanduser(path))
    unset = _UNSET_VARIABLE.search(expanded)
    if unset:
        name = unset.group(1).strip("{}")
        raise DpkError(
            f"{path!r}: environment variable {name} is not set; set it or write the path out"
        )
    return Path(os.path.abspath(Path(base_dir) / expanded))


LabelFormat = Literal["auto", "dpk_h5", "dlc", "slp", "coco"]


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
    context: bool = True
    """Augment training crops from a larger crop around the same anchor, so that
    rotation, zoom and shifts fill the model's input with the real surroundings (the
    other animals included) instead of a black border; validation crops and prediction
    are unchanged. ``false`` augments the ``size`` crop itself."""


class DataSpec(StrictModel):
    """The labelled frames a model is trained on."""

    path: str
    """Labels file or folder: DeepPoseKit ``.h5``, a DeepLabCut project folder or
    ``CollectedData_*.csv|.h5``, or a SLEAP ``.slp``. Relative paths are taken from
    ``relative_to`` (default: the spec file's folder); ``~`` and ``$VARS`` are expanded
    when the path is used."""
    format: LabelFormat = "auto"
    """File format; ``auto`` decides from the file name and contents."""
    video: str | None = None
    """Video file for labels that reference one (SLEAP) when the stored path is stale;
    relative to the same folder as ``path``."""
    crop: Crop | None = None
    """Crop around an anchor keypoint (required for frames with several animals)."""
    train_frames: FrameRange | None = None
    """Frames used for training; None = all that are not held out."""
    validation_frames: FrameRange | None = None
    """Frames held out for validation; None = a seeded split of the training frames."""
    keypoints: list[str] | None = None
    """Subset and order of keypoints to train on; None = all, in the file's order."""
    relative_to: str | None = None
    """Folder that relative ``path`` and ``video`` are taken from; None = the spec file's
    folder. ``dpk train`` writes it into the run folder's copy of the spec, so that
    ``dpk train --resume`` and ``dpk evaluate`` find the same files."""

    @field_validator("path", "video", "relative_to")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("is empty: give the labels file or folder")
        if value != value.strip():
            raise ValueError(f"{value!r} starts or ends with spaces: remove them")
        if "\0" in value:
            raise ValueError("contains a NUL character")
        return value

    def base_dir(self, spec_dir: str | Path) -> Path:
        """The folder relative paths are taken from: ``relative_to``, else ``spec_dir``.

        Args:
            spec_dir: The folder of the spec file this section came from.
        """
        if self.relative_to is None:
            return Path(os.path.abspath(spec_dir))
        return resolve_path(self.relative_to, spec_dir)

    def resolved(self, spec_dir: str | Path) -> DataSpec:
        """A copy with ``path`` and ``video`` absolute, by :func:`resolve_path`.

        Args:
            spec_dir: The folder of the spec file this section came from (for a run
                folder's spec, the run folder; its ``relative_to`` wins).

        Raises:
            DpkError: A path names an environment variable that is not set.
        """
        base = self.base_dir(spec_dir)
        video = None if self.video is None else str(resolve_path(self.video, base))
        return self.model_copy(
            update={
                "path": str(resolve_path(self.path, base)),
                "video": video,
                "relative_to": str(base),
            }
        )

    def for_run(self, spec_dir: str | Path) -> DataSpec:
        """A copy to store in a run folder: the paths as written, ``relative_to`` absolute.

        Args:
            spec_dir: The folder of the spec file this section came from.
        """
        return self.model_copy(update={"relative_to": str(self.base_dir(spec_dir))})

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


def training_issues(data: DataSpec | None, spec_dir: str | Path) -> list[SpecIssue]:
    """What stops a spec's data section from being trained on (empty when nothing).

    Args:
        data: The spec's data section.
        spec_dir: The folder of the spec file.
    """
    if data is None:
        return [
            SpecIssue(
                "data",
                "missing: training needs a data section with data.path (the labels file or "
                "folder, relative to the spec file's folder)",
            )
        ]
    issues = []
    base = data.base_dir(spec_dir)
    for name in ("path", "video"):
        value = getattr(data, name)
        if value is None:
            continue
        try:
            found = resolve_path(value, base)
        except DpkError as error:
            issues.append(SpecIssue(f"data.{name}", str(error)))
            continue
        if not found.exists():
            issues.append(
                SpecIssue(
                    f"data.{name}",
                    f"{found} does not exist (relative paths are taken from {base}): fix the path",
                )
            )
    return issues
