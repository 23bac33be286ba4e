"""DeepLabCut labels (project folder, ``config.yaml``, CollectedData CSV/HDF5) for training;
read by :func:`dpk.runtime.formats.dlc.load_dlc`."""

from __future__ import annotations

from pathlib import Path

from dpk.runtime.formats import hdf5_kind
from dpk.runtime.formats.dlc import is_dlc_path, load_dlc
from dpk.runtime.labels import Labels
from dpk.specs.model import ModelSpec
from dpk.trainer.data.formats.common import select_crop_split

__all__ = ["detect", "load"]


def detect(path: Path) -> bool:
    """A DeepLabCut project or table (an ``.h5`` by its pandas content, never its name)."""
    if path.is_file() and path.suffix.lower() in (".h5", ".hdf5"):
        return hdf5_kind(path) == "dlc_table"
    return is_dlc_path(path)


def load(path: Path, spec: ModelSpec) -> tuple[Labels, Labels]:
    """``(train, validation)`` from DeepLabCut labels."""
    return select_crop_split(load_dlc(path), spec)
