"""dpk.runtime: TensorFlow-free pose inference with onnxruntime.

Runs one self-describing ``.onnx`` file exported by ``dpk export`` (or pulled from the
zoo) on images and video, on CUDA when it works and on the CPU otherwise::

    from dpk.runtime import Predictor, save_predictions
    predictor = Predictor("model.onnx")              # or Predictor.from_pretrained(NAME)
    predictions = predictor.predict_video("video.mp4", progress=True)
    save_predictions("poses.h5", predictions)

Importing this package is cheap: the names below load their modules (onnxruntime,
OpenCV, h5py, matplotlib) on first use, so the ``dpk`` command starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dpk.runtime.providers import DEVICES, Device, ProviderError, create_session, working_providers
from dpk.runtime.version import __version__

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from dpk.runtime.atomic import OutputError, atomic_output, check_writable
    from dpk.runtime.benchmark import BenchmarkResult, benchmark_model
    from dpk.runtime.formats import load_predictions, save_predictions
    from dpk.runtime.model_file import ModelFile, ModelFileError
    from dpk.runtime.plot import plot_predictions
    from dpk.runtime.predictions import Predictions
    from dpk.runtime.predictor import PredictionError, Predictor, resolve_model
    from dpk.runtime.preprocess import (
        FrameError,
        FrameFitter,
        FrameTransform,
        convert_channels,
        fit_frames,
        to_frame_coordinates,
    )
    from dpk.runtime.render import render_video
    from dpk.runtime.video import ImageFolderSource, SourceError, VideoSource, open_source

_LAZY = {
    "OutputError": "dpk.runtime.atomic",
    "atomic_output": "dpk.runtime.atomic",
    "check_writable": "dpk.runtime.atomic",
    "BenchmarkResult": "dpk.runtime.benchmark",
    "benchmark_model": "dpk.runtime.benchmark",
    "load_predictions": "dpk.runtime.formats",
    "save_predictions": "dpk.runtime.formats",
    "ModelFile": "dpk.runtime.model_file",
    "ModelFileError": "dpk.runtime.model_file",
    "plot_predictions": "dpk.runtime.plot",
    "Predictions": "dpk.runtime.predictions",
    "PredictionError": "dpk.runtime.predictor",
    "Predictor": "dpk.runtime.predictor",
    "resolve_model": "dpk.runtime.predictor",
    "FrameError": "dpk.runtime.preprocess",
    "FrameFitter": "dpk.runtime.preprocess",
    "FrameTransform": "dpk.runtime.preprocess",
    "convert_channels": "dpk.runtime.preprocess",
    "fit_frames": "dpk.runtime.preprocess",
    "to_frame_coordinates": "dpk.runtime.preprocess",
    "render_video": "dpk.runtime.render",
    "ImageFolderSource": "dpk.runtime.video",
    "SourceError": "dpk.runtime.video",
    "VideoSource": "dpk.runtime.video",
    "open_source": "dpk.runtime.video",
}

__all__ = [
    "DEVICES",
    "BenchmarkResult",
    "Device",
    "FrameError",
    "FrameFitter",
    "FrameTransform",
    "ImageFolderSource",
    "ModelFile",
    "ModelFileError",
    "OutputError",
    "PredictionError",
    "Predictions",
    "Predictor",
    "ProviderError",
    "SourceError",
    "VideoSource",
    "__version__",
    "atomic_output",
    "benchmark_model",
    "check_writable",
    "convert_channels",
    "create_session",
    "fit_frames",
    "load_predictions",
    "open_source",
    "plot_predictions",
    "render_video",
    "resolve_model",
    "save_predictions",
    "to_frame_coordinates",
    "working_providers",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dpk.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
