"""The label project: one SLEAP ``.slp`` file (read and written by sleap-io).

How dpk's per-point states map onto SLEAP (other tools read the file as they always do):

=====================  ==============================================================
dpk state              in the ``.slp``
=====================  ==============================================================
labelled               user ``Instance`` point, ``visible=True, complete=True``
occluded               user ``Instance`` point, ``visible=False, complete=True`` (x, y
                       kept where the person put them, NaN when not placed)
missing                user point NaN, ``complete=False`` (or no point at all)
predicted-unreviewed   ``PredictedInstance`` point (with its score) on a frame whose
                       user instance does not have that point yet
=====================  ==============================================================

Frames added to the project but not labelled yet are SLEAP *suggestions*; frames a
person marked done are listed in the provenance under ``dpk.done`` as
``[video, frame]`` pairs, and why each frame was added under ``dpk.added``.
Videos are referenced by absolute path (never embedded). Saves go through a temporary
file in the same folder and a rename (:func:`dpk.specs.files.atomic_output`), so a crash
during a save leaves the previous file whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dpk.specs.errors import DpkError
from dpk.specs.files import atomic_output
from dpk.specs.skeleton import Skeleton

__all__ = [
    "LABELLED",
    "MISSING",
    "OCCLUDED",
    "PREDICTED",
    "STATE_NAMES",
    "Frame",
    "Project",
    "ProjectError",
]

MISSING, LABELLED, OCCLUDED, PREDICTED = 0, 1, 2, 3
STATE_NAMES = {
    MISSING: "missing",
    LABELLED: "labelled",
    OCCLUDED: "occluded",
    PREDICTED: "predicted",
}
"""Per-point states, as stored in :attr:`Frame.state`."""


class ProjectError(DpkError):
    """A label project cannot be read, written or changed as asked."""


def _sleap_io() -> Any:
    try:
        import sleap_io
    except ImportError:
        raise ProjectError(
            "label projects are SLEAP .slp files and need sleap-io: pip install 'dpk-runtime[sleap]'"
        ) from None
    return sleap_io


@dataclass
class Frame:
    """One frame of the project and its keypoints.

    Attributes:
        video: Index into :attr:`Project.videos`.
        index: The frame's index in the video.
        xy: float64 (K, 2): x, y in frame pixels; NaN where no position.
        state: int8 (K,): :data:`MISSING`, :data:`LABELLED`, :data:`OCCLUDED` or :data:`PREDICTED`.
        score: float32 (K,): the model's confidence of predicted points, NaN otherwise.
        done: A person marked the frame finished.
        added: Why the frame is in the project (``sample``, ``outlier``, ``merge``...).
    """

    video: int
    index: int
    xy: np.ndarray
    state: np.ndarray
    score: np.ndarray
    done: bool = False
    added: str = "sample"

    @classmethod
    def empty(cls, video: int, index: int, k: int, added: str = "sample") -> Frame:
        """A frame with no keypoints."""
        return cls(
            video,
            index,
            np.full((k, 2), np.nan),
            np.zeros(k, np.int8),
            np.full(k, np.nan, np.float32),
            added=added,
        )

    @property
    def key(self) -> tuple[int, int]:
        """``(video, index)``."""
        return (self.video, self.index)

    @property
    def n_labelled(self) -> int:
        """Points a person placed or marked occluded."""
        return int(np.isin(self.state, (LABELLED, OCCLUDED)).sum())

    @property
    def status(self) -> str:
        """``done``, ``labelled`` (some points), ``predicted`` (only model points) or ``new``."""
        if self.done:
            return "done"
        if self.n_labelled:
            return "labelled"
        if (self.state == PREDICTED).any():
            return "predicted"
        return "new"

    def to_json(self) -> dict[str, Any]:
        """The frame for the annotation page (NaN as null)."""

        def clean(values: np.ndarray) -> list:
            return [None if not np.isfinite(v) else float(v) for v in values]

        return {
            "video": self.video,
            "index": self.index,
            "x": clean(self.xy[:, 0]),
            "y": clean(self.xy[:, 1]),
            "state": [STATE_NAMES[int(s)] for s in self.state],
            "score": clean(self.score.astype(np.float64)),
            "done": self.done,
            "added": self.added,
            "status": self.status,
        }

    def update_from_json(self, data: dict[str, Any]) -> None:
        """Take the points, states and done flag sent by the annotation page."""
        k = len(self.state)
        codes = {name: code for code, name in STATE_NAMES.items()}
        xs, ys, states = data.get("x"), data.get("y"), data.get("state")
        if not (isinstance(xs, list) and isinstance(ys, list) and isinstance(states, list)):
            raise ProjectError("a frame update needs lists x, y and state")
        if not (len(xs) == len(ys) == len(states) == k):
            raise ProjectError(f"a frame update needs {k} points, got {len(states)}")
        xy = np.array(
            [
                [np.nan if x is None else float(x), np.nan if y is None else float(y)]
                for x, y in zip(xs, ys, strict=True)
            ]
        )
        try:
            state = np.array([codes[s] for s in states], np.int8)
        except KeyError as error:
            raise ProjectError(f"unknown point state {error.args[0]!r}") from None
        bad = (state == LABELLED) & ~np.isfinite(xy).all(axis=1)
        if bad.any():
            raise ProjectError("a labelled point needs a position")
        self.xy, self.state = xy, state
        self.score = np.where(state == PREDICTED, self.score, np.nan).astype(np.float32)
        self.done = bool(data.get("done", self.done))


@dataclass
class Project:
    """A label project: skeleton, videos, frames (see the module docs for the file layout).

    Attributes:
        path: The ``.slp`` file.
        skeleton: The keypoints, their parents (edges) and left/right swaps.
        videos: Absolute paths of the videos the frames come from.
        frames: Frames by ``(video, index)``, in the order they were added.
    """

    path: Path
    skeleton: Skeleton
    videos: list[Path] = field(default_factory=list)
    frames: dict[tuple[int, int], Frame] = field(default_factory=dict)
    _video_metadata: dict[Path, dict[str, Any]] = field(default_factory=dict, repr=False)

    def video_metadata(self, video: Path) -> dict[str, Any]:
        """What SLEAP needs to reopen ``video`` (its kind, shape, fps), probed once."""
        if video not in self._video_metadata:
            metadata: dict[str, Any] = {
                "type": "MediaVideo",
                "filename": str(video),
                "bgr": True,
                "dataset": "",
                "input_format": "",
            }
            if video.is_file():
                import cv2

                capture = cv2.VideoCapture(str(video))
                if capture.isOpened():
                    n = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
                    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
                    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
                    metadata["shape"] = [n, height, width, 3]
                    metadata["fps"] = float(capture.get(cv2.CAP_PROP_FPS)) or None
                capture.release()
            self._video_metadata[video] = metadata
        return self._video_metadata[video]

    # ------------------------------------------------------------------ building
    @classmethod
    def new(cls, path: str | os.PathLike, skeleton: Skeleton) -> Project:
        """An empty project (not saved yet)."""
        return cls(Path(path), skeleton)

    def video_id(self, video: str | os.PathLike) -> int:
        """The index of ``video`` in the project, added when new."""
        resolved = Path(video).expanduser().resolve()
        if resolved not in self.videos:
            self.videos.append(resolved)
        return self.videos.index(resolved)

    def add_frame(self, video: int, index: int, added: str = "sample") -> Frame:
        """The frame ``(video, index)``, added (empty) when not in the project yet."""
        key = (video, int(index))
        if key not in self.frames:
            self.frames[key] = Frame.empty(video, int(index), self.skeleton.n_keypoints, added)
        return self.frames[key]

    @property
    def n_keypoints(self) -> int:
        """Keypoints per frame."""
        return self.skeleton.n_keypoints

    def summary(self) -> dict[str, int]:
        """How many frames are in each status."""
        counts = {"new": 0, "predicted": 0, "labelled": 0, "done": 0}
        for frame in self.frames.values():
            counts[frame.status] += 1
        return counts

    def check_videos(self) -> None:
        """Fail with how to relink when a video is not where the project says.

        Raises:
            ProjectError: A video file is missing.
        """
        for video in self.videos:
            if not video.is_file():
                raise ProjectError(
                    f"{self.path}: video {video} not found (moved or deleted); put it back, or "
                    f"relink it: dpk annotate {self.path} --relink NEW/PATH/{video.name}"
                )

    def relink(self, new_paths: Iterable[str | os.PathLike]) -> list[tuple[Path, Path]]:
        """Point videos at new files, matched by file name.

        Returns:
            The ``(old, new)`` pairs changed.

        Raises:
            ProjectError: A new path does not exist or matches no video of the project.
        """
        changed = []
        for new in new_paths:
            new_path = Path(new).expanduser().resolve()
            if not new_path.is_file():
                raise ProjectError(f"{new}: video file not found (given to --relink)")
            hits = [i for i, v in enumerate(self.videos) if v.name == new_path.name]
            if not hits:
                names = ", ".join(v.name for v in self.videos) or "none"
                raise ProjectError(
                    f"{new}: no video of {self.path} has this file name (its videos: {names})"
                )
            for i in hits:
                changed.append((self.videos[i], new_path))
                self.videos[i] = new_path
        return changed

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | os.PathLike) -> Project:
        """Read a project (any SLEAP file with one skeleton works).

        Raises:
            ProjectError: The file is missing, unreadable or has several skeletons.
        """
        path = Path(path)
        if not path.is_file():
            raise ProjectError(
                f"{path}: label project not found; create one with dpk sample VIDEO -o {path}"
            )
        sio = _sleap_io()
        try:
            labels = sio.load_slp(str(path), open_videos=False)
        except Exception as error:  # sleap-io raises many kinds for damaged files
            raise ProjectError(
                f"{path}: not a readable SLEAP file ({type(error).__name__}: {error})"
            ) from None
        if len(labels.skeletons) != 1:
            raise ProjectError(
                f"{path}: has {len(labels.skeletons)} skeletons; a dpk project has exactly one"
            )
        from dpk.runtime.formats.sleap import skeleton_from_sleap

        skeleton = skeleton_from_sleap(labels.skeletons[0], str(path))
        project = cls(path, skeleton)
        video_ids: dict[int, int] = {}
        for i, video in enumerate(labels.videos):
            name = Path(str(video.filename).replace("\\", "/"))
            if not name.is_absolute():
                name = path.parent / name
            project.videos.append(name)
            video_ids[id(video)] = i
        info = dict(labels.provenance.get("dpk") or {})
        added = {(int(v), int(f)): str(why) for v, f, why in info.get("added", [])}
        names = list(skeleton.names)
        order = [list(labels.skeletons[0].node_names).index(n) for n in names]
        for suggestion in labels.suggestions:
            key = (video_ids[id(suggestion.video)], int(suggestion.frame_idx))
            project.add_frame(*key, added=added.get(key, "sample"))
        for labelled_frame in labels.labeled_frames:
            key = (video_ids[id(labelled_frame.video)], int(labelled_frame.frame_idx))
            frame = project.add_frame(*key, added=added.get(key, "sample"))
            for instance in labelled_frame.instances:
                points = instance.points[order]
                xy = np.asarray(points["xy"], np.float64)
                if type(instance).__name__ == "PredictedInstance":
                    free = (frame.state == MISSING) & np.isfinite(xy).all(axis=1)
                    frame.xy[free] = xy[free]
                    frame.state[free] = PREDICTED
                    scores = np.asarray(points["score"], np.float32)
                    frame.score[free] = scores[free]
                    continue
                visible = np.asarray(points["visible"], bool)
                complete = np.asarray(points["complete"], bool)
                finite = np.isfinite(xy).all(axis=1)
                labelled = visible & finite
                occluded = ~visible & complete
                for mask, code in ((labelled, LABELLED), (occluded, OCCLUDED)):
                    frame.xy[mask] = xy[mask]
                    frame.state[mask] = code
                    frame.score[mask] = np.nan
        for v, f in info.get("done", []):
            if (int(v), int(f)) in project.frames:
                project.frames[(int(v), int(f))].done = True
        return project

    # ------------------------------------------------------------------ writing
    def to_sleap(self) -> Any:
        """The project as a ``sleap_io.Labels``."""
        sio = _sleap_io()
        from dpk.runtime.formats.sleap import skeleton_to_sleap

        skeleton = skeleton_to_sleap(sio, self.skeleton)
        videos = [
            sio.Video(filename=str(v), backend_metadata=self.video_metadata(v), open_backend=False)
            for v in self.videos
        ]
        labelled_frames, suggestions = [], []
        for frame in self.frames.values():
            video = videos[frame.video]
            suggestions.append(sio.SuggestionFrame(video=video, frame_idx=frame.index))
            instances = []
            user = np.isin(frame.state, (LABELLED, OCCLUDED))
            predicted = frame.state == PREDICTED
            if predicted.any():
                points = np.where(predicted[:, None], frame.xy, np.nan)
                scores = np.where(predicted, np.nan_to_num(frame.score, nan=0.0), 0.0)
                instances.append(
                    sio.PredictedInstance.from_numpy(
                        points, skeleton=skeleton, point_scores=scores, score=float(scores.mean())
                    )
                )
            if user.any():
                points = np.where(user[:, None], frame.xy, np.nan)
                instance = sio.Instance.from_numpy(points, skeleton=skeleton)
                instance.points["visible"] = frame.state == LABELLED
                instance.points["complete"] = user
                instances.insert(0, instance)
            if instances:
                labelled_frames.append(
                    sio.LabeledFrame(video=video, frame_idx=frame.index, instances=instances)
                )
        provenance = {
            "dpk": {
                "done": [[f.video, f.index] for f in self.frames.values() if f.done],
                "added": [[f.video, f.index, f.added] for f in self.frames.values()],
                "states": dict(STATE_NAMES.items()),
            }
        }
        return sio.Labels(
            labeled_frames=labelled_frames,
            videos=videos,
            skeletons=[skeleton],
            suggestions=suggestions,
            provenance=provenance,
        )

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the project atomically (a temporary file in the same folder, then a rename).

        Raises:
            OutputError: The file cannot be written; the previous file is untouched.
        """
        target = Path(path) if path is not None else self.path
        labels = self.to_sleap()
        sio = _sleap_io()
        with atomic_output(target) as tmp:
            sio.save_slp(labels, str(tmp), embed=False, verbose=False)
        return target

    # ------------------------------------------------------------------ frames
    def training_arrays(self) -> tuple[list[tuple[int, int]], np.ndarray]:
        """The frames with labelled points and their keypoints (K, 2), NaN where not labelled
        (occluded, missing and unreviewed predictions give no target)."""
        keys, points = [], []
        for frame in self.frames.values():
            if frame.n_labelled:
                keys.append(frame.key)
                points.append(np.where((frame.state == LABELLED)[:, None], frame.xy, np.nan))
        shape = (len(keys), self.n_keypoints, 2)
        return keys, np.array(points, np.float64).reshape(shape)


def read_frame(video: Path, index: int, capture_cache: dict | None = None) -> np.ndarray:
    """Decode one frame (BGR uint8) of ``video``.

    Raises:
        ProjectError: The video cannot be opened or the frame cannot be decoded.
    """
    import cv2

    cache = capture_cache if capture_cache is not None else {}
    capture = cache.get(video)
    if capture is None:
        capture = cv2.VideoCapture(str(video))
        if not capture.isOpened():
            raise ProjectError(f"{video}: cannot open the video (not a video, or damaged)")
        cache[video] = capture
    capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
    ok, image = capture.read()
    if not ok or image is None:
        raise ProjectError(f"{video}: cannot decode frame {index} (damaged or past the end)")
    return image


def skeleton_from_names(names: Sequence[str]) -> Skeleton:
    """A skeleton of keypoint names only (no edges, no swaps)."""
    return Skeleton.from_names(names)
