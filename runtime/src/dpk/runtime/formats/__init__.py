"""Prediction formats: one module per format and role, and one registry that drives them.

:data:`FORMATS` lists every prediction format once (name, suffixes, writer, reader,
content check); :func:`save_predictions`, :func:`load_predictions`, :func:`check_output`
and the CLI's ``--format`` choices all come from it. Writers go through a temporary file
and a rename, so a crash never leaves a half-written file that looks complete.

============ ======================= ================================================
format       suffixes                module
============ ======================= ================================================
``csv``      ``.csv``                ``table_csv``: ``frame,NAME_x,NAME_y,NAME_conf``
``h5``       ``.h5``, ``.hdf5``      ``predictions_h5``: keypoints, skeleton, model spec
``slp``      ``.slp``                ``sleap`` (needs ``dpk-runtime[sleap]``)
``nwb``      ``.nwb``                ``nwb``: ndx-pose (needs ``dpk-runtime[sleap]``)
``dlc``      ``.csv``, ``.h5``       ``dlc_predictions``: DeepLabCut analysis table
``coco``     ``.json``               ``coco``: COCO keypoints (``poses.coco.json``)
``analysis`` ``.analysis.h5``, .h5   ``sleap_analysis``: SLEAP analysis HDF5
============ ======================= ================================================

Suffixes are matched on the end of the file name, the longest first, so
``poses.analysis.h5`` is a SLEAP analysis file and ``poses.h5`` dpk's HDF5. A suffix
several formats share is written in the first format listed for it (``.csv``: dpk's
table, ``.h5``: dpk's HDF5; ``--format dlc`` or ``--format analysis`` for the others) and
read by the first whose content check accepts the file (whatever the name: a dpk HDF5
file named ``x.analysis.h5`` is read as dpk's). Every writer takes predictions of several
animals (an instance axis and tracks; see each module and ``docs/topdown.md``).

Label formats (what training and the labelling tools read and write: DeepPoseKit HDF5,
DeepLabCut projects, SLEAP projects, COCO) live with the trainer, in
``dpk.trainer.labels.formats`` (dpk-trainer). What both roles share stays here:
``dlc_table`` (DeepLabCut tables), ``sleap``'s skeleton mapping, ``coco``'s file and
category rules, ``hdf5`` and :func:`hdf5_kind`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpk.runtime.atomic import check_writable
from dpk.runtime.formats.options import WriteOptions
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError

__all__ = [
    "FORMATS",
    "FormatError",
    "PredictionFormat",
    "WriteOptions",
    "check_output",
    "hdf5_kind",
    "load_predictions",
    "prediction_format",
    "save_predictions",
]


@dataclass(frozen=True)
class PredictionFormat:
    """One prediction format: how it is named, recognised, written and read.

    Attributes:
        name: The ``--format`` name.
        suffixes: File endings it writes and reads (the first is the default).
        description: For messages and help.
        module: The module that holds its functions.
        save: Writer ``save(path, predictions[, options])``.
        load: Reader ``load(path) -> Predictions``, if the format is read.
        detect: ``detect(path) -> bool``, for suffixes several formats share; None = any
            file of its suffixes.
        takes_options: Whether the writer takes :class:`WriteOptions`.
        needs: An optional package the format needs (checked before long work).
    """

    name: str
    suffixes: tuple[str, ...]
    description: str
    module: str
    save: str
    load: str | None = None
    detect: str | None = None
    takes_options: bool = False
    needs: str | None = None

    def function(self, role: str) -> Callable[..., Any]:
        """The format's ``save``, ``load`` or ``detect`` function (imported now)."""
        try:
            module = importlib.import_module(self.module)
        except ImportError as error:
            raise FormatError(f"the {self.name!r} format is not available ({error})") from None
        return getattr(module, getattr(self, role))


_FORMAT_LIST = (
    PredictionFormat(
        "csv",
        (".csv",),
        "dpk's CSV table",
        "dpk.runtime.formats.table_csv",
        "save_predictions_csv",
        "load_predictions_csv",
        detect="is_predictions_csv",
    ),
    PredictionFormat(
        "h5",
        (".h5", ".hdf5"),
        "dpk's HDF5",
        "dpk.runtime.formats.predictions_h5",
        "save_predictions_h5",
        "load_predictions_h5",
        detect="is_predictions_h5",
    ),
    PredictionFormat(
        "slp",
        (".slp",),
        "SLEAP .slp",
        "dpk.runtime.formats.sleap",
        "save_predictions_slp",
        "load_predictions_slp",
        takes_options=True,
        needs="sleap_io",
    ),
    PredictionFormat(
        "nwb",
        (".nwb",),
        "NWB (ndx-pose)",
        "dpk.runtime.formats.nwb",
        "save_predictions_nwb",
        "load_predictions_nwb",
        takes_options=True,
        needs="ndx_pose",
    ),
    PredictionFormat(
        "dlc",
        (".csv", ".h5", ".hdf5"),
        "DeepLabCut analysis table",
        "dpk.runtime.formats.dlc_predictions",
        "save_predictions_dlc",
        "load_predictions_dlc",
        detect="is_dlc_predictions",
    ),
    PredictionFormat(
        "coco",
        (".json",),
        "COCO keypoints JSON",
        "dpk.runtime.formats.coco",
        "save_predictions_coco",
        "load_predictions_coco",
        detect="is_coco_json",
        takes_options=True,
    ),
    PredictionFormat(
        "analysis",
        (".analysis.h5", ".h5"),
        "SLEAP analysis HDF5",
        "dpk.runtime.formats.sleap_analysis",
        "save_predictions_analysis",
        "load_predictions_analysis",
        detect="is_sleap_analysis",
    ),
)
FORMATS: dict[str, PredictionFormat] = {f.name: f for f in _FORMAT_LIST}
"""Prediction formats by name, in the order readers try them for a shared suffix."""

_SUFFIX_FORMAT = {
    suffix: f.name for f in reversed(_FORMAT_LIST) for suffix in f.suffixes
}  # the first format that lists a suffix is its default


class FormatError(DpkError):
    """An unknown prediction format, or one whose optional dependency is missing."""


def _ends_with(path: Path, suffix: str) -> bool:
    """Whether the file name ends with ``suffix`` (case-insensitive), more than it."""
    name = path.name.lower()
    return name.endswith(suffix) and len(name) > len(suffix)


def _known_suffix(path: Path) -> str:
    """The longest suffix of :data:`FORMATS` that ends the file name, else its suffix."""
    matches = [s for s in _SUFFIX_FORMAT if _ends_with(path, s)]
    return max(matches, key=len) if matches else path.suffix.lower()


def prediction_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format to write ``path`` in: ``fmt`` when given, else from the suffix.

    Raises:
        FormatError: Unknown format or suffix, or a suffix that contradicts ``fmt``.
    """
    path = Path(path)
    suffix = _known_suffix(path)
    known = ", ".join(FORMATS)
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise FormatError(f"{path}: unknown format {fmt!r}; use one of {known}")
        allowed = FORMATS[fmt].suffixes
        if not any(_ends_with(path, s) for s in allowed):
            raise FormatError(
                f"{path}: format {fmt!r} writes {' or '.join(allowed)} files; rename the output"
            )
        return fmt
    if suffix not in _SUFFIX_FORMAT:
        raise FormatError(
            f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; use "
            f"{', '.join(_SUFFIX_FORMAT)} or give --format ({known})"
        )
    return _SUFFIX_FORMAT[suffix]


def check_output(path: str | os.PathLike, fmt: str | None = None) -> str:
    """Check an output before a long run: known format, its dependency, a writable folder.

    Returns:
        The format that will be written.

    Raises:
        FormatError: Unknown format, or its optional dependency is not installed.
        OutputError: The folder is missing or not writable.
    """
    fmt = prediction_format(path, fmt)
    entry = FORMATS[fmt]
    entry.function("save")
    if entry.needs is not None and importlib.util.find_spec(entry.needs) is None:
        raise FormatError(
            f"{path}: writing {entry.description} needs {entry.needs.replace('_', '-')}; "
            "install it with pip install 'dpk-runtime[sleap]'"
        )
    check_writable(path)
    return fmt


def save_predictions(
    path: str | os.PathLike,
    predictions: Predictions,
    fmt: str | None = None,
    options: WriteOptions | None = None,
) -> Path:
    """Write predictions in the format of ``fmt`` or of the file's suffix (atomically).

    Args:
        path: The output file.
        predictions: What to write.
        fmt: A name of :data:`FORMATS` (default: from the suffix).
        options: NWB metadata, SLEAP visibility threshold (default: the defaults).

    Returns:
        The path written.

    Raises:
        FormatError: Unknown format or missing optional dependency.
        OutputError: The folder is missing or not writable.
    """
    fmt = check_output(path, fmt)
    entry = FORMATS[fmt]
    save = entry.function("save")
    if entry.takes_options:
        save(Path(path), predictions, options or WriteOptions())
    else:
        save(Path(path), predictions)
    return Path(path)


def hdf5_kind(path: str | os.PathLike) -> str:
    """What an HDF5 file holds, from its contents (never from its name).

    Returns:
        ``dpk_predictions`` (written by ``dpk predict``), ``dpk_annotations`` (a
        DeepPoseKit annotation set: ``images`` and ``annotations`` datasets),
        ``dlc_table`` (a DeepLabCut table: a pandas frame), or ``unknown``.

    Raises:
        DpkError: The file is missing or not readable HDF5.
    """
    import h5py

    from dpk.runtime.formats.hdf5 import open_hdf5
    from dpk.runtime.formats.predictions_h5 import is_predictions_h5

    f = open_hdf5(path, "not a readable HDF5 file ({error}); the file may be truncated")
    with f:
        if all(isinstance(f.get(name), h5py.Dataset) for name in ("images", "annotations")):
            return "dpk_annotations"
        if any(isinstance(node, h5py.Group) and "pandas_type" in node.attrs for node in f.values()):
            return "dlc_table"
    return "dpk_predictions" if is_predictions_h5(path) else "unknown"


def _describe_hdf5(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            names = sorted(f.keys())
    except (OSError, ValueError):
        names = []
    return ", ".join(names[:8]) + (" ..." if len(names) > 8 else "") if names else "nothing"


def _not_read(path: Path, suffix: str) -> DpkError:
    """Why no format reads ``path``."""
    if suffix in (".h5", ".hdf5"):
        kind = hdf5_kind(path)
        if kind == "dpk_annotations":
            return DpkError(
                f"{path}: a DeepPoseKit annotation set (labelled frames: 'images', "
                "'annotations'), not predictions; train on it (data.path in a model spec) or "
                "measure a model on it (dpk evaluate RUN --data FILE); give the .h5 or .csv "
                "that dpk predict wrote"
            )
        return DpkError(
            f"{path}: an HDF5 file dpk does not recognise (it holds: {_describe_hdf5(path)}); "
            "dpk reads the .h5 that dpk predict writes, DeepLabCut's pandas tables and SLEAP "
            "analysis files"
        )
    readable = sorted({s for f in _FORMAT_LIST if f.load for s in f.suffixes})
    return DpkError(
        f"{path}: cannot read predictions from {suffix or 'a file without suffix'}; dpk reads "
        f"{', '.join(readable)} ({', '.join(f.description for f in _FORMAT_LIST if f.load)})"
    )


def load_predictions(path: str | os.PathLike) -> Predictions:
    """Read predictions in any format of :data:`FORMATS` that has a reader.

    The formats that share the file's suffix are tried in the order of :data:`FORMATS`;
    the first whose ``detect`` accepts the file (or that has none) reads it.

    Raises:
        DpkError: Missing file or an unsupported format; the message says which are read.
    """
    path = Path(path)
    if not path.is_file():
        raise DpkError(f"{path}: predictions file not found")
    suffix = path.suffix.lower()
    for entry in _FORMAT_LIST:
        if entry.load is None or not any(_ends_with(path, s) for s in entry.suffixes):
            continue
        if entry.detect is None or entry.function("detect")(path):
            return entry.function("load")(path)
    raise _not_read(path, suffix)
