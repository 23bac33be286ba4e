"""Reading frames from videos and image folders, in a background thread with bounded memory.

A source yields ``(index, frame, error)`` for every frame it was asked for: an unreadable
frame (a corrupt packet mid-video, an image file that does not decode) comes with
``frame=None`` and a reason, and reading goes on. :func:`prefetch` runs any iterator in a
thread with a bounded queue, so decoding overlaps inference and memory stays flat however
long the video is.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from dpk.specs.errors import DpkError

__all__ = [
    "IMAGE_SUFFIXES",
    "FrameRead",
    "ImageFolderSource",
    "SourceError",
    "VideoSource",
    "describe_errors",
    "open_source",
    "prefetch",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
"""File suffixes read as images from a folder (case-insensitive)."""
MAX_CONSECUTIVE_FAILURES = 50
"""After this many unreadable frames in a row, a video is taken to end early."""

T = TypeVar("T")


class SourceError(DpkError):
    """A video or image folder that cannot be read at all; the message names it."""


@dataclass(frozen=True)
class FrameRead:
    """One frame a source was asked for.

    Attributes:
        index: Frame index in the video (or position in the sorted image list).
        frame: uint8 (H, W, 3) BGR pixels, or None when the frame could not be read.
        error: Why the frame could not be read, else None.
    """

    index: int
    frame: np.ndarray | None
    error: str | None = None


def _check_range(start: int, stop: int | None, step: int) -> None:
    if start < 0:
        raise SourceError(f"start must be 0 or more, not {start}")
    if stop is not None and stop < start:
        raise SourceError(f"stop ({stop}) must not be smaller than start ({start})")
    if step < 1:
        raise SourceError(f"step must be 1 or more, not {step}")


def _fourcc_text(value: float) -> str:
    code = int(value)
    if code <= 0:
        return ""
    text = code.to_bytes(4, "little").decode("ascii", errors="replace")
    return text.strip("\x00").strip()


@dataclass
class VideoSource:
    """Frames ``start, start + step, ...`` below ``stop`` of a video file (decoded by OpenCV).

    Args:
        path: The video file.
        start: First frame index.
        stop: Stop before this frame index (None = the end of the video).
        step: Read every ``step``-th frame.

    Raises:
        SourceError: The file is missing or OpenCV cannot open it.
    """

    path: Path
    start: int = 0
    stop: int | None = None
    step: int = 1
    info: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        _check_range(self.start, self.stop, self.step)
        if not self.path.exists():
            raise SourceError(f"{self.path}: video file not found; check the path")
        if self.path.is_dir():
            raise SourceError(f"{self.path}: is a folder, not a video file")
        capture = self._open()
        try:
            n = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self.info = {
                "fps": float(capture.get(cv2.CAP_PROP_FPS)) or None,
                "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                "n_frames": n if n > 0 else None,
                "codec": _fourcc_text(capture.get(cv2.CAP_PROP_FOURCC)),
                "backend": capture.getBackendName(),
            }
        finally:
            capture.release()
        if self.info["width"] <= 0 or self.info["height"] <= 0:
            raise SourceError(
                f"{self.path}: OpenCV opened the file but found no video frames in it "
                "(corrupt, or not a video); re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
            )

    def _open(self):
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"{self.path}: cannot open the video (corrupt, truncated or an unsupported "
                "codec); check the file, or re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
            )
        return capture

    @property
    def n_frames(self) -> int | None:
        """Frames in the video as its container reports them (None when unknown)."""
        return self.info["n_frames"]

    @property
    def indices(self) -> range | None:
        """The frame indices that will be read; None when the length is unknown."""
        stop = self.stop
        n = self.n_frames
        if n is not None:
            stop = n if stop is None else min(stop, n)
        if stop is None:
            return None
        return range(self.start, max(self.start, stop), self.step)

    def __len__(self) -> int:
        indices = self.indices
        if indices is None:
            raise TypeError(f"{self.path}: the video does not report its length")
        return len(indices)

    def __iter__(self) -> Iterator[FrameRead]:
        """Read the frames in order (in the calling thread)."""
        indices = self.indices
        stop = indices.stop if indices is not None else None
        capture = self._open()
        try:
            position = 0
            if self.start > 0:
                capture.set(cv2.CAP_PROP_POS_FRAMES, self.start)
                position = self.start
            index = self.start
            failures = 0
            while stop is None or index < stop:
                while position < index:  # skip frames between steps (decode, no conversion)
                    if not capture.grab() and stop is None:
                        return
                    position += 1
                ok, frame = capture.read()
                position += 1
                if ok and frame is not None:
                    failures = 0
                    yield FrameRead(index, frame)
                    index += self.step
                    continue
                failures += 1
                if stop is None:  # unknown length: failures at the end are the end
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        return
                    index += self.step
                    continue
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    reason = (
                        f"the video ends early: no frame could be decoded after "
                        f"{MAX_CONSECUTIVE_FAILURES} tries (the file says {self.n_frames} frames)"
                    )
                    for rest in range(index, stop, self.step):
                        yield FrameRead(rest, None, reason)
                    return
                yield FrameRead(index, None, "the frame could not be decoded")
                index += self.step
        finally:
            capture.release()


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


@dataclass
class ImageFolderSource:
    """The image files of a folder, in natural order (``img2`` before ``img10``).

    Args:
        path: The folder.
        start: First position in the sorted list.
        stop: Stop before this position (None = all).
        step: Take every ``step``-th image.

    Raises:
        SourceError: The folder is missing or holds no image files.
    """

    path: Path
    start: int = 0
    stop: int | None = None
    step: int = 1
    files: list[Path] = field(init=False)
    info: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        _check_range(self.start, self.stop, self.step)
        if not self.path.is_dir():
            raise SourceError(f"{self.path}: image folder not found")
        files = sorted(
            (p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=lambda p: _natural_key(p.name),
        )
        if not files:
            raise SourceError(
                f"{self.path}: no image files in the folder (looked for "
                f"{', '.join(IMAGE_SUFFIXES)})"
            )
        self.files = files
        self.info = {"n_frames": len(files), "kind": "images"}

    @property
    def indices(self) -> range:
        """Positions (in the sorted list) that will be read."""
        stop = len(self.files) if self.stop is None else min(self.stop, len(self.files))
        return range(self.start, max(self.start, stop), self.step)

    @property
    def names(self) -> list[str]:
        """File names of the images that will be read."""
        return [self.files[i].name for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[FrameRead]:
        for i in self.indices:
            file = self.files[i]
            try:
                data = np.fromfile(file, dtype=np.uint8)
            except OSError as error:
                yield FrameRead(i, None, f"{file.name}: cannot read ({error.strerror})")
                continue
            frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if frame is None:
                yield FrameRead(i, None, f"{file.name}: not a readable image")
            else:
                yield FrameRead(i, frame)


def open_source(
    path: str | os.PathLike, start: int = 0, stop: int | None = None, step: int = 1
) -> VideoSource | ImageFolderSource:
    """A :class:`VideoSource` for a file, an :class:`ImageFolderSource` for a folder."""
    path = Path(path)
    if path.is_dir():
        return ImageFolderSource(path, start, stop, step)
    return VideoSource(path, start, stop, step)


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


def prefetch(items: Iterable[T], maxsize: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``maxsize`` items ahead.

    An exception in the thread is raised in the consumer. Closing the returned generator
    early (``break``) stops the thread.

    Args:
        items: Any iterable (typically a generator that decodes and prepares frames).
        maxsize: Items held in the queue at most (memory bound).
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(1, maxsize))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer
            put(_Failure(error))
            return
        put(_DONE)

    thread = threading.Thread(target=work, name="dpk-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)
        close: Callable[[], None] | None = getattr(items, "close", None)
        if close is not None and not thread.is_alive():
            close()


def _ranges(indices: list[int]) -> str:
    parts: list[str] = []
    start = prev = indices[0]
    for i in indices[1:]:
        if i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)


def describe_errors(errors: dict[int, str], limit: int = 3) -> list[str]:
    """Short lines summarising unreadable frames, grouped by reason.

    Example: ``["3 frames could not be read (the frame could not be decoded): 10-12"]``.
    """
    by_reason: dict[str, list[int]] = {}
    for index, reason in sorted(errors.items()):
        by_reason.setdefault(reason, []).append(index)
    lines = []
    for reason, indices in list(by_reason.items())[:limit]:
        text = _ranges(indices)
        if len(text) > 120:
            text = text[:117] + "..."
        noun = "frame" if len(indices) == 1 else "frames"
        lines.append(f"{len(indices)} {noun} could not be read ({reason}): {text}")
    if len(by_reason) > limit:
        rest = sum(len(v) for v in list(by_reason.values())[limit:])
        lines.append(f"{rest} more unreadable frames with other reasons")
    return lines
