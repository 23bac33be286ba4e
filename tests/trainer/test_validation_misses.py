"""Per-epoch validation counts what a model misses (the anchor checkpoint bug of issue 10).

An anchor model that finds no animal in its first epoch logged a NaN ``val_error``; Keras'
checkpoint kept that NaN as its best, no later epoch compared better, and ``best.keras``
stayed the first epoch's weights (a real 30-minute fly anchor run exported a model that
found nothing). A model that found only its easiest animals also scored
better than one that found them all.
"""

from __future__ import annotations

import math

import numpy as np

from dpk.trainer.training.callbacks import ValidationError
from tests.trainer.test_anchor_training import SPEC, anchors


class MapsModel:
    """Stands in for a Keras model: returns fixed confidence maps."""

    def __init__(self, maps: np.ndarray):
        self.maps = maps

    def predict_on_batch(self, images):
        return self.maps[: len(images)]


def epoch_logs(maps: np.ndarray, images: np.ndarray, keypoints: np.ndarray) -> dict:
    callback = ValidationError(images, keypoints, SPEC)
    callback.set_model(MapsModel(maps))
    logs: dict = {}
    callback.on_epoch_end(0, logs)
    return logs


def test_a_model_that_finds_nothing_scores_the_diagonal_not_nan():
    images, keypoints = anchors(4, seed=0)
    logs = epoch_logs(np.zeros((4, 16, 16, 1), np.float32), images, keypoints)
    assert logs["val_error"] == math.hypot(32, 32) and logs["val_missed"] == 1.0
    assert logs["val_confidence"] == 0.0


def test_a_missed_animal_counts_as_the_frame_diagonal():
    images, keypoints = anchors(4, seed=0)
    stride = SPEC.targets.stride
    maps = np.zeros((4, 16, 16, 1), np.float32)
    for i, (x, y) in enumerate(keypoints[:, 0]):  # only the first animal of each frame
        maps[i, int(np.rint(y / stride)), int(np.rint(x / stride)), 0] = 1.0
    logs = epoch_logs(maps, images, keypoints)
    assert logs["val_missed"] == 0.5
    diagonal = math.hypot(32, 32)
    # half the labelled animals found within a few pixels, half missed at the diagonal
    assert diagonal / 2 <= logs["val_error"] <= diagonal / 2 + 4
