"""Streaming downloads with the standard library: temporary file, size and SHA-256 checks, rename.

A download goes to a hidden temporary file beside its target (``.NAME.XXXX.part``), is
checked against the expected size and SHA-256, and only then renamed onto the target. A
failed, partial or corrupt download is deleted and never takes the target's name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from dpk.specs.files import atomic_output
from dpk.zoo.errors import ChecksumError, DownloadError, OfflineError
from dpk.zoo.hashing import CHUNK_SIZE
from dpk.zoo.settings import is_offline
from dpk.zoo.version import __version__

__all__ = ["PART_SUFFIX", "download_file", "fetch_bytes", "is_network_url", "open_url"]

PART_SUFFIX = ".part"
"""Suffix of the temporary files that downloads stream into."""

_USER_AGENT = f"dpk-zoo/{__version__} (+python-urllib)"


def is_network_url(url: str) -> bool:
    """Whether fetching ``url`` uses the network (``http(s)://``; ``file://`` does not)."""
    return url.lower().startswith(("http://", "https://"))


def _describe(error: BaseException) -> str:
    """A short, human description of a download failure."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}".strip()
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, BaseException) else error
        if not isinstance(error, BaseException):  # pragma: no cover - reason given as text
            return str(error)
    if isinstance(error, TimeoutError):
        return "timed out (raise DPK_TIMEOUT if the server is slow)"
    if isinstance(error, http.client.IncompleteRead):
        return "connection closed before the whole file arrived"
    if isinstance(error, ConnectionError):
        return f"connection lost ({error.strerror or type(error).__name__})"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    text = str(error) or type(error).__name__
    return text.splitlines()[0]


def open_url(url: str, timeout: float):
    """Open ``url`` for reading (urllib), refusing the network when offline.

    Args:
        url: An ``http(s)://`` or ``file://`` address.
        timeout: Seconds to wait to connect and for each read.

    Returns:
        The open response (a context manager with ``read`` and ``headers``).

    Raises:
        OfflineError: ``DPK_OFFLINE`` is set and the URL needs the network.
        DownloadError: The address cannot be opened.
    """
    if is_network_url(url) and is_offline():
        raise OfflineError(f"{url}: DPK_OFFLINE is set, so dpk does not use the network")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise DownloadError(f"{url}: {_describe(error)}") from None


def fetch_bytes(url: str, *, timeout: float, limit: int = 64 << 20) -> bytes:
    """The whole body at ``url`` (for small files such as registries).

    Raises:
        DownloadError: It cannot be fetched, is incomplete or larger than ``limit``.
    """
    with open_url(url, timeout) as response:
        try:
            announced = response.headers.get("Content-Length")
            data = response.read(limit + 1)
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(f"{url}: {_describe(error)}") from None
    if len(data) > limit:
        raise DownloadError(f"{url}: larger than {limit} bytes; is this really a registry?")
    if announced is not None and announced.isdigit() and int(announced) != len(data):
        raise DownloadError(f"{url}: got {len(data)} of {announced} bytes; try again")
    return data


def _progress_bar(total: int, label: str, progress: bool):
    from tqdm.auto import tqdm

    show = progress and sys.stderr is not None and sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not show,
        file=sys.stderr,
        leave=False,
    )


def download_file(
    url: str,
    target: Path,
    *,
    size: int,
    sha256: str,
    timeout: float,
    progress: bool = True,
    label: str = "",
) -> None:
    """Download ``url`` to ``target`` through a checked temporary file.

    Args:
        url: An ``http(s)://`` or ``file://`` address.
        target: Final path; its folder must exist. Replaced only by a verified file.
        size: Expected size in bytes.
        sha256: Expected SHA-256 (lowercase hex).
        timeout: Seconds to wait to connect and for each read.
        progress: Show a progress bar (only when standard error is a terminal).
        label: Text in front of the progress bar.

    Raises:
        OfflineError: ``DPK_OFFLINE`` is set and the URL needs the network.
        ChecksumError: The server's file has another size or SHA-256.
        DownloadError: Any other failure (HTTP error, timeout, dropped connection).
    """
    with atomic_output(target, tmp_suffix=PART_SUFFIX) as tmp:
        with open(tmp, "xb") as out, open_url(url, timeout) as response:
            announced = response.headers.get("Content-Length")
            if announced is not None and announced.isdigit() and int(announced) != size:
                raise ChecksumError(
                    f"{url}: the server has {int(announced)} bytes, the registry expects {size}"
                )
            digest = hashlib.sha256()
            received = 0
            with _progress_bar(size, label, progress) as bar:
                while True:
                    try:
                        chunk = response.read(CHUNK_SIZE)
                    except (OSError, http.client.HTTPException) as error:
                        raise DownloadError(
                            f"{url}: {_describe(error)} after {received} of {size} bytes"
                        ) from None
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > size:
                        raise ChecksumError(
                            f"{url}: more than the {size} bytes the registry expects"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if received != size:
            raise DownloadError(
                f"{url}: connection closed after {received} of {size} bytes; try again"
            )
        actual = digest.hexdigest()
        if actual != sha256:
            raise ChecksumError(f"{url}: sha256 is {actual}, the registry expects {sha256}")
        os.chmod(tmp, 0o644)
