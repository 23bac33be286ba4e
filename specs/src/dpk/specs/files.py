"""Writing output files safely: one home for every dpk part (specs, zoo, runtime, trainer).

A run can take hours, so its outputs are checked before it starts: the folder exists and
accepts new files, an existing file under the name is not read-only, and no output is
the same file as an input (by resolved path, symlinks and hard links included) or as
another output. Then each writer fills a temporary file in the same folder, and the file
is renamed into place only when it is complete. A crash, an error, Ctrl-C or SIGTERM never
leaves a half-written file under the real name, and never replaces an input.

An output that is a symbolic link is written through the link: the link stays, and the
file it points to is replaced (atomically, in the target's folder).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dpk.specs.errors import DpkError

__all__ = [
    "OutputError",
    "atomic_output",
    "check_outputs",
    "check_writable",
    "same_file",
    "write_bytes_atomic",
    "write_text_atomic",
]

PathLike = str | os.PathLike

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class OutputError(DpkError):
    """An output file cannot be written where it was asked for; the message says why."""


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _target(path: Path) -> Path:
    """Where ``path`` really writes: through a symbolic link to the file it names."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file (resolved paths, symlinks and hard links included).

    Paths that do not exist are compared by their resolved names.
    """
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _reason(error: OSError) -> str:
    text = error.strerror or str(error)
    if error.errno in _FULL or "No space left" in str(error):
        return f"{text}; free some space or choose another folder"
    return text


def _disk_full(error: BaseException, folder: Path) -> bool:
    """Whether ``error`` (of any type) comes from a full disk under ``folder``."""
    text = str(error)
    if "No space left on device" in text or "errno = 28" in text:
        return True
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def check_writable(path: PathLike, *, inputs: Iterable[PathLike | None] = ()) -> Path:
    """Check that ``path`` can be written, before any long computation.

    The folder must exist and accept new files (a probe file is created and removed, so
    read-only file systems and permissions are caught, for every user including root). An
    existing file under the name must not be read-only, and must not be one of ``inputs``.

    Args:
        path: The output file.
        inputs: Files the command reads (None entries are ignored).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OutputError: Naming the file and how to fix the problem.
    """
    path = Path(path)
    for source in inputs:
        if source is not None and same_file(path, source):
            where = "" if os.path.realpath(path) == os.path.realpath(source) else f" ({source})"
            raise OutputError(
                f"{path}: is an input of this command{where}; writing it would destroy the "
                "input, choose another output name"
            )
    target = _target(path)
    folder = _folder(target)
    if target.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name inside it, e.g. {path / 'out'}")
    if not folder.exists():
        raise OutputError(
            f"{path}: the folder {folder} does not exist; create it first (mkdir -p {folder})"
        )
    if not folder.is_dir():
        raise OutputError(f"{path}: {folder} is not a folder; choose another output path")
    if target.exists():
        mode = target.stat().st_mode
        if not stat.S_ISREG(mode):
            raise OutputError(f"{path}: is not a regular file; choose another output name")
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(
            target, os.W_OK
        ):
            raise OutputError(f"{path}: is read-only; remove it or choose another name")
    probe = folder / f".{target.name}.{secrets.token_hex(4)}.probe"
    try:
        probe.open("xb").close()
    except OSError as error:
        raise OutputError(
            f"{path}: cannot write in {folder} ({error.strerror or error}); choose a writable "
            "output folder"
        ) from None
    probe.unlink(missing_ok=True)
    return path


def check_outputs(
    outputs: Iterable[PathLike], inputs: Iterable[PathLike | None] = ()
) -> list[Path]:
    """Check every output of a command (see :func:`check_writable`) and that they differ.

    Args:
        outputs: The files the command will write.
        inputs: The files it reads.

    Returns:
        The outputs as paths.

    Raises:
        OutputError: An output is not writable, is an input, or is given twice.
    """
    inputs = [i for i in inputs if i is not None]
    checked: list[Path] = []
    for output in outputs:
        path = Path(output)
        for earlier in checked:
            if same_file(path, earlier):
                raise OutputError(
                    f"{path}: is the same file as the output {earlier}; give each output "
                    "its own name"
                )
        checked.append(check_writable(path, inputs=inputs))
    return checked


@contextmanager
def atomic_output(
    path: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    tmp_suffix: str | None = None,
) -> Iterator[Path]:
    """Give a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the final suffix (``.out.mp4.1a2b3c4d.tmp.mp4``), so writers
    that pick a container from the suffix (OpenCV, matplotlib) still work. On any error
    (or an interruption) the temporary file is removed and ``path`` is left untouched.
    An ``OSError`` in the block (a full disk, a failing device) becomes an
    :class:`OutputError` naming ``path``.

    Args:
        path: The final output file (written through a symbolic link).
        inputs: Files the command reads; ``path`` must not be one of them.
        tmp_suffix: The temporary name's ending instead of ``.tmp`` + the final suffix.

    Yields:
        The temporary path to write (not yet created).

    Raises:
        OutputError: The destination cannot be written (see :func:`check_writable`), the
            writer produced no file, or writing failed.
    """
    path = check_writable(path, inputs=inputs)
    target = _target(path)
    ending = tmp_suffix if tmp_suffix is not None else f".tmp{target.suffix}"
    tmp = _folder(target) / f".{target.name}.{secrets.token_hex(4)}{ending}"
    try:
        yield tmp
        if not tmp.exists():
            raise OutputError(f"{path}: the writer produced no file")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: could not be written ({_reason(error)})") from error
    except OutputError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as error:
        full = _disk_full(error, _folder(target))
        tmp.unlink(missing_ok=True)
        if full:  # libraries (h5py, matplotlib) wrap ENOSPC in their own errors
            reason = _reason(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
            raise OutputError(f"{path}: could not be written ({reason})") from error
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(
    path: PathLike, data: bytes, *, inputs: Iterable[PathLike | None] = ()
) -> Path:
    """Write bytes to ``path`` through a temporary file and a rename (see :func:`atomic_output`)."""
    with atomic_output(path, inputs=inputs) as tmp, open(tmp, "xb") as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: PathLike, text: str, *, inputs: Iterable[PathLike | None] = ()) -> Path:
    """Write UTF-8 text to ``path`` through a temporary file and a rename."""
    with atomic_output(path, inputs=inputs) as tmp, open(tmp, "x", encoding="utf-8") as handle:
        handle.write(text)
    return Path(path)
