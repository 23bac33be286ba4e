"""Predictions as a movement poses dataset (xarray), for analysis with ``movement``.

movement (https://movement.neuroinformatics.dev) keeps poses in an ``xarray.Dataset``:

- ``position``: (time, space, keypoints, individuals), space = ``x``, ``y``;
- ``confidence``: (time, keypoints, individuals);
- ``time``: seconds (frame index / fps, float64) when the fps is known, else frame
  indices (int64);
- attributes ``source_software``, ``ds_type`` = ``poses``, ``fps`` (only when known, as
  movement omits it), ``time_unit`` (``seconds`` or ``frames``), ``source_file`` (when known).

This is the layout of movement 0.1x (``movement.io.load_poses.from_numpy``; the tests
compare it with movement 0.15's own dataset); the dataset is built with xarray alone
(movement itself is not needed), and dpk adds a ``frame`` coordinate on ``time`` with the
video frame index of each row. Unlike movement's file loaders, whose time starts at 0,
``time`` is the frame's own time in the video (with ``--start``, it starts later).

dpk never imports movement, and must not: importing ``movement`` writes
``~/.movement/movement.log`` (its ``__init__`` calls ``logger.configure()``, a loguru file
sink in ``Path.home() / ".movement"``, the folder made at import). movement (0.15 and its
main branch) has no documented switch to stop this before import; after import,
``movement.utils.logging.logger.configure(log_directory=...)`` moves later logs and
``logger.remove()`` stops them, but the folder is already there. Users who load dpk's
files with movement get that folder from movement itself; dpk's export leaves the home
folder alone (a test runs it with an empty ``HOME``).
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
    time = frames / fps if fps else frames.astype(np.int64)
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
            "source_software": "dpk",
            "ds_type": "poses",
            **({"fps": fps} if fps else {}),
            "time_unit": "seconds" if fps else "frames",
            **({"source_file": predictions.source} if predictions.source else {}),
        },
    )
