"""Writing output files safely: check the destination first, write beside it, rename.

A prediction run can take hours; its outputs are checked before the run starts (folder
exists, is writable), then each writer fills a temporary file in the same folder and
renames it into place only when it is complete. A crash, an error or Ctrl-C never leaves a
half-written file under the real name.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dpk.specs.errors import DpkError

__all__ = ["OutputError", "atomic_output", "check_writable"]


class OutputError(DpkError):
    """An output file cannot be written where it was asked for; the message says why."""


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_writable(path: str | os.PathLike) -> Path:
    """Check that ``path`` can be created, before any long computation.

    The folder must exist and accept new files (a probe file is created and removed, so
    read-only file systems and permissions are caught, for every user including root).

    Args:
        path: The output file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputError: Naming the file and how to fix the problem.
    """
    path = Path(path)
    folder = _folder(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name inside it, e.g. {path / 'out'}")
    if not folder.exists():
        raise OutputError(
            f"{path}: the folder {folder} does not exist; create it first (mkdir -p {folder})"
        )
    if not folder.is_dir():
        raise OutputError(f"{path}: {folder} is not a folder; choose another output path")
    probe = folder / f".{path.name}.{secrets.token_hex(4)}.probe"
    try:
        probe.open("xb").close()
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(
            f"{path}: cannot write in {folder} ({reason}); choose a writable output folder"
        ) from None
    probe.unlink(missing_ok=True)
    return path


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Give a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the final suffix (``.out.mp4.1a2b3c4d.tmp.mp4``), so writers
    that pick a container from the suffix (OpenCV, matplotlib) still work. On any error the
    temporary file is removed and ``path`` is left untouched.

    Args:
        path: The final output file.

    Yields:
        The temporary path to write.

    Raises:
        OutputError: The destination cannot be written (see :func:`check_writable`).
    """
    path = check_writable(path)
    tmp = _folder(path) / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{path}: the writer produced no file")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
