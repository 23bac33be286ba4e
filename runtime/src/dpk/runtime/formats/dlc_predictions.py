"""DeepLabCut analysis output: predictions written and read as DeepLabCut's CSV and HDF5.

The layout is the one ``deeplabcut.analyze_videos`` writes, so that DeepLabCut, movement,
sleap-io and other tools read it:

- columns: a MultiIndex with levels ``scorer``, ``bodyparts``, ``coords`` (``x``, ``y``,
  ``likelihood``), and an ``individuals`` level between ``scorer`` and ``bodyparts``
  when there are several animals (multi-animal DeepLabCut);
- rows: one per video frame from frame 0 to the last predicted frame; frames that were
  not predicted (skipped by ``--start``/``--step``) or could not be read are NaN
  (``NaN`` in the CSV, not empty cells: pandas would take a first row of empty cells for
  a row of index names). For image folders the rows are the images, indexed by name;
- ``likelihood`` is the confidence, in [0, 1];
- ``.h5``: the same frame stored by pandas under the key ``df_with_missing`` (pandas'
  "table" layout, which needs pandas and PyTables); ``.csv``: three (or four) header
  rows, then the rows; written without pandas.

Predictions with an instance axis are written multi-animal: one individual per track
(:meth:`Predictions.by_track`), named by ``track_names`` (the ``individuals`` level).

Multi-animal tables (dpk's, and DeepLabCut's own: ``analyze_videos`` with
``auto_track``, ``stitch_tracklets``, whose ``.h5`` keeps the frame under the key
``tracks`` or ``df_with_missing``) are read back as predictions with instances, the layout
top-down predictions have (:mod:`dpk.runtime.predictions`):

- each individual becomes one instance row and one track, named by the individual
  (``individual1``, ``ind1``, or dpk's track names), in column order: row ``a`` of every
  frame is track ``a``; an individual absent from a frame (no x, y) is a NaN row with
  track id -1;
- ``likelihood`` is the confidence; frames come from the index (one row per frame from 0,
  so frames a run skipped are NaN rows, as in the single-animal case); an index of image
  names gives image predictions;
- DeepLabCut's unique body parts (``uniquebodyparts``, under the individual ``single``)
  belong to no animal, so they are left out with a warning that names them (read them
  with pandas if needed); a table of ``single`` alone is an error;
- every individual must have the same body parts (in any column order); a table where
  they differ, or with a cell that is not a number, is refused in one line naming the file
  and the fix. Instance scores are not stored in the table: they come back as the mean
  keypoint confidence.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.formats.dlc_table import (
    COORDS,
    DlcTable,
    read_dlc_table,
    split_individuals,
)
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = [
    "H5_KEY",
    "dlc_dataframe",
    "dlc_rows",
    "is_dlc_predictions",
    "load_predictions_dlc",
    "save_predictions_dlc",
]

H5_KEY = "df_with_missing"
"""The pandas key DeepLabCut stores its analysis table under."""


def dlc_rows(predictions: Predictions) -> tuple[list[str], np.ndarray]:
    """The index and the values of the DeepLabCut table of ``predictions``.

    Returns:
        ``(index, values)``: for video, frame numbers ``0 .. last`` and float64
        (last + 1, K, 3) with NaN rows for frames that were not predicted; for images,
        the image names and the predictions as they are. With instances, values are
        (rows, T, K, 3), one column block per track (:meth:`Predictions.by_track`).
    """
    keypoints = predictions.by_track().keypoints.astype(np.float64)
    if predictions.image_names is not None:
        return list(predictions.image_names), keypoints
    n = int(predictions.frame_indices.max()) + 1 if predictions.n_frames else 0
    values = np.full((n, *keypoints.shape[1:]), np.nan)
    values[predictions.frame_indices] = keypoints
    return [str(i) for i in range(n)], values


def _columns(
    scorer: str, names: Sequence[str], individuals: Sequence[str] | None
) -> list[tuple[str, ...]]:
    if individuals is None:
        return [(scorer, n, c) for n in names for c in COORDS]
    return [(scorer, a, n, c) for a in individuals for n in names for c in COORDS]


def dlc_dataframe(
    values: np.ndarray,
    names: Sequence[str],
    *,
    index: Sequence[Any] | None = None,
    scorer: str = "dpk",
    individuals: Sequence[str] | None = None,
) -> Any:
    """A pandas DataFrame in DeepLabCut's layout.

    Args:
        values: (N, K, 3) x, y, likelihood, or (N, A, K, 3) for A animals.
        names: The K body part names.
        index: Row labels (default 0 .. N-1).
        scorer: The ``scorer`` level.
        individuals: Names of the A animals (default ``individual0`` ...); with (N, K, 3)
            values, giving names adds the ``individuals`` level for one animal.

    Raises:
        DpkError: pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError:
        raise DpkError("DeepLabCut tables need pandas: pip install pandas") from None
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 4 and individuals is None:
        individuals = [f"individual{i}" for i in range(values.shape[1])]
    if values.ndim == 3 and individuals is not None:
        values = values[:, None]
    levels = ["scorer", "bodyparts", "coords"]
    if individuals is not None:
        levels.insert(1, "individuals")
    columns = pd.MultiIndex.from_tuples(_columns(scorer, names, individuals), names=levels)
    rows = range(len(values)) if index is None else list(index)
    return pd.DataFrame(values.reshape(len(values), -1), columns=columns, index=rows)


def _cell(value: float) -> str:
    return "NaN" if not math.isfinite(value) else repr(float(value))


def _csv_text(
    index: Sequence[str],
    values: np.ndarray,
    names: Sequence[str],
    scorer: str,
    individuals: Sequence[str] | None = None,
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = _columns(scorer, names, individuals)
    titles = ["scorer", "bodyparts", "coords"]
    if individuals is not None:
        titles.insert(1, "individuals")
    for level, title in enumerate(titles):
        writer.writerow([title] + [column[level] for column in columns])
    for label, row in zip(index, values, strict=True):
        writer.writerow([label] + [_cell(v) for v in row.reshape(-1)])
    return out.getvalue()


def save_predictions_dlc(path: str | os.PathLike, predictions: Predictions) -> None:
    """Write predictions as DeepLabCut analysis output (atomically): ``.h5`` or ``.csv``.

    With instances: multi-animal, one individual per track named by ``track_names``.

    Raises:
        DpkError: A ``.h5`` without pandas and PyTables installed, or an animal without
            a track id (individuals need tracks).
    """
    path = Path(path)
    scorer = predictions.model_name or "dpk"
    index, values = dlc_rows(predictions)
    names = predictions.names
    individuals = predictions.by_track().track_names if predictions.has_instances else None
    if path.suffix.lower() not in (".h5", ".hdf5"):
        text = _csv_text(index, values, names, scorer, individuals)
        with atomic_output(path) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
        return
    if importlib.util.find_spec("tables") is None:  # pandas' HDF5 backend
        raise DpkError(
            f"{path}: DeepLabCut .h5 output needs pandas and PyTables: pip install "
            "'dpk-runtime[formats]' (or write the .csv)"
        )
    numeric = predictions.image_names is None
    frame = dlc_dataframe(
        values,
        names,
        index=[int(i) for i in index] if numeric else index,
        scorer=scorer,
        individuals=individuals,
    )
    with atomic_output(path) as tmp:
        frame.to_hdf(tmp, key=H5_KEY, format="table", mode="w")


def is_dlc_predictions(path: str | os.PathLike) -> bool:
    """Whether to read ``path`` as a DeepLabCut table: any ``.csv`` (the last CSV reader
    tried, whose parser says what is wrong with a file that is not one), an HDF5 file
    holding a pandas frame."""
    if Path(path).suffix.lower() not in (".h5", ".hdf5"):
        return True
    from dpk.runtime.formats import hdf5_kind

    return hdf5_kind(path) == "dlc_table"


def _with_confidence(values: np.ndarray) -> np.ndarray:
    """x, y, likelihood as they are; x, y alone get confidence 1 where present, else NaN."""
    values = values.astype(np.float32)
    if values.shape[-1] == 3:
        return values
    present = ~np.isnan(values).any(axis=-1, keepdims=True)
    return np.concatenate([values, np.where(present, 1.0, np.nan).astype(np.float32)], axis=-1)


def _check_skeleton(source: str, skeleton: Skeleton | None, bodyparts: list[str]) -> Skeleton:
    if skeleton is not None and list(skeleton.names) != bodyparts:
        raise DpkError(
            f"{source}: bodyparts {bodyparts} do not match the skeleton's names "
            f"{skeleton.names}; give a skeleton of these names in this order"
        )
    return skeleton or Skeleton.from_names(bodyparts)


def _rows(index: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """Frame indices and image names (None for video) of a table's index."""
    if all(re.fullmatch(r"\d+", entry) for entry in index):
        return np.array([int(e) for e in index], dtype=np.int64), None
    return np.arange(len(index), dtype=np.int64), list(index)


def _multi_animal(table: DlcTable, skeleton: Skeleton | None) -> Predictions:
    """Predictions with instances (one per individual) from a multi-animal table."""
    source = str(table.path)
    animals = split_individuals(table)
    if animals.unique:
        warnings.warn(
            f"{source}: unique body part(s) {', '.join(animals.unique)} (individual "
            "'single') belong to no animal and are left out of the predictions; read them "
            "with pandas if you need them",
            stacklevel=3,
        )
    keypoints = _with_confidence(animals.values)  # (N, A, K, 3)
    present = np.isfinite(keypoints[..., :2]).any(axis=(2, 3))
    track_ids = np.where(present, np.arange(len(animals.names))[None, :], -1)
    frames, image_names = _rows(table.index)
    return Predictions(
        keypoints=keypoints,
        frame_indices=frames,
        skeleton=_check_skeleton(source, skeleton, animals.bodyparts),
        image_names=image_names,
        model_name=table.scorer,
        track_ids=track_ids,
        track_names=list(animals.names),
    )


def load_predictions_dlc(path: str | os.PathLike, skeleton: Skeleton | None = None) -> Predictions:
    """Read a DeepLabCut analysis table (CSV or HDF5) as predictions.

    Args:
        path: The ``.csv`` or ``.h5`` file.
        skeleton: Skeleton to attach (its names must match the table's bodyparts, in
            order); default: the bodyparts, without parents or swaps.

    Rows whose index is a number become frame indices; otherwise the index is kept as
    image names. Tables without likelihood get confidence 1 where a keypoint is present.
    A multi-animal table (an ``individuals`` level) gives predictions with instances, one
    track per individual named by it (see the module notes; unique body parts are left
    out with a warning).

    Raises:
        DpkError: Not a DeepLabCut table, cells that are not numbers, individuals with
            different body parts, or a skeleton of other names; the message names the file.
    """
    table = read_dlc_table(Path(path), multi_animal=True)
    if table.is_multi_animal:
        return _multi_animal(table, skeleton)
    frames, image_names = _rows(table.index)
    return Predictions(
        keypoints=_with_confidence(table.values),
        frame_indices=frames,
        skeleton=_check_skeleton(str(table.path), skeleton, table.bodyparts),
        image_names=image_names,
        model_name=table.scorer,
    )
