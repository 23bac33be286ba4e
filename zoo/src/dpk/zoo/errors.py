"""Errors and warnings of the zoo: every one names the model, the file or URL, and the fix."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from dpk.specs.errors import DpkError, DpkWarning, SpecError

__all__ = [
    "ChecksumError",
    "DownloadError",
    "NotCachedError",
    "OfflineError",
    "RegistryError",
    "ZooError",
    "ZooWarning",
    "warnings_as_lines",
]


class ZooError(DpkError):
    """A zoo problem the user can fix: unknown name, bad configuration, failed download."""


class RegistryError(ZooError, SpecError):
    """A registry file that cannot be read or holds an invalid entry; refused as a whole.

    Carries every problem found (``issues``) and the registry file or URL (``source``),
    like :class:`dpk.specs.errors.SpecError`.
    """


class DownloadError(ZooError):
    """No mirror of a model could be downloaded (HTTP error, timeout, dropped connection)."""


class ChecksumError(DownloadError):
    """A file's size or SHA-256 differs from its registry entry; the file was not used."""


class NotCachedError(ZooError):
    """A model is not in the cache and downloading was not allowed."""


class OfflineError(NotCachedError):
    """A model is not in the cache and ``DPK_OFFLINE`` forbids the network."""


class ZooWarning(DpkWarning):
    """Something worth knowing that does not stop the zoo (a shadowed name, a stale registry)."""


@contextmanager
def warnings_as_lines(prefix: str = "dpk") -> Iterator[None]:
    """Print each :class:`~dpk.specs.errors.DpkWarning` (a :class:`ZooWarning`, say) raised
    inside as one line, ``PREFIX: warning: ...``.

    Python's own format (file, line number, the source line) is for programmers; the
    ``dpk`` command's users get one clean line per distinct warning, on standard error,
    when the block ends (also when it ends with an error, so the warnings come before the
    error's line). Other warnings are shown as usual, when they happen.

    Args:
        prefix: What starts each line (``dpk``, or ``dpk zoo`` for the zoo's verbs).
    """
    pending: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", DpkWarning)
            show = warnings.showwarning

            def collect(message, category, filename, lineno, file=None, line=None):
                if issubclass(category, DpkWarning):
                    pending.append(" ".join(str(message).split()))
                else:
                    show(message, category, filename, lineno, file, line)

            warnings.showwarning = collect
            yield
    finally:
        for text in dict.fromkeys(pending):
            print(f"{prefix}: warning: {text}", file=sys.stderr)
