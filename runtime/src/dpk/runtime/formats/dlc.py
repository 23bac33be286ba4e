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

Predictions (DeepLabCut's analysis output) live in
:mod:`dpk.runtime.formats.dlc_predictions`; the table parsers in
:mod:`dpk.runtime.formats.dlc_table`.
"""

from __future__ import annotations

import re
import warnings
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml

from dpk.runtime.formats.dlc_table import (
    MULTI_ANIMAL_HINT,
    DlcTable,
    read_dlc_csv_table,
    read_dlc_h5_table,
    read_dlc_table,
)
from dpk.runtime.labels import Labels
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = [
    "DlcTable",
    "is_dlc_path",
    "load_dlc",
    "load_dlc_project",
    "read_dlc_csv_table",
    "read_dlc_h5_table",
    "read_dlc_table",
    "skeleton_from_pairs",
]

Channels = Literal["auto", 1, 3]


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
