"""Predictions as a movement poses dataset (xarray), for analysis with ``movement``.

movement (https://movement.neuroinformatics.dev) keeps poses in an ``xarray.Dataset``:

- ``position``: (time, space, keypoints, individuals), space = ``x``, ``y``;
- ``confidence``: (time, keypoints, individuals);
- ``time``: seconds (frame index / fps) when the fps is known, else frame indices;
- attributes ``ds_type`` = ``poses``, ``fps``, ``time_unit`` (``seconds`` or
  ``frames``), ``source_software``, ``source_file``.

This is the layout of movement 0.1x (``movement.io.load_poses.from_numpy``); the dataset
is built with xarray alone (movement itself is not needed), and dpk adds a ``frame``
coordinate on ``time`` with the video frame index of each row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dpk.specs.errors import DpkError

if TYPE_CHECKING:
    from dpk.runtime.predictions import Predictions

__all__ = ["to_movement"]


def to_movement(predictions: Predictions, individual: str = "individual_0") -> Any:
    """A movement poses dataset of ``predictions``; see the module notes.

    Single-animal predictions are one individual named ``individual``; with instances,
    one individual per track (:meth:`Predictions.by_track`), named by ``track_names``.

    Raises:
        DpkError: xarray is not installed.
    """
    try:
        import xarray as xr
    except ImportError:
        raise DpkError(
            "a movement dataset needs xarray: pip install xarray (or movement)"
        ) from None
    individuals = [individual]
    keypoints = predictions.keypoints[:, None]
    if predictions.has_instances:
        tracked = predictions.by_track()
        individuals = list(tracked.track_names or [])
        keypoints = tracked.keypoints
    fps = predictions.fps if predictions.image_names is None else None
    frames = predictions.frame_indices
    time = frames / fps if fps else frames.astype(np.float64)
    position = np.transpose(keypoints[..., :2], (0, 3, 2, 1))  # time, space, kp, ind
    confidence = np.transpose(keypoints[..., 2], (0, 2, 1))
    return xr.Dataset(
        data_vars={
            "position": (("time", "space", "keypoints", "individuals"), position),
            "confidence": (("time", "keypoints", "individuals"), confidence),
        },
        coords={
            "time": time,
            "frame": ("time", frames),
            "space": ["x", "y"],
            "keypoints": predictions.names,
            "individuals": individuals,
        },
        attrs={
            "ds_type": "poses",
            "fps": fps,
            "time_unit": "seconds" if fps else "frames",
            "source_software": "dpk",
            "source_file": predictions.source,
        },
    )
