"""dpk's prediction table: one CSV row per frame, readable by any spreadsheet or pandas.

Columns: ``frame`` (the video frame index), ``image`` (only for image folders: the file
name), then ``NAME_x, NAME_y, NAME_conf`` for every keypoint in skeleton order. Pixel
coordinates follow dpk's convention (x right, y down, centre of the top-left pixel at 0, 0);
an empty cell is a missing value (a frame that could not be read). Filtered predictions
(``dpk filter``) add one ``NAME_flags`` column per keypoint at the end: quality flag bits.
The skeleton's parents
and swaps and the model spec do not fit a flat table: use HDF5 (``.h5``) to keep them.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = ["is_predictions_csv", "load_predictions_csv", "save_predictions_csv"]

_SUFFIXES = ("_x", "_y", "_conf")
_FLAGS = "_flags"


def _header(predictions: Predictions) -> list[str]:
    columns = ["frame"] + (["image"] if predictions.image_names is not None else [])
    for name in predictions.names:
        columns += [name + suffix for suffix in _SUFFIXES]
    if predictions.flags is not None:
        columns += [f"{name}{_FLAGS}" for name in predictions.names]
    return columns


def save_predictions_csv(path: str | os.PathLike, predictions: Predictions) -> Path:
    """Write predictions as a CSV table (atomically: a temporary file, then a rename).

    Args:
        path: The ``.csv`` file.
        predictions: What to write.

    Returns:
        The path written.

    Raises:
        OutputError: The folder is missing or not writable.
    """
    k = predictions.skeleton.n_keypoints
    row_format = ",".join(["%.3f", "%.3f", "%.4f"] * k)
    values = predictions.keypoints.reshape(predictions.n_frames, k * 3).astype(np.float64)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(_header(predictions))
        names = predictions.image_names
        quote = io.StringIO()
        name_writer = csv.writer(quote, lineterminator="")
        lines = []
        flags = predictions.flags.tolist() if predictions.flags is not None else None
        for i, (frame, row) in enumerate(zip(predictions.frame_indices.tolist(), values)):
            prefix = f"{frame},"
            if names is not None:
                quote.seek(0)
                quote.truncate()
                name_writer.writerow([names[i]])
                prefix += quote.getvalue() + ","
            line = prefix + (row_format % tuple(row)).replace("nan", "")
            if flags is not None:
                line += "," + ",".join(map(str, flags[i]))
            lines.append(line)
            if len(lines) >= 4096:
                handle.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            handle.write("\n".join(lines) + "\n")
    return Path(path)


def _read_header(path: Path) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError):
        return None


def is_predictions_csv(path: str | os.PathLike) -> bool:
    """The file is a prediction table written by dpk (its first column is ``frame``)."""
    header = _read_header(Path(path))
    return header is not None and header[:1] == ["frame"]


def load_predictions_csv(path: str | os.PathLike) -> Predictions:
    """Read a prediction table written by :func:`save_predictions_csv`.

    The skeleton has the keypoint names only (a CSV does not store parents or swaps).

    Raises:
        DpkError: Missing file, or not a dpk prediction table.
    """
    path = Path(path)
    if not path.is_file():
        raise DpkError(f"{path}: predictions file not found")
    header = _read_header(path)
    hint = "expected columns frame[,image],NAME_x,NAME_y,NAME_conf,... as written by dpk predict"
    if not header or header[0] != "frame":
        raise DpkError(f"{path}: not a dpk prediction table; {hint}")
    has_image = len(header) > 1 and header[1] == "image"
    columns = header[2 if has_image else 1 :]
    n_flags = 0
    while n_flags < len(columns) and columns[-1 - n_flags].endswith(_FLAGS):
        n_flags += 1
    if n_flags:
        columns = columns[:-n_flags]
    if not columns or len(columns) % 3:
        raise DpkError(f"{path}: {len(columns)} keypoint columns is not a multiple of 3; {hint}")
    names = []
    for i in range(0, len(columns), 3):
        triple = columns[i : i + 3]
        name = triple[0][: -len(_SUFFIXES[0])]
        if [name + s for s in _SUFFIXES] != triple:
            raise DpkError(f"{path}: columns {triple} are not NAME_x, NAME_y, NAME_conf; {hint}")
        names.append(name)
    frames: list[int] = []
    images: list[str] = []
    rows: list[list[float]] = []
    flag_rows: list[list[int]] = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for line, record in enumerate(reader, start=2):
            if not record:
                continue
            if len(record) != len(header):
                raise DpkError(
                    f"{path}: line {line} has {len(record)} cells, expected {len(header)}"
                )
            try:
                frames.append(int(record[0]))
                cells = record[2:] if has_image else record[1:]
                if n_flags:
                    flag_rows.append([int(c) for c in cells[-n_flags:]])
                    cells = cells[:-n_flags]
                rows.append([float(c) if c.strip() else np.nan for c in cells])
            except ValueError as error:
                raise DpkError(f"{path}: line {line}: {error}") from None
            if has_image:
                images.append(record[1])
    keypoints = np.asarray(rows, np.float32).reshape(len(rows), len(names), 3)
    flags = None
    if n_flags:
        if n_flags != len(names):
            raise DpkError(f"{path}: {n_flags} flag columns for {len(names)} keypoints; {hint}")
        flags = np.asarray(flag_rows, np.uint8).reshape(len(rows), len(names))
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.asarray(frames, np.int64),
        skeleton=Skeleton.from_names(names),
        source=None,
        image_names=images if has_image else None,
        flags=flags,
    )
