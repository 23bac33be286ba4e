"""The top-level model spec that ties skeleton, input, architecture, targets, augmentation,
training, data and card together, with the checks that span several sections."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import model_validator

from dpk.specs._base import Problems, StrictModel
from dpk.specs.architectures import (
    LEAP,
    Architecture,
    DeepLabCut,
    StackedDenseNet,
    StackedHourglass,
    UNet,
    max_transitions,
)
from dpk.specs.card import ModelCard
from dpk.specs.data import DataSpec
from dpk.specs.preprocessing import Preprocessing
from dpk.specs.skeleton import Skeleton
from dpk.specs.training import Augmentation, Targets, Training

__all__ = [
    "SPEC_VERSION",
    "ModelSpec",
    "migrate_spec_data",
    "n_output_maps",
    "resolve_transitions",
    "unet_transitions",
]

SPEC_VERSION: Final = 2
"""The version of the spec format this package writes. It reads version 1 too.

Version 2 changed one default: a ``stacked_densenet`` architecture that names no
``activation`` uses ``leaky_relu`` (version 1: ``selu``, the paper's). A version-1 spec
is read as the same model it always described: :func:`migrate_spec_data` writes the old
default out before validation, so weights trained under version 1 load into the network
they were trained in."""

_READABLE_VERSIONS = (1, 2)

_MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)


def resolve_transitions(n_transitions: int, height: int, width: int) -> int:
    """Turn a relative ``n_transitions`` (-1 = the most possible) into a count.

    Raises:
        ValueError: The count is out of range for this input size.
    """
    most = max_transitions(height, width)
    count = most + n_transitions + 1 if n_transitions < 0 else n_transitions
    if n_transitions == 0 or not 1 <= count <= most:
        raise ValueError(
            f"n_transitions {n_transitions} is out of range for a {height}x{width} input: "
            f"use 1..{most}, or -1..-{most} to count back from the most possible"
        )
    return count


def unet_transitions(n_transitions: int, height: int, width: int) -> int:
    """The halvings a :class:`dpk.specs.UNet` makes on this input: its ``n_transitions``,
    or the most the input allows when that is fewer."""
    return max(1, min(n_transitions, max_transitions(height, width)))


def migrate_spec_data(data: Any) -> Any:
    """Bring a parsed spec mapping of an older ``spec_version`` up to :data:`SPEC_VERSION`.

    A mapping without ``spec_version`` is taken as the current version (a hand-written
    spec); one of a version this package does not know is left for validation to refuse.

    Args:
        data: The spec as parsed from YAML or JSON (anything else is returned as is).

    Returns:
        A new mapping describing the same model in the current version, or ``data``
        unchanged when there is nothing to migrate.
    """
    if not isinstance(data, dict) or data.get("spec_version") != 1:
        return data
    data = {**data, "spec_version": SPEC_VERSION}
    arch = data.get("architecture")
    if isinstance(arch, dict) and arch.get("type") == "stacked_densenet":
        data["architecture"] = {"activation": "selu", **arch}
    return data


def n_output_maps(skeleton: Skeleton, graph: bool) -> int:
    """Number of confidence maps the network predicts (see DESIGN.md, section 5).

    K keypoint maps, then with the posture graph: one map per limb group that has edges,
    one per edge, one of all edges (when there are edges) and one global map.
    """
    k = skeleton.n_keypoints
    if not graph:
        return k
    edges = skeleton.edges
    groups = _limb_groups(skeleton)
    return k + len(groups) + len(edges) + (1 if edges else 0) + 1


def _limb_groups(skeleton: Skeleton) -> list[int]:
    """Roots that have at least one descendant."""
    parents = skeleton.parent_indices
    return [r for r in skeleton.roots if any(p == r for p in parents)]


class ModelSpec(StrictModel):
    """Everything that defines a pose model: the single source of truth for training,
    export (it travels inside the ONNX file) and inference."""

    spec_version: Literal[2] = SPEC_VERSION
    """Version of this format (version-1 specs are read too: :func:`migrate_spec_data`)."""
    name: str = "model"
    """A short name for the model (used for run folders and exported files)."""
    skeleton: Skeleton
    """Keypoints, parents and left/right swaps."""
    preprocessing: Preprocessing
    """The model's input and how frames are fitted to it."""
    architecture: Architecture = UNet()
    """Network architecture (``type`` picks one of the five; the default is a U-Net, the
    paper's is ``stacked_densenet``)."""
    targets: Targets = Targets()
    """Confidence-map targets."""
    augmentation: Augmentation = Augmentation()
    """Training augmentation."""
    training: Training = Training()
    """Optimisation settings."""
    data: DataSpec | None = None
    """Training data (needed by ``dpk train``)."""
    card: ModelCard | None = None
    """Model card (filled by ``dpk publish``)."""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("spec_version") not in (None, *_READABLE_VERSIONS):
            raise ValueError(
                f"spec_version {data.get('spec_version')!r} is not one this dpk reads "
                f"({', '.join(map(str, _READABLE_VERSIONS))}): upgrade dpk, or write "
                f"spec_version: {SPEC_VERSION}"
            )
        return migrate_spec_data(data)

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        problems: list[tuple[str, str]] = []
        arch, targets, pre = self.architecture, self.targets, self.preprocessing
        d = targets.downsample_factor
        if self.augmentation.test_time == "quarter_turns" and not self.map_grid_turns_onto_itself:
            problems.append(
                (
                    "augmentation.test_time",
                    "quarter_turns needs a square input whose side is a multiple of the output "
                    f"stride {targets.stride} (it is {pre.height}x{pre.width}): use auto or off",
                )
            )
        if isinstance(arch, LEAP) and d != 0:
            problems.append(
                (
                    "targets.downsample_factor",
                    f"architecture leap predicts full-resolution maps: set it to 0 (it is {d})",
                )
            )
        if isinstance(arch, DeepLabCut):
            if d > 4:
                problems.append(
                    (
                        "targets.downsample_factor",
                        f"architecture deeplabcut has output stride 16 at most: use 0..4 (it is {d})",
                    )
                )
            if arch.backbone != "mobilenetv2" and arch.alpha != 1.0:
                problems.append(
                    ("architecture.alpha", f"applies to mobilenetv2 only, not {arch.backbone}")
                )
            if arch.backbone == "mobilenetv2" and arch.alpha not in _MOBILENET_ALPHAS:
                problems.append(
                    ("architecture.alpha", f"must be one of {_MOBILENET_ALPHAS} for mobilenetv2")
                )
            if min(pre.height, pre.width) < 32:
                problems.append(
                    ("preprocessing", "architecture deeplabcut needs at least 32x32 pixels")
                )
        if isinstance(arch, StackedDenseNet | StackedHourglass):
            if d < 1:
                problems.append(
                    (
                        "targets.downsample_factor",
                        f"architecture {arch.type} needs 1 or more (it is {d}); use leap for "
                        "full-resolution maps",
                    )
                )
            try:
                count = resolve_transitions(arch.n_transitions, pre.height, pre.width)
            except ValueError as error:
                problems.append(("architecture.n_transitions", str(error)))
            else:
                if count <= d:
                    problems.append(
                        (
                            "architecture.n_transitions",
                            f"resolves to {count}, which must be greater than "
                            f"targets.downsample_factor ({d}): use a larger input, a smaller "
                            "downsample_factor or more transitions",
                        )
                    )
        if isinstance(arch, UNet):
            if d < 1:
                problems.append(
                    (
                        "targets.downsample_factor",
                        f"architecture unet needs 1 or more (it is {d}); use leap for "
                        "full-resolution maps",
                    )
                )
            elif unet_transitions(arch.n_transitions, pre.height, pre.width) < d:
                problems.append(
                    (
                        "architecture.n_transitions",
                        f"must be at least targets.downsample_factor ({d}), and the "
                        f"{pre.height}x{pre.width} input must allow that many halvings",
                    )
                )
            if arch.max_filters < arch.filters:
                problems.append(
                    ("architecture.max_filters", f"must be at least filters ({arch.filters})")
                )
        if 2**d > min(pre.height, pre.width) // 2:
            problems.append(
                (
                    "targets.downsample_factor",
                    f"{d} leaves maps of under 2 pixels for a {pre.height}x{pre.width} input",
                )
            )
        if self.data and self.data.crop and self.data.crop.anchor not in self.skeleton.names:
            problems.append(
                ("data.crop.anchor", f"{self.data.crop.anchor!r} is not a keypoint of the skeleton")
            )
        if targets.anchor is not None:
            if self.skeleton.n_keypoints != 1:
                problems.append(
                    (
                        "skeleton",
                        "an anchor model (targets.anchor) has one keypoint, its anchor: "
                        f"for example skeleton: {{names: [{self.skeleton.names[0]}]}}",
                    )
                )
            if targets.graph:
                problems.append(("targets.graph", "an anchor model has no posture graph: false"))
            if self.data and self.data.crop:
                problems.append(
                    ("data.crop", "an anchor model is trained on whole frames: remove data.crop")
                )
        keypoints = self.data.keypoints if self.data else None
        if keypoints is not None and list(keypoints) != list(self.skeleton.names):
            problems.append(
                ("data.keypoints", "must list the skeleton's keypoints in the same order")
            )
        if problems:
            raise Problems(problems)
        return self

    @property
    def n_keypoints(self) -> int:
        """Number of keypoints."""
        return self.skeleton.n_keypoints

    @property
    def n_output_maps(self) -> int:
        """Number of maps the network predicts."""
        return n_output_maps(self.skeleton, self.targets.graph)

    @property
    def quarter_turns_at_test_time(self) -> bool:
        """Whether the exported model averages its maps over the four quarter turns of the
        image (``augmentation.test_time`` resolved; see there)."""
        mode = self.augmentation.test_time
        if mode != "auto":
            return mode == "quarter_turns"
        aug = self.augmentation
        return (
            aug.enabled
            and aug.affine > 0
            and aug.rotation >= 180
            and self.map_grid_turns_onto_itself
        )

    @property
    def map_grid_turns_onto_itself(self) -> bool:
        """Whether a quarter turn of the input maps the output map grid onto itself: a
        square input whose side is a multiple of the output stride."""
        pre = self.preprocessing
        return pre.height == pre.width and pre.height % self.targets.stride == 0
