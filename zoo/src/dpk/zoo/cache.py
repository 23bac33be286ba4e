"""The model cache: resolve a name to a verified local file, pulling it when allowed.

Downloaded files live at ``$DPK_HOME/models/<sha256>/<file>`` (content-addressed, so two
registries can never overwrite each other's files and ``verify_cache`` needs no registry).
Packaged files are used where they are installed, after a SHA-256 check (once per process).
A per-model lock (``$DPK_HOME/locks/<sha256>.lock``) makes concurrent pulls of one model,
from threads or processes, end with one good file and a single download.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dpk.specs.card import ZOO_NAME_PATTERN, ZooEntry
from dpk.zoo.catalog import Catalog, load_catalog
from dpk.zoo.download import PART_SUFFIX, download_file, is_network_url
from dpk.zoo.errors import (
    ChecksumError,
    DownloadError,
    NotCachedError,
    OfflineError,
    ZooError,
)
from dpk.zoo.hashing import file_mismatch, forget_verified, mark_verified, sha256_file
from dpk.zoo.registry import Registry
from dpk.zoo.settings import dpk_home, is_offline, read_timeout, registry_locations

__all__ = [
    "BadFile",
    "CacheReport",
    "cache_dir",
    "cached_path",
    "get_entry",
    "list_models",
    "local_path",
    "model_path",
    "pipeline_models",
    "pull",
    "verify_cache",
]

_SHA = re.compile(r"^[0-9a-f]{64}$")
ZOO_NAME = re.compile(ZOO_NAME_PATTERN)


def cache_dir() -> Path:
    """``$DPK_HOME/models``: where downloaded models are kept."""
    return dpk_home() / "models"


def cached_path(entry: ZooEntry) -> Path:
    """Where a downloaded entry's file lives (whether or not it is there)."""
    return cache_dir() / entry.sha256 / entry.file


def _lock_path(sha256: str) -> Path:
    return dpk_home() / "locks" / f"{sha256}.lock"


def list_models(*, refresh: bool = False) -> list[ZooEntry]:
    """Every known model (the user's registries over the shipped one), sorted by name.

    Args:
        refresh: Fetch registries at URLs again instead of using their saved copies.
    """
    return load_catalog(refresh=refresh).entries


def _resolve(name: str) -> tuple[ZooEntry, Catalog]:
    """Resolve a name; when unknown, fetch registries at URLs again once (if online)."""
    catalog = load_catalog()
    try:
        return catalog.resolve(name), catalog
    except ZooError:
        remote = [loc for loc in registry_locations() if is_network_url(loc)]
        if not remote or is_offline():
            raise
    catalog = load_catalog(refresh=True)
    return catalog.resolve(name), catalog


def get_entry(name: str) -> ZooEntry:
    """The registry entry for a model name (exact, or without ``:tag`` when unique).

    Raises:
        ZooError: Unknown or ambiguous name; lists close matches or candidates.
    """
    return _resolve(name)[0]


def _packaged_file(entry: ZooEntry, registry: Registry, *, recheck: bool) -> Path | None:
    """The verified packaged file of an entry; None when the entry is not packaged here."""
    path = registry.packaged_path(entry)
    if path is None:
        return None
    if not path.is_file():
        if entry.urls:
            return None  # not installed with the package: fall back to the mirrors
        raise ZooError(
            f"model {entry.name!r}: packaged file {path} is missing; {_packaged_fix(registry, entry)}"
        )
    problem = file_mismatch(path, entry.size, entry.sha256, remember=not recheck)
    if problem:
        raise ChecksumError(
            f"model {entry.name!r}: packaged file {path} is damaged ({problem}); "
            f"{_packaged_fix(registry, entry)}"
        )
    return path


def _packaged_fix(registry: Registry, entry: ZooEntry) -> str:
    """How to repair a packaged file: reinstall dpk-zoo for its own registry, else put the
    right file back beside the user's registry (or fix that registry)."""
    if registry.shipped:
        return "reinstall dpk-zoo (pip install --force-reinstall dpk-zoo)"
    return (
        f"it belongs to the registry {registry.source}: put the right file (sha256 "
        f"{entry.sha256}) at {registry.packaged_path(entry)}, re-add it with `dpk publish "
        f"--registry {registry.source}`, or fix the entry there"
    )


def local_path(entry: ZooEntry, registry: Registry | None = None) -> Path | None:
    """Where an entry's file already is (packaged or cached, right size), without hashing.

    For listings; use :func:`model_path` to get a verified file.
    """
    candidates = [registry.packaged_path(entry)] if registry is not None else []
    for path in [*candidates, cached_path(entry)]:
        if path is not None and path.is_file() and path.stat().st_size == entry.size:
            return path
    return None


def _is_good(path: Path, entry: ZooEntry, *, recheck: bool = False) -> bool:
    return file_mismatch(path, entry.size, entry.sha256, remember=not recheck) is None


def _damaged_message(entry: ZooEntry, target: Path, why: str) -> str:
    return (
        f"model {entry.name!r}: the cached file {target} is damaged (size or sha256 differ "
        f"from the registry){why}; run `dpk zoo pull {entry.name} --force` where there is "
        f"network, or delete {target}"
    )


def _offline_message(entry: ZooEntry, target: Path) -> str:
    if target.exists():
        return _damaged_message(
            entry, target, " and DPK_OFFLINE is set, so dpk will not download it"
        )
    source = f"download {entry.urls[0]}" if entry.urls else "get the file"
    return (
        f"model {entry.name!r} is not cached and DPK_OFFLINE is set, so dpk will not download "
        f"it; expected at {target}; run `dpk zoo pull {entry.name}` where there is network "
        f"(or {source} and put it there, sha256 {entry.sha256})"
    )


def _quarantine_dir() -> Path:
    return dpk_home() / "quarantine"


def _quarantine(path: Path, sha256: str) -> Path:
    """Move a bad file out of the cache; returns where it went."""
    folder = _quarantine_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved = folder / f"{sha256[:12]}-{stamp}-{path.name}"
    counter = 1
    while moved.exists():
        counter += 1
        moved = folder / f"{sha256[:12]}-{stamp}-{counter}-{path.name}"
    path.replace(moved)
    forget_verified(path)
    return moved


@contextmanager
def _model_lock(sha256: str, label: str, *, progress: bool) -> Iterator[None]:
    """Hold the per-model lock; says so on a terminal when another process holds it."""
    from filelock import FileLock, Timeout

    lock_path = _lock_path(sha256)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if progress and sys.stderr is not None and sys.stderr.isatty():
            print(f"dpk zoo: waiting for another process to finish {label}", file=sys.stderr)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _remove_stale_parts(folder: Path) -> list[Path]:
    """Delete leftover temporary files of interrupted downloads (call with the lock held)."""
    stale = [p for p in folder.glob(f".*{PART_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _download(
    entry: ZooEntry, registry: Registry, *, force: bool, progress: bool, timeout: float | None
) -> Path:
    target = cached_path(entry)
    offline = is_offline()
    usable = [u for u in entry.urls if not (offline and is_network_url(u))]
    if not usable:
        raise OfflineError(_offline_message(entry, target))
    timeout = read_timeout() if timeout is None else timeout
    target.parent.mkdir(parents=True, exist_ok=True)
    with _model_lock(entry.sha256, f"downloading {entry.name}", progress=progress):
        if target.exists() and not force and _is_good(target, entry, recheck=True):
            return target  # another process fetched it while we waited
        if target.exists() and not _is_good(target, entry, recheck=True):
            _quarantine(target, entry.sha256)
        _remove_stale_parts(target.parent)
        failures: list[DownloadError] = []
        for url in usable:
            try:
                download_file(
                    url,
                    target,
                    size=entry.size,
                    sha256=entry.sha256,
                    timeout=timeout,
                    progress=progress,
                    label=entry.name,
                )
            except DownloadError as error:
                failures.append(error)
                continue
            mark_verified(target, entry.sha256)
            return target
    kind = ChecksumError if any(isinstance(f, ChecksumError) for f in failures) else DownloadError
    skipped = len(entry.urls) - len(usable)
    note = f" ({skipped} network mirror(s) skipped: DPK_OFFLINE)" if skipped else ""
    reasons = "; ".join(str(f) for f in failures)
    raise kind(
        f"model {entry.name!r}: no mirror worked{note}: {reasons}; nothing was cached. "
        f"Check the network (or DPK_TIMEOUT), or fix the entry in {registry.source}"
    )


def _fetch(
    entry: ZooEntry,
    registry: Registry,
    *,
    force: bool,
    download: bool,
    progress: bool,
    timeout: float | None,
) -> Path:
    packaged = _packaged_file(entry, registry, recheck=force)
    if packaged is not None:
        return packaged
    target = cached_path(entry)
    if not force and target.exists() and _is_good(target, entry):
        return target
    if not download:
        if target.exists():
            raise NotCachedError(_damaged_message(entry, target, ""))
        raise NotCachedError(
            f"model {entry.name!r} is not cached (expected at {target}); "
            f"run `dpk zoo pull {entry.name}` to download it"
        )
    try:
        return _download(entry, registry, force=force, progress=progress, timeout=timeout)
    except OSError as error:  # the network's errors are DownloadErrors: this is the disk
        raise ZooError(
            f"model {entry.name!r}: cannot write to the cache {target.parent} "
            f"({error.strerror or error}); free some space, fix its permissions, or set DPK_HOME"
        ) from None


def pull(
    name: str, *, force: bool = False, progress: bool = True, timeout: float | None = None
) -> Path:
    """Make a model available locally and return its verified path.

    A packaged model is verified where it is installed; a cached one is used when its
    size and SHA-256 match; otherwise the mirrors are tried in order. Nothing that fails
    the checks is ever left at the returned path.

    Args:
        name: Model name (``architecture.dataset[:tag]``; the tag may be left out when one
            entry fits).
        force: Download again (or re-hash a packaged file) even if a good copy exists.
        progress: Show a progress bar while downloading (only on a terminal).
        timeout: Seconds to wait for each network read (default: ``DPK_TIMEOUT`` or 30).

    Returns:
        The model file.

    Raises:
        ZooError: Unknown name. OfflineError: not cached and ``DPK_OFFLINE`` is set.
        ChecksumError: every mirror served a wrong file. DownloadError: no mirror worked.
    """
    entry, catalog = _resolve(name)
    registry = catalog.registry_of(entry)
    return _fetch(entry, registry, force=force, download=True, progress=progress, timeout=timeout)


def model_path(name: str, *, download: bool = True, progress: bool = True) -> Path:
    """The verified local file of a model, downloading it if needed and allowed.

    Args:
        name: Model name (see :func:`pull`).
        download: Download a missing model (never when ``DPK_OFFLINE`` is set).
        progress: Show a progress bar while downloading (only on a terminal).

    Raises:
        NotCachedError: Not cached and ``download`` is false.
        OfflineError: Not cached and ``DPK_OFFLINE`` is set.
        ZooError, DownloadError, ChecksumError: As for :func:`pull`.
    """
    entry, catalog = _resolve(name)
    registry = catalog.registry_of(entry)
    return _fetch(entry, registry, force=False, download=download, progress=progress, timeout=None)


def pipeline_models(name: str) -> tuple[str, str] | None:
    """The ``(anchor, pose)`` zoo names of a pipeline entry, or None for any other name.

    Loads the catalog (no download); a name that is a file or a model gives None.

    Raises:
        RegistryError: A registry is invalid (a pipeline naming unknown models included).
    """
    if not ZOO_NAME.match(name.strip()):
        return None
    pipeline = load_catalog().pipeline(name)
    return None if pipeline is None else (pipeline.pipeline.anchor, pipeline.pipeline.pose)


@dataclass
class BadFile:
    """A cached file that failed its check."""

    path: Path
    """Where it was."""
    problem: str
    """What is wrong."""
    moved_to: Path | None = None
    """Where it was moved (None when deleted, or left in place for a packaged file)."""
    fix: str = ""
    """How to repair it, for a packaged file left in place."""


@dataclass
class CacheReport:
    """What :func:`verify_cache` found."""

    ok: list[Path] = field(default_factory=list)
    """Files whose SHA-256 matched."""
    bad: list[BadFile] = field(default_factory=list)
    """Files that did not match (removed from the cache, or packaged and left in place)."""
    stale: list[Path] = field(default_factory=list)
    """Temporary files of interrupted downloads, deleted."""
    busy: list[Path] = field(default_factory=list)
    """Folders skipped because a download was in progress."""
    unexpected: list[Path] = field(default_factory=list)
    """Files that are not where the cache puts models (left alone)."""

    @property
    def clean(self) -> bool:
        """No bad file was found."""
        return not self.bad

    def lines(self) -> list[str]:
        """A readable report, one line per finding, then a summary."""
        out = [f"ok       {p}" for p in self.ok]
        for bad in self.bad:
            fate = f"moved to {bad.moved_to}" if bad.moved_to else "removed"
            if bad.fix:
                fate = bad.fix
            out.append(f"BAD      {bad.path}: {bad.problem}; {fate}")
        out += [f"removed  {p} (left by an interrupted download)" for p in self.stale]
        out += [f"skipped  {p} (a download is in progress)" for p in self.busy]
        out += [f"unknown  {p} (not a dpk cache file; left alone)" for p in self.unexpected]
        out.append(
            f"{len(self.ok)} good, {len(self.bad)} bad, {len(self.stale)} temporary removed "
            f"in {cache_dir()}"
        )
        return out


def _verify_folder(folder: Path, report: CacheReport, *, remove: bool) -> None:
    sha256 = folder.name
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") and path.name.endswith(PART_SUFFIX):
            path.unlink(missing_ok=True)
            report.stale.append(path)
            continue
        if not path.is_file():
            report.unexpected.append(path)
            continue
        actual = sha256_file(path)
        if actual == sha256:
            mark_verified(path, sha256)
            report.ok.append(path)
            continue
        problem = f"sha256 is {actual}, expected {sha256}"
        if remove:
            path.unlink(missing_ok=True)
            forget_verified(path)
            report.bad.append(BadFile(path, problem))
        else:
            report.bad.append(BadFile(path, problem, _quarantine(path, sha256)))
    if not any(folder.iterdir()):
        folder.rmdir()


def verify_cache(*, remove: bool = False, packaged: bool = True) -> CacheReport:
    """Re-hash every cached model; move bad files to ``$DPK_HOME/quarantine`` (or delete).

    Temporary files of interrupted downloads are deleted; folders with a download in
    progress are skipped. Packaged files of the shipped registry and of the user's local
    registries are checked too (a bad one is reported with its fix, not touched).

    Args:
        remove: Delete bad files instead of moving them to the quarantine folder.
        packaged: Also check the packaged files of the shipped and the user's registries.

    Returns:
        The findings; ``report.clean`` is false when a bad file was found.
    """
    from filelock import FileLock, Timeout

    report = CacheReport()
    root = cache_dir()
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if not folder.is_dir() or not _SHA.match(folder.name):
                report.unexpected.append(folder)
                continue
            lock_path = _lock_path(folder.name)
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(lock_path))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                report.busy.append(folder)
                continue
            try:
                _verify_folder(folder, report, remove=remove)
            finally:
                lock.release()
    if packaged:
        for registry in _local_registries():
            for entry in registry:
                path = registry.packaged_path(entry)
                if path is None or not path.is_file():
                    continue
                problem = file_mismatch(path, entry.size, entry.sha256, remember=False)
                if problem:
                    report.bad.append(BadFile(path, problem, fix=_packaged_fix(registry, entry)))
                else:
                    report.ok.append(path)
    return report


def _local_registries() -> list[Registry]:
    """The user's registry files (not URLs), then the shipped registry."""
    registries = [
        Registry.from_file(location)
        for location in registry_locations()
        if not is_network_url(location) and not location.lower().startswith("file://")
    ]
    return [*registries, Registry.shipped_registry()]
