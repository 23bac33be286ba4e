"""DeepLabCut labels and predictions: read labelled frames, write and read prediction tables.

Three ways DeepLabCut keeps labels are read:

- a bare ``CollectedData*.csv``: three header rows (``scorer``, ``bodyparts``, ``coords``)
  then one row per image; the first column (or, since DeepLabCut 2.3, the first three:
  ``labeled-data``, video, file name) names the image relative to the project folder;
- a ``CollectedData_<scorer>.h5``: the same table stored by pandas (``to_hdf``, "fixed"
  layout), read here with h5py alone, without pandas or PyTables;
- a project folder (or its ``config.yaml``): ``bodyparts`` and ``skeleton`` from the
  config, labels from every ``labeled-data/*/CollectedData_*.h5|.csv``.

Image files are looked up relative to the project folder, the table's folder, and by
file name in the table's folder. Images are decoded with OpenCV; colour images become
RGB (OpenCV decodes BGR). With ``channels="auto"`` the labels are grayscale when every
image is gray (one channel, or three equal channels) and RGB otherwise.

Multi-animal DeepLabCut files (an ``individuals`` header row) are refused with a message:
convert them to SLEAP with sleap-io (``sio.load_dlc(...)`` then ``sio.save_slp(...)``).

Predictions are written in the layout of DeepLabCut's analysis CSV: scorer ``dpk``,
coordinates ``x``, ``y``, ``likelihood`` per keypoint, one row per frame.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import h5py
import numpy as np
import yaml

from dpk.runtime.atomic import atomic_output
from dpk.runtime.labels import Labels
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = [
    "DlcTable",
    "is_dlc_path",
    "load_dlc",
    "load_dlc_project",
    "load_predictions_dlc",
    "read_dlc_csv_table",
    "read_dlc_h5_table",
    "read_dlc_table",
    "save_predictions_dlc",
    "skeleton_from_pairs",
]

Channels = Literal["auto", 1, 3]
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
    if not path.is_file():
        raise DpkError(f"{source}: file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise DpkError(
            f"{source}: not a readable HDF5 file ({error}); the file may be truncated"
        ) from None
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


# --------------------------------------------------------------------------- images
def _find_image(entry: str, table_dir: Path, project_dir: Path | None) -> tuple[Path | None, list]:
    relative = Path(entry)
    candidates = []
    if relative.is_absolute():
        candidates.append(relative)
    else:
        if project_dir is not None:
            candidates.append(project_dir / relative)
        candidates.append(table_dir / relative)
        candidates.append(table_dir / relative.name)
    for candidate in candidates:
        if candidate.is_file():
            return candidate, candidates
    return None, candidates


def _decode(path: Path, source: str) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DpkError(f"{source}: cannot decode image {path} (not an image, or damaged)")
    if image.dtype != np.uint8:
        raise DpkError(
            f"{source}: image {path} has {image.dtype} pixels; dpk reads 8-bit images only"
        )
    if image.ndim == 2:
        return image[..., None]
    if image.shape[-1] == 4:
        image = image[..., :3]
    if image.shape[-1] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape[-1] == 1:
        return image
    raise DpkError(f"{source}: image {path} has {image.shape[-1]} channels")


def _is_gray(image: np.ndarray) -> bool:
    return image.shape[-1] == 1 or (
        np.array_equal(image[..., 0], image[..., 1])
        and np.array_equal(image[..., 1], image[..., 2])
    )


def _to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=-1)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]


def read_images(paths: Sequence[Path], source: str, channels: Channels = "auto") -> np.ndarray:
    """Decode images of one size into uint8 (N, H, W, C) (gray or RGB, see module notes).

    Raises:
        DpkError: An image cannot be decoded, or two images differ in size (both named).
    """
    images = [_decode(p, source) for p in paths]
    if not images:
        raise DpkError(f"{source}: no images to read")
    first_shape = images[0].shape[:2]
    for path, image in zip(paths, images, strict=True):
        if image.shape[:2] != first_shape:
            raise DpkError(
                f"{source}: images of different sizes: {paths[0]} is "
                f"{first_shape[1]}x{first_shape[0]} but {path} is "
                f"{image.shape[1]}x{image.shape[0]} (width x height); all labelled frames "
                "must have one size (crop or resize them, or label them separately)"
            )
    if channels == "auto":
        channels = 1 if all(_is_gray(i) for i in images) else 3
    if channels not in (1, 3):
        raise DpkError(f"channels must be 'auto', 1 or 3, not {channels!r}")
    return np.stack([_to_channels(i, channels) for i in images])


def _frame_number(entry: str, position: int) -> int:
    digits = re.findall(r"\d+", Path(entry).stem)
    return int(digits[-1]) if digits else position


def _labels_from_table(
    table: DlcTable,
    *,
    project_dir: Path | None,
    bodyparts: Sequence[str] | None,
    skeleton: Skeleton | None,
    channels: Channels,
) -> tuple[Labels, list[Path]]:
    source = str(table.path)
    if not table.index:
        raise DpkError(f"{source}: no labelled frames (the table has no rows)")
    names = list(bodyparts) if bodyparts is not None else list(table.bodyparts)
    unknown = [b for b in table.bodyparts if b not in names]
    if unknown:
        raise DpkError(
            f"{source}: unknown keypoint name(s) {', '.join(map(repr, unknown))}: the "
            f"project's config.yaml lists {', '.join(names)}"
        )
    absent = [b for b in names if b not in table.bodyparts]
    if absent:
        warnings.warn(
            f"{source}: no columns for {', '.join(absent)}; they are missing in these frames",
            stacklevel=3,
        )
    keypoints = np.full((len(table.index), len(names), 2), np.nan, dtype=np.float32)
    for k, name in enumerate(names):
        if name in table.bodyparts:
            keypoints[:, k] = table.values[:, table.bodyparts.index(name), :2]
    found: list[Path] = []
    missing: list[str] = []
    for entry in table.index:
        path, tried = _find_image(entry, table.path.parent, project_dir)
        if path is None:
            missing.append(f"{entry} (looked for {', '.join(str(t) for t in tried)})")
        else:
            found.append(path)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DpkError(
            f"{source}: {len(missing)} of {len(table.index)} image file(s) not found: "
            f"{'; '.join(missing[:3])}{more}"
        )
    images = read_images(found, source, channels)
    labels = Labels(
        images=images,
        keypoints=keypoints,
        skeleton=skeleton or Skeleton.from_names(names),
        sources=[str(p) for p in found],
        frame_indices=np.array(
            [_frame_number(e, i) for i, e in enumerate(table.index)], dtype=np.int64
        ),
        origin=source,
    )
    labels.check_inside()
    return labels, found


def skeleton_from_pairs(
    names: Sequence[str], pairs: Sequence[Sequence[str]], *, source: str = ""
) -> Skeleton:
    """A skeleton from DeepLabCut's undirected ``skeleton`` pairs.

    Each connected group of keypoints hangs from its first keypoint in ``names`` order
    (a breadth-first tree); pairs that would close a cycle are dropped with a warning.
    """
    names = list(names)
    where = f"{source}: " if source else ""
    neighbours: dict[str, list[str]] = {n: [] for n in names}
    for pair in pairs or []:
        if len(pair) != 2:
            raise DpkError(f"{where}skeleton entry {pair!r} is not a pair of bodyparts")
        a, b = (str(p) for p in pair)
        for node in (a, b):
            if node not in neighbours:
                raise DpkError(
                    f"{where}skeleton pair {[a, b]} names {node!r}, which is not in bodyparts"
                )
        neighbours[a].append(b)
        neighbours[b].append(a)
    parent: dict[str, str | None] = {}
    used: set[frozenset[str]] = set()
    for root in names:
        if root in parent:
            continue
        parent[root] = None
        queue = deque([root])
        while queue:
            node = queue.popleft()
            for other in neighbours[node]:
                if other not in parent:
                    parent[other] = node
                    used.add(frozenset((node, other)))
                    queue.append(other)
    dropped = {
        frozenset((str(a), str(b)))
        for a, b in (pairs or [])
        if frozenset((str(a), str(b))) not in used and a != b
    }
    if dropped:
        text = ", ".join("-".join(sorted(p)) for p in sorted(dropped, key=sorted))
        warnings.warn(
            f"{where}skeleton pairs {text} close a cycle; dpk's posture graph is a tree, "
            "so they are not used",
            stacklevel=2,
        )
    return Skeleton.from_lists(names, [parent[n] for n in names], [None] * len(names))


# --------------------------------------------------------------------------- labels
def _read_config(config: Path) -> dict:
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DpkError(f"{config}: file not found") from None
    except (OSError, yaml.YAMLError) as error:
        raise DpkError(f"{config}: not a readable YAML file ({error})") from None
    if not isinstance(data, dict):
        raise DpkError(f"{config}: expected a DeepLabCut config (a mapping of settings)")
    return data


def _project_table(folder: Path, scorer: str | None) -> Path | None:
    """The labels table of one ``labeled-data/<video>`` folder (``.h5`` preferred)."""
    tables = sorted(folder.glob("CollectedData_*.h5")) + sorted(folder.glob("CollectedData_*.csv"))
    if scorer:
        own = [t for t in tables if t.stem == f"CollectedData_{scorer}"]
        tables = own or tables
    stems = sorted({t.stem for t in tables})
    if len(stems) > 1:
        raise DpkError(
            f"{folder}: several labels tables ({', '.join(stems)}); keep one, or set "
            "'scorer' in config.yaml to the one to use"
        )
    return tables[0] if tables else None


def _read_project_table(path: Path) -> DlcTable:
    try:
        return read_dlc_table(path)
    except DpkError as error:
        csv_path = path.with_suffix(".csv")
        if path.suffix == ".h5" and "PyTables" in str(error) and csv_path.is_file():
            warnings.warn(f"{error}; reading {csv_path.name} instead", stacklevel=3)
            return read_dlc_csv_table(csv_path)
        raise


def load_dlc_project(project: str | Path, *, channels: Channels = "auto") -> Labels:
    """Read every labelled frame of a DeepLabCut project.

    Args:
        project: The project folder or its ``config.yaml``.
        channels: ``auto`` (gray when every image is gray), 1 or 3.

    Raises:
        DpkError: No config, a multi-animal project, no labelled frames, unknown bodyparts,
            missing image files, mixed image sizes, keypoints outside the images.
    """
    project = Path(project)
    config = project if project.is_file() else project / "config.yaml"
    folder = config.parent
    cfg = _read_config(config)
    bodyparts = cfg.get("bodyparts")
    if bodyparts == "MULTI!" or cfg.get("multianimalproject"):
        raise DpkError(f"{config}: {MULTI_ANIMAL_HINT}")
    if not isinstance(bodyparts, list) or not bodyparts:
        raise DpkError(f"{config}: 'bodyparts' must be a list of keypoint names")
    bodyparts = [str(b) for b in bodyparts]
    skeleton = skeleton_from_pairs(bodyparts, cfg.get("skeleton") or [], source=str(config))
    scorer = str(cfg["scorer"]) if cfg.get("scorer") else None
    labeled = folder / "labeled-data"
    tables = [
        t
        for sub in sorted(p for p in labeled.glob("*") if p.is_dir())
        if (t := _project_table(sub, scorer)) is not None
    ]
    if not tables:
        raise DpkError(
            f"{folder}: no labelled frames: no labeled-data/*/CollectedData_*.h5 or .csv"
        )
    parts = []
    paths: list[Path] = []
    for table_path in tables:
        table = _read_project_table(table_path)
        if not table.index:
            continue
        part, found = _labels_from_table(
            table, project_dir=folder, bodyparts=bodyparts, skeleton=skeleton, channels=3
        )
        parts.append(part)
        paths.extend(found)
    if not parts:
        raise DpkError(f"{folder}: no labelled frames (every CollectedData table is empty)")
    sizes = {p.image_shape[:2]: p for p in parts}
    if len(sizes) > 1:
        (size_a, a), (size_b, b) = list(sizes.items())[:2]
        raise DpkError(
            f"{folder}: images of different sizes: {a.sources[0]} is {size_a[1]}x{size_a[0]} "
            f"but {b.sources[0]} is {size_b[1]}x{size_b[0]} (width x height); all labelled "
            "frames must have one size"
        )
    labels = Labels.concatenate(parts, origin=str(folder))
    wanted = channels
    if wanted == "auto":
        wanted = 1 if all(_is_gray(i) for i in labels.images) else 3
    if wanted != 3:
        labels.images = np.stack([_to_channels(i, int(wanted)) for i in labels.images])
    return labels


def is_dlc_path(path: str | Path) -> bool:
    """Whether ``path`` looks like DeepLabCut labels: a project folder or config, a
    ``CollectedData*`` CSV/HDF5, or a CSV whose first cell is ``scorer`` (never raises)."""
    path = Path(path)
    if path.is_dir():
        return (path / "config.yaml").is_file()
    if path.name == "config.yaml":
        return True
    if path.name.startswith("CollectedData"):
        return path.suffix.lower() in (".csv", ".h5")
    if path.suffix.lower() == ".csv":
        try:
            with path.open(encoding="utf-8-sig") as handle:
                return handle.readline().split(",")[0].strip().lower() == "scorer"
        except (OSError, UnicodeDecodeError):
            return False
    return False


def load_dlc(
    path: str | Path,
    *,
    project_dir: str | Path | None = None,
    channels: Channels = "auto",
) -> Labels:
    """Read DeepLabCut labels from a project folder, its ``config.yaml``, or one table.

    Args:
        path: Project folder, ``config.yaml``, or a ``CollectedData*.csv|.h5``.
        project_dir: Folder the table's image paths are relative to, for a table; by
            default the folder two levels above a ``labeled-data/<video>/`` table, else
            the table's folder (the table's folder is always tried as well).
        channels: ``auto`` (gray when every image is gray), 1 or 3.

    Raises:
        DpkError: See :func:`load_dlc_project` and :func:`read_dlc_table`; every message
            names the file.
    """
    path = Path(path)
    if path.is_dir() or path.name == "config.yaml":
        return load_dlc_project(path, channels=channels)
    table = read_dlc_table(path)
    if project_dir is None and path.parent.parent.name == "labeled-data":
        project_dir = path.parent.parent.parent
    labels, _ = _labels_from_table(
        table,
        project_dir=Path(project_dir) if project_dir is not None else None,
        bodyparts=None,
        skeleton=None,
        channels=channels,
    )
    return labels


# ---------------------------------------------------------------------- predictions
def _cell(value: float) -> str:
    return "" if not math.isfinite(value) else repr(float(value))


def save_predictions_dlc(path: str | Path, predictions: Predictions) -> None:
    """Write predictions as a DeepLabCut analysis CSV (atomically).

    Three header rows (``scorer`` = ``dpk``, ``bodyparts``, ``coords`` = x, y, likelihood),
    then one row per frame: the frame index for video, the image name for images.
    Missing values are empty cells, as DeepLabCut writes them.
    """
    names = predictions.names
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scorer"] + ["dpk"] * (3 * len(names)))
    writer.writerow(["bodyparts"] + [n for n in names for _ in range(3)])
    writer.writerow(["coords"] + list(COORDS) * len(names))
    labels = (
        predictions.image_names
        if predictions.image_names is not None
        else [str(int(i)) for i in predictions.frame_indices]
    )
    for label, row in zip(labels, predictions.keypoints, strict=True):
        writer.writerow([label] + [_cell(v) for v in row.reshape(-1)])
    with atomic_output(path) as tmp:
        Path(tmp).write_text(out.getvalue(), encoding="utf-8")


def load_predictions_dlc(path: str | Path, skeleton: Skeleton | None = None) -> Predictions:
    """Read a DeepLabCut analysis table (CSV or HDF5) as predictions.

    Args:
        path: The ``.csv`` or ``.h5`` file.
        skeleton: Skeleton to attach (its names must match the table's bodyparts, in
            order); default: the bodyparts, without parents or swaps.

    Rows whose index is a number become frame indices; otherwise the index is kept as
    image names. Tables without likelihood get confidence 1 where a keypoint is present.
    """
    table = read_dlc_table(path)
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
