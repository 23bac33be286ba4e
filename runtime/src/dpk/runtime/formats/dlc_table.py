"""DeepLabCut tables: the CSV with three header rows and the pandas HDF5, read without pandas.

A DeepLabCut table has one row per image or frame and three column header levels
(``scorer``, ``bodyparts``, ``coords``). Labelled data (``CollectedData_*``) has ``x`` and
``y`` per keypoint; analysis output also has ``likelihood``. The first column (or, since
DeepLabCut 2.3, the first three: ``labeled-data``, video, file name) is the index. The
HDF5 version is pandas' ``to_hdf`` "fixed" layout, read here with h5py alone.

Multi-animal tables (an ``individuals`` header row) are refused with a message that says
how to convert them.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from dpk.runtime.formats.hdf5 import open_hdf5
from dpk.specs.errors import DpkError

__all__ = [
    "COORDS",
    "MULTI_ANIMAL_HINT",
    "DlcTable",
    "read_dlc_csv_table",
    "read_dlc_h5_table",
    "read_dlc_table",
]

COORDS = ("x", "y", "likelihood")
MULTI_ANIMAL_HINT = (
    "multi-animal DeepLabCut labels (an 'individuals' header row) are not supported; "
    "convert them to SLEAP with sleap-io (sio.save_slp(sio.load_dlc(path), 'labels.slp')) "
    "and train from the .slp with data.crop"
)


@dataclass
class DlcTable:
    """One DeepLabCut table: an index column, keypoints and their coordinates.

    Attributes:
        path: The file it was read from.
        index: One entry per row: the image path (parts joined with ``/``) or frame number.
        scorer: The scorer named in the header.
        bodyparts: Keypoint names in column order.
        values: float64 (N, K, 2) x, y, or (N, K, 3) x, y, likelihood; NaN = missing.
    """

    path: Path
    index: list[str]
    scorer: str
    bodyparts: list[str]
    values: np.ndarray

    @property
    def has_likelihood(self) -> bool:
        """Whether the table has a likelihood column per keypoint (a prediction table)."""
        return self.values.shape[-1] == 3


# --------------------------------------------------------------------------- tables
def _table_from_columns(
    path: Path,
    index: list[str],
    columns: list[tuple[str, str, str]],
    data: np.ndarray,
) -> DlcTable:
    """Assemble a table from (scorer, bodypart, coord) columns and an (N, columns) matrix."""
    source = str(path)
    bodyparts: list[str] = []
    where: dict[tuple[str, str], int] = {}
    scorers = {scorer for scorer, _, _ in columns}
    for j, (_, bodypart, coord) in enumerate(columns):
        if coord not in COORDS:
            raise DpkError(
                f"{source}: unknown coordinate {coord!r} for bodypart {bodypart!r} in the "
                "'coords' header row (expected x, y or likelihood)"
            )
        if not bodypart:
            raise DpkError(f"{source}: column {j + 1} has no bodypart name in the header")
        if (bodypart, coord) in where:
            raise DpkError(f"{source}: bodypart {bodypart!r} has two {coord!r} columns")
        where[(bodypart, coord)] = j
        if bodypart not in bodyparts:
            bodyparts.append(bodypart)
    if not bodyparts:
        raise DpkError(f"{source}: the table has no keypoint columns")
    incomplete = [b for b in bodyparts if (b, "x") not in where or (b, "y") not in where]
    if incomplete:
        raise DpkError(
            f"{source}: bodypart(s) {', '.join(map(repr, incomplete))} lack an x or y column"
        )
    with_likelihood = [b for b in bodyparts if (b, "likelihood") in where]
    if with_likelihood and len(with_likelihood) != len(bodyparts):
        raise DpkError(f"{source}: only some bodyparts have a likelihood column")
    coords = COORDS if with_likelihood else COORDS[:2]
    picks = [[where[(b, c)] for c in coords] for b in bodyparts]
    values = (
        data[:, np.asarray(picks, dtype=np.int64)]
        if len(data)
        else np.zeros((0, len(bodyparts), len(coords)))
    )
    return DlcTable(
        path=path,
        index=index,
        scorer=sorted(scorers)[0] if len(scorers) == 1 else ",".join(sorted(scorers)),
        bodyparts=bodyparts,
        values=np.asarray(values, dtype=np.float64),
    )


def _parse_number(cell: str, source: str, line: int, column: str) -> float:
    text = cell.strip()
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise DpkError(
            f"{source}: line {line}, column {column}: {cell!r} is not a number"
        ) from None


def read_dlc_csv_table(path: str | Path) -> DlcTable:
    """Read a DeepLabCut CSV (labels or predictions) without its images.

    Raises:
        DpkError: Wrong header rows, cells that are not numbers, rows of the wrong length
            or a multi-animal file; the message names the file and line.
    """
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DpkError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DpkError(f"{source}: cannot read the file ({error})") from None
    rows = [row for row in csv.reader(io.StringIO(text))]
    expected = ("scorer", "bodyparts", "coords")
    if len(rows) < 3:
        raise DpkError(
            f"{source}: a DeepLabCut CSV starts with three header rows "
            f"({', '.join(expected)}); the file has {len(rows)} line(s)"
        )
    heads = [row[0].strip().lower() if row else "" for row in rows[:3]]
    if heads[1] == "individuals":
        raise DpkError(f"{source}: {MULTI_ANIMAL_HINT}")
    for number, (head, want) in enumerate(zip(heads, expected, strict=True), start=1):
        if head != want:
            raise DpkError(
                f"{source}: line {number} should start with {want!r} (a DeepLabCut CSV "
                f"has the header rows {', '.join(expected)}), found {rows[number - 1][:1]}"
            )
    width = len(rows[2])
    if len(rows[0]) != width or len(rows[1]) != width:
        raise DpkError(
            f"{source}: the three header rows have {len(rows[0])}, {len(rows[1])} and "
            f"{width} cells; they must have the same number"
        )
    n_index = 1
    while n_index < width and rows[2][n_index].strip() == "":
        n_index += 1
    columns = [
        (rows[0][j].strip(), rows[1][j].strip(), rows[2][j].strip().lower())
        for j in range(n_index, width)
    ]
    index: list[str] = []
    data: list[list[float]] = []
    for number, row in enumerate(rows[3:], start=4):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise DpkError(
                f"{source}: line {number} has {len(row)} cells but the header has {width}"
            )
        index.append("/".join(c.strip().replace("\\", "/") for c in row[:n_index] if c.strip()))
        data.append(
            [
                _parse_number(
                    row[j], source, number, f"{columns[j - n_index][1]}.{columns[j - n_index][2]}"
                )
                for j in range(n_index, width)
            ]
        )
    matrix = np.asarray(data, dtype=np.float64).reshape(len(data), len(columns))
    return _table_from_columns(path, index, columns, matrix)


def _attr_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_text(value[()])
    return str(value)


def _index_values(group: h5py.Group, key: str, source: str) -> list[str]:
    """Values of a pandas fixed-format index node (strings or integers) as text."""
    node = group[key]
    kind = _attr_text(node.attrs.get("kind", b"string"))
    data = node[()]
    if kind == "string":
        encoding = _attr_text(group.attrs.get("encoding", b"UTF-8"))
        return [v.decode(encoding) if isinstance(v, bytes) else str(v) for v in data]
    if kind == "integer":
        return [str(int(v)) for v in data]
    raise DpkError(
        f"{source}: index {key!r} has pandas kind {kind!r}, which dpk cannot read without "
        "pandas; export the labels to CSV"
    )


def _read_index(group: h5py.Group, key: str, source: str) -> list[tuple[str, ...]]:
    variety = _attr_text(group.attrs.get(f"{key}_variety", b"regular"))
    if variety == "regular":
        return [(v,) for v in _index_values(group, key, source)]
    if variety == "multi":
        n_levels = int(group.attrs[f"{key}_nlevels"])
        columns = []
        for level in range(n_levels):
            values = _index_values(group, f"{key}_level{level}", source)
            codes = group[f"{key}_label{level}"][()]
            columns.append([values[c] if c >= 0 else "" for c in codes])
        return list(zip(*columns, strict=True))
    raise DpkError(f"{source}: unknown pandas index variety {variety!r} for {key!r}")


def _read_fixed_frame(group: h5py.Group, source: str) -> DlcTable:
    columns = _read_index(group, "axis0", source)
    if columns and len(columns[0]) == 4:
        raise DpkError(f"{source}: {MULTI_ANIMAL_HINT}")
    if columns and len(columns[0]) != 3:
        raise DpkError(
            f"{source}: expected columns with three levels (scorer, bodyparts, coords), "
            f"found {len(columns[0])}"
        )
    rows = _read_index(group, "axis1", source)
    index = ["/".join(p.replace("\\", "/") for p in parts if p) for parts in rows]
    position = {column: j for j, column in enumerate(columns)}
    data = np.full((len(rows), len(columns)), np.nan)
    for block in range(int(group.attrs.get("nblocks", 0))):
        items = _read_index(group, f"block{block}_items", source)
        node = group[f"block{block}_values"]
        if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "fiu":
            raise DpkError(
                f"{source}: block {block} does not hold numbers; export the labels to CSV"
            )
        values = node[()].astype(np.float64)
        if not bool(node.attrs.get("transposed", False)):
            values = values.T
        if values.shape != (len(rows), len(items)):
            raise DpkError(
                f"{source}: block {block} has shape {values.shape}, expected "
                f"({len(rows)}, {len(items)}); the file may be damaged"
            )
        for j, item in enumerate(items):
            data[:, position[item]] = values[:, j]
    named = [(str(s), str(b), str(c).lower()) for s, b, c in columns]
    return _table_from_columns(Path(source), index, named, data)


def _read_with_pandas(path: Path, key: str) -> DlcTable:
    source = str(path)
    try:
        import pandas as pd  # optional: only for pandas "table" layouts
    except ImportError:
        pd = None
    try:
        if pd is None:
            raise ImportError("pandas")
        frame = pd.read_hdf(path, key=key)
    except ImportError:
        raise DpkError(
            f"{source}: this DeepLabCut HDF5 file uses pandas' 'table' layout, which needs "
            "pandas and PyTables: pip install pandas tables (or use the CollectedData CSV "
            "beside it)"
        ) from None
    if frame.columns.nlevels == 4:
        raise DpkError(f"{source}: {MULTI_ANIMAL_HINT}")
    if frame.columns.nlevels != 3:
        raise DpkError(f"{source}: expected three column levels (scorer, bodyparts, coords)")
    index = [
        "/".join(str(p) for p in (k if isinstance(k, tuple) else (k,)) if str(p))
        for k in frame.index
    ]
    columns = [(str(s), str(b), str(c).lower()) for s, b, c in frame.columns]
    return _table_from_columns(path, index, columns, frame.to_numpy(dtype=np.float64))


def read_dlc_h5_table(path: str | Path) -> DlcTable:
    """Read a DeepLabCut HDF5 table (``CollectedData_*.h5`` or an analysis ``.h5``).

    The "fixed" layout (what DeepLabCut writes for labels) is read with h5py alone. The
    "table" layout needs pandas and PyTables; without them the error says what to install.

    Raises:
        DpkError: Not HDF5, no pandas frame inside, a multi-animal file, or damaged data.
    """
    path = Path(path)
    source = str(path)
    f = open_hdf5(path, "not a readable HDF5 file ({error}); the file may be truncated")
    with f:
        frames = [
            (key, _attr_text(node.attrs.get("pandas_type", b"")))
            for key, node in f.items()
            if isinstance(node, h5py.Group) and "pandas_type" in node.attrs
        ]
        if not frames:
            raise DpkError(
                f"{source}: no pandas table inside (found: {', '.join(f.keys()) or 'nothing'}); "
                "not a DeepLabCut labels file"
            )
        key, kind = next(((k, t) for k, t in frames if k == "df_with_missing"), frames[0])
        if kind == "frame":
            try:
                return _read_fixed_frame(f[key], source)
            except (KeyError, ValueError, OSError) as error:
                raise DpkError(
                    f"{source}: cannot read the pandas table {key!r} ({error}); the file may "
                    "be damaged, or use the CollectedData CSV beside it"
                ) from None
    return _read_with_pandas(path, key)


def read_dlc_table(path: str | Path) -> DlcTable:
    """Read a DeepLabCut table from a ``.csv`` or ``.h5`` file."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return read_dlc_h5_table(path)
    return read_dlc_csv_table(path)
