"""SLEAP labels (``.slp``) in, predictions out as ``.slp``, through sleap-io.

sleap-io is an optional extra of dpk-runtime (``pip install 'dpk-runtime[sleap]'``) and a
dependency of dpk-trainer; it is imported only when one of these functions runs.

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

Skeletons map as: node names -> keypoint names, edge ``(source, destination)`` ->
``destination`` hangs from ``source``, symmetry pairs -> left/right swaps.
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

from dpk.runtime.atomic import atomic_output
from dpk.runtime.formats.options import WriteOptions
from dpk.runtime.labels import video_source
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError, SpecError
from dpk.specs.skeleton import Skeleton

__all__ = [
    "SleapLabels",
    "load_predictions_slp",
    "load_slp",
    "load_slp_videos",
    "save_predictions_slp",
    "skeleton_from_sleap",
    "skeleton_to_sleap",
]

INSTALL_HINT = "pip install 'dpk-runtime[sleap]'"


def _sleap_io() -> Any:
    """Import sleap-io, or say how to install it."""
    try:
        import sleap_io
    except ImportError:
        raise DpkError(
            f"SLEAP files need the sleap-io package, which is not installed: {INSTALL_HINT}"
        ) from None
    return sleap_io


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
        sio = _sleap_io()
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


def skeleton_from_sleap(sk: Any, source: str) -> Skeleton:
    """A dpk skeleton from a sleap-io ``Skeleton`` (nodes, edges, symmetries as swaps).

    Args:
        sk: The sleap-io skeleton.
        source: The file it came from, for messages.
    """
    names = list(sk.node_names)
    edges = [(e.source.name, e.destination.name) for e in sk.edges]
    symmetries = []
    for symmetry in sk.symmetries:
        pair = [node.name for node in symmetry.nodes]
        if len(pair) == 2:
            symmetries.append((pair[0], pair[1]))
    try:
        return Skeleton.from_edges(names, edges, symmetries)
    except SpecError as error:
        raise DpkError(
            f"{source}: the skeleton does not fit dpk's posture graph: {error}"
        ) from None


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
    if not path.is_file():
        raise DpkError(f"{source}: file not found")
    sio = _sleap_io()
    try:
        labels = sio.load_slp(str(path), open_videos=False)
    except Exception as error:  # sleap-io raises many kinds for damaged files
        raise DpkError(
            f"{source}: not a readable SLEAP file ({type(error).__name__}: {error})"
        ) from None
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


# ---------------------------------------------------------------------- predictions
def skeleton_to_sleap(sio: Any, skeleton: Skeleton) -> Any:
    """A sleap-io ``Skeleton`` from a dpk skeleton (parent links as edges, swaps as
    symmetries).

    Args:
        sio: The imported ``sleap_io`` module.
        skeleton: The dpk skeleton.
    """
    names = list(skeleton.names)
    edges = [(names[p], names[c]) for c, p in skeleton.edges]
    seen: set[frozenset[str]] = set()
    symmetries = []
    for i, s in enumerate(skeleton.swap_indices):
        pair = frozenset((names[i], names[s])) if s >= 0 else None
        if pair and len(pair) == 2 and pair not in seen:
            seen.add(pair)
            symmetries.append([names[i], names[s]])
    return sio.Skeleton(nodes=names, edges=edges, symmetries=symmetries, name="dpk")


def _sleap_video(sio: Any, predictions: Predictions) -> Any:
    """A closed sleap-io Video with the metadata SLEAP needs to reopen it later.

    Paths are written absolute, so that the ``.slp`` finds its video wherever it is saved.
    """
    info = predictions.source_info
    shape = None
    if info.get("height") and info.get("width"):
        shape = [int(info.get("n_frames") or 0), int(info["height"]), int(info["width"]), 3]
    if predictions.image_names is not None:
        folder = Path(predictions.source).absolute() if predictions.source else Path.cwd()
        files = [str(folder / name) for name in predictions.image_names]
        metadata: dict[str, Any] = {
            "type": "ImageVideo",
            "filename": files[0] if files else "",
            "filenames": files,
        }
        return sio.Video(filename=files, backend_metadata=metadata, open_backend=False)
    filename = str(Path(predictions.source).absolute()) if predictions.source else "video"
    metadata = {
        "type": "MediaVideo",
        "filename": filename,
        "shape": shape,
        "bgr": True,
        "dataset": "",
        "input_format": "",
        "fps": info.get("fps"),
    }
    return sio.Video(filename=filename, backend_metadata=metadata, open_backend=False)


def _clip_to_frame(xy: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """x, y clipped to the frame's extent, [-0.5, W - 0.5] x [-0.5, H - 0.5], when known."""
    if not (info.get("width") and info.get("height")):
        return xy
    upper = np.array([float(info["width"]), float(info["height"])]) - 0.5
    return np.clip(xy, -0.5, upper)


def _sleap_instance(sio: Any, row: np.ndarray, info: dict[str, Any], skeleton: Any, **kw) -> Any:
    scores = np.nan_to_num(row[:, 2], nan=0.0)
    score = kw.pop("score", None)
    if score is None or not np.isfinite(score):
        score = float(np.nanmean(row[:, 2])) if np.isfinite(row[:, 2]).any() else 0.0
    instance = sio.PredictedInstance.from_numpy(
        points_data=_clip_to_frame(row[:, :2].astype(np.float64), info),
        point_scores=scores.astype(np.float64),
        score=float(score),
        skeleton=skeleton,
        **kw,
    )
    return instance, scores


def _to_sleap_labels(predictions: Predictions, options: WriteOptions | None = None) -> Any:
    sio = _sleap_io()
    threshold = (options or WriteOptions()).visibility_threshold
    skeleton = skeleton_to_sleap(sio, predictions.skeleton)
    video = _sleap_video(sio, predictions)
    tracks = [sio.Track(name=name) for name in predictions.track_names or []]
    keypoints = predictions.keypoints
    if not predictions.has_instances:
        keypoints = keypoints[:, None]
    n, a = keypoints.shape[:2]
    ids = predictions.track_ids if predictions.track_ids is not None else np.full((n, a), -1)
    scores = predictions.instance_scores
    info = predictions.source_info if predictions.image_names is None else {}
    frames = []
    for position, index in enumerate(predictions.frame_indices.tolist()):
        instances = []
        for j in range(a):
            row = keypoints[position, j]
            if np.isnan(row[:, :2]).all():
                continue
            extra: dict[str, Any] = {}
            if predictions.has_instances:
                assert scores is not None
                extra["score"] = float(scores[position, j])
                if ids[position, j] >= 0:
                    extra["track"] = tracks[int(ids[position, j])]
                    extra["tracking_score"] = 1.0
            instance, point_scores = _sleap_instance(sio, row, info, skeleton, **extra)
            instance.points["visible"] &= point_scores >= threshold
            instances.append(instance)
        if not instances:
            continue
        # Images: one video of image files, indexed by position in predictions' list.
        frame_idx = position if predictions.image_names is not None else int(index)
        frames.append(sio.LabeledFrame(video=video, frame_idx=frame_idx, instances=instances))
    return sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton], tracks=tracks)


def save_predictions_slp(
    path: str | Path, predictions: Predictions, options: WriteOptions | None = None
) -> None:
    """Write predictions as a SLEAP file, atomically.

    One predicted instance (point and instance scores) per frame, or with an instance
    axis one per animal present, with a ``sio.Track`` per track (named by
    ``track_names``); frames without any point are left out; points below ``options.visibility_threshold`` (default 0.2) are
    not visible (they keep their coordinates); points are clipped to the frame
    ([-0.5, W - 0.5] x [-0.5, H - 0.5], within what training accepts), so predictions
    can be corrected and reused as labels. The video is ``predictions.source`` as an
    absolute path (for images: the list of image files, absolute).
    """
    sio = _sleap_io()
    labels = _to_sleap_labels(predictions, options)
    with atomic_output(path) as tmp:
        sio.save_slp(labels, str(tmp), verbose=False)


def _predictions_from_sleap(labels: Any, source: str) -> Predictions:
    if len(labels.skeletons) != 1:
        raise DpkError(f"{source}: has {len(labels.skeletons)} skeletons; expected one")
    skeleton = skeleton_from_sleap(labels.skeletons[0], source)
    k = skeleton.n_keypoints
    if labels.tracks:
        return _tracked_predictions(labels, skeleton, source)
    rows: dict[int, np.ndarray] = {}
    for frame in labels.labeled_frames:
        best = None
        for instance in frame.instances:
            if not hasattr(instance, "score"):
                continue
            if best is None or float(instance.score) > float(best.score):
                best = instance
        if best is None:
            continue
        points = np.asarray(
            best.numpy(invisible_as_nan=False, scores=True), dtype=np.float32
        ).reshape(k, -1)
        rows[int(frame.frame_idx)] = points[:, :3]
    indices = np.array(sorted(rows), dtype=np.int64)
    keypoints = np.stack([rows[int(i)] for i in indices]) if len(indices) else np.zeros((0, k, 3))
    video = labels.videos[0] if labels.videos else None
    filename = getattr(video, "filename", None)
    image_names = None
    video_source_path = None
    if isinstance(filename, list):
        image_names = [Path(f).name for f in filename]
        video_source_path = str(Path(filename[0]).parent) if filename else None
    elif filename is not None:
        video_source_path = str(filename)
    if image_names is not None:
        image_names = [image_names[int(i)] for i in indices]
    return Predictions(
        keypoints=keypoints.astype(np.float32),
        frame_indices=indices,
        skeleton=skeleton,
        source=video_source_path,
        image_names=image_names,
        model_name=Path(source).name,
    )


def _points(instance: Any, k: int) -> np.ndarray:
    points = instance.numpy(invisible_as_nan=False, scores=True)
    return np.asarray(points, dtype=np.float32).reshape(k, -1)[:, :3]


def _video_source(labels: Any, indices: np.ndarray) -> tuple[str | None, list[str] | None]:
    video = labels.videos[0] if labels.videos else None
    filename = getattr(video, "filename", None)
    if isinstance(filename, list):
        names = [Path(f).name for f in filename]
        return (str(Path(filename[0]).parent) if filename else None), [
            names[int(i)] for i in indices
        ]
    return (str(filename) if filename is not None else None), None


def _tracked_predictions(labels: Any, skeleton: Skeleton, source: str) -> Predictions:
    """Every predicted instance of a tracked file: row j = track j, then untracked ones."""
    k = skeleton.n_keypoints
    track_index = {id(track): i for i, track in enumerate(labels.tracks)}
    per_frame: dict[int, tuple[dict[int, Any], list[Any]]] = {}
    for frame in labels.labeled_frames:
        tracked, untracked = per_frame.setdefault(int(frame.frame_idx), ({}, []))
        for instance in frame.instances:
            if not hasattr(instance, "score"):
                continue
            t = track_index.get(id(instance.track)) if instance.track is not None else None
            if t is None or t in tracked:
                untracked.append(instance)
            else:
                tracked[t] = instance
    indices = np.array(sorted(per_frame), dtype=np.int64)
    n_tracks = len(labels.tracks)
    a = n_tracks + max((len(u) for _, u in per_frame.values()), default=0)
    keypoints = np.full((len(indices), a, k, 3), np.nan, np.float32)
    scores = np.full((len(indices), a), np.nan, np.float32)
    ids = np.full((len(indices), a), -1, np.int64)
    for i, index in enumerate(indices.tolist()):
        tracked, untracked = per_frame[index]
        rows = list(tracked.items()) + [(-1, u) for u in untracked]
        for slot, (t, instance) in enumerate(rows):
            j = t if t >= 0 else n_tracks + slot - len(tracked)
            keypoints[i, j] = _points(instance, k)
            scores[i, j] = float(instance.score)
            ids[i, j] = t
    video_source, image_names = _video_source(labels, indices)
    return Predictions(
        keypoints=keypoints,
        frame_indices=indices,
        skeleton=skeleton,
        source=video_source,
        image_names=image_names,
        model_name=Path(source).name,
        track_ids=ids,
        instance_scores=scores,
        track_names=[str(track.name) for track in labels.tracks],
    )


def load_predictions_slp(path: str | Path) -> Predictions:
    """Read predicted instances of a SLEAP file.

    Without tracks: the best-scoring instance of each frame, keypoints (N, K, 3). With
    tracks: every predicted instance, keypoints (N, A, K, 3), row j = track j (named as
    the file's tracks), then instances without a track (track id -1).
    """
    path = Path(path)
    if not path.is_file():
        raise DpkError(f"{path}: file not found")
    sio = _sleap_io()
    try:
        labels = sio.load_slp(str(path), open_videos=False)
    except Exception as error:  # sleap-io raises many kinds for damaged files
        raise DpkError(
            f"{path}: not a readable SLEAP file ({type(error).__name__}: {error})"
        ) from None
    return _predictions_from_sleap(labels, str(path))
