"""COCO keypoints JSON: predictions out (and back in), and the skeleton rules labels share.

Hand-written rather than through sleap-io's ``load_coco``/``save_coco`` (sleap-io 0.9.5):
its writer stores no ``score`` and no per-keypoint confidence (every point is ``v=2``) and
names image files that a video has not got; its reader looks images up by file name
anywhere below the dataset folder and skips images it cannot find with only a warning,
where dpk refuses a missing image. The format is small; its file and skeleton rules live
here once, shared by the prediction reader below and dpk-trainer's label reader
(:mod:`dpk.trainer.labels.formats.coco`, COCO training labels).

Coordinates: COCO keypoints are pixel indices (the centre of the top-left pixel at 0, 0,
as detectron2 documents for COCO keypoints), which is dpk's convention: no shift is
applied either way.

Written file (one category, ``categories[0]``):

- ``categories[0]``: ``keypoints`` = the skeleton's names, ``skeleton`` = 1-based
  ``[parent, child]`` pairs of its edges (swaps are not stored: COCO has no field).
- ``images``: one per frame, ``id`` = row + 1, ``file_name`` = the image's name for image
  inputs or ``VIDEO#frame=N`` for video, ``frame_index`` = N (a dpk extra), ``width``
  and ``height`` when the source is known.
- ``annotations``: one per frame with at least one keypoint; ``keypoints`` =
  ``[x, y, v] * K`` with ``v = 2`` (visible) where the confidence is at least the
  visibility threshold (``--visibility-threshold``, default 0.2), ``v = 1`` (located, not
  visible) below it and ``0, 0, 0`` for a missing point; ``score`` = the mean confidence
  of the located points; ``keypoint_scores`` = every point's confidence (as mmpose
  writes it); ``bbox`` and ``area`` span the located points; ``num_keypoints`` counts
  ``v > 0``. Frames that could not be read have an image entry and no annotation.

Several animals (predictions with an instance axis): one annotation per animal present,
with the dpk extras ``instance`` (its row, 0 .. A-1), ``track_id`` (-1 = none) and
``track_name`` (when tracked), and ``score`` = the instance's score; ``info.tracks``
lists the track names (index = track id) and ``info.instances`` is A.

Reading back (:func:`load_predictions_coco`) restores x, y and the confidences
(``keypoint_scores``; without them a located point takes the annotation's ``score``, or
1) exactly; ``v = 0`` is NaN; files with dpk's ``instance`` extras come back with their
instance rows and tracks.

Skeleton from a category (:func:`skeleton_from_category`): ``[a, b]`` makes ``b`` hang
from ``a``; when ``b`` already has a parent the pair is taken as ``a`` hanging from
``b`` if ``a`` has none; a pair that would close a cycle (COCO's human skeleton has
them) is left out of the tree.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from dpk.runtime.formats.options import WriteOptions
from dpk.runtime.predictions import Predictions, default_track_name
from dpk.runtime.video import video_source
from dpk.specs.errors import DpkError
from dpk.specs.files import write_text_atomic
from dpk.specs.skeleton import Skeleton

__all__ = [
    "is_coco_json",
    "keypoint_category",
    "load_predictions_coco",
    "read_coco_json",
    "save_predictions_coco",
    "skeleton_category",
    "skeleton_from_category",
]

_REQUIRED = ("images", "annotations", "categories")


def read_coco_json(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed JSON of a COCO keypoints file.

    Raises:
        DpkError: Missing or unreadable file, not JSON, or no ``images``,
            ``annotations`` and ``categories`` lists.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DpkError(f"{path}: file not found") from None
    except OSError as error:
        raise DpkError(f"{path}: cannot read the file ({error.strerror})") from None
    except ValueError as error:
        raise DpkError(f"{path}: not valid JSON ({error}); the file may be truncated") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in _REQUIRED):
        raise DpkError(
            f"{path}: not a COCO keypoints file: it needs 'images', 'annotations' and "
            "'categories' lists"
        )
    return data


def is_coco_json(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a COCO keypoints JSON file (never raises)."""
    try:
        data = read_coco_json(path)
    except DpkError:
        return False
    return any(isinstance(c, dict) and "keypoints" in c for c in data["categories"])


def keypoint_category(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The first category with ``keypoints``; every keypoint category must name the same.

    Raises:
        DpkError: No keypoint category, or two with different keypoint names.
    """
    categories = [c for c in data["categories"] if isinstance(c, dict) and c.get("keypoints")]
    if not categories:
        raise DpkError(f"{source}: no category has 'keypoints' names; not COCO keypoints")
    first = categories[0]
    for other in categories[1:]:
        if list(other["keypoints"]) != list(first["keypoints"]):
            raise DpkError(
                f"{source}: categories {first.get('name')!r} and {other.get('name')!r} name "
                "different keypoints; dpk reads one skeleton per file (split the file)"
            )
    return first


def skeleton_from_category(category: dict[str, Any], source: str) -> Skeleton:
    """dpk's skeleton from a COCO category (see the module notes for the edge rules).

    Raises:
        DpkError: Repeated or empty names, or a skeleton pair that is not two 1-based
            keypoint numbers.
    """
    names = [str(n) for n in category["keypoints"]]
    if len(set(names)) != len(names) or not all(names):
        raise DpkError(f"{source}: keypoint names must be unique and non-empty, got {names}")
    parent: list[int | None] = [None] * len(names)

    def root(i: int) -> int:
        while parent[i] is not None:
            i = parent[i]  # type: ignore[assignment]
        return i

    for pair in category.get("skeleton") or []:
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(v, int) and 1 <= v <= len(names) for v in pair)
        ):
            raise DpkError(
                f"{source}: skeleton pair {pair!r} is not two keypoint numbers from 1 to "
                f"{len(names)}"
            )
        a, b = pair[0] - 1, pair[1] - 1
        if a == b or root(a) == root(b):
            continue  # a loop or a cycle: not part of the tree
        if parent[b] is None:
            parent[b] = a
        elif parent[a] is None:
            parent[a] = b
    return Skeleton(
        names=names,
        parents=[None if p is None else names[p] for p in parent],
        swaps=[None] * len(names),
    )


def skeleton_category(skeleton: Skeleton, name: str = "animal") -> dict[str, Any]:
    """The COCO category of a dpk skeleton (id 1; edges as 1-based ``[parent, child]``)."""
    return {
        "id": 1,
        "name": name,
        "supercategory": "animal",
        "keypoints": list(skeleton.names),
        "skeleton": [[parent + 1, child + 1] for child, parent in skeleton.edges],
    }


def _annotation(points: np.ndarray, threshold: float, ann_id: int, image_id: int) -> dict:
    """One annotation of (K, 3) x, y, confidence; None-free floats for JSON."""
    located = ~np.isnan(points[:, :2]).any(axis=1)
    keypoints: list[float | int] = []
    scores: list[float] = []
    for (x, y, c), ok in zip(points.tolist(), located.tolist(), strict=True):
        conf = 0.0 if math.isnan(c) else float(c)
        if ok:
            keypoints += [float(x), float(y), 2 if conf >= threshold else 1]
        else:
            keypoints += [0, 0, 0]
        scores.append(conf if ok else 0.0)
    xy = points[located, :2].astype(np.float64)
    x0, y0 = xy.min(axis=0).tolist()
    x1, y1 = xy.max(axis=0).tolist()
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "keypoints": keypoints,
        "num_keypoints": int(located.sum()),
        "score": float(np.mean([s for s, ok in zip(scores, located, strict=True) if ok])),
        "keypoint_scores": scores,
        "bbox": [x0, y0, x1 - x0, y1 - y0],
        "area": (x1 - x0) * (y1 - y0),
        "iscrowd": 0,
    }


def save_predictions_coco(
    path: str | os.PathLike, predictions: Predictions, options: WriteOptions | None = None
) -> Path:
    """Write predictions as COCO keypoints JSON (atomically; layout in the module notes).

    Args:
        path: The ``.json`` file.
        predictions: What to write.
        options: ``visibility_threshold``: confidence at or above which a point is ``v=2``.

    Returns:
        The path written.

    Raises:
        OutputError: The folder is missing or not writable.
    """
    threshold = (options or WriteOptions()).visibility_threshold
    info = predictions.source_info
    video = Path(predictions.source).name if predictions.source else "video"
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    multi = predictions.has_instances
    keypoints = predictions.keypoints if multi else predictions.keypoints[:, None]
    n, a = keypoints.shape[:2]
    ids = predictions.track_ids if predictions.track_ids is not None else np.full((n, a), -1)
    names = predictions.track_names or []
    for row, frame in enumerate(predictions.frame_indices.tolist()):
        if predictions.image_names is not None:
            name = predictions.image_names[row]
        else:
            name = video_source(video, frame)
        image: dict[str, Any] = {"id": row + 1, "file_name": name, "frame_index": frame}
        if info.get("width") and info.get("height"):
            image["width"], image["height"] = int(info["width"]), int(info["height"])
        images.append(image)
        for j in range(a):
            points = keypoints[row, j]
            if np.isnan(points[:, :2]).all():
                continue
            annotation = _annotation(points, threshold, len(annotations) + 1, row + 1)
            if multi:
                assert predictions.instance_scores is not None
                score = float(predictions.instance_scores[row, j])
                track = int(ids[row, j])
                annotation["instance"] = j
                annotation["track_id"] = track
                if track >= 0:
                    annotation["track_name"] = names[track]
                if math.isfinite(score):
                    annotation["score"] = score
            annotations.append(annotation)
    info_extra: dict[str, Any] = {}
    if multi:
        info_extra = {"instances": a, "tracks": list(names)}
    document = {
        "info": {
            "description": f"dpk predictions of {predictions.source or 'images'}",
            "model": predictions.model_name,
            "visibility_threshold": threshold,
            **info_extra,
        },
        "images": images,
        "annotations": annotations,
        "categories": [skeleton_category(predictions.skeleton)],
    }
    return write_text_atomic(path, json.dumps(document, allow_nan=False) + "\n")


def load_predictions_coco(path: str | os.PathLike) -> Predictions:
    """Read COCO keypoints JSON with at most one annotation per image as predictions.

    Files dpk wrote with several animals (annotations with an ``instance`` extra) come
    back with keypoints (N, A, K, 3), track ids, instance scores and track names.

    Raises:
        DpkError: Not COCO keypoints, malformed keypoints, or several annotations on one
            image (read such a file as training labels instead).
    """
    path = Path(path)
    data = read_coco_json(path)
    category = keypoint_category(data, str(path))
    skeleton = skeleton_from_category(category, str(path))
    k = skeleton.n_keypoints
    rows = {image["id"]: row for row, image in enumerate(data["images"])}
    multi = any("instance" in annotation for annotation in data["annotations"])
    info_block = data.get("info") or {}
    a = 1
    if multi:
        a = max(
            [int(info_block.get("instances", 0))]
            + [int(ann.get("instance", 0)) + 1 for ann in data["annotations"]]
        )
    keypoints = np.full((len(rows), a, k, 3), np.nan, dtype=np.float32)
    ids = np.full((len(rows), a), -1, np.int64)
    instance_scores = np.full((len(rows), a), np.nan, np.float32)
    track_names: dict[int, str] = dict(enumerate(info_block.get("tracks") or []))
    seen: set[tuple[int, int]] = set()
    for annotation in data["annotations"]:
        image_id = annotation.get("image_id")
        if image_id not in rows:
            raise DpkError(f"{path}: annotation {annotation.get('id')} names no image")
        slot = int(annotation.get("instance", 0)) if multi else 0
        if multi and (image_id, slot) in seen:
            raise DpkError(
                f"{path}: image {image_id} has two annotations of instance {slot}; "
                "instances must differ per image"
            )
        if not multi and (image_id, 0) in seen:
            raise DpkError(
                f"{path}: image {image_id} has several annotations; predictions have one "
                "animal per frame (read the file as training labels, data.path)"
            )
        seen.add((image_id, slot))
        values = np.asarray(annotation.get("keypoints", []), dtype=np.float64)
        if values.shape != (3 * k,):
            raise DpkError(
                f"{path}: annotation {annotation.get('id')} has {values.size} keypoint values; "
                f"expected {3 * k} (x, y, v for {k} keypoints)"
            )
        values = values.reshape(k, 3)
        scores = annotation.get("keypoint_scores")
        if scores is None:
            scores = [annotation.get("score", 1.0)] * k
        located = values[:, 2] > 0
        out = keypoints[rows[image_id], slot]
        out[located, :2] = values[located, :2]
        out[located, 2] = np.asarray(scores, dtype=np.float64)[located]
        if multi:
            track = int(annotation.get("track_id", -1))
            ids[rows[image_id], slot] = track
            if "score" in annotation:
                instance_scores[rows[image_id], slot] = float(annotation["score"])
            if track >= 0 and "track_name" in annotation:
                track_names.setdefault(track, str(annotation["track_name"]))
    images = data["images"]
    names = [str(i.get("file_name", "")) for i in images]
    by_frame = all("frame_index" in i for i in images)
    frames = [int(i["frame_index"]) if by_frame else n for n, i in enumerate(images)]
    is_video = bool(names) and all("#frame=" in n for n in names)
    first = images[0] if images else {}
    info = {"width": first.get("width"), "height": first.get("height")} if first else {}
    instances: dict[str, Any] = {}
    if multi:
        n_tracks = max(max(track_names, default=-1), int(ids.max(initial=-1))) + 1
        instances = {
            "track_ids": ids,
            "instance_scores": instance_scores,
            "track_names": [track_names.get(t, default_track_name(t)) for t in range(n_tracks)],
        }
    return Predictions(
        keypoints=keypoints if multi else keypoints[:, 0],
        frame_indices=np.asarray(frames, dtype=np.int64),
        skeleton=skeleton,
        source=names[0].split("#frame=")[0] if is_video else None,
        source_info={key: v for key, v in info.items() if v},
        image_names=None if is_video else names,
        model_name=info_block.get("model"),
        **instances,
    )
