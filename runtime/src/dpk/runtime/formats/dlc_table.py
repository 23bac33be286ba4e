"""DeepLabCut tables: the CSV with three header rows and the pandas HDF5, read without pandas.

A DeepLabCut table has one row per image or frame and three column header levels
(``scorer``, ``bodyparts``, ``coords``). Labelled data (``CollectedData_*``) has ``x`` and
``y`` per keypoint; analysis output also has ``likelihood``. The first column (or, since
DeepLabCut 2.3, the first three: ``labeled-data``, video, file name) is the index. The
HDF5 version is pandas' ``to_hdf`` "fixed" layout (key ``df_with_missing``), read here
with h5py alone; pandas' "table" layout is read with pandas when it is installed.

Multi-animal tables have a fourth header level, ``individuals``, between ``scorer`` and
``bodyparts`` (DeepLabCut's level names, in this order, in the CSV's first column and in
the HDF5 file's level names); the animal-independent ``uniquebodyparts`` sit under an
individual named ``single``. They are read only when asked for (``multi_animal=True``,
as :func:`dpk.trainer.labels.formats.dlc.load_dlc_instances` and
:func:`dpk.runtime.formats.dlc_predictions.load_predictions_dlc` do); every other reader
refuses them with :data:`MULTI_ANIMAL_HINT`. Each keypoint column of such a table is one
(individual, bodypart) pair: :attr:`DlcTable.individuals` runs beside
:attr:`DlcTable.bodyparts`, and :func:`split_individuals` gives one block per individual.
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
    "MULTI_LEVELS",
    "SINGLE",
    "DlcTable",
    "Individuals",
    "common_bodyparts",
    "is_multi_animal_table",
    "read_dlc_csv_table",
    "read_dlc_h5_table",
    "read_dlc_table",
    "split_individuals",
]

COORDS = ("x", "y", "likelihood")
MULTI_ANIMAL_HINT = (
    "a multi-animal DeepLabCut table (an 'individuals' header row), but this reader takes "
    "one animal per row; to train on it, set data.crop (a pose model on crops around each "
    "animal) or targets.anchor (an anchor model) in the spec, or read it with "
    "dpk.trainer.labels.formats.dlc.load_dlc_instances"
)
SINGLE = "single"
"""The individual DeepLabCut files its ``uniquebodyparts`` under."""
MULTI_LEVELS = ("scorer", "individuals", "bodyparts", "coords")
"""The column levels of a multi-animal table, in DeepLabCut's order."""


@dataclass
class DlcTable:
    """One DeepLabCut table: an index column, keypoints and their coordinates.

    Attributes:
        path: The file it was read from.
        index: One entry per row: the image path (parts joined with ``/``) or frame number.
        scorer: The scorer named in the header.
        bodyparts: Keypoint names in column order.
        values: float64 (N, K, 2) x, y, or (N, K, 3) x, y, likelihood; NaN = missing.
        individuals: For a multi-animal table, the individual of each keypoint column
            (``bodyparts[k]`` of ``individuals[k]``; ``single`` for unique body parts);
            None for a single-animal table.
    """

    path: Path
    index: list[str]
    scorer: str
    bodyparts: list[str]
    values: np.ndarray
    individuals: list[str] | None = None

    @property
    def is_multi_animal(self) -> bool:
        """Whether the table has an ``individuals`` level."""
        return self.individuals is not None

    @property
    def has_likelihood(self) -> bool:
        """Whether the table has a likelihood column per keypoint (a prediction table)."""
        return self.values.shape[-1] == 3


# --------------------------------------------------------------------------- tables
Column = tuple[str, str, str, str]
"""(scorer, individual, bodypart, coord) of one column; individual ``""`` when single-animal."""


def _keypoint_name(individual: str, bodypart: str) -> str:
    return f"bodypart {bodypart!r} of individual {individual!r}" if individual else repr(bodypart)


def _keypoint_columns(source: str, columns: list[Column]) -> dict[tuple[str, str, str], int]:
    """Column number of every (individual, bodypart, coord), checked."""
    where: dict[tuple[str, str, str], int] = {}
    for j, (_, individual, bodypart, coord) in enumerate(columns):
        if coord not in COORDS:
            raise DpkError(
                f"{source}: unknown coordinate {coord!r} for bodypart {bodypart!r} in the "
                "'coords' header row (expected x, y or likelihood)"
            )
        if not bodypart:
            raise DpkError(f"{source}: column {j + 1} has no bodypart name in the header")
        if (individual, bodypart, coord) in where:
            raise DpkError(
                f"{source}: {_keypoint_name(individual, bodypart)} has two {coord!r} columns"
            )
        where[(individual, bodypart, coord)] = j
    return where


def _table_from_columns(
    path: Path,
    index: list[str],
    columns: list[Column],
    data: np.ndarray,
    *,
    multi_animal: bool = False,
) -> DlcTable:
    """Assemble a table from (scorer, individual, bodypart, coord) columns and an
    (N, columns) matrix; keypoints in the order of their first column."""
    source = str(path)
    where = _keypoint_columns(source, columns)
    keys = list(dict.fromkeys((i, b) for _, i, b, _ in columns))
    if not keys:
        raise DpkError(f"{source}: the table has no keypoint columns")
    if multi_animal and any(not i for i, _ in keys):
        raise DpkError(f"{source}: a column has no name in the 'individuals' header row")
    incomplete = [
        _keypoint_name(i, b)
        for i, b in keys
        if (i, b, "x") not in where or (i, b, "y") not in where
    ]
    if incomplete:
        raise DpkError(f"{source}: {', '.join(incomplete)} lack(s) an x or y column")
    with_likelihood = [k for k in keys if (*k, "likelihood") in where]
    if with_likelihood and len(with_likelihood) != len(keys):
        raise DpkError(f"{source}: only some bodyparts have a likelihood column")
    coords = COORDS if with_likelihood else COORDS[:2]
    picks = [[where[(i, b, c)] for c in coords] for i, b in keys]
    values = (
        data[:, np.asarray(picks, dtype=np.int64)]
        if len(data)
        else np.zeros((0, len(keys), len(coords)))
    )
    scorers = {scorer for scorer, _, _, _ in columns}
    return DlcTable(
        path=path,
        index=index,
        scorer=sorted(scorers)[0] if len(scorers) == 1 else ",".join(sorted(scorers)),
        bodyparts=[b for _, b in keys],
        values=np.asarray(values, dtype=np.float64),
        individuals=[i for i, _ in keys] if multi_animal else None,
    )


def _parse_number(cell: str, source: str, line: int, column: str) -> float:
    text = cell.strip()
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise DpkError(
            f"{source}: line {line}, column {column}: {cell!r} is not a number; write a "
            "number, or NaN (or nothing) for a missing value"
        ) from None


def _column_label(column: Column) -> str:
    """``bodypart.coord``, or ``individual.bodypart.coord`` in a multi-animal table."""
    return ".".join(part for part in column[1:] if part)


def _csv_rows(path: Path) -> list[list[str]]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DpkError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DpkError(f"{source}: cannot read the file ({error})") from None
    return [row for row in csv.reader(io.StringIO(text))]


def _csv_header(rows: list[list[str]], source: str, multi_animal: bool) -> tuple[str, ...]:
    """The header rows' names (three, or four with ``individuals``), checked."""
    heads = [row[0].strip().lower() if row else "" for row in rows[:4]]
    multi = len(heads) > 1 and heads[1] == "individuals"
    if multi and not multi_animal:
        raise DpkError(f"{source}: {MULTI_ANIMAL_HINT}")
    expected = MULTI_LEVELS if multi else ("scorer", "bodyparts", "coords")
    if len(rows) < len(expected):
        raise DpkError(
            f"{source}: a DeepLabCut CSV starts with {('three', 'four')[len(expected) - 3]} "
            "header rows "
            f"({', '.join(expected)}); the file has {len(rows)} line(s)"
        )
    for number, (head, want) in enumerate(zip(heads, expected, strict=False), start=1):
        if head != want:
            raise DpkError(
                f"{source}: line {number} should start with {want!r} (a DeepLabCut CSV "
                f"has the header rows {', '.join(expected)}), found {rows[number - 1][:1]}"
            )
    widths = [len(row) for row in rows[: len(expected)]]
    if len(set(widths)) > 1:
        raise DpkError(
            f"{source}: the header rows have {', '.join(map(str, widths))} cells; they must "
            "have the same number"
        )
    return expected


def read_dlc_csv_table(path: str | Path, *, multi_animal: bool = False) -> DlcTable:
    """Read a DeepLabCut CSV (labels or predictions) without its images.

    Args:
        path: The ``.csv`` file.
        multi_animal: Read a multi-animal table (an ``individuals`` header row) instead of
            refusing it.

    Raises:
        DpkError: Wrong header rows, cells that are not numbers, rows of the wrong length
            or (unless ``multi_animal``) a multi-animal file; the message names the file
            and line.
    """
    path = Path(path)
    source = str(path)
    rows = _csv_rows(path)
    levels = _csv_header(rows, source, multi_animal)
    n_head = len(levels)
    width = len(rows[n_head - 1])
    n_index = 1
    while n_index < width and rows[n_head - 1][n_index].strip() == "":
        n_index += 1
    columns: list[Column] = [
        (
            rows[0][j].strip(),
            rows[1][j].strip() if n_head == 4 else "",
            rows[n_head - 2][j].strip(),
            rows[n_head - 1][j].strip().lower(),
        )
        for j in range(n_index, width)
    ]
    index: list[str] = []
    data: list[list[float]] = []
    for number, row in enumerate(rows[n_head:], start=n_head + 1):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise DpkError(
                f"{source}: line {number} has {len(row)} cells but the header has {width}"
            )
        index.append("/".join(c.strip().replace("\\", "/") for c in row[:n_index] if c.strip()))
        data.append(
            [
                _parse_number(row[j], source, number, _column_label(columns[j - n_index]))
                for j in range(n_index, width)
            ]
        )
    matrix = np.asarray(data, dtype=np.float64).reshape(len(data), len(columns))
    return _table_from_columns(path, index, columns, matrix, multi_animal=n_head == 4)


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


def _level_names(group: h5py.Group, n_levels: int) -> list[str | None]:
    """The stored names of the column levels (None where pandas stored no name)."""
    names: list[str | None] = []
    for level in range(n_levels):
        node = group.get(f"axis0_level{level}")
        name = _attr_text(node.attrs.get("name", b"N.")) if node is not None else "N."
        names.append(None if name == "N." else name)
    return names


def _named_columns(
    columns: list[tuple], names: list[str | None], source: str, multi_animal: bool
) -> list[Column]:
    """Columns of three levels (scorer, bodyparts, coords) or, multi-animal, four
    (scorer, individuals, bodyparts, coords), as :data:`Column` tuples."""
    n_levels = len(names)
    if n_levels == 4 and not multi_animal:
        raise DpkError(f"{source}: {MULTI_ANIMAL_HINT}")
    expected = MULTI_LEVELS if n_levels == 4 else ("scorer", "bodyparts", "coords")
    if n_levels not in (3, 4):
        raise DpkError(
            f"{source}: expected columns with three levels (scorer, bodyparts, coords) or "
            f"four ({', '.join(MULTI_LEVELS)}), found {n_levels}"
        )
    wrong = [(n, e) for n, e in zip(names, expected, strict=True) if n is not None and n != e]
    if wrong:
        raise DpkError(
            f"{source}: the column levels are named {', '.join(str(n) for n in names)}; a "
            f"DeepLabCut table has {', '.join(expected)}"
        )
    if n_levels == 4:
        return [(str(s), str(i), str(b), str(c).lower()) for s, i, b, c in columns]
    return [(str(s), "", str(b), str(c).lower()) for s, b, c in columns]


def _read_fixed_frame(group: h5py.Group, source: str, multi_animal: bool) -> DlcTable:
    columns = _read_index(group, "axis0", source)
    n_levels = len(columns[0]) if columns else 3
    named = _named_columns(columns, _level_names(group, n_levels), source, multi_animal)
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
    return _table_from_columns(Path(source), index, named, data, multi_animal=n_levels == 4)


def _read_with_pandas(path: Path, key: str, multi_animal: bool) -> DlcTable:
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
    names = [None if n is None else str(n) for n in frame.columns.names]
    columns = _named_columns(list(frame.columns), names, source, multi_animal)
    index = [
        "/".join(str(p).replace("\\", "/") for p in (k if isinstance(k, tuple) else (k,)) if str(p))
        for k in frame.index
    ]
    try:
        data = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        bad = [
            _column_label(c)
            for c, dtype in zip(columns, frame.dtypes, strict=True)
            if dtype.kind not in "fiub"
        ]
        raise DpkError(
            f"{source}: column(s) {', '.join(bad[:4]) or '?'} of the pandas table {key!r} do "
            "not hold numbers; write x, y and likelihood as numbers (NaN for missing)"
        ) from None
    return _table_from_columns(path, index, columns, data, multi_animal=len(names) == 4)


def read_dlc_h5_table(path: str | Path, *, multi_animal: bool = False) -> DlcTable:
    """Read a DeepLabCut HDF5 table (``CollectedData_*.h5`` or an analysis ``.h5``).

    The "fixed" layout (what DeepLabCut writes for labels) is read with h5py alone. The
    "table" layout needs pandas and PyTables; without them the error says what to install.
    The pandas frame under ``df_with_missing`` (DeepLabCut's key) is read, else the first.

    Args:
        path: The ``.h5`` file.
        multi_animal: Read a multi-animal table (an ``individuals`` column level) instead
            of refusing it.

    Raises:
        DpkError: Not HDF5, no pandas frame inside, a multi-animal file (unless
            ``multi_animal``), column levels of other names, or damaged data.
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
                return _read_fixed_frame(f[key], source, multi_animal)
            except (KeyError, ValueError, OSError) as error:
                raise DpkError(
                    f"{source}: cannot read the pandas table {key!r} ({error}); the file may "
                    "be damaged, or use the CollectedData CSV beside it"
                ) from None
    return _read_with_pandas(path, key, multi_animal)


def read_dlc_table(path: str | Path, *, multi_animal: bool = False) -> DlcTable:
    """Read a DeepLabCut table from a ``.csv`` or ``.h5`` file (multi-animal tables only
    with ``multi_animal``; see :func:`read_dlc_csv_table`)."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return read_dlc_h5_table(path, multi_animal=multi_animal)
    return read_dlc_csv_table(path, multi_animal=multi_animal)


# --------------------------------------------------------------------------- individuals
@dataclass
class Individuals:
    """The keypoints of a multi-animal table, one block per individual.

    Attributes:
        names: The individuals, ``single`` left out, in column order.
        bodyparts: The body parts every individual has, in the first one's column order.
        values: float64 (N, A, K, C): ``values[:, a, k]`` is ``bodyparts[k]`` of
            ``names[a]``; C = 2 (x, y) or 3 (x, y, likelihood), as in the table.
        unique: The unique body parts (those of ``single``), in column order.
    """

    names: list[str]
    bodyparts: list[str]
    values: np.ndarray
    unique: list[str]


def common_bodyparts(
    source: str, parts: dict[str, list[str]], error: type[Exception] = DpkError
) -> list[str]:
    """The body parts every individual has (in the first one's order).

    Args:
        source: The table's path, for the message.
        parts: Each individual's body parts, in column order.
        error: The exception class to raise (the labels readers raise ``LabelsError``).

    Raises:
        error: Individuals with different body parts (one line naming the file and the fix).
    """
    names = list(parts)
    first = parts[names[0]]
    differing = [n for n in names[1:] if sorted(parts[n]) != sorted(first)]
    if differing:
        text = "; ".join(f"{n}: {', '.join(parts[n])}" for n in [names[0], *differing])
        raise error(
            f"{source}: individuals have different body parts ({text}); every individual "
            "needs the same body parts (DeepLabCut's multianimalbodyparts): add the missing "
            "columns (empty) or move unique ones under the individual 'single'"
        )
    return first


def split_individuals(table: DlcTable) -> Individuals:
    """Split a multi-animal table into its individuals (``single`` set aside).

    Every individual must have the same body parts (DeepLabCut's
    ``multianimalbodyparts``), in any column order.

    Raises:
        DpkError: A single-animal table, only the individual ``single``, or individuals
            with different body parts; the message names the file and the fix.
    """
    source = str(table.path)
    if table.individuals is None:
        raise DpkError(f"{source}: a single-animal table (no 'individuals' header row)")
    column = {(i, b): k for k, (i, b) in enumerate(zip(table.individuals, table.bodyparts))}
    parts: dict[str, list[str]] = {}
    for individual, bodypart in column:
        parts.setdefault(individual, []).append(bodypart)
    unique = parts.pop(SINGLE, [])
    names = list(parts)
    if not names:
        raise DpkError(
            f"{source}: only the individual 'single' (unique body parts) has columns; the "
            "animals' body parts (multianimalbodyparts) need columns of their own individuals"
        )
    first = common_bodyparts(source, parts)
    picks = np.array([[column[(n, b)] for b in first] for n in names], dtype=np.int64)
    return Individuals(
        names=names, bodyparts=list(first), values=table.values[:, picks], unique=unique
    )


def is_multi_animal_table(path: str | Path) -> bool:
    """Whether a DeepLabCut ``.csv`` or ``.h5`` table has an ``individuals`` level, from its
    header alone (False for anything unreadable: the reader then says what is wrong)."""
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _h5_levels(path) == 4
    try:
        with path.open(encoding="utf-8-sig") as handle:
            handle.readline()
            second = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return second.split(",")[0].strip().lower() == "individuals"


def _h5_levels(path: Path) -> int:
    """The number of column levels of the table in a DeepLabCut HDF5 file (0: unknown)."""
    try:
        with h5py.File(path, "r") as f:
            groups = {
                k: g for k, g in f.items() if isinstance(g, h5py.Group) and "pandas_type" in g.attrs
            }
            if not groups:
                return 0
            key = "df_with_missing" if "df_with_missing" in groups else next(iter(groups))
            group = groups[key]
            if _attr_text(group.attrs.get("pandas_type", b"")) == "frame":
                return int(group.attrs.get("axis0_nlevels", 1))
    except (OSError, ValueError, KeyError):
        return 0
    return _table_layout_levels(path, key)


def _table_layout_levels(path: Path, key: str) -> int:
    """Column levels of a pandas "table" layout frame (read with pandas; 0 without it, or
    when pandas cannot read it: the reader then says why)."""
    try:
        import pandas as pd

        return int(pd.read_hdf(path, key=key, stop=0).columns.nlevels)
    except Exception:  # optional dependency; damaged files raise many kinds
        return 0
