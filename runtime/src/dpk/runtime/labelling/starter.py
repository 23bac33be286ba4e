"""A starting model spec for a label project, so that ``dpk train`` takes the project:
``dpk project spec mouse.slp -o mouse.yaml && dpk train mouse.yaml``.

The spec is the one that trains the mirror-mouse zoo model (``examples/mirror_mouse.yaml``)
with the project's skeleton, frame size (scaled by ``scale``, default one half: four times
faster on a CPU, and the runtime maps keypoints back to full frames) and colour.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dpk.runtime.labelling.project import Project, ProjectError, read_frame
from dpk.specs.model import ModelSpec

__all__ = ["starter_spec"]


def starter_spec(
    project: Project, spec_path: str | os.PathLike, scale: float = 0.5, minutes: float = 30
) -> ModelSpec:
    """A model spec training on ``project``, to be saved at ``spec_path``.

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
            "architecture": {"type": "stacked_densenet", "n_stacks": 2, "growth_rate": 24},
            "targets": {"sigma": float(np.clip(10 * scale, 2, 10)), "downsample_factor": 2},
            "augmentation": {
                "flip_lr": flip,
                "rotation": 10,
                "scale": [0.9, 1.1],
                "translation": 0.05,
                "shear": 5,
            },
            "data": {"path": data_path},
            "training": {
                "epochs": 300,
                "batch_size": 8,
                "validation_fraction": 0.2,
                "seed": 0,
                "max_minutes": minutes,
            },
        }
    )
