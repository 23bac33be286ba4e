"""Reading frames from videos and image folders, in a background thread with bounded memory.

A source yields ``(index, frame, error)`` for every frame it was asked for: an unreadable
frame (a corrupt packet mid-video, an image file that does not decode) comes with
``frame=None`` and a reason, and reading goes on. A video frame's index comes from the
container after each read (its timestamp, or its place in the AVI index), never from
counting reads, so a frame the decoder drops shows up as an unreadable frame instead of
shifting every later frame; where the index cannot be known, reading stops with a
:class:`SourceError`.

:func:`prefetch` runs any iterator in a thread with a bounded queue, so decoding overlaps
inference and memory stays flat however long the video is.
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
    "avi_damage",
    "describe_errors",
    "open_source",
    "prefetch",
    "video_source",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
"""File suffixes read as images from a folder (case-insensitive)."""
MAX_CONSECUTIVE_FAILURES = 50
"""After this many unreadable frames in a row, a video is taken to end early."""
TIMESTAMP_TOLERANCE = 0.35
"""How far (in frames) a timestamp may sit from a whole frame number before it counts as
inconsistent with the video's frame rate."""

_UNDECODABLE = "the frame could not be decoded"
_REENCODE = "re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
_CFR_REENCODE = (
    "re-encode it at a constant frame rate, e.g. ffmpeg -i IN -c:v libx264 -fps_mode cfr OUT.mp4"
)

T = TypeVar("T")


def video_source(video: str, frame_index: int) -> str:
    """The source string of a video frame: ``"video.mp4#frame=123"`` (labels' sources,
    COCO image names)."""
    return f"{video}#frame={int(frame_index)}"


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


def _chunk_id_ok(chunk_id: bytes) -> bool:
    """Whether FFmpeg's AVI demuxer takes ``chunk_id`` for a chunk header (else it resyncs)."""
    if chunk_id in (b"LIST", b"JUNK", b"idx1", b"indx"):
        return True
    if chunk_id[:2] == b"ix":
        return chunk_id[2:].isdigit()
    return chunk_id[:2].isdigit() and chunk_id[2:].isalnum()


def avi_damage(path: str | os.PathLike, n_frames: int | None = None) -> int | None:
    """The first frame of an AVI file behind a broken chunk header, or None when intact.

    FFmpeg reads an AVI file chunk by chunk and numbers the frames as it finds them; at a
    broken chunk header it skips ahead to the next good one, so every later frame would get
    the number of an earlier one. This walks the chunk headers of the ``movi`` lists (one
    small read per chunk) to find where that would happen. A file cut short is not damage:
    its missing frames are simply not found.

    Args:
        path: Any file; files that are not AVI give None.
        n_frames: Frames the file says it holds: a broken header after that many video
            chunks (padding at the end of a recording) is not damage.

    Returns:
        How many video frames come before the first broken header, or None.
    """
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        head = file.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"AVI ":
            return None
        frames = 0
        prefix: bytes | None = None

        def walk(begin: int, end: int, in_movi: bool) -> int | None:
            nonlocal frames, prefix
            at = begin
            while at + 8 <= end:
                file.seek(at)
                header = file.read(12)
                chunk_id, length = header[:4], int.from_bytes(header[4:8], "little")
                chunk_end = at + 8 + length
                if in_movi and not _chunk_id_ok(chunk_id):
                    return frames
                if chunk_end > end:  # runs past its list: cut short, or a broken size
                    return frames if in_movi and end < size else None
                if chunk_id == b"LIST" and length >= 4:
                    inner = in_movi or header[8:12] == b"movi"
                    if inner:
                        found = walk(at + 12, min(chunk_end, size), inner)
                        if found is not None:
                            return found
                elif in_movi and chunk_id[2:] in (b"dc", b"db") and chunk_id[:2].isdigit():
                    prefix = prefix or chunk_id[:2]
                    if chunk_id[:2] == prefix:
                        frames += 1
                at = chunk_end + (length & 1)
            return None

        at = 0
        while at + 12 <= size:  # RIFF AVI, then RIFF AVIX parts of OpenDML files
            file.seek(at)
            header = file.read(12)
            if header[:4] != b"RIFF":
                break
            end = min(at + 8 + int.from_bytes(header[4:8], "little"), size)
            found = walk(at + 12, end, False)
            if found is not None:
                return None if n_frames is not None and found >= n_frames else found
            at = end + (end & 1)
    return None


@dataclass
class VideoSource:
    """Frames ``start, start + step, ...`` below ``stop`` of a video file (decoded by OpenCV).

    Every frame's index is taken from the container after it is read: from its timestamp
    (FFmpeg), or from its entry in the AVI index (OpenCV's own MJPEG reader, used for an MJPG
    AVI file whose chunk headers are damaged). Frames the container or decoder skips are
    yielded as unreadable at their own indices.

    Args:
        path: The video file.
        start: First frame index.
        stop: Stop before this frame index (None = the end of the video).
        step: Read every ``step``-th frame.

    Raises:
        SourceError: The file is missing or OpenCV cannot open it, or its frames cannot be
            numbered reliably (an AVI file with broken chunk headers that OpenCV's MJPEG
            reader cannot read by its index).
    """

    path: Path
    start: int = 0
    stop: int | None = None
    step: int = 1
    info: dict[str, Any] = field(init=False)
    _api: int = field(init=False, default=cv2.CAP_FFMPEG, repr=False)

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
                f"(corrupt, or not a video); {_REENCODE}"
            )
        self._check_container()

    def _check_container(self) -> None:
        """Switch to reading by the AVI index where FFmpeg would misnumber frames, or fail."""
        try:
            damaged = avi_damage(self.path, self.info["n_frames"])
        except OSError as error:
            raise SourceError(f"{self.path}: cannot read the file ({error.strerror})") from None
        if damaged is None or (self.stop is not None and self.stop <= damaged):
            return
        if self.info["codec"].upper() == "MJPG":
            capture = cv2.VideoCapture(str(self.path), cv2.CAP_OPENCV_MJPEG)
            try:
                same = capture.isOpened() and (
                    int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
                    int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                    int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                ) == (self.info["n_frames"], self.info["width"], self.info["height"])
            finally:
                capture.release()
            if same:
                self._api = cv2.CAP_OPENCV_MJPEG
                self.info["backend"] = "CV_MJPEG"
                return
        raise SourceError(
            f"{self.path}: the AVI file is damaged at frame {damaged} (a broken chunk header), "
            "so the frames after it cannot be numbered reliably; read only the frames before "
            f"it (stop={damaged}), or restore the file from a backup"
        )

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path), self._api)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"{self.path}: cannot open the video (corrupt, truncated or an unsupported "
                f"codec); check the file, or {_REENCODE}"
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

    def _position(self, capture: cv2.VideoCapture, after: int) -> int:
        """The index of the frame just grabbed, from the container.

        Args:
            capture: The capture, right after a successful ``grab()``.
            after: The index of the frame grabbed before (-1 for none): indices must rise.

        Raises:
            SourceError: The container gives no usable position.
        """
        if self._api == cv2.CAP_OPENCV_MJPEG:  # the next entry of the AVI index
            index = round(capture.get(cv2.CAP_PROP_POS_FRAMES)) - 1
            exact = True
        else:  # FFmpeg: the frame's timestamp, from the start of the stream
            fps = self.info["fps"]
            if not fps:
                raise SourceError(
                    f"{self.path}: the video does not report its frame rate, so its frames "
                    f"cannot be numbered from their timestamps; {_CFR_REENCODE}"
                )
            frames = capture.get(cv2.CAP_PROP_POS_MSEC) * fps / 1000.0
            index = round(frames)
            exact = abs(frames - index) <= TIMESTAMP_TOLERANCE
        if not exact or index <= after:
            where = f"after frame {after}" if after >= 0 else "at the first frame"
            raise SourceError(
                f"{self.path}: the frame timestamps are inconsistent {where} "
                "(a variable frame rate, or a damaged file), so the frames cannot be "
                f"numbered reliably; {_CFR_REENCODE}"
            )
        return index

    def __iter__(self) -> Iterator[FrameRead]:
        """Read the frames in order (in the calling thread).

        Raises:
            SourceError: The frames cannot be numbered reliably (see :meth:`_position`).
        """
        indices = self.indices
        stop = indices.stop if indices is not None else None
        start, step = self.start, self.step
        capture = self._open()
        try:
            if start > 0:
                capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            wanted = start  # the next index to yield; always start + k * step
            last = -1
            failures = 0
            while stop is None or wanted < stop:
                if not capture.grab():
                    failures += 1
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        break
                    continue
                failures = 0
                index = last = self._position(capture, last)
                if index < wanted:  # between steps, or before a seek's target
                    continue
                end = index if stop is None else min(index, stop)
                for missing in range(wanted, end, step):  # skipped by container or decoder
                    yield FrameRead(missing, None, _UNDECODABLE)
                if stop is not None and index >= stop:
                    return
                offset = (index - start) % step
                if offset:  # between steps
                    wanted = index + step - offset
                    continue
                ok, frame = capture.retrieve()
                if ok and frame is not None:
                    yield FrameRead(index, frame)
                else:
                    yield FrameRead(index, None, _UNDECODABLE)
                wanted = index + step
            if stop is None:  # unknown length: failures at the end are the end
                return
            reason = (
                f"the video ends early: no frame could be decoded after "
                f"{MAX_CONSECUTIVE_FAILURES} tries (the file says {self.n_frames} frames)"
            )
            for rest in range(wanted, stop, step):
                yield FrameRead(rest, None, reason)
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
