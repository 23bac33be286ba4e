"""COCO keypoints JSON as labels: the labelled images and every animal's keypoints.

Layout read: ``categories`` with ``keypoints`` names (the first such category gives the
skeleton; its 1-based ``skeleton`` pairs become parents by
:func:`dpk.runtime.formats.coco.skeleton_from_category`; every keypoint category must name
the same keypoints), ``images`` with ``id`` and ``file_name`` (a path relative to the
JSON file's folder, or absolute; nothing is searched for: a missing image is an error
naming it), and ``annotations`` with ``image_id`` and ``keypoints`` = ``[x, y, v] * K``.

Decisions:

- Coordinates are COCO's pixel indices, which is dpk's convention (the centre of the
  top-left pixel at 0, 0): no shift is applied.
- ``v = 0`` is a missing keypoint (NaN); ``v = 1`` (located but occluded) and ``v = 2``
  (visible) both keep their coordinates.
- Several annotations on one image are several animals (instances, in file order);
  crowd annotations (``iscrowd: 1``) and images without annotations are left out.
- Images are decoded with OpenCV, colour as RGB, gray kept as one channel; all labelled
  images must have one size.

Why not sleap-io's ``load_coco``: see :mod:`dpk.runtime.formats.coco`. Training on these
labels (whole images, or crops around every animal) is
:mod:`dpk.trainer.data.formats.coco`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpk.runtime.formats.coco import (
    is_coco_json,
    keypoint_category,
    read_coco_json,
    skeleton_from_category,
)
from dpk.specs.errors import DpkError
from dpk.specs.skeleton import Skeleton
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats.dlc import read_images

__all__ = ["CocoLabels", "detect", "load_coco_labels"]


@dataclass
class CocoLabels:
    """The labelled images of a COCO keypoints file (images decoded when asked for).

    Attributes:
        path: The JSON file.
        skeleton: Keypoint names and parents (no swaps: COCO has none).
        image_paths: Every labelled image, in the file's order.
        instances: Image position -> float32 (A, K, 2) x, y of its animals (NaN = missing).
    """

    path: Path
    skeleton: Skeleton
    image_paths: list[Path]
    instances: dict[int, np.ndarray]

    @property
    def max_instances(self) -> int:
        """The most animals on one image."""
        return max((len(v) for v in self.instances.values()), default=0)

    def source(self, index: int) -> str:
        """The image file of the labelled image at ``index``."""
        return str(self.image_paths[index])

    def iter_frames(self, indices: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, image (H, W, C))`` of the labelled images (all by default), decoded now."""
        wanted = range(len(self.image_paths)) if indices is None else indices
        for index in wanted:
            yield index, read_images([self.image_paths[index]], str(self.path))[0]

    def to_labels(self) -> Labels:
        """Whole images as single-animal examples.

        Raises:
            DpkError: An image holds several animals (crop them: ``data.crop``), or images
                differ in size or cannot be decoded.
        """
        if self.max_instances > 1:
            raise DpkError(
                f"{self.path}: images hold up to {self.max_instances} animals; add data.crop "
                "to the spec to train on one crop per animal, for example: "
                f"crop: {{anchor: {self.skeleton.names[0]}, size: 128}}"
            )
        labels = Labels(
            images=read_images(self.image_paths, str(self.path)),
            keypoints=np.stack([self.instances[i][0] for i in range(len(self.image_paths))]),
            skeleton=self.skeleton,
            sources=[str(p) for p in self.image_paths],
            origin=str(self.path),
        )
        labels.check_inside()
        return labels


def _image_path(folder: Path, image: dict, source: str) -> Path:
    name = image.get("file_name")
    if not isinstance(name, str) or not name:
        raise DpkError(f"{source}: image {image.get('id')!r} has no file_name")
    path = Path(os.path.expanduser(name))
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        raise DpkError(
            f"{source}: image {name!r} not found at {path}; file names are taken relative to "
            "the JSON file's folder"
        )
    return path


def load_coco_labels(path: str | os.PathLike) -> CocoLabels:
    """Read the labelled images and keypoints of a COCO keypoints JSON file.

    Raises:
        DpkError: Not COCO keypoints, a missing image, an annotation of an unknown image or
            with the wrong number of values, or no labelled image (each names the file).
    """
    path = Path(path)
    source = str(path)
    data = read_coco_json(path)
    category = keypoint_category(data, source)
    skeleton = skeleton_from_category(category, source)
    k = skeleton.n_keypoints
    keypoint_ids = {c.get("id") for c in data["categories"] if c.get("keypoints")}
    by_image: dict[object, list[np.ndarray]] = {}
    known = {image.get("id") for image in data["images"]}
    for annotation in data["annotations"]:
        if annotation.get("iscrowd") or annotation.get("category_id", category.get("id")) not in (
            keypoint_ids
        ):
            continue
        image_id = annotation.get("image_id")
        if image_id not in known:
            raise DpkError(
                f"{source}: annotation {annotation.get('id')!r} names image {image_id!r}, "
                "which is not in 'images'"
            )
        values = np.asarray(annotation.get("keypoints") or [], dtype=np.float64)
        if values.shape != (3 * k,):
            raise DpkError(
                f"{source}: annotation {annotation.get('id')!r} has {values.size} keypoint "
                f"values; expected {3 * k} (x, y, v for {k} keypoints)"
            )
        values = values.reshape(k, 3)
        points = np.where((values[:, 2] > 0)[:, None], values[:, :2], np.nan)
        by_image.setdefault(image_id, []).append(points.astype(np.float32))
    folder = path.parent
    image_paths: list[Path] = []
    instances: dict[int, np.ndarray] = {}
    for image in data["images"]:
        if image.get("id") not in by_image:
            continue
        instances[len(image_paths)] = np.stack(by_image[image["id"]])
        image_paths.append(_image_path(folder, image, source))
    if not image_paths:
        raise DpkError(f"{source}: no image has keypoint annotations (empty set)")
    return CocoLabels(path=path, skeleton=skeleton, image_paths=image_paths, instances=instances)


def detect(path: Path) -> bool:
    """A ``.json`` file with COCO ``images``, ``annotations`` and keypoint ``categories``."""
    return path.suffix.lower() == ".json" and path.is_file() and is_coco_json(path)
