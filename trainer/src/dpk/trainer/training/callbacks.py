"""Callbacks: validation keypoint error every epoch, a wall-clock budget, resumable state."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from dpk.specs import ModelSpec, write_text_atomic
from dpk.trainer.metrics import PERCENTILES, error_summary, euclidean_errors
from dpk.trainer.peaks import find_peaks

if TYPE_CHECKING:
    from dpk.runtime.preprocess import FrameTransform

__all__ = [
    "CosineSchedule",
    "RunState",
    "TimeBudget",
    "ValidationError",
    "matched",
    "predict_keypoints",
]


def predict_keypoints(
    model, spec: ModelSpec, images: np.ndarray, batch_size: int = 16
) -> np.ndarray:
    """Keypoints (N, K, 3) in input pixels from the model's last output."""
    found = []
    for start in range(0, len(images), batch_size):
        outputs = model.predict_on_batch(images[start : start + batch_size])
        maps = outputs[-1] if isinstance(outputs, list | tuple) else outputs
        if spec.targets.anchor is not None:  # anchor model: every animal, strongest first
            found.append(_anchors(np.asarray(maps), spec))
            continue
        found.append(
            find_peaks(np.asarray(maps), spec.targets.stride, spec.targets.sigma, spec.n_keypoints)
        )
    return np.concatenate(found) if found else np.zeros((0, spec.n_keypoints, 3), np.float32)


def _anchors(maps: np.ndarray, spec: ModelSpec) -> np.ndarray:
    from dpk.trainer.anchors import find_anchors

    anchor = spec.targets.anchor
    assert anchor is not None
    stride = spec.targets.stride
    return find_anchors(
        maps,
        stride,
        spec.targets.sigma,
        max_animals=anchor.max_animals,
        threshold=anchor.threshold,
        radius=anchor.nms_radius(stride),
    )


def matched(predicted: np.ndarray, labelled: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Predictions in the labels' row order: anchors matched to the labelled animals (an
    anchor model), else unchanged."""
    if spec.targets.anchor is None:
        return predicted
    from dpk.trainer.anchors import match_anchors

    return match_anchors(predicted, labelled)


class ValidationError(keras.callbacks.Callback):
    """Adds the validation Euclidean error (mean and percentiles), the confidence, the
    training minutes so far and the training throughput to the logs.

    Errors are in the labelled frames' pixels (the unit of ``dpk evaluate``): when the
    frames were fitted to a model input of another size, ``frame_transform`` maps the
    keypoints back before measuring. Runs first among the callbacks so that checkpoints,
    the learning-rate schedule and early stopping can monitor ``val_error``.

    A labelled keypoint the model finds nothing for (an anchor model's missed animal, a
    map without a peak) counts as an error of the frame's diagonal, and ``val_missed``
    logs their share: otherwise a model that finds only its easiest animals would score
    best. ``val_error`` is never NaN (infinite when no keypoint is labelled):
    Keras' checkpoint keeps a NaN first value as its best forever.

    Args:
        images: Validation frames at the model's input size.
        keypoints: Their labels (N, K, 2) in model-input pixels, NaN where missing.
        spec: The model spec.
        already_spent_s: Training seconds of earlier sessions (``--resume``).
        frame_transform: Model input -> labelled frame mapping, or None.
        frames_per_step: Training frames per step (the batch size), for the throughput.
    """

    def __init__(
        self,
        images: np.ndarray,
        keypoints: np.ndarray,
        spec: ModelSpec,
        already_spent_s: float = 0.0,
        *,
        frame_transform: FrameTransform | None = None,
        frames_per_step: int = 0,
    ):
        super().__init__()
        self.images = images
        self.spec = spec
        self.spent_before = already_spent_s
        self.started = time.monotonic()
        self.epoch_started = self.started
        self.steps = 0
        self.frame_transform = frame_transform
        self.frames_per_step = frames_per_step
        self.keypoints = (
            keypoints if frame_transform is None else frame_transform.to_frame(keypoints)
        )
        height, width = images.shape[1:3] if frame_transform is None else frame_transform.frame_size
        self.miss_error = float(math.hypot(height, width))
        """The error a missed keypoint counts as: the labelled frame's diagonal."""

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        now = time.monotonic()
        logs["minutes"] = (self.spent_before + now - self.started) / 60.0
        logs["train_frames_per_s"] = (
            self.steps * self.frames_per_step / max(now - self.epoch_started, 1e-9)
        )
        if len(self.images) == 0:
            return
        predicted = predict_keypoints(self.model, self.spec, self.images)
        if self.frame_transform is not None:
            predicted = self.frame_transform.to_frame(predicted)
        predicted = matched(predicted, self.keypoints, self.spec)
        errors = euclidean_errors(predicted, self.keypoints)
        visible = np.isfinite(self.keypoints[..., 0])
        missed = visible & ~np.isfinite(predicted[..., 0])
        errors = np.where(missed, self.miss_error, errors)
        summary = error_summary(errors)
        logs["val_error"] = summary.get("mean", math.inf)
        for p in PERCENTILES:
            logs[f"val_error_p{p}"] = summary.get(f"p{p}", math.inf)
        logs["val_missed"] = float(missed.sum() / visible.sum()) if visible.any() else 0.0
        confidence = np.nan_to_num(predicted[..., 2][visible], nan=0.0)
        logs["val_confidence"] = float(confidence.mean()) if visible.any() else 0.0
        unit = "px" if self.frame_transform is None else "px (labelled frames)"
        print(
            f"\nepoch {epoch + 1}: validation error mean {logs['val_error']:.2f} {unit}, "
            f"median {logs['val_error_p50']:.2f}, p95 {logs['val_error_p95']:.2f}, "
            f"confidence {logs['val_confidence']:.2f}, "
            + (f"missed {logs['val_missed']:.1%}, " if logs["val_missed"] else "")
            + f"{logs['train_frames_per_s']:.0f} training frames/s"
        )


class CosineSchedule(keras.callbacks.Callback):
    """Linear warm-up, then a half cosine from the initial learning rate down to zero.

    The position in the cosine is the share of the training spent: of the wall-clock
    budget when there is one (``budget``), else of ``total_steps``. The step count is the
    optimizer's own, so a resumed run continues the warm-up and the decay where it was.

    Args:
        learning_rate: The peak learning rate.
        warmup_steps: Steps of linear warm-up (without a time budget, at most a tenth of
            ``total_steps``).
        budget: The run's :class:`TimeBudget` (used when it has a budget).
        total_steps: Steps of the whole run, used without a time budget.
    """

    def __init__(
        self,
        learning_rate: float,
        warmup_steps: int,
        budget: TimeBudget,
        total_steps: int,
    ):
        super().__init__()
        self.peak = float(learning_rate)
        self.budget = budget
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = int(warmup_steps)
        if budget.budget_s is None:  # a short run warms up over at most a tenth of it
            self.warmup_steps = min(self.warmup_steps, max(1, self.total_steps // 10))

    def progress(self, step: int) -> float:
        """Share of the training done, 0..1."""
        if self.budget.budget_s is not None:
            return min(self.budget.elapsed_s / self.budget.budget_s, 1.0)
        return min(step / self.total_steps, 1.0)

    def rate(self, step: int) -> float:
        """The learning rate for optimizer step ``step`` (0-based)."""
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return self.peak * warm * 0.5 * (1.0 + math.cos(math.pi * self.progress(step)))

    def on_train_batch_begin(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.model.optimizer.learning_rate.assign(self.rate(step))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )


class TimeBudget(keras.callbacks.Callback):
    """Stops training before the next epoch would overrun ``minutes`` of wall-clock time.

    An epoch longer than the whole budget (a heavy model on a CPU) is cut short after the
    batch that spends it; Keras still validates and checkpoints that epoch.
    """

    def __init__(self, minutes: float | None, already_spent_s: float = 0.0):
        super().__init__()
        self.budget_s = minutes * 60.0 if minutes else None
        self.spent_before = already_spent_s
        self.started = time.monotonic()
        self.epoch_started = self.started
        self.stopped_for_time = False

    @property
    def elapsed_s(self) -> float:
        """Seconds spent training, earlier sessions of a resumed run included."""
        return self.spent_before + time.monotonic() - self.started

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if self.budget_s is not None and self.elapsed_s > self.budget_s:
            self.stopped_for_time = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.budget_s is None:
            return
        last = time.monotonic() - self.epoch_started
        if not self.stopped_for_time and self.elapsed_s + last > self.budget_s:
            self.stopped_for_time = True
            self.model.stop_training = True
        if self.stopped_for_time:
            print(f"\nstopping: the time budget of {self.budget_s / 60:.1f} min is spent")


class RunState(keras.callbacks.Callback):
    """Saves the last model (with optimizer state) and ``state.json``, so ``--resume``
    continues where training stopped, also after Ctrl-C.

    Saving a model takes a noticeable share of a short epoch (a few dozen frames), so
    between epochs it happens at most every ``save_every_s`` seconds; it always happens
    after the last epoch, when training stops (time budget, early stopping) and when the
    run ends. A crash loses at most ``save_every_s`` of training.
    """

    def __init__(
        self,
        run_dir: Path,
        monitor: str,
        budget: TimeBudget,
        best: float | None = None,
        save_every_s: float = 60.0,
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.monitor = monitor
        self.budget = budget
        self.best = best
        self.best_epoch: int | None = None
        self.last_epoch: int | None = None
        self.save_every_s = save_every_s
        self.saved_epoch: int | None = None
        self.saved_at = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is not None and np.isfinite(value) and (self.best is None or value < self.best):
            self.best = float(value)
            self.best_epoch = epoch + 1
        self.last_epoch = epoch + 1
        last = self.params.get("epochs") == epoch + 1 if self.params else False
        due = time.monotonic() - self.saved_at >= self.save_every_s
        if due or last or self.model.stop_training:
            self.save()

    def on_train_end(self, logs=None):
        if self.last_epoch is not None and self.saved_epoch != self.last_epoch:
            self.save()

    def save(self) -> None:
        """Write ``last.keras`` and ``state.json`` (each atomically)."""
        if self.model is None or self.last_epoch is None:
            return
        target = self.run_dir / "last.keras"
        tmp = self.run_dir / ".last.tmp.keras"
        self.model.save(tmp)
        tmp.replace(target)
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        state = {
            "epochs_done": self.last_epoch,
            "monitor": self.monitor,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "learning_rate": learning_rate,
            "elapsed_s": self.budget.elapsed_s,
        }
        write_text_atomic(self.run_dir / "state.json", json.dumps(state, indent=2) + "\n")
        self.saved_epoch = self.last_epoch
        self.saved_at = time.monotonic()
