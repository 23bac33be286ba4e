"""dpk.trainer: build, train, evaluate and export the DeepPoseKit models with Keras 3."""

from dpk.trainer.version import __version__

__all__ = ["__version__"]
