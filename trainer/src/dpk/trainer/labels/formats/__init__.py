"""Label formats: one module per format and one registry that dispatches them.

:data:`LABEL_FORMATS` lists every label format once (name, suffixes, description, the
label module with its ``detect`` and readers, and the training module with its ``load``);
:func:`label_format` (and so :func:`dpk.trainer.data.detect_format` and ``data.format``
in a spec) comes from it. Each training ``load(path, spec)``
(:mod:`dpk.trainer.data.formats`) returns ``(train, validation)`` labels in the spec's
skeleton order, cropped when ``data.crop`` is set and split by frame;
``load_training_data`` then brings them to the model's channels and size.

=========== ============================== ===================== ======================
format      what                           module (reading)      training
=========== ============================== ===================== ======================
``slp``     SLEAP ``.slp`` (every video)   ``sleap``             ``data.formats.sleap``
``dpk_h5``  DeepPoseKit annotation ``.h5`` ``dpk_h5`` (+ write)  ``data.formats.dpk_h5``
``dlc``     DeepLabCut project or table    ``dlc``               ``data.formats.dlc``
``coco``    COCO keypoints ``.json``       ``coco``              ``data.formats.coco``
=========== ============================== ===================== ======================

The labelling tools (:mod:`dpk.trainer.labelling`) use the same modules: a label project
is a SLEAP file, and ``dpk project import|export`` reads and writes DeepPoseKit files.
What both labels and predictions need stays in the runtime, below this package: the
DeepLabCut table parsers (:mod:`dpk.runtime.formats.dlc_table`), the SLEAP skeleton
mapping (:func:`dpk.runtime.formats.sleap.skeleton_from_sleap`), COCO's file and
category rules (:mod:`dpk.runtime.formats.coco`), and what an HDF5 file holds
(:func:`dpk.runtime.formats.hdf5_kind`). None of these modules imports TensorFlow.

What is hand-written, and why. sleap-io does SLEAP files right, so ``.slp`` labels and
label projects are read and written through it (``sleap_io.load_slp``/``save_slp``); dpk
adds only what training needs on top: the user-labelled instances of every video, frames
decoded on demand in one pass, stale video paths and image sequences found. sleap-io has
no DeepPoseKit reader, so the DeepPoseKit HDF5 module is ours (h5py). Its DeepLabCut
reader reads the CSV only, through pandas; DeepLabCut keeps labels as
``CollectedData_*.h5`` too, so dpk reads both (the pandas HDF5 with h5py alone, no pandas
or PyTables), with the multi-animal rules of :mod:`.dlc`. Its COCO reader searches for
images by file name and skips missing ones with a warning, where dpk refuses a missing
image (:mod:`dpk.runtime.formats.coco` says more).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpk.specs.errors import DpkError

__all__ = ["LABEL_FORMATS", "LabelFileFormat", "label_format"]


@dataclass(frozen=True)
class LabelFileFormat:
    """One label format.

    Attributes:
        name: The ``data.format`` name.
        suffixes: File endings it reads (empty for folders: ``detect`` decides).
        description: For messages.
        module: The label module, with ``detect(path) -> bool`` and the format's readers
            (and writers).
        training: The training module, with ``load(path, spec) -> (train, validation)``.
    """

    name: str
    suffixes: tuple[str, ...]
    description: str
    module: str
    training: str

    def function(self, role: str) -> Callable[..., Any]:
        """The format's ``detect`` (label module) or ``load`` (training module) function,
        its module imported now."""
        module = self.training if role == "load" else self.module
        return getattr(importlib.import_module(module), role)


_LIST = (
    LabelFileFormat(
        "slp",
        (".slp",),
        "a SLEAP .slp",
        "dpk.trainer.labels.formats.sleap",
        "dpk.trainer.data.formats.sleap",
    ),
    LabelFileFormat(
        "dpk_h5",
        (".h5", ".hdf5"),
        "a DeepPoseKit .h5 (with an 'annotations' dataset)",
        "dpk.trainer.labels.formats.dpk_h5",
        "dpk.trainer.data.formats.dpk_h5",
    ),
    LabelFileFormat(
        "dlc",
        (".csv", ".h5", ".yaml", ""),
        "a DeepLabCut project folder, config.yaml or CollectedData CSV/HDF5",
        "dpk.trainer.labels.formats.dlc",
        "dpk.trainer.data.formats.dlc",
    ),
    LabelFileFormat(
        "coco",
        (".json",),
        "a COCO keypoints .json",
        "dpk.trainer.labels.formats.coco",
        "dpk.trainer.data.formats.coco",
    ),
)
LABEL_FORMATS: dict[str, LabelFileFormat] = {f.name: f for f in _LIST}
"""Label formats by name, in the order :func:`label_format` tries them."""


def _predictions_h5(path: Path) -> bool:
    from dpk.runtime.formats import hdf5_kind

    return path.suffix.lower() in (".h5", ".hdf5") and hdf5_kind(path) == "dpk_predictions"


def label_format(path: Path, declared: str = "auto") -> LabelFileFormat:
    """The format of a labels file or folder: ``declared`` when not ``auto``, else the first
    of :data:`LABEL_FORMATS` whose ``detect`` accepts ``path``.

    Raises:
        DpkError: The path does not exist, an unknown ``declared`` name, dpk predictions
            given as labels, or no format recognises the path (the message lists them).
    """
    path = Path(path)
    if not path.exists():
        raise DpkError(f"{path}: labels not found (data.path)")
    if declared != "auto":
        if declared not in LABEL_FORMATS:
            raise DpkError(
                f"{path}: unknown data.format {declared!r}; use auto or {', '.join(LABEL_FORMATS)}"
            )
        return LABEL_FORMATS[declared]
    for entry in _LIST:
        if entry.function("detect")(path):
            return entry
    if path.is_file() and _predictions_h5(path):
        raise DpkError(
            f"{path}: predictions written by dpk predict, not labels; give labelled "
            "frames as data.path (DeepPoseKit .h5, DeepLabCut, SLEAP .slp, COCO .json)"
        )
    expected = ", ".join(f.description for f in _LIST[:-1]) + f" or {_LIST[-1].description}"
    raise DpkError(
        f"{path}: cannot tell the labels format: expected {expected}; set data.format if "
        "the name misleads"
    )
