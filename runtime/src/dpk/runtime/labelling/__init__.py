"""The labelling loop of the paper's Figure 1: a label project (a SLEAP ``.slp`` file),
frame sampling, the annotation page, outlier search and merging.

Lives in the runtime (not the trainer) so that labelling works in a runtime-only
install: it needs the video reader and the :class:`~dpk.runtime.predictor.Predictor`,
never TensorFlow. See ``docs/labelling.md``.
"""

from dpk.runtime.labelling.project import (
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
