"""SLEAP predictions out as ``.slp`` (and back in), through sleap-io, and the skeleton
mapping SLEAP labels share.

sleap-io is an optional extra of dpk-runtime (``pip install 'dpk-runtime[sleap]'``) and a
dependency of dpk-trainer; it is imported only when one of these functions runs.

Skeletons map as: node names -> keypoint names, edge ``(source, destination)`` ->
``destination`` hangs from ``source``, symmetry pairs -> left/right swaps
(:func:`skeleton_from_sleap`, :func:`skeleton_to_sleap`). SLEAP projects read as labels
(the user-labelled instances of every video) are dpk-trainer's
:mod:`dpk.trainer.labels.formats.sleap`, which uses both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.formats.options import WriteOptions
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError, SpecError
from dpk.specs.skeleton import Skeleton

__all__ = [
    "import_sleap_io",
    "load_predictions_slp",
    "read_slp",
    "save_predictions_slp",
    "skeleton_from_sleap",
    "skeleton_to_sleap",
]

INSTALL_HINT = "pip install 'dpk-runtime[sleap]'"


def import_sleap_io() -> Any:
    """Import sleap-io, or say how to install it.

    Raises:
        DpkError: sleap-io is not installed (the message says how to install it).
    """
    try:
        import sleap_io
    except ImportError:
        raise DpkError(
            f"SLEAP files need the sleap-io package, which is not installed: {INSTALL_HINT}"
        ) from None
    return sleap_io


def read_slp(path: Path) -> Any:
    """A SLEAP file as sleap-io ``Labels`` (videos not opened), or one clear error.

    Raises:
        DpkError: sleap-io missing, the file not found or not readable.
    """
    if not path.is_file():
        raise DpkError(f"{path}: file not found")
    sio = import_sleap_io()
    try:
        return sio.load_slp(str(path), open_videos=False)
    except Exception as error:  # sleap-io raises many kinds for damaged files
        raise DpkError(
            f"{path}: not a readable SLEAP file ({type(error).__name__}: {error})"
        ) from None


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
    sio = import_sleap_io()
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
    sio = import_sleap_io()
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
    return _predictions_from_sleap(read_slp(path), str(path))
