"""DeepLabCut labels (project folder, ``config.yaml``, CollectedData CSV/HDF5) for training.

Single-animal labels are read by :func:`dpk.trainer.labels.formats.dlc.load_dlc` (whole frames,
or crops with ``data.crop``). Multi-animal labels (``multianimalproject: true``, or a
table with an ``individuals`` header row) are read by
:func:`dpk.trainer.labels.formats.dlc.load_dlc_instances` into the SLEAP path's instances and
train exactly as a ``.slp`` does (:func:`dpk.trainer.data.formats.sleap.load_videos`): a
pose model on crops around each animal (``data.crop``) or an anchor model on whole frames
(``targets.anchor``). Without either, a multi-animal table with more than one labelled
individual is refused with a message saying what to set.
"""

from __future__ import annotations

from pathlib import Path

from dpk.specs.model import ModelSpec
from dpk.trainer.data.formats.common import select_crop_split
from dpk.trainer.data.formats.sleap import load_videos
from dpk.trainer.labels import Labels, LabelsError
from dpk.trainer.labels.formats.dlc import is_multi_animal_dlc, load_dlc, load_dlc_instances

__all__ = ["load"]


def _load_multi_animal(path: Path, spec: ModelSpec) -> tuple[Labels, Labels]:
    """``(train, validation)`` from multi-animal labels: crops or anchor frames."""
    data = spec.data
    assert data is not None
    videos = load_dlc_instances(path, keypoints=spec.skeleton.names)
    animals = sorted({t for v in videos for ts in v.tracks.values() for t in ts if t})
    if data.crop is None and spec.targets.anchor is None and len(animals) > 1:
        first = spec.skeleton.names[0]
        raise LabelsError(
            f"{path}: multi-animal DeepLabCut labels ({len(animals)} individuals: "
            f"{', '.join(animals)}); set data.crop to train a pose model on one crop per "
            f"animal (e.g. crop: {{anchor: {first}, size: {spec.preprocessing.height}}}) or "
            "targets.anchor to train an anchor model that finds every animal"
        )
    return load_videos(videos, path, spec)


def load(path: Path, spec: ModelSpec) -> tuple[Labels, Labels]:
    """``(train, validation)`` from DeepLabCut labels, single- or multi-animal."""
    if is_multi_animal_dlc(path):
        return _load_multi_animal(path, spec)
    return select_crop_split(load_dlc(path), spec)
