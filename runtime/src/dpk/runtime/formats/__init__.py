"""File formats, one module per format, each holding its reader and its writer.

DeepLabCut (``dlc``), SLEAP and NWB (``sleap``), DeepPoseKit HDF5 (``dpk_h5``) and dpk's
own prediction tables (``table_csv``: CSV, ``predictions_h5``: HDF5). Writers go through a
temporary file and a rename, so a crash never leaves a half-written file that looks
complete.

:func:`save_predictions` and :func:`load_predictions` pick the format from the file's
suffix (or an explicit ``fmt``):

======== ========================== =========================================
format   suffix                     writer
======== ========================== =========================================
``csv``  ``.csv``                   dpk's table: ``frame,NAME_x,NAME_y,NAME_conf``
``h5``   ``.h5``, ``.hdf5``         dpk's HDF5: keypoints, skeleton, model spec
``slp``  ``.slp``                   SLEAP (needs ``dpk-runtime[sleap]``)
``nwb``  ``.nwb``                   NWB with ndx-pose (needs ``dpk-runtime[sleap]``)
``dlc``  (``--format dlc``, .csv)   DeepLabCut analysis CSV
======== ========================== =========================================
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

from dpk.runtime.atomic import check_writable
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError

__all__ = [
    "FORMATS",
    "FormatError",
    "check_output",
    "hdf5_kind",
    "load_predictions",
    "prediction_format",
    "save_predictions",
]

FORMATS: dict[str, tuple[str, str, str]] = {
    "csv": ("dpk.runtime.formats.table_csv", "save_predictions_csv", "dpk's CSV table"),
    "h5": ("dpk.runtime.formats.predictions_h5", "save_predictions_h5", "dpk's HDF5"),
    "slp": ("dpk.runtime.formats.sleap", "save_predictions_slp", "SLEAP .slp"),
    "nwb": ("dpk.runtime.formats.sleap", "save_predictions_nwb", "NWB (ndx-pose)"),
    "dlc": ("dpk.runtime.formats.dlc", "save_predictions_dlc", "DeepLabCut CSV"),
}
"""Prediction formats: name -> (module, writer function, description)."""

_SUFFIX_FORMAT = {".csv": "csv", ".h5": "h5", ".hdf5": "h5", ".slp": "slp", ".nwb": "nwb"}
_FORMAT_SUFFIXES = {
    "csv": (".csv",),
    "h5": (".h5", ".hdf5"),
    "slp": (".slp",),
    "nwb": (".nwb",),
    "dlc": (".csv",),
}
_OPTIONAL = {"slp": "sleap_io", "nwb": "sleap_io"}


class FormatError(DpkError):
    """An unknown prediction format, or one whose optional dependency is missing."""


def prediction_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format to write ``path`` in: ``fmt`` when given, else from the suffix.

    Raises:
        FormatError: Unknown format or suffix, or a suffix that contradicts ``fmt``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    known = ", ".join(FORMATS)
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise FormatError(f"{path}: unknown format {fmt!r}; use one of {known}")
        allowed = _FORMAT_SUFFIXES.get(fmt)
        if allowed and suffix not in allowed:
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


def _writer(fmt: str):
    module_name, function, _ = FORMATS[fmt]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise FormatError(f"the {fmt!r} format is not available ({error})") from None
    return getattr(module, function)


def check_output(path: str | os.PathLike, fmt: str | None = None) -> str:
    """Check an output before a long run: known format, its dependency, a writable folder.

    Returns:
        The format that will be written.

    Raises:
        FormatError: Unknown format, or its optional dependency is not installed.
        OutputError: The folder is missing or not writable.
    """
    fmt = prediction_format(path, fmt)
    _writer(fmt)
    needs = _OPTIONAL.get(fmt)
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise FormatError(
            f"{path}: writing {FORMATS[fmt][2]} needs {needs.replace('_', '-')}; install it "
            "with pip install 'dpk-runtime[sleap]'"
        )
    check_writable(path)
    return fmt


def save_predictions(
    path: str | os.PathLike, predictions: Predictions, fmt: str | None = None
) -> Path:
    """Write predictions in the format of ``fmt`` or of the file's suffix (atomically).

    Args:
        path: The output file.
        predictions: What to write.
        fmt: ``csv``, ``h5``, ``slp``, ``nwb`` or ``dlc`` (default: from the suffix).

    Returns:
        The path written.

    Raises:
        FormatError: Unknown format or missing optional dependency.
        OutputError: The folder is missing or not writable.
    """
    fmt = check_output(path, fmt)
    _writer(fmt)(Path(path), predictions)
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


def load_predictions(path: str | os.PathLike) -> Predictions:
    """Read predictions written by ``dpk predict`` (CSV or HDF5), or by DeepLabCut or SLEAP.

    Raises:
        DpkError: Missing file or an unsupported format; the message says which are read.
    """
    from dpk.runtime.formats import predictions_h5, table_csv

    path = Path(path)
    if not path.is_file():
        raise DpkError(f"{path}: predictions file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if table_csv.is_predictions_csv(path):
            return table_csv.load_predictions_csv(path)
        from dpk.runtime.formats.dlc import load_predictions_dlc

        return load_predictions_dlc(path)
    if suffix in (".h5", ".hdf5"):
        kind = hdf5_kind(path)
        if kind == "dpk_predictions":
            return predictions_h5.load_predictions_h5(path)
        if kind == "dlc_table":
            from dpk.runtime.formats.dlc import load_predictions_dlc

            return load_predictions_dlc(path)
        if kind == "dpk_annotations":
            raise DpkError(
                f"{path}: a DeepPoseKit annotation set (labelled frames: 'images', "
                "'annotations'), not predictions; train on it (data.path in a model spec) or "
                "measure a model on it (dpk evaluate RUN --data FILE); give the .h5 or .csv "
                "that dpk predict wrote"
            )
        raise DpkError(
            f"{path}: an HDF5 file dpk does not recognise (it holds: {_describe_hdf5(path)}); "
            "dpk reads the .h5 that dpk predict writes and DeepLabCut's pandas tables"
        )
    if suffix == ".slp":
        from dpk.runtime.formats.sleap import load_predictions_slp

        return load_predictions_slp(path)
    if suffix == ".nwb":
        from dpk.runtime.formats.sleap import load_predictions_nwb

        return load_predictions_nwb(path)
    raise DpkError(
        f"{path}: cannot read predictions from {suffix or 'a file without suffix'}; dpk reads "
        ".csv and .h5 (dpk or DeepLabCut), .slp and .nwb"
    )
