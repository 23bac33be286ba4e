"""Evaluation reports errors in the pixels of the labelled frames, and writes its files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpk.runtime.preprocess import FrameTransform
from dpk.trainer.evaluate import evaluate_arrays, frame_pixels
from tests.trainer.test_training import blobs, make_spec


def predictions_off_by(true: np.ndarray, dx: float) -> np.ndarray:
    predicted = np.concatenate([true, np.full((*true.shape[:-1], 1), 0.9, np.float32)], -1)
    predicted[..., 0] += dx
    return predicted


def test_errors_without_a_transform_are_in_model_pixels(tmp_path):
    images, true = blobs(4, seed=0)
    result = evaluate_arrays(make_spec(), images, predictions_off_by(true, 1.5), true, tmp_path)
    overall = result.report["overall"]
    assert overall["median"] == pytest.approx(1.5, abs=1e-5)
    assert overall["pck_2px"] == 1.0 and overall["count"] == 8
    assert result.report["pixels"] == "model input"
    assert all(path.stat().st_size > 0 for path in result.files)
    assert json.loads((tmp_path / "metrics.json").read_text()) == result.report


def test_frames_fitted_at_half_size_report_errors_in_frame_pixels(tmp_path):
    images, true = blobs(4, seed=1)
    true[1, 0] = np.nan  # a missing label stays missing
    half = FrameTransform(
        frame_size=(64, 64), model_size=(32, 32), scale=(0.5, 0.5), scaled_size=(32, 32)
    )
    result = evaluate_arrays(
        make_spec(), images, predictions_off_by(true, 1.5), true, tmp_path, frame_transform=half
    )
    overall = result.report["overall"]
    assert overall["median"] == pytest.approx(3.0, abs=1e-4)
    assert overall["count"] == 7
    assert result.errors.shape == (4, 2) and np.isnan(result.errors[1, 0])
    assert np.nanmax(result.errors) == pytest.approx(3.0, abs=1e-4)
    assert result.report["pixels"] == "labelled frame"
    predicted_px, true_px = frame_pixels(predictions_off_by(true, 0.0), true, half)
    assert true_px[0, 0, 0] == pytest.approx((true[0, 0, 0] + 0.5) * 2 - 0.5)
    assert predicted_px[0, 0, 2] == pytest.approx(0.9)


def test_the_report_says_how_the_keypoints_were_found(tmp_path):
    images, true = blobs(4, seed=2)
    spec = make_spec()  # rotation 15: auto leaves quarter turns off

    def with_test_time(mode: str):
        return spec.model_copy(
            update={"augmentation": spec.augmentation.model_copy(update={"test_time": mode})}
        )

    predicted = predictions_off_by(true, 0.5)
    result = evaluate_arrays(spec, images, predicted, true, tmp_path / "auto")
    assert result.report["test_time"] == "off" and "quarter turns" not in result.summary()
    result = evaluate_arrays(with_test_time("quarter_turns"), images, predicted, true, tmp_path)
    assert result.report["test_time"] == "quarter_turns"
    assert "four quarter turns" in result.summary()
