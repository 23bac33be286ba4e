"""What a batch has done: per-video records, the manifest, and the output folder's lock.

Layout of a batch output folder::

    OUT/NAME.h5 ...            the outputs of each video (one set per video)
    OUT/dpk-manifest.json      every video: identity, model sha256, status and numbers
    OUT/.dpk-batch/records/NAME.json   one record per finished video (written by the worker)
    OUT/.dpk-batch/lock        held while a batch runs

A record is written atomically by whoever ran the video, after its outputs: a video is
done exactly when its record says so, its model and video identity match, and its outputs
exist. The manifest is rebuilt from the records by the client after each video, so a
client killed at any moment loses nothing that was finished; a rerun skips it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from dpk.specs.errors import DpkError
from dpk.specs.files import write_text_atomic

__all__ = [
    "MANIFEST_NAME",
    "STATE_FOLDER",
    "BatchLock",
    "BatchLockError",
    "VideoIdentity",
    "VideoRecord",
    "file_sha256",
    "load_manifest",
    "read_record",
    "record_path",
    "write_manifest",
    "write_record",
]

MANIFEST_NAME = "dpk-manifest.json"
"""The manifest's file name in the output folder."""
STATE_FOLDER = ".dpk-batch"
"""Hidden folder of the output folder: per-video records and the lock."""
MANIFEST_VERSION = 1


class BatchLockError(DpkError):
    """Another batch is writing the same output folder."""


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class VideoIdentity:
    """Enough to tell whether a video changed since it was run.

    Attributes:
        size: Bytes.
        mtime_ns: Modification time in nanoseconds.
        sha256: The content's hash, when asked for (slow on long videos); else None.
    """

    size: int
    mtime_ns: int
    sha256: str | None = None

    @classmethod
    def of(cls, path: str | os.PathLike, with_hash: bool = False) -> VideoIdentity:
        """The identity of the file at ``path`` now."""
        info = os.stat(path)
        return cls(info.st_size, info.st_mtime_ns, file_sha256(path) if with_hash else None)

    def matches(self, other: VideoIdentity) -> bool:
        """The same video: equal hashes when both have one, else equal size and mtime."""
        if self.sha256 and other.sha256:
            return self.sha256 == other.sha256 and self.size == other.size
        return self.size == other.size and self.mtime_ns == other.mtime_ns


@dataclass
class VideoRecord:
    """One video of a batch: what was run and what came of it.

    Attributes:
        video: Absolute path of the video.
        name: The base name of its outputs in the output folder.
        status: ``done``, ``failed``, ``missing``, ``pending`` (not run yet) or
            ``skipped`` (done by an earlier run, only in a run's report).
        identity: Size, mtime and optional hash of the video when it was run.
        model_sha256: SHA-256 of the model file (the pose model, top-down).
        anchor_sha256: SHA-256 of the anchor model file of a top-down run ('' when none;
            left out of the JSON then).
        settings: Frame range and formats, so that a rerun with others redoes the video.
        outputs: Output files (absolute paths).
        frames: Frames predicted.
        unreadable: Frames that could not be read.
        seconds: Time spent on the video (reading, inference, writing).
        error: One line, for failures.
        worker: Where it ran (host and process id, or the Dask worker address).
        finished: ISO time when the record was written.
    """

    video: str
    name: str
    status: str = "pending"
    identity: dict[str, Any] = field(default_factory=dict)
    model_sha256: str = ""
    anchor_sha256: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    frames: int = 0
    unreadable: int = 0
    seconds: float = 0.0
    error: str = ""
    worker: str = ""
    finished: str = ""

    @property
    def fps(self) -> float:
        """Frames per second of the run (0 when nothing ran)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data (with ``fps``)."""
        data = asdict(self)
        if not self.anchor_sha256:  # single-animal records stay as they were
            del data["anchor_sha256"]
        data["fps"] = round(self.fps, 3)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoRecord:
        """Inverse of :meth:`to_json` (unknown keys ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def here() -> str:
    """This process, as ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def now() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def record_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Where the record of the video whose outputs are called ``name`` lives."""
    return Path(out_dir) / STATE_FOLDER / "records" / f"{name}.json"


def write_record(out_dir: str | os.PathLike, record: VideoRecord) -> Path:
    """Write a video's record atomically (the last step of a finished video)."""
    path = record_path(out_dir, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(record.to_json(), indent=1) + "\n")


def read_record(out_dir: str | os.PathLike, name: str) -> VideoRecord | None:
    """The record of ``name``, or None when there is none or it cannot be read."""
    path = record_path(out_dir, name)
    try:
        return VideoRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def write_manifest(
    out_dir: str | os.PathLike, records: list[VideoRecord], model: dict[str, Any]
) -> Path:
    """Write ``OUT/dpk-manifest.json`` atomically: the model and every video's record."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    data = {
        "dpk_manifest": MANIFEST_VERSION,
        "updated": now(),
        "model": model,
        "counts": counts,
        "videos": [r.to_json() for r in records],
    }
    return write_text_atomic(Path(out_dir) / MANIFEST_NAME, json.dumps(data, indent=1) + "\n")


def load_manifest(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of an output folder as data, or None when there is none."""
    path = Path(out_dir) / MANIFEST_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise DpkError(
            f"{path}: cannot be read ({error}); delete it, the per-video records in "
            f"{STATE_FOLDER}/ are enough to resume"
        ) from None


class BatchLock:
    """An exclusive lock on a batch output folder, held for the whole batch.

    Uses ``flock`` on ``OUT/.dpk-batch/lock``: the system drops it when the process ends in
    any way (SIGKILL included), so a crashed batch never leaves a stale lock behind.
    """

    def __init__(self, out_dir: str | os.PathLike):
        self.path = Path(out_dir) / STATE_FOLDER / "lock"
        self._handle: TextIO | None = None

    def acquire(self) -> BatchLock:
        """Take the lock.

        Raises:
            BatchLockError: Another batch holds it (naming it and the fix).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while locked
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; run one batch per folder
            self._handle = handle
            return self
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise BatchLockError(
                f"{self.path.parent.parent}: another batch ({holder}) is writing this output "
                "folder; wait for it to finish, or choose another --output-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{here()} since {now()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Let go of the lock (the file stays; it is only a lock while held)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> BatchLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
