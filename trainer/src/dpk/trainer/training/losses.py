"""The training loss: mean squared error that ignores masked (NaN) target maps."""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["MaskedMSE", "masked_mse"]


@keras.saving.register_keras_serializable(package="dpk")
def masked_mse(y_true, y_pred):
    """Mean squared error over every map pixel, skipping NaN targets.

    Targets of missing keypoints are NaN (see :mod:`dpk.trainer.targets`); they add
    nothing to the loss, while the normalisation stays the full map size so that the
    loss scale does not jump with the number of missing keypoints.
    """
    return _weighted_masked_mse(y_true, y_pred, 0.0)


def _weighted_masked_mse(y_true, y_pred, foreground_weight: float):
    """Per-example mean of ``(1 + foreground_weight * target) * squared error``, NaN
    targets left out (the normalisation stays the full map size)."""
    valid = ops.logical_not(ops.isnan(y_true))
    y_true = ops.where(valid, y_true, ops.zeros_like(y_true))
    squared = ops.square(y_pred - y_true)
    if foreground_weight:
        squared = (1.0 + foreground_weight * ops.clip(y_true, 0.0, 1.0)) * squared
    squared = ops.where(valid, squared, ops.zeros_like(y_pred))
    return ops.mean(squared, axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="dpk")
class MaskedMSE(keras.losses.Loss):
    """:func:`masked_mse` with extra weight on the pixels where the target is high.

    Each squared error is weighted by ``1 + foreground_weight * target`` (target clipped to
    0..1). With ``foreground_weight = 0`` this is the paper's plain mean squared error.
    Confidence maps are mostly zero, so a freshly initialised network first learns to
    predict nothing everywhere and can stay there a long time; weighting the peaks and
    lines keeps their signal in the loss from the first step.
    """

    def __init__(self, foreground_weight: float = 0.0, name: str = "masked_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.foreground_weight = float(foreground_weight)

    def call(self, y_true, y_pred):
        return _weighted_masked_mse(y_true, y_pred, self.foreground_weight)

    def get_config(self):
        return {**super().get_config(), "foreground_weight": self.foreground_weight}
