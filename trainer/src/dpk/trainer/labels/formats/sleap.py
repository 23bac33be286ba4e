"""SLEAP projects (``.slp``) as labels: the user-labelled instances of every video, through
sleap-io, without holding the frames in memory.

Reading keeps video frames out of memory: :func:`load_slp` returns a :class:`SleapLabels`
with the skeleton and the user-labelled instances of every frame, and
:meth:`SleapLabels.iter_frames` decodes the frames that are asked for, reading the video
once from start to end (no seeking), so that a 1500-frame 1024x1024 clip never sits in
memory whole. Coordinates follow dpk's convention, which sleap-io shares since SLEAP
format 1.1: the centre of the top-left pixel is (0, 0).

A project with several videos is read video by video (:func:`load_slp_videos`: one
:class:`SleapLabels` per video that has user instances, frames of different videos may
differ in size); a video that is an image sequence (a list of image files) reads frame
``i`` from its ``i``-th file (stored path, else relative to the ``.slp``'s folder, else
the file's name in that folder).

Skeletons map as :func:`dpk.runtime.formats.sleap.skeleton_from_sleap` says (shared with
the prediction reader): node names -> keypoint names, edge ``(source, destination)`` ->
``destination`` hangs from ``source``, symmetry pairs -> left/right swaps. SLEAP
predictions (``dpk predict -o poses.slp``) are written and read by
:mod:`dpk.runtime.formats.sleap`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np

from dpk.runtime.formats.sleap import import_sleap_io, read_slp, skeleton_from_sleap
from dpk.runtime.video import video_source
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = [
    "SleapLabels",
    "detect",
    "load_slp",
    "load_slp_videos",
]


def detect(path: Path) -> bool:
    """A ``.slp`` file (sleap-io tells a damaged one when it is read)."""
    return path.suffix.lower() == ".slp"


@dataclass
class SleapLabels:
    """User-labelled instances of a SLEAP file, with the video their frames come from.

    Attributes:
        path: The ``.slp`` file.
        skeleton: Keypoints (node names), parents (from edges) and swaps (from symmetries).
        video_path: The video file the frames are decoded from (for a ``.pkg.slp`` with
            embedded images: the ``.slp`` itself).
        frame_indices: int64 (F,): the labelled frames, ascending.
        instances: Frame index -> float32 (A, K, 2) x, y of the frame's user instances
            (NaN = not visible).
        tracks: Frame index -> the track name of each instance (None when untracked).
        track_names: Every track of the file.
        grayscale: Whether the file says the video is grayscale (None when it does not).
        embedded: Whether the frames are embedded in the ``.slp`` (a ``.pkg.slp``); they
            are then read through sleap-io, frame by frame, as it returns them.
        image_files: For an image-sequence video: the image of each frame index (the
            video's frame ``i`` is ``image_files[i]``); None for a video file.
        video_index: The video's position in the file's ``videos``.
    """

    path: Path
    skeleton: Skeleton
    video_path: Path
    frame_indices: np.ndarray
    instances: dict[int, np.ndarray]
    tracks: dict[int, list[str | None]] = field(default_factory=dict)
    track_names: list[str] = field(default_factory=list)
    grayscale: bool | None = None
    embedded: bool = False
    image_files: list[Path] | None = None
    video_index: int = 0

    def __len__(self) -> int:
        """Number of labelled frames."""
        return len(self.frame_indices)

    @property
    def n_instances(self) -> int:
        """Number of user instances in all frames."""
        return sum(len(a) for a in self.instances.values())

    @property
    def max_instances(self) -> int:
        """The most instances in one frame."""
        return max((len(a) for a in self.instances.values()), default=0)

    @property
    def video_key(self) -> str:
        """What tells this video from the file's others (its path, or its first image)."""
        if self.embedded:
            return f"{self.video_path}#video={self.video_index}"
        return str(self.video_path)

    def source(self, frame_index: int) -> str:
        """The source string of a frame: ``"<video>#frame=<index>"``, or its image file."""
        if self.image_files is not None:
            return str(self.image_files[int(frame_index)])
        return video_source(str(self.video_path), frame_index)

    def subset_frames(self, keep: Iterable[int]) -> SleapLabels:
        """The same labels restricted to the frames in ``keep``."""
        wanted = {int(i) for i in keep}
        frames = np.array([f for f in self.frame_indices if int(f) in wanted], dtype=np.int64)
        return SleapLabels(
            path=self.path,
            skeleton=self.skeleton,
            video_path=self.video_path,
            frame_indices=frames,
            instances={int(f): self.instances[int(f)] for f in frames},
            tracks={int(f): self.tracks.get(int(f), []) for f in frames},
            track_names=self.track_names,
            grayscale=self.grayscale,
            embedded=self.embedded,
            image_files=self.image_files,
            video_index=self.video_index,
        )

    def iter_frames(
        self, frame_indices: Iterable[int] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Decode frames in ascending order, reading the video once without seeking.

        Args:
            frame_indices: Frames to decode; None = every labelled frame.

        Yields:
            ``(frame_index, image)``: uint8 (H, W, 1) for grayscale video (as the file
            says, or when the first frame's three channels are equal), else (H, W, 3) RGB.

        Raises:
            DpkError: The video cannot be opened, or ends before a requested frame.
        """
        wanted = sorted(
            {int(i) for i in (self.frame_indices if frame_indices is None else frame_indices)}
        )
        if not wanted:
            return
        if self.embedded:
            yield from self._iter_embedded(wanted)
            return
        if self.image_files is not None:
            yield from self._iter_images(wanted)
            return
        capture = cv2.VideoCapture(str(self.video_path))
        if not capture.isOpened():
            raise DpkError(f"{self.video_path}: cannot open the video (not a video, or damaged)")
        gray = self.grayscale
        try:
            position = 0
            for index in wanted:
                if index < 0:
                    raise DpkError(f"{self.path}: frame index {index} is negative")
                while position < index:
                    if not capture.grab():
                        raise self._ended(position, index)
                    position += 1
                ok, frame = capture.read()
                if not ok or frame is None:
                    raise self._ended(position, index)
                position += 1
                image, gray = _to_image(frame, gray)
                yield index, image
        finally:
            capture.release()

    def _iter_images(self, wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        files = self.image_files or []
        gray = self.grayscale
        for index in wanted:
            if not 0 <= index < len(files):
                raise DpkError(
                    f"{self.path}: frame {index} of an image sequence of {len(files)} images"
                )
            frame = cv2.imread(str(files[index]), cv2.IMREAD_COLOR)
            if frame is None:
                raise DpkError(f"{files[index]}: cannot decode the image (for {self.path})")
            image, gray = _to_image(frame, gray)
            yield index, image

    def _ended(self, position: int, index: int) -> DpkError:
        return DpkError(
            f"{self.video_path}: the video ends after {position} frame(s), but {self.path} "
            f"labels frame {index}; is this the right video?"
        )

    def _iter_embedded(self, wanted: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        sio = import_sleap_io()
        labels = sio.load_slp(str(self.path), open_videos=True)
        video = labels.videos[self.video_index]
        for index in wanted:
            try:
                frame = np.asarray(video[index])
            except (IndexError, KeyError, ValueError) as error:
                raise DpkError(
                    f"{self.path}: frame {index} is not embedded in the file ({error})"
                ) from None
            if frame.ndim == 2:
                frame = frame[..., None]
            yield index, frame.astype(np.uint8)


def _to_image(frame: np.ndarray, gray: bool | None) -> tuple[np.ndarray, bool]:
    """An OpenCV frame as (H, W, 1) gray or (H, W, 3) RGB; ``gray`` None = decide from it."""
    if frame.ndim == 2:
        frame = frame[..., None]
    if gray is None:
        gray = frame.shape[-1] == 1 or bool(
            np.array_equal(frame[..., 0], frame[..., 1])
            and np.array_equal(frame[..., 1], frame[..., 2])
        )
    if frame.shape[-1] == 1:
        return (frame if gray else np.repeat(frame, 3, axis=-1)), gray
    if gray:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[..., None], gray
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), gray


def _stored_video_name(path: Path, index: int = 0) -> str | None:
    """The video file name exactly as the ``.slp`` stores it."""
    try:
        with h5py.File(path, "r") as f:
            raw = f["videos_json"][index]
    except (OSError, KeyError, IndexError, ValueError):
        return None
    try:
        info = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return None
    backend = info.get("backend") or {}
    return backend.get("filename") or info.get("filename")


def _resolve_video(path: Path, stored: str | None, video: str | Path | None) -> Path:
    """The video: the given one, else the stored path (as is, or from the .slp's folder),
    else a file of the stored name in the .slp's folder."""
    if video is not None:
        given = Path(video).expanduser()
        if not given.is_file():
            raise DpkError(f"{given}: video file not found (given for {path})")
        return given
    tried: list[Path] = []
    if stored:
        stored_path = Path(stored.replace("\\", "/")).expanduser()
        tried.append(stored_path)
        if not stored_path.is_absolute():
            tried.append(path.parent / stored_path)
        tried.append(path.parent / stored_path.name)
    for candidate in tried:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(t) for t in dict.fromkeys(tried)) or "(the file names no video)"
    raise DpkError(
        f"{path}: cannot find the video {stored!r} (looked for {looked}); pass the video "
        "file (data.video in the spec, or video=...)"
    )


def load_slp(path: str | Path, video: str | Path | None = None) -> SleapLabels:
    """Read the user-labelled instances of a SLEAP file of one video, decoding no frame.

    Predicted instances are not training data and are left out; frames without user
    instances are skipped.

    Args:
        path: The ``.slp`` file.
        video: The video file, when the path stored in the file is stale.

    Raises:
        DpkError: sleap-io missing, the file unreadable, several videos with labels (read
            them with :func:`load_slp_videos`) or skeletons, a skeleton that is not a
            tree, no user-labelled frames, or the video not found.
    """
    parts = load_slp_videos(path, video=video)
    if len(parts) != 1:
        raise DpkError(
            f"{path}: has labels on {len(parts)} videos; read it with load_slp_videos "
            "(dpk train does), or split the project with sleap-io, one .slp per video"
        )
    return parts[0]


def _image_files(path: Path, names: list[str]) -> list[Path]:
    """The files of an image-sequence video (see the module notes for where they are)."""
    return [_resolve_video(path, str(name), None) for name in names]


def load_slp_videos(path: str | Path, video: str | Path | None = None) -> list[SleapLabels]:
    """Read the user-labelled instances of a SLEAP file, one :class:`SleapLabels` per video.

    Videos without user instances are left out; videos keep the file's order. Each may be
    a video file, an image sequence or embedded images, and videos may differ in size.

    Args:
        path: The ``.slp`` file.
        video: The video file, when the path stored in a one-video file is stale.

    Raises:
        DpkError: sleap-io missing, the file unreadable, several skeletons, a skeleton
            that is not a tree, no user-labelled frames, a video or image not found, or
            ``video`` given for a file of several videos.
    """
    path = Path(path)
    source = str(path)
    labels = read_slp(path)
    if len(labels.skeletons) != 1:
        raise DpkError(
            f"{source}: has {len(labels.skeletons)} skeletons; dpk trains one skeleton per model"
        )
    if video is not None and len(labels.videos) > 1:
        raise DpkError(
            f"{source}: has {len(labels.videos)} videos, so one data.video cannot replace "
            "them; fix the video paths in the .slp (sleap-io's Labels.replace_filenames)"
        )
    skeleton = skeleton_from_sleap(labels.skeletons[0], source)
    parts = []
    for index, sio_video in enumerate(labels.videos):
        frames = [f for f in labels.labeled_frames if f.video is sio_video]
        part = _video_labels(path, labels, index, sio_video, frames, skeleton, video)
        if part is not None:
            parts.append(part)
    if not parts:
        raise DpkError(f"{source}: no frames with user-labelled instances (empty set)")
    return parts


def _video_labels(
    path: Path,
    labels: Any,
    video_index: int,
    sio_video: Any,
    labeled_frames: list[Any],
    skeleton: Skeleton,
    video: str | Path | None,
) -> SleapLabels | None:
    """The user instances of one video, or None when it has none."""
    source = str(path)
    metadata = dict(getattr(sio_video, "backend_metadata", {}) or {})
    filename = sio_video.filename
    image_files = None
    embedded = bool(metadata.get("dataset")) or (
        isinstance(filename, str) and filename in (".", source)
    )
    instances: dict[int, np.ndarray] = {}
    tracks: dict[int, list[str | None]] = {}
    for frame in labeled_frames:
        users = [i for i in frame.instances if type(i).__name__ == "Instance"]
        if not users:
            continue
        index = int(frame.frame_idx)
        points = np.stack([np.asarray(i.numpy(), dtype=np.float32)[:, :2] for i in users])
        if index in instances:
            instances[index] = np.concatenate([instances[index], points])
            tracks[index] += [i.track.name if i.track else None for i in users]
        else:
            instances[index] = points
            tracks[index] = [i.track.name if i.track else None for i in users]
    if not instances:
        return None
    if embedded:
        video_path = path
    elif isinstance(filename, list | tuple):
        image_files = _image_files(path, [str(name) for name in filename])
        video_path = image_files[0]
    else:
        stored = _stored_video_name(path, video_index) or str(filename)
        video_path = _resolve_video(path, stored, video)
    grayscale = metadata.get("grayscale")
    return SleapLabels(
        path=path,
        skeleton=skeleton,
        video_path=video_path,
        frame_indices=np.array(sorted(instances), dtype=np.int64),
        instances=instances,
        tracks=tracks,
        track_names=[t.name for t in labels.tracks],
        grayscale=None if grayscale is None else bool(grayscale),
        embedded=embedded,
        image_files=image_files,
        video_index=video_index,
    )
