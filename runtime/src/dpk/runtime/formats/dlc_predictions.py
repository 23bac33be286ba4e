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
(:meth:`Predictions.by_track`), named by ``track_names`` (the ``individuals`` level);
reading multi-animal tables back is not supported (dpk's HDF5, CSV or SLEAP are).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.formats.dlc_table import COORDS, read_dlc_table
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


def load_predictions_dlc(path: str | os.PathLike, skeleton: Skeleton | None = None) -> Predictions:
    """Read a DeepLabCut analysis table (CSV or HDF5) as predictions.

    Args:
        path: The ``.csv`` or ``.h5`` file.
        skeleton: Skeleton to attach (its names must match the table's bodyparts, in
            order); default: the bodyparts, without parents or swaps.

    Rows whose index is a number become frame indices; otherwise the index is kept as
    image names. Tables without likelihood get confidence 1 where a keypoint is present.
    """
    table = read_dlc_table(Path(path))
    source = str(table.path)
    if skeleton is not None and list(skeleton.names) != table.bodyparts:
        raise DpkError(
            f"{source}: bodyparts {table.bodyparts} do not match the skeleton's names "
            f"{skeleton.names}"
        )
    values = table.values.astype(np.float32)
    if not table.has_likelihood:
        present = ~np.isnan(values).any(axis=-1, keepdims=True)
        values = np.concatenate([values, np.where(present, 1.0, np.nan)], axis=-1)
    numeric = all(re.fullmatch(r"\d+", entry) for entry in table.index)
    return Predictions(
        keypoints=values.astype(np.float32),
        frame_indices=(
            np.array([int(e) for e in table.index], dtype=np.int64)
            if numeric
            else np.arange(len(table.index), dtype=np.int64)
        ),
        skeleton=skeleton or Skeleton.from_names(table.bodyparts),
        image_names=None if numeric else list(table.index),
        model_name=table.scorer,
    )
