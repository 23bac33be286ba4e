"""The training loss: masked mean squared error with optional foreground weight."""

from __future__ import annotations

import numpy as np

from dpk.trainer.training.losses import MaskedMSE, masked_mse


def _value(loss, y_true, y_pred):
    return np.asarray(loss(y_true, y_pred))


def test_plain_weight_equals_masked_mse_and_ignores_nan():
    rng = np.random.default_rng(0)
    y_true = rng.random((2, 4, 5, 3)).astype(np.float32)
    y_pred = rng.random((2, 4, 5, 3)).astype(np.float32)
    y_true[0, ..., 1] = np.nan  # a masked map
    plain = np.asarray(masked_mse(y_true, y_pred))
    expected = np.where(np.isnan(y_true), 0.0, (y_pred - np.nan_to_num(y_true)) ** 2).mean(
        axis=(1, 2, 3)
    )
    np.testing.assert_allclose(plain, expected, rtol=1e-6)
    np.testing.assert_allclose(MaskedMSE(0.0).call(y_true, y_pred), expected, rtol=1e-6)


def test_foreground_weight_scales_errors_where_the_target_is_high():
    y_true = np.zeros((1, 3, 3, 1), np.float32)
    y_true[0, 1, 1, 0] = 1.0
    miss_peak = np.zeros_like(y_true)  # predicts nothing: error 1 at the peak
    miss_background = y_true.copy()
    miss_background[0, 0, 0, 0] = 1.0  # a false peak: error 1 on background
    loss = MaskedMSE(10.0)
    assert float(loss.call(y_true, miss_peak)[0]) == np.float32(11.0 / 9)
    assert float(loss.call(y_true, miss_background)[0]) == np.float32(1.0 / 9)


def test_loss_survives_serialisation():
    import keras

    loss = MaskedMSE(7.5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, MaskedMSE) and restored.foreground_weight == 7.5
