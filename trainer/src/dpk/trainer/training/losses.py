"""The training loss: mean squared error that ignores masked (NaN) target maps."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["masked_mse"]


@keras.saving.register_keras_serializable(package="dpk")
def masked_mse(y_true, y_pred):
    """Mean squared error over every map pixel, skipping NaN targets.

    Targets of missing keypoints are NaN (see :mod:`dpk.trainer.targets`); they add
    nothing to the loss, while the normalisation stays the full map size so that the
    loss scale does not jump with the number of missing keypoints.
    """
    valid = ops.logical_not(ops.isnan(y_true))
    y_true = ops.where(valid, y_true, ops.zeros_like(y_true))
    squared = ops.where(valid, ops.square(y_pred - y_true), ops.zeros_like(y_pred))
    return ops.mean(squared, axis=(1, 2, 3))
