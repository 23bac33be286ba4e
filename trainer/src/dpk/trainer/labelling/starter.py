"""A starting model spec for labelled frames, so that ``dpk train`` takes them:
``dpk project spec mouse.slp -o mouse.yaml && dpk train mouse.yaml``, or the same with a
DeepLabCut project folder, its ``config.yaml`` or a ``CollectedData`` table.

The spec is the one that trains the mirror-mouse zoo model (``examples/mirror_mouse.yaml``:
dpk's recipe, docs/benchmarks.md, issue 9) with the labels' skeleton, colour and frame
size, fitted so that the longer side is at most 256 px (``scale`` overrides it; the runtime
maps keypoints back to full frames). Two settings follow from the labels themselves
(:func:`keypoint_spacing`): the target width ``sigma`` (:func:`sigma_for_spacing`: about
a quarter of the median distance between neighbouring keypoints, 2-5 input px, which
gives both example specs' values), and a warning when the animals are so small in the
fitted frames that neighbouring keypoints would blur into one target. Left/right flips are
on only when the skeleton names left/right pairs.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np

from dpk.specs.errors import DpkWarning
from dpk.specs.model import SPEC_VERSION, ModelSpec
from dpk.specs.skeleton import Skeleton
from dpk.trainer.labelling.project import Project, ProjectError, read_frame
from dpk.trainer.labels import Labels

__all__ = [
    "MAX_SIDE",
    "MIN_SPACING",
    "keypoint_spacing",
    "sigma_for_spacing",
    "starter_spec",
    "starter_spec_from_labels",
]


MAX_SIDE = 256
"""Longest input side of a starter spec, in pixels (the recipe's measured input size)."""

SPACING_PER_SIGMA = 3.5
"""Neighbouring keypoints' median distance over the target's sigma. The example specs'
sigmas (fly crops 4 px at a 14 px spacing, the mirror mouse 5 px, the cap, at 32 px)
are what this gives."""

SIGMA_RANGE = (2.0, 5.0)
"""Smallest and largest starter sigma, in input pixels (5: the recipe's measured value)."""

MIN_SPACING = 2 * SPACING_PER_SIGMA
"""Below this median spacing at the input (pixels), neighbouring keypoints' targets merge
even at the smallest sigma: the starter warns and says what input size would do."""


def keypoint_spacing(keypoints: np.ndarray) -> float | None:
    """How far apart a frame's keypoints lie: the median, over every labelled keypoint of
    every frame, of the distance to its nearest labelled neighbour in the same frame.

    Args:
        keypoints: (N, K, 2) x, y in pixels, NaN where not labelled.

    Returns:
        The distance in the keypoints' pixels; None when no frame has two labelled
        keypoints at distinct places.
    """
    points = np.asarray(keypoints, np.float64)
    if points.ndim != 3 or points.shape[1] < 2:
        return None
    gaps = points[:, :, None, :] - points[:, None, :, :]
    distance = np.hypot(gaps[..., 0], gaps[..., 1])
    k = points.shape[1]
    distance[:, np.arange(k), np.arange(k)] = np.nan
    distance[distance == 0] = np.nan  # two names on one spot say nothing about size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no neighbour
        nearest = np.nanmin(distance, axis=2)
    nearest = nearest[np.isfinite(nearest)]
    return float(np.median(nearest)) if nearest.size else None


def sigma_for_spacing(spacing: float | None) -> float:
    """The starter's target sigma (input pixels) for a keypoint spacing at the input:
    ``spacing / 3.5`` to the nearest half pixel, within 2-5 px (5 when unknown)."""
    if spacing is None:
        return SIGMA_RANGE[1]
    sigma = round(2 * spacing / SPACING_PER_SIGMA) / 2
    return float(min(max(sigma, SIGMA_RANGE[0]), SIGMA_RANGE[1]))


def starter_spec(
    project: Project,
    spec_path: str | os.PathLike,
    scale: float | None = None,
    minutes: float = 30,
) -> ModelSpec:
    """A model spec training on a label project, to be saved at ``spec_path``.

    Args:
        project: The label project.
        spec_path: Where the spec will be saved (its data path is relative to it).
        scale: Input size over frame size; None = the longer side fitted to
            :data:`MAX_SIDE` pixels (never enlarged).
        minutes: The training time budget.

    Raises:
        ProjectError: The project has no labelled frame or its video cannot be read.
    """
    labelled = [f for f in project.frames.values() if f.n_labelled]
    if not labelled:
        raise ProjectError(f"{project.path}: no labelled frames yet; label some with dpk annotate")
    project.check_videos()
    image = read_frame(project.videos[labelled[0].video], labelled[0].index)
    _, keypoints = project.training_arrays()
    return _starter(project.path, project.skeleton, image, keypoints, spec_path, scale, minutes)


def starter_spec_from_labels(
    labels: Labels,
    data_path: str | os.PathLike,
    spec_path: str | os.PathLike,
    scale: float | None = None,
    minutes: float = 30,
) -> ModelSpec:
    """A model spec training on labels read from a file (a DeepLabCut project, say).

    Args:
        labels: The labels, as read from ``data_path``.
        data_path: The labels file or folder (the spec's ``data.path``, relative to it).
        spec_path: Where the spec will be saved.
        scale: Input size over frame size; None = the longer side fitted to
            :data:`MAX_SIDE` pixels (never enlarged).
        minutes: The training time budget.

    Raises:
        ProjectError: No frame has a labelled keypoint.
    """
    if not np.isfinite(labels.keypoints).any():
        raise ProjectError(f"{data_path}: no labelled keypoints to train on")
    return _starter(
        Path(data_path),
        labels.skeleton,
        labels.images[0],
        labels.keypoints,
        spec_path,
        scale,
        minutes,
    )


def _is_grey(image: np.ndarray) -> bool:
    """Grey footage, give or take the codec's colour noise."""
    if image.ndim == 2 or image.shape[-1] == 1:
        return True
    channels = image.astype(np.int16)
    return bool(np.abs(channels - channels.mean(axis=2, keepdims=True)).max() <= 4)


def _name(source: Path) -> str:
    """The spec's name: the label project's file name, or the DeepLabCut project's folder name."""
    source = source.resolve()
    if source.name == "config.yaml":
        return source.parent.name
    if source.name.startswith("CollectedData"):  # <project>/labeled-data/<video>/ or a folder
        folder = source.parent
        if folder.parent.name == "labeled-data":
            folder = folder.parent.parent
        return folder.name
    return source.stem if source.is_file() else source.name


def _relative(path: Path, spec_path: str | os.PathLike) -> str:
    spec_folder = Path(spec_path).resolve().parent
    try:
        return os.path.relpath(path.resolve(), spec_folder)
    except ValueError:  # another drive (Windows)
        return str(path.resolve())


def _starter(
    source: Path,
    skeleton: Skeleton,
    image: np.ndarray,
    keypoints: np.ndarray,
    spec_path: str | os.PathLike,
    scale: float | None,
    minutes: float,
) -> ModelSpec:
    if scale is not None and not 0 < scale <= 8:
        raise ProjectError(f"--scale {scale:g}: give the input size over the frame size, above 0")
    grey = _is_grey(image)
    if scale is None:
        scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
    height, width = (max(16, round(side * scale)) for side in image.shape[:2])
    spacing = keypoint_spacing(keypoints)
    input_spacing = None if spacing is None else spacing * scale
    if spacing is not None and spacing * scale < MIN_SPACING:
        needed = min(math.ceil(100 * MIN_SPACING / spacing) / 100, 8.0)  # rounded up
        warnings.warn(
            f"{source}: neighbouring keypoints lie a median {spacing * scale:.1f} px apart at "
            f"the {height}x{width} input, too close for their targets to stay apart; give "
            f"--scale {needed:g} (a larger input, slower) or train a top-down pair on "
            "crops around each animal (examples/fly_anchor.yaml)",
            DpkWarning,
            stacklevel=3,
        )
    flip = 0.5 if any(s >= 0 for s in skeleton.swap_indices) else 0.0
    return ModelSpec.model_validate(
        {
            "spec_version": SPEC_VERSION,
            "name": _name(source),
            "skeleton": skeleton.model_dump(),
            "preprocessing": {
                "height": height,
                "width": width,
                "channels": 1 if grey else 3,
                "color_order": "gray" if grey else "rgb",
            },
            "architecture": {"type": "unet", "filters": 24, "max_filters": 96},
            "targets": {
                "sigma": sigma_for_spacing(input_spacing),
                "downsample_factor": 2,
                "graph": False,
            },
            "augmentation": {
                "flip_lr": flip,
                "rotation": 10,
                "scale": [0.9, 1.1],
                "translation": 0.05,
            },
            "data": {"path": _relative(source, spec_path)},
            "training": {
                "epochs": 10000,
                "batch_size": 8,
                "learning_rate": 1e-3,
                "schedule": {"type": "cosine"},
                "foreground_weight": 0.0,
                "early_stopping": {"enabled": False},
                "validation_fraction": 0.2,
                "seed": 0,
                "max_minutes": minutes,
            },
        }
    )
