"""Training: datasets of targets, the masked loss, callbacks and run folders."""

from dpk.trainer.training.run import RunError, TrainResult, load_run, train, train_arrays

__all__ = ["RunError", "TrainResult", "load_run", "train", "train_arrays"]
