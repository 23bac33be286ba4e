"""The training loss: squared error that ignores masked (NaN) target maps.

Two normalisations (``training.loss_normalization``):

- ``keypoints``: the squared error summed over the pixels of every map, divided by the
  number of labelled keypoints in the batch. A keypoint's peak weighs the same whatever
  the map size, the number of posture-graph maps or the number of missing keypoints.
- ``pixels``: the mean over every pixel of every map (the paper's plain MSE). One
  keypoint's signal is then about ``1 / (height * width * maps)`` of the loss.
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import ops

__all__ = ["MaskedMSE", "masked_mse"]

Normalization = Literal["keypoints", "pixels"]


@keras.saving.register_keras_serializable(package="dpk")
def masked_mse(y_true, y_pred):
    """Mean squared error over every map pixel, skipping NaN targets.

    Targets of missing keypoints are NaN (see :mod:`dpk.trainer.targets`); they add
    nothing to the loss, while the normalisation stays the full map size so that the
    loss scale does not jump with the number of missing keypoints.
    """
    return _weighted_masked_squared_error(y_true, y_pred, 0.0, "pixels", 0)


def _weighted_masked_squared_error(
    y_true, y_pred, foreground_weight: float, normalization: Normalization, n_keypoints: int
):
    """Per-example loss: ``(1 + foreground_weight * target) * squared error`` with NaN
    targets left out, averaged as ``normalization`` says.

    With ``keypoints`` each example returns its pixel sum divided by the batch's mean
    number of labelled keypoints per example, so Keras' mean over the batch gives the
    batch's pixel sum divided by its labelled keypoints.
    """
    valid = ops.logical_not(ops.isnan(y_true))
    y_true = ops.where(valid, y_true, ops.zeros_like(y_true))
    squared = ops.square(y_pred - y_true)
    if foreground_weight:
        squared = (1.0 + foreground_weight * ops.clip(y_true, 0.0, 1.0)) * squared
    squared = ops.where(valid, squared, ops.zeros_like(y_pred))
    if normalization == "pixels":
        return ops.mean(squared, axis=(1, 2, 3))
    # A keypoint map is NaN everywhere when its keypoint is missing: its first pixel says.
    labelled = ops.cast(valid[:, 0, 0, :n_keypoints], squared.dtype)
    per_example = ops.maximum(ops.mean(ops.sum(labelled, axis=-1)), 1.0)
    return ops.sum(squared, axis=(1, 2, 3)) / per_example


@keras.saving.register_keras_serializable(package="dpk")
class MaskedMSE(keras.losses.Loss):
    """Masked squared error on confidence maps, with an optional foreground weight.

    Each squared error is weighted by ``1 + foreground_weight * target`` (target clipped
    to 0..1); ``normalization`` says how the weighted errors are averaged (see the
    module). ``MaskedMSE(0, "pixels")`` is the paper's plain mean squared error.

    Args:
        foreground_weight: Extra weight where the target is high.
        normalization: ``keypoints`` or ``pixels``.
        n_keypoints: The first ``n_keypoints`` maps are keypoint maps (the rest are the
            posture graph); ``keypoints`` normalisation counts their labelled ones.
    """

    def __init__(
        self,
        foreground_weight: float = 0.0,
        normalization: Normalization = "pixels",
        n_keypoints: int = 0,
        name: str = "masked_mse",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if normalization == "keypoints" and n_keypoints < 1:
            raise ValueError("keypoints normalisation needs n_keypoints >= 1")
        self.foreground_weight = float(foreground_weight)
        self.normalization = normalization
        self.n_keypoints = int(n_keypoints)

    def call(self, y_true, y_pred):
        return _weighted_masked_squared_error(
            y_true, y_pred, self.foreground_weight, self.normalization, self.n_keypoints
        )

    def get_config(self):
        return {
            **super().get_config(),
            "foreground_weight": self.foreground_weight,
            "normalization": self.normalization,
            "n_keypoints": self.n_keypoints,
        }
