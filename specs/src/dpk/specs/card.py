"""Model cards and zoo registry entries."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from dpk.specs._base import StrictModel
from dpk.specs.preprocessing import Preprocessing

__all__ = [
    "ZOO_NAME_PATTERN",
    "ModelCard",
    "PipelinePair",
    "SpeedMeasurement",
    "TrainingData",
    "ZooEntry",
    "ZooPipeline",
]

ZOO_NAME_PATTERN = r"^[a-z0-9_]+\.[a-z0-9_]+(:[A-Za-z0-9_.-]+)?$"
"""Zoo names: ``architecture.dataset`` with an optional ``:tag``."""


class TrainingData(StrictModel):
    """The data a model was trained on."""

    name: str
    """Dataset name."""
    source: str = ""
    """Where it comes from (URL or citation)."""
    license: str = ""
    """The dataset's own licence."""
    n_train: int | None = Field(default=None, ge=0)
    """Training examples."""
    n_validation: int | None = Field(default=None, ge=0)
    """Held-out examples used for the card's metrics."""
    description: str = ""
    """Crops, frame ranges, animals."""


class SpeedMeasurement(StrictModel):
    """Frames per second measured with ``dpk benchmark``."""

    provider: str
    """onnxruntime execution provider (``CPUExecutionProvider``...)."""
    batch_size: int = Field(ge=1)
    """Images per call."""
    fps: float = Field(gt=0)
    """Frames per second (median of repeats)."""
    machine: str = ""
    """Where it was measured."""


class ModelCard(StrictModel):
    """What a user needs to judge a trained model: data, licence, accuracy, speed."""

    description: str = ""
    """One paragraph on what the model does."""
    license: str = "MIT"
    """Licence of the model weights."""
    authors: list[str] = []
    """Who trained it."""
    training_data: TrainingData | None = None
    """Training data and its licence."""
    metrics: dict[str, float] = {}
    """Held-out accuracy, e.g. ``error_median_px``, ``error_mean_px``, ``pck_5px``: errors
    in the labelled frames' pixels (before any fitting to the model input)."""
    speed: list[SpeedMeasurement] = []
    """Measured speed."""
    training: dict[str, Any] = {}
    """Training configuration summary: epochs, minutes, machine."""
    created: str = ""
    """ISO date of creation."""
    dpk_version: str = ""
    """dpk version that made the model."""


class ZooEntry(StrictModel):
    """One pretrained model in a zoo registry."""

    name: str = Field(pattern=ZOO_NAME_PATTERN)
    """``architecture.dataset`` with an optional ``:tag``, e.g. ``stacked_densenet.mirror_mouse``."""
    file: str = Field(min_length=1)
    """File name of the ``.onnx`` model."""
    size: int = Field(gt=0)
    """Size of the file in bytes."""
    sha256: str
    """SHA-256 of the file (64 lowercase hex digits); required, checked on every download."""
    urls: list[str] = []
    """Download addresses, tried in order (mirrors)."""
    packaged: bool = False
    """The file ships inside the ``dpk-zoo`` distribution (works offline after install)."""
    license: str
    """Licence of the model."""
    training_data: str
    """Dataset the model was trained on."""
    data_license: str
    """Licence of the training data."""
    input: Preprocessing
    """The model's input spec."""
    keypoints: list[str] = Field(min_length=1)
    """Keypoint names, in output order."""
    metrics: dict[str, float] = {}
    """Held-out accuracy (``error_median_px``, ``pck_5px``...): errors in the labelled
    frames' pixels (the crops or frames that were labelled, before any fitting to the
    model input), as ``dpk evaluate`` reports them."""
    speed: dict[str, float] = {}
    """Frames per second, keyed ``provider@batch`` (``cpu@1``, ``cpu@100``)."""
    description: str = ""
    """One line for ``dpk zoo list``."""

    @field_validator("sha256", mode="before")
    @classmethod
    def _sha(cls, value: Any) -> Any:
        if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError("sha256 must be 64 hexadecimal digits (run `sha256sum` on the file)")
        return value.lower()

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.match(r"^(https?|file)://", url):
                raise ValueError(f"{url!r} is not an http(s):// or file:// address")
        return value

    @field_validator("file")
    @classmethod
    def _file(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in (".", ".."):
            raise ValueError("file must be a plain file name, without folders")
        return value

    @model_validator(mode="after")
    def _check(self) -> ZooEntry:
        if not self.urls and not self.packaged:
            raise ValueError("an entry needs at least one URL, or packaged: true")
        return self

    @property
    def base_name(self) -> str:
        """The name without its ``:tag``."""
        return self.name.split(":", 1)[0]


class PipelinePair(StrictModel):
    """The two zoo models of a top-down pipeline (see ``docs/topdown.md``)."""

    anchor: str = Field(pattern=ZOO_NAME_PATTERN)
    """Zoo name of the anchor model (``targets.anchor``: finds every animal)."""
    pose: str = Field(pattern=ZOO_NAME_PATTERN)
    """Zoo name of the pose model (trained on crops around the anchor)."""


class ZooPipeline(StrictModel):
    """A zoo registry entry that names a pair of models and has no file of its own.

    ``--model NAME`` of such an entry runs top-down inference (the anchor model finds the
    animals, the pose model reads each one). Its models must be entries of the registries
    the catalog loads (checked when the catalog loads).
    """

    name: str = Field(pattern=ZOO_NAME_PATTERN)
    """``architecture.dataset`` with an optional ``:tag``, like model entries."""
    pipeline: PipelinePair
    """The anchor and pose models, by zoo name."""
    description: str = ""
    """One line for ``dpk zoo list``."""

    @property
    def base_name(self) -> str:
        """The name without its ``:tag``."""
        return self.name.split(":", 1)[0]
