"""dpk.specs: declarative, validated descriptions of pose models.

Pydantic 2 models for the skeleton, preprocessing, the four architectures of the
DeepPoseKit paper and a CPU-efficient U-Net, confidence-map targets, augmentation,
training, model cards and zoo entries, tied together by :class:`ModelSpec`; YAML and JSON
in and out.
"""

from dpk.specs.architectures import (
    LEAP,
    Architecture,
    DeepLabCut,
    StackedDenseNet,
    StackedHourglass,
    UNet,
    max_transitions,
)
from dpk.specs.card import (
    ZOO_NAME_PATTERN,
    ModelCard,
    PipelinePair,
    SpeedMeasurement,
    TrainingData,
    ZooEntry,
    ZooPipeline,
)
from dpk.specs.data import (
    Crop,
    DataSpec,
    FrameRange,
    LabelFormat,
    resolve_path,
    training_issues,
)
from dpk.specs.errors import DpkError, DpkWarning, SpecError, SpecIssue
from dpk.specs.io import (
    dump_spec,
    load_model_file,
    load_spec,
    parse_model,
    parse_spec,
    save_spec,
    spec_json_schema,
    write_text_atomic,
)
from dpk.specs.model import (
    SPEC_VERSION,
    ModelSpec,
    migrate_spec_data,
    n_output_maps,
    resolve_transitions,
)
from dpk.specs.preprocessing import ColorOrder, FitMode, Normalization, Preprocessing
from dpk.specs.skeleton import AsymmetricSwapPolicy, Skeleton
from dpk.specs.training import (
    AnchorTargets,
    Augmentation,
    Checkpointing,
    EarlyStopping,
    LearningRateSchedule,
    Targets,
    Training,
)
from dpk.specs.version import __version__

__all__ = [
    "LEAP",
    "SPEC_VERSION",
    "ZOO_NAME_PATTERN",
    "AnchorTargets",
    "Architecture",
    "AsymmetricSwapPolicy",
    "Augmentation",
    "Checkpointing",
    "ColorOrder",
    "Crop",
    "DataSpec",
    "DeepLabCut",
    "DpkError",
    "DpkWarning",
    "EarlyStopping",
    "FitMode",
    "FrameRange",
    "LabelFormat",
    "LearningRateSchedule",
    "ModelCard",
    "ModelSpec",
    "Normalization",
    "PipelinePair",
    "Preprocessing",
    "Skeleton",
    "SpecError",
    "SpecIssue",
    "SpeedMeasurement",
    "StackedDenseNet",
    "StackedHourglass",
    "Targets",
    "Training",
    "TrainingData",
    "UNet",
    "ZooEntry",
    "ZooPipeline",
    "__version__",
    "dump_spec",
    "load_model_file",
    "load_spec",
    "max_transitions",
    "migrate_spec_data",
    "n_output_maps",
    "parse_model",
    "parse_spec",
    "resolve_path",
    "resolve_transitions",
    "save_spec",
    "spec_json_schema",
    "training_issues",
    "write_text_atomic",
]
