"""SHA-256 of files, and a per-process memory of files already verified."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

__all__ = ["CHUNK_SIZE", "file_mismatch", "forget_verified", "mark_verified", "sha256_file"]

CHUNK_SIZE = 1 << 20
"""Bytes read at a time when hashing or downloading."""

_verified: dict[tuple[str, int, int, int], str] = {}
_lock = threading.Lock()


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(path: Path) -> tuple[str, int, int, int]:
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def file_mismatch(path: str | Path, size: int, sha256: str, *, remember: bool = True) -> str | None:
    """Check a file against its expected size and SHA-256.

    The size is checked every time; the hash once per process for an unchanged file
    (same path, size, modification time and inode) when ``remember`` is true.

    Args:
        path: The file.
        size: Expected size in bytes.
        sha256: Expected SHA-256 (lowercase hex).
        remember: Trust an earlier successful check of the same unchanged file.

    Returns:
        None when the file matches, else what is wrong (missing, size or hash).
    """
    path = Path(path)
    try:
        identity = _identity(path)
    except FileNotFoundError:
        return "file not found"
    if identity[1] != size:
        return f"size is {identity[1]} bytes, expected {size}"
    with _lock:
        if remember and _verified.get(identity) == sha256:
            return None
    actual = sha256_file(path)
    if actual != sha256:
        return f"sha256 is {actual}, expected {sha256}"
    with _lock:
        _verified[identity] = sha256
    return None


def forget_verified(path: str | Path | None = None) -> None:
    """Forget earlier checks of one file (or of all files), so the next check re-hashes."""
    with _lock:
        if path is None:
            _verified.clear()
            return
        key = str(Path(path))
        for identity in [i for i in _verified if i[0] == key]:
            del _verified[identity]


def mark_verified(path: str | Path, sha256: str) -> None:
    """Record that a file (as it is now) was just checked to have this SHA-256."""
    with _lock:
        _verified[_identity(Path(path))] = sha256
