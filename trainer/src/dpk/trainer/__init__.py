"""dpk.trainer: build, train, evaluate and export the DeepPoseKit models with Keras 3.

Importing this package does not import TensorFlow; the submodules that need it do.
"""

from dpk.trainer.version import __version__

__all__ = [
    "Augmenter",
    "TargetLayout",
    "__version__",
    "build_model",
    "count_flops",
    "draw_targets",
    "evaluate_run",
    "export_onnx",
    "export_run",
    "find_peaks",
    "load_run",
    "load_training_data",
    "train",
]

_LAZY = {
    "Augmenter": "dpk.trainer.augment",
    "TargetLayout": "dpk.trainer.targets",
    "draw_targets": "dpk.trainer.targets",
    "find_peaks": "dpk.trainer.peaks",
    "build_model": "dpk.trainer.models",
    "count_flops": "dpk.trainer.models",
    "load_training_data": "dpk.trainer.data",
    "train": "dpk.trainer.training",
    "load_run": "dpk.trainer.training",
    "evaluate_run": "dpk.trainer.evaluation_run",
    "export_onnx": "dpk.trainer.export",
    "export_run": "dpk.trainer.export",
}


def __getattr__(name: str):
    """Import the public API on first use, so that ``import dpk.trainer`` stays light."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dpk.trainer' has no attribute {name!r}")
