"""The labelling loop of the paper's Figure 1: a label project (a SLEAP ``.slp`` file),
frame sampling, the annotation page, outlier search and merging.

Comes with dpk-trainer, beside the label formats it reads and writes (a labeller
installs the trainer anyway, to train on the labels); the runtime alone predicts. The
tools need the runtime's video reader and :class:`~dpk.runtime.predictor.Predictor`,
never TensorFlow: importing this package, its modules or the label formats imports no
TensorFlow, Keras or tf2onnx. See ``docs/labelling.md``.
"""

from dpk.trainer.labelling.project import (
    LABELLED,
    MISSING,
    OCCLUDED,
    PREDICTED,
    STATE_NAMES,
    Frame,
    Project,
    ProjectError,
)

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
