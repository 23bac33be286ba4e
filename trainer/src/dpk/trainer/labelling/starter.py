"""A starting model spec for a label project, so that ``dpk train`` takes the project:
``dpk project spec mouse.slp -o mouse.yaml && dpk train mouse.yaml``.

The spec is the one that trains the mirror-mouse zoo model (``examples/mirror_mouse.yaml``:
dpk's recipe, docs/benchmarks.md, issue 9) with the project's skeleton, colour and frame
size, fitted so that the longer side is at most 256 px (``scale`` overrides it; the runtime
maps keypoints back to full frames). Left/right flips are on only when the skeleton names
left/right pairs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dpk.specs.model import ModelSpec
from dpk.trainer.labelling.project import Project, ProjectError, read_frame

__all__ = ["MAX_SIDE", "starter_spec"]


MAX_SIDE = 256
"""Longest input side of a starter spec, in pixels (the recipe's measured input size)."""


def starter_spec(
    project: Project,
    spec_path: str | os.PathLike,
    scale: float | None = None,
    minutes: float = 30,
) -> ModelSpec:
    """A model spec training on ``project``, to be saved at ``spec_path``.

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
    channels = image.astype(np.int16)
    spread = np.abs(channels - channels.mean(axis=2, keepdims=True)).max()
    grey = bool(spread <= 4)  # grey footage, give or take the codec's colour noise
    if scale is None:
        scale = min(1.0, MAX_SIDE / max(image.shape[:2]))
    height, width = (max(16, round(side * scale)) for side in image.shape[:2])
    skeleton = project.skeleton
    spec_folder = Path(spec_path).resolve().parent
    try:
        data_path = os.path.relpath(project.path.resolve(), spec_folder)
    except ValueError:  # another drive (Windows)
        data_path = str(project.path.resolve())
    flip = 0.5 if any(s >= 0 for s in skeleton.swap_indices) else 0.0
    return ModelSpec.model_validate(
        {
            "spec_version": 1,
            "name": project.path.stem,
            "skeleton": skeleton.model_dump(),
            "preprocessing": {
                "height": height,
                "width": width,
                "channels": 1 if grey else 3,
                "color_order": "gray" if grey else "rgb",
            },
            "architecture": {"type": "unet", "filters": 24, "max_filters": 96},
            "targets": {"sigma": 5.0, "downsample_factor": 2, "graph": False},
            "augmentation": {
                "flip_lr": flip,
                "rotation": 10,
                "scale": [0.9, 1.1],
                "translation": 0.05,
            },
            "data": {"path": data_path},
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
