"""The warm-up + cosine learning-rate schedule and per-epoch validation
errors in the labelled frames' pixels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dpk.runtime.preprocess import FrameTransform
from dpk.specs import ModelSpec, Preprocessing, Skeleton, Targets
from dpk.trainer.training.callbacks import CosineSchedule, TimeBudget, ValidationError
from dpk.trainer.training.dataset import MapDataset


@pytest.fixture
def blob_spec() -> ModelSpec:
    return ModelSpec(
        name="blobs",
        skeleton=Skeleton(names=["left", "right"]),
        preprocessing=Preprocessing(height=32, width=32),
        targets=Targets(sigma=2.0, downsample_factor=1, graph=False),
    )


class _Clock(TimeBudget):
    """A time budget whose elapsed time the test sets."""

    def __init__(self, minutes, elapsed_s):
        super().__init__(minutes)
        self._elapsed = elapsed_s

    @property
    def elapsed_s(self):
        return self._elapsed


def test_cosine_warms_up_then_decays_to_zero_over_the_steps():
    schedule = CosineSchedule(1e-3, 100, TimeBudget(None), total_steps=1000)
    assert CosineSchedule(1e-3, 200, TimeBudget(None), total_steps=48).warmup_steps == 4
    assert schedule.rate(0) == pytest.approx(1e-3 * 0.01 * 0.5 * (1 + math.cos(0)))
    assert schedule.rate(99) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.099)))
    assert schedule.rate(500) == pytest.approx(0.5e-3)
    assert schedule.rate(1000) == pytest.approx(0.0, abs=1e-12)
    assert schedule.rate(5000) == pytest.approx(0.0, abs=1e-12)
    rates = [schedule.rate(s) for s in range(100, 1001, 50)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


def test_cosine_follows_the_time_budget_when_there_is_one():
    half_spent = CosineSchedule(1e-3, 0, _Clock(10, 300.0), total_steps=10)
    assert half_spent.rate(10_000) == pytest.approx(0.5e-3)
    spent = CosineSchedule(1e-3, 0, _Clock(10, 700.0), total_steps=10)
    assert spent.rate(3) == pytest.approx(0.0, abs=1e-12)


def test_resumed_dataset_continues_the_shuffles(blob_spec):
    images = np.zeros((10, 32, 32, 1), np.uint8)
    keypoints = np.full((10, 2, 2), 10.0, np.float32)
    kwargs = dict(map_shape=(16, 16), n_outputs=1, batch_size=4, augment=False, shuffle=True)
    fresh = MapDataset(images, keypoints, blob_spec, **kwargs)
    for _ in range(3):
        fresh.on_epoch_end()
    resumed = MapDataset(images, keypoints, blob_spec, **kwargs)
    resumed.start_at_epoch(3)
    np.testing.assert_array_equal(fresh._order, resumed._order)
    first_epoch = MapDataset(images, keypoints, blob_spec, **kwargs)
    assert not np.array_equal(first_epoch._order, resumed._order)


def test_validation_error_is_in_labelled_frame_pixels(blob_spec, monkeypatch):
    import dpk.trainer.training.callbacks as callbacks

    # frames of 64x64 fitted to the 32x32 input: one model pixel is two frame pixels
    transform = FrameTransform.for_frame(64, 64, Preprocessing(height=32, width=32))
    images = np.zeros((2, 32, 32, 1), np.uint8)
    keypoints = np.array([[[10.0, 10.0], [20.0, 20.0]]] * 2, np.float32)
    predicted = np.array([[[13.0, 14.0, 1.0], [20.0, 25.0, 1.0]]] * 2, np.float32)
    monkeypatch.setattr(callbacks, "predict_keypoints", lambda *args, **kwargs: predicted)

    def logged(frame_transform):
        callback = ValidationError(images, keypoints, blob_spec, frame_transform=frame_transform)
        logs: dict = {}
        callback.on_epoch_end(0, logs)
        return logs

    in_model = logged(None)
    in_frames = logged(transform)
    assert in_model["val_error_p50"] == pytest.approx(5.0)
    assert in_frames["val_error_p50"] == pytest.approx(10.0)
    assert in_frames["val_error"] == pytest.approx(2 * in_model["val_error"])
