"""NWB (Neurodata Without Borders) predictions with the ndx-pose extension.

Written with pynwb and ndx-pose (``pip install 'dpk-runtime[sleap]'``); read back with
h5py alone. The layout is the one ndx-pose recommends and movement reads
(``movement.io.load_poses.from_nwb_file``):

- ``processing/behavior/Skeletons``: one ``Skeleton`` (nodes = keypoint names, edges =
  (parent, child) index pairs), linked to the ``Subject``;
- ``processing/behavior/PoseEstimation``: one ``PoseEstimationSeries`` per keypoint,
  every series as long as the predictions (one row per predicted frame, NaN where a
  frame could not be read: rows are never dropped), x, y in pixels of the frame, and
  the confidence in [0, 1];
- time in seconds in the series' own fields: ``rate`` = fps / step and
  ``starting_time`` = first frame / fps when the frames are evenly spaced (``--start``,
  ``--step``), else explicit ``timestamps`` = frame index / fps; the fps is the video's
  exact (float) rate, or ``NwbMetadata.fps`` (default 1.0) for image folders;
- ``acquisition/<video name>``: an ``ImageSeries`` that points at the video file (or the
  image files) by absolute path (``external_file``, rate = the video's fps, ``dimension``
  = width, height), linked as the PoseEstimation's ``source_video``, so that a reader
  gets the frame numbers back as ``round(time * fps)``;
- session facts and, when any is given, the ``Subject`` from
  :class:`~dpk.runtime.formats.options.NwbMetadata` (nwbinspector finds no error or
  critical issue when a subject has ``age``; without subject facts there is no Subject).

Several animals (predictions with an instance axis): one ``PoseEstimation`` per track
(:meth:`Predictions.by_track`), named ``PoseEstimation_<track name>``, each with every
row (NaN where the animal is absent), all sharing the skeleton and the source video.
Reading gives one instance row per PoseEstimation, in name order, tracked.

What movement (0.15, ``load_poses.from_nwb_file``) makes of these files:

- it reads one ``PoseEstimation`` (default name ``PoseEstimation``) and names its single
  individual after the file's ``identifier``; for several animals, read each with
  ``pose_estimation_key="PoseEstimation_<track>"`` and rename it, then concatenate::

      ds = xr.concat([load_poses.from_nwb_file(path, pose_estimation_key=f"PoseEstimation_{n}")
                      .assign_coords(individuals=[n]) for n in names], dim="individuals")

  (movement's own writer makes one file per animal, ``identifier`` = the animal's name;
  ``dpk.runtime.formats.load_predictions(path).to_movement()`` gives every animal, named,
  in one step);
- its ``fps`` is the series' ``rate`` (fps / step) and its time ``row / rate``: it drops
  ``starting_time``, so with ``--start`` its times begin at 0, not at the first frame's
  time (dpk's own reader keeps the frame numbers exact: ``round(time * fps)``);
- it sorts keypoints by name.

sleap-io's NWB writer is not used: it cuts the frame rate to an integer and drops the
rows of frames without a pose.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.formats.hdf5 import open_hdf5
from dpk.runtime.formats.options import NwbMetadata, WriteOptions
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton

__all__ = ["frame_times", "load_predictions_nwb", "save_predictions_nwb"]

INSTALL_HINT = "pip install 'dpk-runtime[sleap]'"
REFERENCE_FRAME = (
    "x to the right, y down, in pixels of the video frame; (0, 0) is the centre of the "
    "top-left pixel"
)
CONFIDENCE_DEFINITION = (
    "the peak value of the keypoint's confidence map, clipped to [0, 1]; NaN where the "
    "frame could not be read"
)


def frame_times(frame_indices: np.ndarray, fps: float) -> dict[str, Any]:
    """How NWB stores the times of ``frame_indices`` of a source at ``fps`` frames/s.

    Returns:
        ``{"rate": fps / step, "starting_time": first / fps}`` when the frames are evenly
        spaced (one frame included), else ``{"timestamps": frame_indices / fps}``.
    """
    indices = np.asarray(frame_indices, dtype=np.int64)
    if len(indices) == 0:
        return {"rate": float(fps), "starting_time": 0.0}
    steps = np.unique(np.diff(indices))
    if len(steps) <= 1 and (len(steps) == 0 or steps[0] > 0):
        step = int(steps[0]) if len(steps) else 1
        return {"rate": float(fps) / step, "starting_time": float(indices[0]) / float(fps)}
    return {"timestamps": indices.astype(np.float64) / float(fps)}


def _modules() -> tuple[Any, Any]:
    try:
        import ndx_pose
        import pynwb
    except ImportError as error:
        raise DpkError(f"writing NWB needs pynwb and ndx-pose ({error}): {INSTALL_HINT}") from None
    return pynwb, ndx_pose


def _source_fps(predictions: Predictions, metadata: NwbMetadata) -> tuple[float, bool]:
    """The frames per second of the source, and whether it is the source's own."""
    fps = predictions.source_info.get("fps")
    if predictions.image_names is None and fps and float(fps) > 0:
        return float(fps), True
    return float(metadata.fps or 1.0), False


def _build_file(predictions: Predictions, metadata: NwbMetadata) -> Any:
    pynwb, ndx_pose = _modules()
    from pynwb.file import Subject
    from pynwb.image import ImageSeries

    source = Path(predictions.source) if predictions.source else None
    video_name = source.name if source else "frames"
    model = predictions.model_name or "a dpk model"
    fps, own_fps = _source_fps(predictions, metadata)
    subject_id = metadata.subject_id or "subject"
    nwbfile = pynwb.NWBFile(
        session_description=metadata.session_description
        or f"Poses estimated by dpk ({model}) on {video_name}",
        identifier=metadata.identifier or metadata.subject_id or (source.stem if source else "dpk"),
        session_start_time=metadata.start_time(),
        experimenter=[metadata.experimenter] if metadata.experimenter else None,
        lab=metadata.lab,
        institution=metadata.institution,
    )
    nwbfile.subject = Subject(
        subject_id=subject_id,
        species=metadata.species,
        sex=metadata.sex or "U",
        age=metadata.age,
        description=metadata.subject_description,
    )
    video = None
    if source is not None:
        if predictions.image_names is not None:
            files = [str((source / name).absolute()) for name in predictions.image_names]
            starting_frame, n_samples = list(range(len(files))), len(files)
        else:
            files, starting_frame = [str(source.absolute())], [0]
            last = int(predictions.frame_indices.max()) + 1 if predictions.n_frames else 0
            n_samples = max(int(predictions.source_info.get("n_frames") or 0), last)
        info = predictions.source_info
        size = [int(info["width"]), int(info["height"])] if info.get("width") else None
        video = ImageSeries(
            name=video_name,
            description=f"the frames the poses were estimated on ({video_name})"
            + ("" if own_fps else f"; no frame rate known, {fps} frames/s assumed"),
            unit="n.a.",
            external_file=files,
            starting_frame=starting_frame,
            format="external",
            rate=fps,
            num_samples=n_samples,
            dimension=size if predictions.image_names is None else None,
        )
        nwbfile.add_acquisition(video)
    names = list(predictions.skeleton.names)
    edges = np.array(
        [(p, c) for c, p in predictions.skeleton.edges],
        dtype=np.uint8 if len(names) < 256 else np.uint16,
    ).reshape(-1, 2)
    skeleton = ndx_pose.Skeleton(
        name=f"{subject_id}_skeleton", nodes=names, edges=edges, subject=nwbfile.subject
    )
    behavior = nwbfile.create_processing_module(
        name="behavior", description="poses estimated by dpk"
    )
    behavior.add(ndx_pose.Skeletons(skeletons=[skeleton]))
    times = frame_times(predictions.frame_indices, fps)
    from dpk.runtime.version import __version__

    animals: list[tuple[str, str, np.ndarray]] = [("PoseEstimation", "", predictions.keypoints)]
    if predictions.has_instances:
        tracked = predictions.by_track()
        animals = [
            (f"PoseEstimation_{name}", f" of {name}", tracked.keypoints[:, t])
            for t, name in enumerate(tracked.track_names or [])
        ]
    for title, animal, points in animals:
        keypoints = points.astype(np.float64)
        series = [
            ndx_pose.PoseEstimationSeries(
                name=name,
                description=f"{name}: x, y in pixels",
                data=keypoints[:, k, :2],
                unit="pixels",
                reference_frame=REFERENCE_FRAME,
                confidence=keypoints[:, k, 2],
                confidence_definition=CONFIDENCE_DEFINITION,
                **times,
            )
            for k, name in enumerate(names)
        ]
        behavior.add(
            ndx_pose.PoseEstimation(
                name=title,
                pose_estimation_series=series,
                description=f"Poses{animal} estimated by dpk ({model}); times in seconds at "
                f"{fps} frames/s",
                source_video=video,
                scorer=model,
                source_software="dpk",
                source_software_version=__version__,
                skeleton=skeleton,
            )
        )
    return nwbfile


def save_predictions_nwb(
    path: str | os.PathLike, predictions: Predictions, options: WriteOptions | None = None
) -> None:
    """Write predictions as an NWB file (ndx-pose), atomically; see the module notes.

    Raises:
        DpkError: pynwb or ndx-pose missing, or a bad session start time.
    """
    pynwb, _ = _modules()
    nwbfile = _build_file(predictions, (options or WriteOptions()).nwb)
    with atomic_output(path) as tmp, pynwb.NWBHDF5IO(str(tmp), mode="w") as io:
        io.write(nwbfile)


def _text(value: Any) -> str:
    value = value[()] if isinstance(value, h5py.Dataset) else value
    return value.decode() if isinstance(value, bytes) else str(value)


def _series_times(series: h5py.Group, n: int) -> np.ndarray:
    if "timestamps" in series:
        return np.asarray(series["timestamps"][()], dtype=np.float64)
    start = series["starting_time"]
    return float(start[()]) + np.arange(n) / float(start.attrs["rate"])


def _series_rate(series: h5py.Group) -> float:
    """The frame rate of a series without a source video: its ``rate``, else the median
    step of its timestamps (to 6 decimals, as movement reads it; movement writes
    ``timestamps`` = frame / fps and no video), else 1.0."""
    if "starting_time" in series:
        return float(series["starting_time"].attrs["rate"])
    steps = np.diff(np.asarray(series["timestamps"][()], dtype=np.float64))
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return round(float(1 / np.median(steps)), 6) if len(steps) else 1.0


def _source_video(group: h5py.Group) -> tuple[str | None, float | None]:
    """The first file and the rate of the PoseEstimation's source video, if linked."""
    video = group.get("source_video")
    if isinstance(video, h5py.Group) and "external_file" in video:
        files = [_text(x) for x in video["external_file"][()]]
        rate = float(video["starting_time"].attrs["rate"]) if "starting_time" in video else None
        return (files[0] if files else None), rate
    if "original_videos" in group:  # older ndx-pose files
        videos = [_text(v) for v in group["original_videos"][()]]
        return (videos[0] if videos else None), None
    return None, None


def load_predictions_nwb(
    path: str | os.PathLike, *, fps: float | None = None, skeleton: Skeleton | None = None
) -> Predictions:
    """Read pose predictions from an NWB file (ndx-pose), with h5py alone.

    Frame numbers are ``round(time * fps)``; the fps is ``fps`` when given, else the rate
    of the ``ImageSeries`` of the source video (dpk's files), else the series' own rate
    (a file where every frame has a row), else the median step of its timestamps (files
    movement writes).

    Args:
        path: The ``.nwb`` file.
        fps: Frames per second of the source video.
        skeleton: Skeleton to attach (NWB keeps no left/right swaps); default: the file's
            nodes with parents from its edges.

    Raises:
        DpkError: Not HDF5, or no PoseEstimation.

    Several PoseEstimations (one per animal, as dpk writes tracked animals): keypoints
    (N, A, K, 3), one instance row and track per PoseEstimation in name order, the track
    named by what follows ``PoseEstimation_`` (else the group's name).
    """
    path = Path(path)
    source = str(path)
    f = open_hdf5(path, "not a readable NWB (HDF5) file ({error})")
    with f:
        found: list[tuple[str, str]] = []
        f.visititems(
            lambda name, node: (
                found.append((name, _text(node.attrs.get("neurodata_type", ""))))
                if isinstance(node, h5py.Group)
                else None
            )
        )
        estimations = [name for name, kind in found if kind == "PoseEstimation"]
        skeletons = [name for name, kind in found if kind == "Skeleton"]
        if not estimations:
            raise DpkError(
                f"{source}: no PoseEstimation (ndx-pose) in the file; write one with dpk "
                "predict VIDEO --model MODEL -o poses.nwb"
            )
        estimations.sort()
        video, video_fps = _source_video(f[estimations[0]])
        if skeleton is None:
            if not skeletons:
                raise DpkError(f"{source}: no Skeleton in the file; pass skeleton=...")
            node_group = f[skeletons[0]]
            names = [_text(n) for n in node_group["nodes"][()]]
            edges = node_group["edges"][()] if "edges" in node_group else np.zeros((0, 2))
            parents: list[str | None] = [None] * len(names)
            for a, b in np.asarray(edges, dtype=np.int64).reshape(-1, 2):
                parents[int(b)] = names[int(a)]
            skeleton = Skeleton(names=names, parents=parents)
        rate = fps or video_fps
        per_animal = []
        for estimation in estimations:
            per_node, rate = _read_series(f[estimation], skeleton, rate, source)
            per_animal.append(per_node)
    indices = np.unique(
        np.concatenate([v[0] for per_node in per_animal for v in per_node.values()])
    )
    keypoints = np.full(
        (len(indices), len(per_animal), skeleton.n_keypoints, 3), np.nan, np.float32
    )
    for a, per_node in enumerate(per_animal):
        for k, name in enumerate(skeleton.names):
            frames, data, confidence = per_node[name]
            rows = np.searchsorted(indices, frames)
            keypoints[rows, a, k, :2] = data
            keypoints[rows, a, k, 2] = confidence
    instances: dict[str, Any] = {}
    if len(per_animal) > 1:
        present = np.isfinite(keypoints[..., :2]).any(axis=(2, 3))
        instances = {
            "track_ids": np.where(present, np.arange(len(per_animal))[None, :], -1),
            "track_names": [
                Path(e).name.removeprefix("PoseEstimation_") or Path(e).name for e in estimations
            ],
        }
    return Predictions(
        keypoints=keypoints if instances else keypoints[:, 0],
        frame_indices=indices,
        skeleton=skeleton,
        source=video,
        source_info={"fps": rate} if rate else {},
        model_name=path.name,
        **instances,
    )


def _read_series(
    group: h5py.Group, skeleton: Skeleton, rate: float | None, source: str
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], float | None]:
    """Frames, x, y and confidence of every keypoint's series in one PoseEstimation."""
    per_node = {}
    for name in skeleton.names:
        if name not in group:
            raise DpkError(f"{source}: no series for keypoint {name!r} in {group.name}")
        series = group[name]
        data = np.asarray(series["data"][()], dtype=np.float32).reshape(-1, 2)
        confidence = (
            np.asarray(series["confidence"][()], dtype=np.float32)
            if "confidence" in series
            else np.ones(len(data), np.float32)
        )
        if rate is None:
            rate = _series_rate(series)
        frames = np.rint(_series_times(series, len(data)) * rate).astype(np.int64)
        per_node[name] = (frames, data, confidence)
    return per_node, rate
