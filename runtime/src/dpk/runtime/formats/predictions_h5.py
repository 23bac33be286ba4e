"""dpk's prediction file in HDF5: keypoints plus everything needed to interpret them.

Layout (readable from any language with an HDF5 library):

- ``keypoints``: float32 (N, K, 3), x, y, confidence in frame pixels (x right, y down,
  centre of the top-left pixel at 0, 0); NaN where a frame could not be read.
- ``frame_indices``: int64 (N,), the video frame index of each row.
- ``image_names``: (N,) UTF-8 strings, for image folders only.
- ``skeleton/names`` (K,) strings, ``skeleton/parents`` and ``skeleton/swaps`` (K,) int32,
  the index of the parent / swap partner, -1 for none.
- ``model_spec``: the model's spec as JSON text (scalar string), when known.
- ``flags``: uint8 (N, K) quality flag bits (``dpk filter``), when computed.
- ``errors/frame`` int64 and ``errors/reason`` strings: frames that could not be read.
- root attributes: ``dpk.kind`` = ``"predictions"``, ``dpk.format`` = ``"1"``,
  ``dpk.version``, ``source``, ``model_name``, ``source_info`` (JSON: fps, width, height,
  n_frames, codec).

Several animals (format ``"2"``; single-animal files stay format ``"1"``, byte for byte):
``keypoints`` is float32 (N, A, K, 3) with one row per instance (NaN rows for absent
animals), ``instance_scores`` float32 (N, A), ``track_ids`` int64 (N, A) (-1 = none;
only when tracked), ``track_names`` (T,) strings (index = track id), ``flags`` (N, A, K).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import h5py
import numpy as np

from dpk.runtime.formats.hdf5 import open_hdf5
from dpk.runtime.predictions import Predictions
from dpk.runtime.version import __version__
from dpk.specs.errors import DpkError
from dpk.specs.files import write_bytes_atomic
from dpk.specs.skeleton import Skeleton

__all__ = [
    "PREDICTIONS_KIND",
    "is_predictions_h5",
    "load_predictions_h5",
    "save_predictions_h5",
]

PREDICTIONS_KIND = "predictions"
FORMAT_VERSION = "1"
INSTANCES_FORMAT_VERSION = "2"
"""Files with an instance axis (several animals): older readers refuse them clearly."""
_STR = h5py.string_dtype("utf-8")


def save_predictions_h5(path: str | os.PathLike, predictions: Predictions) -> Path:
    """Write predictions as HDF5 (atomically: a temporary file, then a rename).

    Args:
        path: The ``.h5`` file.
        predictions: What to write.

    Returns:
        The path written.

    Raises:
        OutputError: The folder is missing or not writable.
    """
    skeleton = predictions.skeleton
    # Built in memory, then written with plain file I/O: HDF5 that hits a full disk fails
    # on close and can crash the process later; a Python write fails cleanly.
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["dpk.kind"] = PREDICTIONS_KIND
        multi = predictions.has_instances
        f.attrs["dpk.format"] = INSTANCES_FORMAT_VERSION if multi else FORMAT_VERSION
        f.attrs["dpk.version"] = __version__
        f.attrs["source"] = predictions.source or ""
        f.attrs["model_name"] = predictions.model_name or ""
        f.attrs["source_info"] = json.dumps(predictions.source_info, default=str)
        keypoints = f.create_dataset("keypoints", data=predictions.keypoints, dtype="float32")
        keypoints.attrs["columns"] = ["x", "y", "confidence"]
        keypoints.attrs["units"] = "pixels of the frame; centre of the top-left pixel at (0, 0)"
        f.create_dataset("frame_indices", data=predictions.frame_indices, dtype="int64")
        if multi:
            keypoints.attrs["axes"] = ["frame", "instance", "keypoint", "column"]
            f.create_dataset("instance_scores", data=predictions.instance_scores, dtype="float32")
            if predictions.track_ids is not None:
                ids = f.create_dataset("track_ids", data=predictions.track_ids, dtype="int64")
                ids.attrs["none"] = -1
            if predictions.track_names is not None:
                f.create_dataset("track_names", data=predictions.track_names, dtype=_STR)
        if predictions.image_names is not None:
            f.create_dataset("image_names", data=predictions.image_names, dtype=_STR)
        group = f.create_group("skeleton")
        group.create_dataset("names", data=list(skeleton.names), dtype=_STR)
        group.create_dataset("parents", data=np.asarray(skeleton.parent_indices, np.int32))
        group.create_dataset("swaps", data=np.asarray(skeleton.swap_indices, np.int32))
        group.attrs["allow_asymmetric_swaps"] = bool(skeleton.allow_asymmetric_swaps)
        if predictions.model_spec:
            f.create_dataset("model_spec", data=predictions.model_spec, dtype=_STR)
        if predictions.flags is not None:
            from dpk.runtime.filtering import FLAG_NAMES

            flags = f.create_dataset("flags", data=predictions.flags, dtype="uint8")
            flags.attrs["bits"] = json.dumps({str(b): n for b, n in FLAG_NAMES.items()})
        errors = f.create_group("errors")
        items = sorted(predictions.errors.items())
        errors.create_dataset("frame", data=np.asarray([i for i, _ in items], np.int64))
        errors.create_dataset("reason", data=[r for _, r in items], dtype=_STR)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def is_predictions_h5(path: str | os.PathLike) -> bool:
    """The file is an HDF5 prediction file written by dpk."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("dpk.kind") == PREDICTIONS_KIND and "keypoints" in f
    except (OSError, ValueError):
        return False


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def load_predictions_h5(path: str | os.PathLike) -> Predictions:
    """Read an HDF5 prediction file written by :func:`save_predictions_h5`.

    Raises:
        DpkError: Missing file, not HDF5, or not a dpk prediction file.
    """
    path = Path(path)
    f = open_hdf5(
        path,
        "not an HDF5 file (corrupt or another format)",
        not_found="predictions file not found",
    )
    with f:
        if f.attrs.get("dpk.kind") != PREDICTIONS_KIND or "keypoints" not in f:
            raise DpkError(
                f"{path}: not a dpk prediction file (no dpk.kind='predictions'); write one "
                "with dpk predict VIDEO --model MODEL -o predictions.h5"
            )
        version = _text(f.attrs.get("dpk.format", FORMAT_VERSION))
        if version not in (FORMAT_VERSION, INSTANCES_FORMAT_VERSION):
            raise DpkError(
                f"{path}: prediction file format {version!r} is newer than this dpk-runtime "
                f"reads ({FORMAT_VERSION!r}, {INSTANCES_FORMAT_VERSION!r}); upgrade dpk-runtime"
            )
        names = [_text(n) for n in f["skeleton/names"][()]]
        parents = [names[i] if i >= 0 else None for i in f["skeleton/parents"][()].tolist()]
        swaps = [names[i] if i >= 0 else None for i in f["skeleton/swaps"][()].tolist()]
        skeleton = Skeleton(
            names=names,
            parents=parents,
            swaps=swaps,
            allow_asymmetric_swaps=bool(f["skeleton"].attrs.get("allow_asymmetric_swaps", False)),
        )
        image_names = [_text(n) for n in f["image_names"][()]] if "image_names" in f else None
        errors = {}
        if "errors" in f:
            frames = f["errors/frame"][()].tolist()
            reasons = [_text(r) for r in f["errors/reason"][()]]
            errors = dict(zip(frames, reasons))
        spec = _text(f["model_spec"][()]) if "model_spec" in f else None
        return Predictions(
            keypoints=f["keypoints"][()],
            frame_indices=f["frame_indices"][()],
            skeleton=skeleton,
            source=_text(f.attrs.get("source", "")) or None,
            source_info=json.loads(_text(f.attrs.get("source_info", "{}"))),
            image_names=image_names,
            model_spec=spec,
            model_name=_text(f.attrs.get("model_name", "")) or None,
            errors=errors,
            flags=f["flags"][()] if "flags" in f else None,
            track_ids=f["track_ids"][()] if "track_ids" in f else None,
            instance_scores=f["instance_scores"][()] if "instance_scores" in f else None,
            track_names=([_text(n) for n in f["track_names"][()]] if "track_names" in f else None),
        )
