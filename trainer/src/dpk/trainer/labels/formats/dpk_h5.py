"""DeepPoseKit's annotation HDF5 file: read and write.

The file DeepPoseKit's ``initialize_dataset`` and annotation GUI use holds four datasets:

- ``images``: uint8 (N, H, W, C);
- ``annotations``: float (N, K, 2), x and y in pixels (centre of the top-left pixel at 0, 0);
- ``annotated``: bool (N, K), True where a person confirmed the keypoint (False where a
  model or the initial guess placed it);
- ``skeleton``: int (K, 2), [parent index, swap index] per keypoint, -1 = none.

The file does not store keypoint names. Give them with a :class:`~dpk.specs.Skeleton` (or
the path of DeepPoseKit's ``skeleton.csv``); otherwise they are ``kp0 .. kp{K-1}``. dpk
also writes the names as the file attribute ``keypoint_names`` (DeepPoseKit ignores it)
and reads them back when present. DeepPoseKit has no marker for a missing keypoint; NaN
values are passed through as missing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.formats import hdf5_kind
from dpk.runtime.formats.hdf5 import open_hdf5
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import AsymmetricSwapPolicy, Skeleton
from dpk.trainer.labels import Labels

__all__ = [
    "detect",
    "is_dpk_h5",
    "load_dpk_h5",
    "save_dpk_h5",
    "skeleton_table",
    "stored_keypoint_names",
]

NAMES_ATTRIBUTE = "keypoint_names"
REQUIRED = ("images", "annotations")


def is_dpk_h5(path: str | Path) -> bool:
    """Whether ``path`` is an HDF5 file with an ``annotations`` dataset (never raises)."""
    try:
        with h5py.File(path, "r") as f:
            return isinstance(f.get("annotations"), h5py.Dataset)
    except (OSError, ValueError):
        return False


def detect(path: Path) -> bool:
    """An HDF5 file holding a DeepPoseKit annotation set (told by content)."""
    return (
        path.is_file()
        and path.suffix.lower() in (".h5", ".hdf5")
        and hdf5_kind(path) == "dpk_annotations"
    )


def skeleton_table(skeleton: Skeleton) -> np.ndarray:
    """DeepPoseKit's int32 (K, 2) [parent index, swap index] table of a skeleton (-1 = none)."""
    return np.stack(
        [
            np.asarray(skeleton.parent_indices, dtype=np.int32),
            np.asarray(skeleton.swap_indices, dtype=np.int32),
        ],
        axis=1,
    ).reshape(-1, 2)


def _skeleton_from_table(
    table: np.ndarray, names: list[str], source: str, policy: AsymmetricSwapPolicy
) -> Skeleton:
    k = len(names)

    def name_at(index: int) -> str | None:
        return names[index] if 0 <= index < k else None

    parents = [name_at(int(p)) for p in table[:, 0]]
    swaps = [name_at(int(s)) for s in table[:, 1]]
    return Skeleton.from_lists(
        names,
        parents,
        swaps,
        on_asymmetric_swap=policy,
        label=lambda i: f"skeleton row {i} ({names[i]})",
        source=f"{source} (dataset 'skeleton')",
    )


def _compare_skeletons(given: Skeleton, table: np.ndarray, source: str) -> None:
    """Parents must agree with the file; differing swaps are reported as a warning."""
    names = given.names
    file_parents, file_swaps = table[:, 0].tolist(), table[:, 1].tolist()

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else "(none)"

    parent_rows = [
        f"{names[i]}: file says {name(p)}, skeleton says {name(q)}"
        for i, (p, q) in enumerate(zip(file_parents, given.parent_indices, strict=True))
        if p != q
    ]
    if parent_rows:
        raise DpkError(
            f"{source}: the given skeleton does not match the file's 'skeleton' dataset "
            f"(parents differ at {len(parent_rows)} keypoint(s): {'; '.join(parent_rows[:5])}). "
            "Check that the skeleton belongs to this file and lists keypoints in the same order"
        )
    swap_rows = [
        f"{names[i]}: file says {name(s)}, skeleton says {name(t)}"
        for i, (s, t) in enumerate(zip(file_swaps, given.swap_indices, strict=True))
        if s != t
    ]
    if swap_rows:
        warnings.warn(
            f"{source}: the file's 'skeleton' dataset swaps differ from the given skeleton "
            f"({'; '.join(swap_rows)}); using the given skeleton's swaps",
            stacklevel=3,
        )


def _resolve_skeleton(
    skeleton: Skeleton | str | Path | None,
    policy: AsymmetricSwapPolicy,
) -> Skeleton | None:
    if skeleton is None or isinstance(skeleton, Skeleton):
        return skeleton
    return Skeleton.from_csv(skeleton, on_asymmetric_swap=policy)


def stored_keypoint_names(path: str | Path) -> list[str] | None:
    """Keypoint names dpk stored in the file (attribute ``keypoint_names``), or None."""
    try:
        with h5py.File(path, "r") as f:
            return _read_names(f)
    except (OSError, ValueError):
        return None


def _read_names(f: h5py.File) -> list[str] | None:
    raw = f.attrs.get(NAMES_ATTRIBUTE)
    if raw is None:
        return None
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(raw).reshape(-1)]


def load_dpk_h5(
    path: str | Path,
    skeleton: Skeleton | str | Path | None = None,
    *,
    on_asymmetric_swap: AsymmetricSwapPolicy = "error",
) -> Labels:
    """Read a DeepPoseKit annotation file.

    Args:
        path: The ``.h5`` file.
        skeleton: Keypoint names (and parents and swaps) for the file's keypoints, in the
            file's order: a :class:`~dpk.specs.Skeleton` or the path of a DeepPoseKit
            ``skeleton.csv``. Its parents must match the file's ``skeleton`` dataset;
            differing swaps give a warning and the given skeleton wins. None: names
            stored by dpk, else ``kp0 .. kp{K-1}``, with the file's parents and swaps.
        on_asymmetric_swap: What to do with swaps that are not mutual, in the CSV given as
            ``skeleton`` or in the file's ``skeleton`` dataset: ``error``, ``repair`` or
            ``accept`` (see :data:`dpk.specs.AsymmetricSwapPolicy`).

    Returns:
        The labels; ``sources`` are ``"<file>#image=<i>"`` and ``frame_indices`` 0..N-1.

    Raises:
        DpkError: The file is missing, not HDF5 (or truncated), lacks a dataset, has
            inconsistent shapes, a skeleton that does not fit, or keypoints outside the
            images. The message names the file.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DpkError(f"{source}: file not found")
    given = _resolve_skeleton(skeleton, on_asymmetric_swap)
    f = open_hdf5(
        path,
        "not a readable HDF5 file ({error}); the file may be truncated or still being written",
    )
    with f:
        missing = [name for name in REQUIRED if not isinstance(f.get(name), h5py.Dataset)]
        if missing:
            raise DpkError(
                f"{source}: not a DeepPoseKit annotation file: no dataset "
                f"{', '.join(map(repr, missing))} (found: {', '.join(f.keys()) or 'nothing'})"
            )
        try:
            images = f["images"][()]
            annotations = f["annotations"][()]
            annotated = f["annotated"][()] if "annotated" in f else None
            table = f["skeleton"][()] if "skeleton" in f else None
        except (OSError, KeyError, ValueError) as error:
            raise DpkError(
                f"{source}: cannot read the datasets ({error}); the file may be damaged"
            ) from None
        stored_names = _read_names(f)
    if images.dtype != np.uint8:
        raise DpkError(f"{source}: dataset 'images' must be uint8, not {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DpkError(
            f"{source}: dataset 'images' must have shape (N, H, W, 1 or 3), got {images.shape}"
        )
    n = images.shape[0]
    if annotations.ndim != 3 or annotations.shape[0] != n or annotations.shape[2] != 2:
        raise DpkError(
            f"{source}: dataset 'annotations' must have shape ({n}, K, 2) for {n} images, "
            f"got {annotations.shape}"
        )
    if not np.issubdtype(annotations.dtype, np.number):
        raise DpkError(f"{source}: dataset 'annotations' must be numbers, not {annotations.dtype}")
    k = annotations.shape[1]
    if annotated is not None and annotated.shape != (n, k):
        raise DpkError(
            f"{source}: dataset 'annotated' must have shape ({n}, {k}), got {annotated.shape}"
        )
    if table is not None and (table.shape != (k, 2) or not np.issubdtype(table.dtype, np.integer)):
        raise DpkError(
            f"{source}: dataset 'skeleton' must be integers of shape ({k}, 2), "
            f"got {table.dtype} {table.shape}"
        )
    if given is not None:
        if given.n_keypoints != k:
            raise DpkError(
                f"{source}: the file has {k} keypoints but the given skeleton has "
                f"{given.n_keypoints} ({', '.join(given.names[:5])}...)"
            )
        if table is not None:
            _compare_skeletons(given, table, source)
        labels_skeleton = given
    else:
        names = stored_names if stored_names and len(stored_names) == k else None
        names = names or [f"kp{i}" for i in range(k)]
        if table is None:
            labels_skeleton = Skeleton.from_names(names)
        else:
            labels_skeleton = _skeleton_from_table(table, names, source, on_asymmetric_swap)
    labels = Labels(
        images=images,
        keypoints=annotations.astype(np.float32),
        skeleton=labels_skeleton,
        sources=[f"{source}#image={i}" for i in range(n)],
        frame_indices=np.arange(n, dtype=np.int64),
        annotated=None if annotated is None else annotated.astype(bool),
        origin=source,
    )
    labels.check_inside()
    return labels


def save_dpk_h5(path: str | Path, labels: Labels, *, compression: str | None = None) -> None:
    """Write labels as a DeepPoseKit annotation file (atomically: temporary file, rename).

    ``annotated`` is written from the labels' flags, or True where a keypoint is present
    when the labels have none. Keypoint names go in the ``keypoint_names`` attribute.

    Args:
        path: The ``.h5`` file to write (replaced if it exists; its folder must exist).
        labels: The labels.
        compression: HDF5 compression of the images (``"gzip"``, ``"lzf"`` or None).
    """
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("images", data=labels.images, compression=compression)
        f.create_dataset("annotations", data=labels.keypoints.astype(np.float64))
        f.create_dataset("annotated", data=labels.annotated_or_labelled().astype(bool))
        f.create_dataset("skeleton", data=skeleton_table(labels.skeleton))
        f.attrs[NAMES_ATTRIBUTE] = np.array(labels.names, dtype=h5py.string_dtype())
