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


def test_keypoint_normalisation_divides_the_pixel_sum_by_labelled_keypoints():
    rng = np.random.default_rng(1)
    # 2 examples, 2 keypoint maps + 1 graph map; example 0 misses keypoint 1
    y_true = rng.random((2, 4, 5, 3)).astype(np.float32)
    y_pred = rng.random((2, 4, 5, 3)).astype(np.float32)
    y_true[0, ..., 1] = np.nan
    squared = np.where(np.isnan(y_true), 0.0, (y_pred - np.nan_to_num(y_true)) ** 2)
    loss = MaskedMSE(0.0, "keypoints", n_keypoints=2)
    per_example = np.asarray(loss.call(y_true, y_pred))
    # Keras averages the per-example values: the batch's pixel sum over its 3 keypoints
    np.testing.assert_allclose(per_example.mean(), squared.sum() / 3, rtol=1e-6)
    # the map size does not dilute one keypoint's error
    big_true = np.zeros((1, 64, 64, 1), np.float32)
    big_pred = big_true.copy()
    big_pred[0, 10, 10, 0] = 1.0
    assert float(MaskedMSE(0.0, "keypoints", 1).call(big_true, big_pred)[0]) == 1.0
    assert float(MaskedMSE(0.0, "pixels").call(big_true, big_pred)[0]) == np.float32(1 / 4096)


def test_keypoint_normalisation_with_nothing_labelled_is_zero_not_nan():
    y_true = np.full((2, 3, 3, 2), np.nan, np.float32)
    y_pred = np.ones((2, 3, 3, 2), np.float32)
    value = np.asarray(MaskedMSE(0.0, "keypoints", 2).call(y_true, y_pred))
    assert np.all(value == 0.0)


def test_keypoint_normalisation_needs_the_keypoint_count():
    import pytest

    with pytest.raises(ValueError, match="n_keypoints"):
        MaskedMSE(0.0, "keypoints")


def test_new_settings_survive_serialisation():
    import keras

    loss = MaskedMSE(2.0, "keypoints", 13)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert (restored.normalization, restored.n_keypoints) == ("keypoints", 13)
