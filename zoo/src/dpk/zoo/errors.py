"""Errors and warnings of the zoo: every one names the model, the file or URL, and the fix."""

from __future__ import annotations

from dpk.specs.errors import DpkError, SpecError

__all__ = [
    "ChecksumError",
    "DownloadError",
    "NotCachedError",
    "OfflineError",
    "RegistryError",
    "ZooError",
    "ZooWarning",
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


class ZooWarning(UserWarning):
    """Something worth knowing that does not stop the zoo (a shadowed name, a stale registry)."""
