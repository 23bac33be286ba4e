"""dpk's prediction table: one CSV row per frame, readable by any spreadsheet or pandas.

Columns: ``frame`` (the video frame index), ``image`` (only for image folders: the file
name), then ``NAME_x, NAME_y, NAME_conf`` for every keypoint in skeleton order. Pixel
coordinates follow dpk's convention (x right, y down, centre of the top-left pixel at 0, 0);
an empty cell is a missing value (a frame that could not be read). Filtered predictions
(``dpk filter``) add one ``NAME_flags`` column per keypoint at the end: quality flag bits.
The skeleton's parents
and swaps and the model spec do not fit a flat table: use HDF5 (``.h5``) to keep them.

Several animals (predictions with an instance axis): one row per frame and instance row,
``A`` rows per frame in instance order (absent animals: empty cells), and after
``frame`` (and ``image``) the columns ``instance`` (0 .. A-1), ``track`` (the track id,
-1 = none), ``track_name`` (empty = none) and ``score`` (the instance's score), then the
keypoint columns as above.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.predictions import Predictions, default_track_name
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = ["is_predictions_csv", "load_predictions_csv", "save_predictions_csv"]

_SUFFIXES = ("_x", "_y", "_conf")
_FLAGS = "_flags"
_INSTANCE_COLUMNS = ["instance", "track", "track_name", "score"]


def _header(predictions: Predictions) -> list[str]:
    columns = ["frame"] + (["image"] if predictions.image_names is not None else [])
    if predictions.has_instances:
        columns += _INSTANCE_COLUMNS
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
    if predictions.has_instances:
        return _save_instances_csv(path, predictions)
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


def _cells(values: np.ndarray, formats: list[str]) -> list[str]:
    return ["" if not np.isfinite(v) else f % v for v, f in zip(values, formats, strict=True)]


def _save_instances_csv(path: str | os.PathLike, predictions: Predictions) -> Path:
    n, a, k = predictions.keypoints.shape[:3]
    formats = ["%.3f", "%.3f", "%.4f"] * k
    values = predictions.keypoints.reshape(n, a, k * 3).astype(np.float64)
    ids = predictions.track_ids if predictions.track_ids is not None else np.full((n, a), -1)
    names = predictions.track_names or []
    scores = predictions.instance_scores
    assert scores is not None
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(_header(predictions))
        for i, frame in enumerate(predictions.frame_indices.tolist()):
            prefix = [str(frame)]
            if predictions.image_names is not None:
                prefix.append(predictions.image_names[i])
            for j in range(a):
                track = int(ids[i, j])
                row = [*prefix, str(j), str(track), names[track] if track >= 0 else ""]
                row += _cells(scores[i, j : j + 1].astype(np.float64), ["%.4f"])
                row += _cells(values[i, j], formats)
                if predictions.flags is not None:
                    row += [str(int(v)) for v in predictions.flags[i, j]]
                writer.writerow(row)
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
    first = 2 if has_image else 1
    multi = header[first : first + len(_INSTANCE_COLUMNS)] == _INSTANCE_COLUMNS
    columns = header[first + (len(_INSTANCE_COLUMNS) if multi else 0) :]
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
    if multi:
        return _load_instances_csv(path, header, has_image, names, n_flags, hint)
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


def _number(cell: str) -> float:
    return float(cell) if cell.strip() else np.nan


def _load_instances_csv(
    path: Path, header: list[str], has_image: bool, names: list[str], n_flags: int, hint: str
) -> Predictions:
    """Read the several-animals table: rows of one frame are consecutive, by instance."""
    if n_flags and n_flags != len(names):
        raise DpkError(f"{path}: {n_flags} flag columns for {len(names)} keypoints; {hint}")
    first = (2 if has_image else 1) + len(_INSTANCE_COLUMNS)
    frames: list[int] = []
    images: list[str] = []
    by_frame: list[list[tuple[int, int, float, list[float], list[int]]]] = []
    track_names: dict[int, str] = {}
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
                frame = int(record[0])
                instance, track = int(record[first - 4]), int(record[first - 3])
                score = _number(record[first - 1])
                cells = record[first:]
                flags = [int(c) for c in cells[len(cells) - n_flags :]] if n_flags else []
                values = [_number(c) for c in cells[: len(cells) - n_flags]]
            except ValueError as error:
                raise DpkError(f"{path}: line {line}: {error}") from None
            if track >= 0:
                track_names.setdefault(track, record[first - 2])
            if instance == 0:
                frames.append(frame)
                by_frame.append([])
                if has_image:
                    images.append(record[1])
            if not by_frame or frames[-1] != frame or instance != len(by_frame[-1]):
                raise DpkError(
                    f"{path}: line {line}: instance {instance} of frame {frame} is out of "
                    f"order; each frame's rows must be instances 0, 1, ...; {hint}"
                )
            by_frame[-1].append((instance, track, score, values, flags))
    a = max((len(rows) for rows in by_frame), default=0)
    if any(len(rows) != a for rows in by_frame):
        raise DpkError(f"{path}: frames have different numbers of instance rows; {hint}")
    n, k = len(frames), len(names)
    keypoints = np.full((n, a, k, 3), np.nan, np.float32)
    ids = np.full((n, a), -1, np.int64)
    scores = np.full((n, a), np.nan, np.float32)
    flag_array = np.zeros((n, a, k), np.uint8) if n_flags else None
    for i, rows in enumerate(by_frame):
        for j, track, score, values, flags in rows:
            keypoints[i, j] = np.asarray(values, np.float32).reshape(k, 3)
            ids[i, j], scores[i, j] = track, score
            if flag_array is not None:
                flag_array[i, j] = flags
    n_tracks = max(track_names, default=-1) + 1
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.asarray(frames, np.int64),
        skeleton=Skeleton.from_names(names),
        image_names=images if has_image else None,
        flags=flag_array,
        track_ids=ids,
        instance_scores=scores,
        track_names=[track_names.get(t, default_track_name(t)) for t in range(n_tracks)],
    )
