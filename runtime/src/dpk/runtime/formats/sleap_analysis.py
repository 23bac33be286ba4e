"""SLEAP analysis HDF5 (``.analysis.h5``): dense track arrays, read and written with h5py.

The file SLEAP's "Export Analysis HDF5" and ``sleap-convert --format analysis`` write
(``sleap/info/write_tracking_h5.py``), the one movement reads with
``load_poses.from_sleap_file`` and sleap-io with ``load_analysis_h5``. Datasets, in
SLEAP's layout (its arrays are transposed on write, "column-major as expected by MATLAB";
sleap-io calls this the ``matlab`` preset):

- ``tracks``: float64 (n_tracks, 2, n_nodes, n_frames), x, y in pixels (SLEAP's and dpk's
  convention: the centre of the top-left pixel is (0, 0)), NaN where a point is missing;
- ``track_occupancy``: uint8 (n_frames, n_tracks), 1 where the animal is present (frames
  first, unlike the other arrays: SLEAP's own quirk, kept by sleap-io);
- ``point_scores``: float64 (n_tracks, n_nodes, n_frames), the confidence of each point;
- ``instance_scores``, ``tracking_scores``: float64 (n_tracks, n_frames);
- ``track_names`` (n_tracks,) bytes, empty for an untracked single animal (movement then
  names it by its default); ``node_names`` (n_nodes,) bytes; ``edge_names`` (n_edges, 2)
  bytes and ``edge_inds`` (n_edges, 2) int64, (source, destination) = (parent, child);
- ``video_path`` (the video, absolute; for image folders the first image, as SLEAP writes
  image sequences), ``video_ind`` (0), ``labels_path`` (empty), ``provenance`` (JSON).

Frame axis: row ``i`` is video frame ``i`` from frame 0 to the last predicted frame
(SLEAP's ``all_frames``), so frames dpk did not predict (``--start``, ``--step``) are NaN
rows with occupancy 0; for image folders row ``i`` is the ``i``-th image. Every track of
the predictions is a track of the file (:meth:`Predictions.by_track`), except tracks
that are never present (SLEAP drops them); single-animal predictions are one track
without a name. Points keep their coordinates whatever their confidence (the file has no
visibility flag: filter on ``point_scores``), ``tracking_scores`` are NaN (dpk's tracker
gives none). Written as sleap-io does, with a ``dims`` attribute on every array and the
file attributes ``format`` = ``analysis``, ``preset`` = ``matlab``, ``skeleton_symmetries``
(left/right swaps), plus for dpk's reader the attribute ``dpk.source_info`` (JSON: fps,
size) and, for image folders, the dataset ``dpk_image_names``.

Reading accepts SLEAP's files (no ``dims``: the MATLAB layout) and sleap-io's in any
preset (axes from ``dims``). Rows where no animal has a point are left out; one unnamed
track reads as single-animal keypoints (N, K, 3), else (N, T, K, 3) with one row per track,
``track_ids`` where an animal has a point and ``track_names`` (``track_0`` ... when the
file has none).

Not through sleap-io (0.9.5), although it reads and writes the format, because it
measurably falls short here: it writes the ``video_path`` of an image sequence as an
array that its own reader then fails on (``AttributeError``); its writer needs a SLEAP
``Labels`` object of one ``PredictedInstance`` per animal and frame built first, only to
be flattened back to these arrays; and it names an untracked animal ``track_0`` where
SLEAP writes no name. The tests check that sleap-io and movement read dpk's files and
that dpk reads sleap-io's.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from dpk.runtime.formats.hdf5 import open_hdf5
from dpk.runtime.predictions import Predictions
from dpk.runtime.version import __version__
from dpk.specs.errors import DpkError, SpecError
from dpk.specs.files import write_bytes_atomic
from dpk.specs.skeleton import Skeleton

__all__ = [
    "ANALYSIS_SUFFIX",
    "is_sleap_analysis",
    "load_predictions_analysis",
    "save_predictions_analysis",
]

ANALYSIS_SUFFIX = ".analysis.h5"
"""The ending SLEAP gives analysis files (movement and SLEAP also read plain ``.h5``)."""

_CANONICAL = ("frame", "track", "node", "xy")


def _bytes(names: list[str]) -> np.ndarray:
    """Names as a fixed-length bytes array (what SLEAP writes and movement decodes)."""
    return np.array([n.encode("utf-8") for n in names], dtype=np.bytes_)


def _dense(predictions: Predictions) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Keypoints (frames, tracks, K, 3) with row = frame index, instance scores (frames,
    tracks), and the track names (empty for one untracked animal)."""
    if predictions.has_instances:
        tracked = predictions.by_track()
        keypoints, names = tracked.keypoints, list(tracked.track_names or [])
        assert tracked.instance_scores is not None
        scores = tracked.instance_scores
        present = np.isfinite(keypoints[..., :2]).any(axis=(0, 2, 3))
        keypoints, scores = keypoints[:, present], scores[:, present]
        names = [name for name, keep in zip(names, present, strict=True) if keep]
    else:
        keypoints, names = predictions.keypoints[:, None], []
        with warnings.catch_warnings():  # frames without a point: mean of nothing, NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            scores = np.nanmean(keypoints[..., 2], axis=-1)
    rows = (
        np.arange(predictions.n_frames)
        if predictions.image_names is not None
        else predictions.frame_indices
    )
    n = int(rows.max()) + 1 if len(rows) else 0
    dense = np.full((n, *keypoints.shape[1:]), np.nan, np.float64)
    dense_scores = np.full((n, keypoints.shape[1]), np.nan, np.float64)
    dense[rows], dense_scores[rows] = keypoints, scores
    return dense, dense_scores, names


def _stored(array: np.ndarray, dims: tuple[str, ...]) -> np.ndarray:
    """A canonical (frame, track[, node[, xy]]) array with its axes in the order ``dims``."""
    return np.transpose(array, [_CANONICAL.index(d) for d in dims])


def _video_path(predictions: Predictions) -> str:
    if predictions.source is None:
        return ""
    source = Path(predictions.source).absolute()
    if predictions.image_names is not None:
        return str(source / predictions.image_names[0]) if predictions.image_names else ""
    return str(source)


def _symmetries(skeleton: Skeleton) -> list[tuple[str, str]]:
    names, pairs = list(skeleton.names), []
    for i, s in enumerate(skeleton.swap_indices):
        if s > i:
            pairs.append((names[i], names[s]))
    return pairs


def save_predictions_analysis(path: str | os.PathLike, predictions: Predictions) -> Path:
    """Write predictions as a SLEAP analysis HDF5 file, atomically; see the module notes.

    Args:
        path: The output, usually ``NAME.analysis.h5``.
        predictions: What to write (one animal, or several with tracks).

    Returns:
        The path written.

    Raises:
        DpkError: An animal has no track (see :meth:`Predictions.by_track`).
        OutputError: The folder is missing or not writable.
    """
    keypoints, scores, track_names = _dense(predictions)
    occupancy = np.isfinite(keypoints[..., :2]).any(axis=(2, 3)).astype(np.uint8)
    names = list(predictions.skeleton.names)
    edges = [(p, c) for c, p in predictions.skeleton.edges]
    layout: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {  # SLEAP's (MATLAB) axes
        "tracks": (keypoints[..., :2], ("track", "xy", "node", "frame")),
        "track_occupancy": (occupancy, ("frame", "track")),
        "point_scores": (keypoints[..., 2], ("track", "node", "frame")),
        "instance_scores": (scores, ("track", "frame")),
        "tracking_scores": (np.full_like(scores, np.nan), ("track", "frame")),
    }
    buffer = io.BytesIO()  # built in memory, then one plain write (as predictions_h5)
    with h5py.File(buffer, "w") as f:
        for name, (data, dims) in layout.items():
            dataset = f.create_dataset(
                name, data=_stored(data, dims), compression="gzip", compression_opts=4
            )
            dataset.attrs["dims"] = json.dumps(dims)
        f.create_dataset("track_names", data=_bytes(track_names))
        f.create_dataset("node_names", data=_bytes(names))
        f.create_dataset(
            "edge_names",
            data=np.array(
                [(names[p].encode(), names[c].encode()) for p, c in edges], np.bytes_
            ).reshape(-1, 2),
        )
        f.create_dataset("edge_inds", data=np.array(edges, np.int64).reshape(-1, 2))
        f.create_dataset("labels_path", data="")
        f.create_dataset("video_path", data=_video_path(predictions))
        f.create_dataset("video_ind", data=0)
        provenance = {"software": "dpk", "version": __version__, "model": predictions.model_name}
        f.create_dataset("provenance", data=json.dumps(provenance))
        f.attrs["format"] = "analysis"
        f.attrs["preset"] = "matlab"
        f.attrs["skeleton_symmetries"] = json.dumps(_symmetries(predictions.skeleton))
        f.attrs["dpk.source_info"] = json.dumps(predictions.source_info, default=str)
        if predictions.image_names is not None:  # a dataset: attributes stop at 64 KiB
            f.create_dataset(
                "dpk_image_names", data=predictions.image_names, dtype=h5py.string_dtype()
            )
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def is_sleap_analysis(path: str | os.PathLike) -> bool:
    """The file is a SLEAP analysis HDF5 file (``tracks`` and ``track_occupancy``, the
    test SLEAP and sleap-io use)."""
    try:
        with h5py.File(path, "r") as f:
            return isinstance(f.get("tracks"), h5py.Dataset) and "track_occupancy" in f
    except (OSError, ValueError):
        return False


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):  # sleap-io writes image sequences as an array
        value = value.flat[0] if value.size else b""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _dims(dataset: h5py.Dataset, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = dataset.attrs.get("dims")
    return tuple(json.loads(_text(raw))) if raw is not None else default


def _canonical(dataset: h5py.Dataset, default: tuple[str, ...]) -> np.ndarray:
    """The dataset with its axes in the order (frame, track, node, xy) (those it has)."""
    dims = _dims(dataset, default)
    order = [dims.index(d) for d in _CANONICAL if d in dims]
    return np.transpose(np.asarray(dataset[()], dtype=np.float64), order)


def _legacy_dims(f: h5py.File, ndim: int) -> tuple[str, ...]:
    """Axes of an array of ``ndim`` dimensions in a file without ``dims``: SLEAP's
    transposed layout, else (SLEAP's ``transpose=False``) frame, node, xy, track."""
    if bool(f.attrs.get("transpose", True)):
        order: tuple[str, ...] = ("track", "xy", "node", "frame")
    else:
        order = ("frame", "node", "xy", "track")
    return tuple(d for d in order if d in _CANONICAL[:ndim])


def _skeleton(f: h5py.File, n_nodes: int, source: str) -> Skeleton:
    names = [_text(n) for n in f["node_names"][()]] if "node_names" in f else []
    names = names or [f"node_{i}" for i in range(n_nodes)]
    edges: list[tuple[str, str]] = []
    if "edge_inds" in f and f["edge_inds"].size:
        pairs = np.asarray(f["edge_inds"][()], dtype=np.int64).reshape(-1, 2)
        edges = [(names[int(a)], names[int(b)]) for a, b in pairs]
    elif "edge_names" in f and f["edge_names"].size:
        edges = [(_text(a), _text(b)) for a, b in np.asarray(f["edge_names"][()]).reshape(-1, 2)]
    symmetries = json.loads(_text(f.attrs.get("skeleton_symmetries", "[]")))
    try:
        return Skeleton.from_edges(names, edges, [tuple(pair) for pair in symmetries])
    except SpecError as error:
        raise DpkError(
            f"{source}: the skeleton does not fit dpk's posture graph: {error}"
        ) from None


def _arrays(f: h5py.File) -> dict[str, Any]:
    """The file's arrays in canonical axis order: ``tracks`` (frame, track, node, xy),
    ``point_scores`` (frame, track, node), ``instance_scores`` (frame, track) or None."""
    tracks = _canonical(f["tracks"], _legacy_dims(f, 4))
    scores = np.full(tracks.shape[:3], np.nan)
    if "point_scores" in f:
        scores = _canonical(f["point_scores"], _legacy_dims(f, 3))
    instance_scores = None
    if "instance_scores" in f:
        instance_scores = _canonical(f["instance_scores"], _legacy_dims(f, 2))
    return {"tracks": tracks, "point_scores": scores, "instance_scores": instance_scores}


def _dpk_attrs(f: h5py.File) -> tuple[dict[str, Any], list[str] | None]:
    """The source facts and image names dpk stores, if the file has them."""
    info = json.loads(_text(f.attrs.get("dpk.source_info", "{}")))
    names = f.get("dpk_image_names")
    return info, ([_text(n) for n in names[()]] if isinstance(names, h5py.Dataset) else None)


def load_predictions_analysis(path: str | os.PathLike) -> Predictions:
    """Read a SLEAP analysis HDF5 file (SLEAP's, sleap-io's or dpk's); see the module notes.

    Raises:
        DpkError: Missing file, not HDF5, not an analysis file, or a skeleton dpk cannot
            represent (a keypoint with two parents).
    """
    path = Path(path)
    f = open_hdf5(
        path, "not a readable HDF5 file ({error})", not_found="predictions file not found"
    )
    with f:
        if not (isinstance(f.get("tracks"), h5py.Dataset) and "track_occupancy" in f):
            raise DpkError(
                f"{path}: not a SLEAP analysis file (no 'tracks' and 'track_occupancy'); "
                "export one with sleap-convert --format analysis or dpk predict -o x.analysis.h5"
            )
        arrays = _arrays(f)
        track_names = [_text(n) for n in f["track_names"][()]] if "track_names" in f else []
        skeleton = _skeleton(f, arrays["tracks"].shape[2], str(path))
        video = _text(f["video_path"][()]) if "video_path" in f else ""
        source_info, image_names = _dpk_attrs(f)
    tracks = arrays["tracks"]
    present = np.isfinite(tracks).any(axis=(2, 3))  # (frames, tracks)
    rows = np.nonzero(present.any(axis=1))[0]
    keypoints = np.concatenate([tracks, arrays["point_scores"][..., None]], axis=-1)[rows]
    source = video or None
    if image_names is not None:
        source = str(Path(video).parent) if video else None
        image_names = [image_names[int(i)] for i in rows]
    common: dict[str, Any] = dict(
        frame_indices=rows,
        skeleton=skeleton,
        source=source,
        source_info=source_info,
        image_names=image_names,
        model_name=path.name,
    )
    n_tracks = tracks.shape[1]
    if n_tracks == 1 and not track_names:
        return Predictions(keypoints=keypoints[:, 0], **common)
    scores = arrays["instance_scores"]
    return Predictions(
        keypoints=keypoints,
        track_ids=np.where(present[rows], np.arange(n_tracks)[None, :], -1),
        instance_scores=None if scores is None else scores[rows],
        track_names=track_names or [f"track_{t}" for t in range(n_tracks)],
        **common,
    )
