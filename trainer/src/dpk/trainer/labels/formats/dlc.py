"""DeepLabCut labels: labelled frames from a project or a CollectedData table.

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

Multi-animal DeepLabCut labels (a project with ``multianimalproject: true``, or tables with
an ``individuals`` header row) hold several animals per image, so they are not
single-animal :class:`~dpk.trainer.labels.Labels`: :func:`load_dlc` refuses them with a
message, and :func:`load_dlc_instances` reads them into the structure the SLEAP path uses,
one :class:`~dpk.trainer.labels.formats.sleap.SleapLabels` per image folder (one DeepLabCut
video): each image is a frame, each individual an instance whose track name is the
individual's name. From there ``dpk train`` cuts crops (``data.crop``) or builds anchor
targets (``targets.anchor``) exactly as from a ``.slp``. Decisions:

- Frame index = the number in the image's file name (``img0123.png`` is frame 123, as for
  single-animal labels); when the names of one folder give no numbers or repeat one, the
  image's position among the folder's labelled images. The folder is the video's
  ``video_path`` (and its key); ``image_files[i]`` is the image of frame ``i``.
- An individual with no labelled keypoint in an image is not an instance of that image
  (no crop, no anchor, no NaN loss); images with no labelled individual are left out (as
  DeepLabCut does: they are extracted frames nobody labelled). An individual named in the
  table (or config) with no labelled keypoint anywhere gives a warning and nothing else.
- Every individual must have the same body parts (DeepLabCut's ``multianimalbodyparts``,
  in config order for a project, else in the first individual's column order); a table
  whose individuals have different body parts is an error naming the file.
- Unique body parts (``uniquebodyparts``, under the individual ``single``) are left out
  with a warning. They mark things that belong to no animal (a feeder, an arena corner, a
  reward port) and there is at most one of each per image, so they have no place in a
  model that sees one animal per crop, nor in an anchor model that finds animals; a
  DeepLabCut user keeps their animal keypoints and gets their pose model, instead of an
  error about keypoints the model could never predict. Naming a unique body part among
  the keypoints to train (the spec's skeleton) is an error that says so; train a
  single-animal model on whole frames from a single-animal table to learn them.

Predictions (DeepLabCut's analysis output) live in
:mod:`dpk.runtime.formats.dlc_predictions`; the table parsers in
:mod:`dpk.runtime.formats.dlc_table`.
"""

from __future__ import annotations

import re
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import yaml

from dpk.runtime.formats import hdf5_kind
from dpk.runtime.formats.dlc_table import (
    MULTI_ANIMAL_HINT,
    SINGLE,
    DlcTable,
    common_bodyparts,
    is_multi_animal_table,
    read_dlc_csv_table,
    read_dlc_h5_table,
    read_dlc_table,
)
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton
from dpk.trainer.labels import Labels, LabelsError
from dpk.trainer.labels.formats.sleap import SleapLabels

__all__ = [
    "DlcTable",
    "detect",
    "is_dlc_path",
    "is_multi_animal_dlc",
    "load_dlc",
    "load_dlc_instances",
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


def _read_project_table(path: Path, *, multi_animal: bool = False) -> DlcTable:
    try:
        return read_dlc_table(path, multi_animal=multi_animal)
    except DpkError as error:
        csv_path = path.with_suffix(".csv")
        if path.suffix == ".h5" and "PyTables" in str(error) and csv_path.is_file():
            warnings.warn(f"{error}; reading {csv_path.name} instead", stacklevel=3)
            return read_dlc_csv_table(csv_path, multi_animal=multi_animal)
        raise


def _project_tables(folder: Path, cfg: dict) -> list[Path]:
    """The labels table of every ``labeled-data/<video>`` folder of a project.

    Raises:
        DpkError: No table at all (names the project folder).
    """
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
    return tables


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
    tables = _project_tables(folder, cfg)
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


def detect(path: Path) -> bool:
    """A DeepLabCut project or table (an ``.h5`` by its pandas content, never its name)."""
    if path.is_file() and path.suffix.lower() in (".h5", ".hdf5"):
        return hdf5_kind(path) == "dlc_table"
    return is_dlc_path(path)


def _table_project(table: Path, project_dir: str | Path | None) -> Path | None:
    """The folder a table's image paths are relative to: ``project_dir`` when given, else
    the project of a ``labeled-data/<video>/`` table, else None (the table's folder)."""
    if project_dir is not None:
        return Path(project_dir)
    if table.parent.parent.name == "labeled-data":
        return table.parent.parent.parent
    return None


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
    labels, _ = _labels_from_table(
        table,
        project_dir=_table_project(path, project_dir),
        bodyparts=None,
        skeleton=None,
        channels=channels,
    )
    return labels


# --------------------------------------------------------------------------- multi-animal
def _is_multi_config(cfg: dict) -> bool:
    return bool(cfg.get("multianimalproject")) or cfg.get("bodyparts") == "MULTI!"


def is_multi_animal_dlc(path: str | Path) -> bool:
    """Whether ``path`` holds multi-animal DeepLabCut labels: a project (folder or
    ``config.yaml``) with ``multianimalproject: true``, or a table with an ``individuals``
    header row (never raises: False for anything unreadable)."""
    path = Path(path)
    if path.is_dir() or path.name == "config.yaml":
        config = path / "config.yaml" if path.is_dir() else path
        try:
            return _is_multi_config(_read_config(config))
        except DpkError:
            return False
    return path.is_file() and is_multi_animal_table(path)


def _names_list(cfg: dict, key: str, config: Path) -> list[str]:
    value = cfg.get(key) or []
    if not isinstance(value, list):
        raise LabelsError(f"{config}: '{key}' must be a list of names, not {value!r}")
    return [str(v) for v in value]


@dataclass
class _Animals:
    """The keypoints of a multi-animal table, by individual.

    Attributes:
        names: The individuals (``single`` excluded), in column order.
        bodyparts: The body parts of every individual, in the order used.
        values: float32 (N, A, K, 2) x, y; NaN = missing.
        unique: The unique body parts (those of ``single``).
    """

    names: list[str]
    bodyparts: list[str]
    values: np.ndarray
    unique: list[str]


def _parts_of(table: DlcTable, individual: str) -> list[str]:
    assert table.individuals is not None
    return [b for i, b in zip(table.individuals, table.bodyparts, strict=True) if i == individual]


def _animals(table: DlcTable, bodyparts: Sequence[str] | None, unique: Sequence[str]) -> _Animals:
    """Split a multi-animal table into individuals (see the module notes for the rules)."""
    source = str(table.path)
    assert table.individuals is not None
    names = list(dict.fromkeys(i for i in table.individuals if i != SINGLE))
    if not names:
        raise LabelsError(
            f"{source}: only the individual 'single' (unique body parts) has columns; a "
            "per-animal model needs the animals' body parts (multianimalbodyparts)"
        )
    parts = common_bodyparts(
        str(table.path), {name: _parts_of(table, name) for name in names}, LabelsError
    )
    wanted = list(bodyparts) if bodyparts is not None else parts
    unknown = [b for b in parts if b not in wanted]
    if unknown:
        listed = " (listed there as uniquebodyparts)" if set(unknown) & set(unique) else ""
        raise LabelsError(
            f"{source}: individuals have body part(s) {', '.join(map(repr, unknown))} that "
            f"config.yaml's multianimalbodyparts ({', '.join(wanted)}) lacks{listed}; add "
            "them to multianimalbodyparts"
        )
    absent = [b for b in wanted if b not in parts]
    if absent:
        warnings.warn(
            f"{source}: no columns for {', '.join(absent)}; they are missing in these frames",
            stacklevel=4,
        )
    column = {(i, b): k for k, (i, b) in enumerate(zip(table.individuals, table.bodyparts))}
    values = np.full((len(table.index), len(names), len(wanted), 2), np.nan, np.float32)
    for a, name in enumerate(names):
        for k, part in enumerate(wanted):
            if (name, part) in column:
                values[:, a, k] = table.values[:, column[(name, part)], :2]
    return _Animals(names, wanted, values, _parts_of(table, SINGLE))


def _frame_numbers(entries: Sequence[str]) -> list[int]:
    """Frame index of each image of one folder (see the module notes)."""
    numbers = [_frame_number(e, -1) for e in entries]
    if min(numbers, default=0) < 0 or len(set(numbers)) != len(numbers):
        return list(range(len(entries)))
    return numbers


def _resolve_images(
    table: DlcTable, rows: Sequence[int], project_dir: Path | None
) -> dict[int, Path]:
    """The image file of each row, or a one-line error listing the missing ones."""
    found: dict[int, Path] = {}
    missing: list[str] = []
    for row in rows:
        entry = table.index[row]
        path, tried = _find_image(entry, table.path.parent, project_dir)
        if path is None:
            missing.append(f"{entry} (looked for {', '.join(str(t) for t in tried)})")
        else:
            found[row] = path
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise LabelsError(
            f"{table.path}: {len(missing)} of {len(rows)} labelled image file(s) not found: "
            f"{'; '.join(missing[:3])}{more}"
        )
    return found


def _folder_labels(
    table: DlcTable,
    animals: _Animals,
    skeleton: Skeleton,
    folder: Path,
    images: dict[int, Path],
) -> SleapLabels:
    """The labelled images of one folder as one image-sequence video."""
    rows = list(images)
    numbers = _frame_numbers([table.index[r] for r in rows])
    files: list[Path] = [folder] * (max(numbers) + 1)  # frames nobody extracted: never read
    instances: dict[int, np.ndarray] = {}
    tracks: dict[int, list[str | None]] = {}
    for row, number in zip(rows, numbers, strict=True):
        points = animals.values[row]
        present = np.isfinite(points).all(axis=-1).any(axis=-1)
        files[number] = images[row]
        instances[number] = points[present]
        tracks[number] = [n for n, p in zip(animals.names, present, strict=True) if p]
    return SleapLabels(
        path=table.path,
        skeleton=skeleton,
        video_path=folder,
        frame_indices=np.array(sorted(instances), dtype=np.int64),
        instances=instances,
        tracks=tracks,
        track_names=list(animals.names),
        image_files=files,
    )


def _table_instances(
    table: DlcTable,
    *,
    project_dir: Path | None,
    bodyparts: Sequence[str] | None,
    unique: Sequence[str],
    skeleton: Skeleton | None,
) -> tuple[list[SleapLabels], _Animals]:
    """One :class:`SleapLabels` per image folder of a multi-animal table."""
    if not table.is_multi_animal:
        raise LabelsError(
            f"{table.path}: a single-animal table (no 'individuals' header row) in a "
            "multi-animal project; convert it with deeplabcut.convert2_maDLC(config)"
        )
    animals = _animals(table, bodyparts, unique)
    labelled = np.isfinite(animals.values).all(axis=-1).any(axis=-1)  # (N, A)
    rows = [int(r) for r in np.flatnonzero(labelled.any(axis=1))]
    images = _resolve_images(table, rows, project_dir)
    skeleton = skeleton or Skeleton.from_names(animals.bodyparts)
    by_folder: dict[Path, dict[int, Path]] = {}
    for row in rows:
        by_folder.setdefault(images[row].parent, {})[row] = images[row]
    parts = [
        _folder_labels(table, animals, skeleton, folder, found)
        for folder, found in by_folder.items()
    ]
    return parts, animals


def _check_keypoints(
    source: str, keypoints: Sequence[str] | None, bodyparts: Sequence[str], unique: Sequence[str]
) -> None:
    """Refuse unique body parts among the keypoints to train, and warn that they are left out."""
    unique = [u for u in dict.fromkeys(unique) if u not in bodyparts]
    asked = [k for k in keypoints or [] if k in unique]
    if asked:
        raise LabelsError(
            f"{source}: {', '.join(map(repr, asked))} are unique body parts (individual "
            "'single'), not parts of each animal; remove them from the spec's skeleton (a "
            "per-animal model on crops or an anchor model learns the animals' body parts: "
            f"{', '.join(bodyparts)})"
        )
    if unique:
        warnings.warn(
            f"{source}: unique body part(s) {', '.join(unique)} (individual 'single') belong "
            "to no animal; per-animal crops and anchors leave them out",
            stacklevel=3,
        )


def _warn_unlabelled(source: str, names: Sequence[str], labelled: set[str]) -> None:
    never = [n for n in dict.fromkeys(names) if n not in labelled]
    if never:
        warnings.warn(
            f"{source}: individual(s) {', '.join(never)} have no labelled keypoint in any "
            "image; they give no examples",
            stacklevel=3,
        )


def _project_instances(config: Path) -> tuple[list[SleapLabels], list[str], list[str], list[str]]:
    """Every folder of a multi-animal project: (videos, individuals, body parts, unique)."""
    cfg = _read_config(config)
    if not _is_multi_config(cfg):
        raise LabelsError(
            f"{config}: a single-animal DeepLabCut project (no multianimalproject: true); "
            "read it with load_dlc"
        )
    bodyparts = _names_list(cfg, "multianimalbodyparts", config)
    unique = _names_list(cfg, "uniquebodyparts", config)
    if not bodyparts:
        raise LabelsError(f"{config}: 'multianimalbodyparts' must list the animals' body parts")
    pairs = [p for p in cfg.get("skeleton") or [] if not set(map(str, p)) & set(unique)]
    skeleton = skeleton_from_pairs(bodyparts, pairs, source=str(config))
    videos: list[SleapLabels] = []
    names = _names_list(cfg, "individuals", config)
    for path in _project_tables(config.parent, cfg):
        table = _read_project_table(path, multi_animal=True)
        if not table.index:
            continue
        parts, animals = _table_instances(
            table,
            project_dir=config.parent,
            bodyparts=bodyparts,
            unique=unique,
            skeleton=skeleton,
        )
        videos += parts
        names += animals.names
        unique = unique + animals.unique
    return videos, names, bodyparts, unique


def load_dlc_instances(
    path: str | Path,
    *,
    project_dir: str | Path | None = None,
    keypoints: Sequence[str] | None = None,
) -> list[SleapLabels]:
    """Read multi-animal DeepLabCut labels as SLEAP-style instances, one video per folder.

    Args:
        path: A multi-animal project folder or its ``config.yaml``, or one
            ``CollectedData*.csv|.h5`` table with an ``individuals`` header row.
        project_dir: Folder a table's image paths are relative to (see :func:`load_dlc`).
        keypoints: The keypoint names the caller will train (the spec's skeleton), to
            refuse unique body parts among them with a message that says why.

    Returns:
        One :class:`~dpk.trainer.labels.formats.sleap.SleapLabels` per image folder (its
        ``image_files`` are the images, ``frame_indices`` their frame numbers), instances
        of every individual labelled in an image, in column order, tracks named by the
        individuals; frames are decoded only by ``iter_frames``.

    Raises:
        LabelsError: A single-animal project or table, individuals with different body
            parts, unique body parts among ``keypoints``, body parts the config lacks,
            missing images or no labelled image; every message names the file and the fix.
    """
    path = Path(path)
    if path.is_dir() or path.name == "config.yaml":
        config = path / "config.yaml" if path.is_dir() else path
        videos, names, bodyparts, unique = _project_instances(config)
        source = str(config)
    else:
        table = read_dlc_table(path, multi_animal=True)
        if not table.is_multi_animal:
            raise LabelsError(
                f"{path}: a single-animal table (no 'individuals' header row); read it with "
                "load_dlc (dpk train does without data.crop or targets.anchor)"
            )
        videos, animals = _table_instances(
            table,
            project_dir=_table_project(path, project_dir),
            bodyparts=None,
            unique=[],
            skeleton=None,
        )
        names = animals.names
        bodyparts, unique, source = animals.bodyparts, animals.unique, str(path)
    _check_keypoints(source, keypoints, bodyparts, unique)
    _warn_unlabelled(
        source, names, {t for v in videos for ts in v.tracks.values() for t in ts if t}
    )
    if not videos:
        raise LabelsError(
            f"{source}: no labelled frames (no image has a labelled individual; label some "
            "frames in DeepLabCut first)"
        )
    return videos
