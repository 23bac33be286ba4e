"""Opening an HDF5 file for reading, with the one-line errors every reader gives."""

from __future__ import annotations

import os
from pathlib import Path

import h5py

from dpk.specs.errors import DpkError

__all__ = ["open_hdf5"]


def open_hdf5(
    path: str | os.PathLike,
    unreadable: str,
    *,
    not_found: str = "file not found",
) -> h5py.File:
    """Open ``path`` read-only, or raise an error that names the file.

    Args:
        path: The file.
        unreadable: What to say when h5py cannot open it (after ``"PATH: "``); ``{error}``
            is replaced by h5py's own message.
        not_found: What to say when there is no such file.

    Returns:
        The open file (use it in a ``with`` block).

    Raises:
        DpkError: The file is missing or not readable HDF5.
    """
    path = Path(path)
    if not path.is_file():
        raise DpkError(f"{path}: {not_found}")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DpkError(f"{path}: {unreadable.format(error=error)}") from None
