"""COCO keypoints JSON for training: whole images (one animal each), or crops around every
animal with ``data.crop``; read by :func:`dpk.trainer.labels.formats.coco.load_coco_labels`
(the layout and decisions are in that module)."""

from __future__ import annotations

from pathlib import Path

from dpk.specs.model import ModelSpec
from dpk.trainer.data.crops import CropStats, crop_frames, keypoint_columns
from dpk.trainer.data.formats.common import select_crop_split
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats.coco import load_coco_labels

__all__ = ["load"]


def _examples(path: Path, spec: ModelSpec) -> Labels:
    """COCO images: whole images (one animal each), or crops around every animal."""
    coco = load_coco_labels(path)
    data = spec.data
    assert data is not None
    if data.crop is None:
        return coco.to_labels()
    columns = keypoint_columns(coco.skeleton.names, spec.skeleton.names, str(path))
    stats = CropStats()
    labels = crop_frames(
        coco.iter_frames(),
        {i: points[:, columns] for i, points in coco.instances.items()},
        skeleton=spec.skeleton,
        crop=data.crop,
        source_of=coco.source,
        origin=str(path),
        stats=stats,
    )
    stats.warn_skipped(str(path), data.crop)
    return labels


def load(path: Path, spec: ModelSpec) -> tuple[Labels, Labels]:
    """``(train, validation)`` from COCO keypoints (crops of every animal with data.crop)."""
    return select_crop_split(_examples(path, spec), spec, crop=False)
