"""Training runs: a run folder, the fit loop, interruption and resume.

A run folder holds everything about one training run::

    spec.yaml            the spec, data paths as written plus the folder they are relative to
    best.keras           weights with the best monitored value (val_loss or val_error)
    last.keras           the last epoch's model with optimizer state (for --resume)
    state.json           epochs done, best value, learning rate, time spent
    log.csv              per-epoch loss, validation loss, error mean and percentiles, confidence
    check_images.npz     a few validation and training frames (for export checks and int8 calibration)
    summary.json         the final validation report of the best weights
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dpk.specs import DpkError, ModelSpec, load_spec, save_spec, write_text_atomic
from dpk.trainer.metrics import keypoint_report

if TYPE_CHECKING:
    from dpk.runtime.preprocess import FrameTransform

__all__ = ["RunError", "TrainResult", "load_run", "train", "train_arrays"]

CHECK_FRAMES = 32
EPOCH_VALIDATION_FRAMES = 256
"""Validation frames used for the per-epoch loss and error (a fixed seeded sample); the
final report of the best weights uses every validation frame."""


class RunError(DpkError):
    """A run folder is missing, incomplete or inconsistent."""


@dataclass
class TrainResult:
    """What a training run achieved."""

    run_dir: Path
    epochs_done: int
    best: float | None
    best_epoch: int | None
    minutes: float
    stopped: str
    report: dict[str, Any]

    def summary(self) -> str:
        """A few lines for the terminal."""
        overall = self.report.get("overall", {})
        return (
            f"run {self.run_dir}: {self.epochs_done} epochs in {self.minutes:.1f} min ({self.stopped}); "
            f"validation error of the best weights: mean {overall.get('mean', float('nan')):.2f} px, "
            f"median {overall.get('median', float('nan')):.2f} px"
        )


def _optimizer(spec: ModelSpec):
    import keras

    t = spec.training
    if t.optimizer == "adam":
        return keras.optimizers.Adam(t.learning_rate)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(t.learning_rate, weight_decay=t.weight_decay)
    return keras.optimizers.SGD(t.learning_rate, momentum=0.9, nesterov=True)


def _map_shape(model) -> tuple[int, int]:
    shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
    return int(shapes[-1][1]), int(shapes[-1][2])


def _n_outputs(model) -> int:
    return len(model.outputs)


def load_run(run_dir: str | Path, which: str = "best"):
    """Load a run's spec and model.

    Args:
        run_dir: The run folder.
        which: ``best`` or ``last``.

    Returns:
        ``(spec, keras_model)``.

    Raises:
        RunError: The folder or the checkpoint is missing.
    """
    import keras

    import dpk.trainer.models  # noqa: F401  (registers dpk's layers for loading)
    from dpk.trainer.training.losses import MaskedMSE  # noqa: F401  (registers the loss)

    run_dir = Path(run_dir)
    spec_path = run_dir / "spec.yaml"
    if not spec_path.is_file():
        raise RunError(
            f"{run_dir} is not a dpk run folder (no spec.yaml); give the folder `dpk train` wrote"
        )
    checkpoint = run_dir / f"{which}.keras"
    if not checkpoint.is_file():
        raise RunError(f"{checkpoint} does not exist: the run has not finished an epoch yet")
    spec = load_spec(spec_path)
    model = keras.saving.load_model(checkpoint, compile=which == "last")
    return spec, model


def _check_labelled(train_keypoints: np.ndarray, val_keypoints: np.ndarray) -> None:
    """Refuse training data without a labelled keypoint; warn about empty frames.

    Frames whose keypoints are all missing add nothing to the loss (every map is masked),
    so they only cost time; a training set made only of such frames cannot train at all.
    """
    labelled = np.isfinite(np.asarray(train_keypoints)[..., 0])
    if not labelled.any():
        raise RunError(
            "the training frames have no labelled keypoint (every keypoint is missing): "
            "check the labels file and the skeleton's keypoint names"
        )
    empty = int((~labelled.any(axis=1)).sum())
    if empty:
        print(
            f"warning: {empty} of {len(labelled)} training frames have no labelled keypoint "
            "and add nothing to training"
        )
    if len(val_keypoints) and not np.isfinite(np.asarray(val_keypoints)[..., 0]).any():
        print(
            "warning: the validation frames have no labelled keypoint: no validation error "
            "can be measured (checkpoints follow the validation loss)"
        )


def _new_run_dir(spec: ModelSpec, runs_dir: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = runs_dir / f"{spec.name}-{stamp}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = runs_dir / f"{spec.name}-{stamp}-{suffix}"
    run_dir.mkdir(parents=True)
    return run_dir


def train_arrays(
    spec: ModelSpec,
    train_images: np.ndarray,
    train_keypoints: np.ndarray,
    val_images: np.ndarray,
    val_keypoints: np.ndarray,
    run_dir: Path,
    *,
    model=None,
    resume: bool = False,
    verbose: int = 1,
    frame_transform: FrameTransform | None = None,
    train_context: np.ndarray | None = None,
) -> TrainResult:
    """Fit a model on arrays, writing checkpoints and logs into ``run_dir``.

    Args:
        spec: The model spec.
        train_images: uint8 (N, H, W, C) training frames at the model's input size.
        train_keypoints: float32 (N, K, 2), NaN where missing.
        val_images: Validation frames.
        val_keypoints: Validation keypoints.
        run_dir: Existing run folder.
        model: A Keras model to train (default: built from the spec).
        resume: Continue from ``run_dir/last.keras`` and ``state.json``.
        verbose: Keras verbosity (1 = a progress bar per epoch).
        frame_transform: When the frames were fitted to the model input from frames of
            another size (``Labels.frame_transform``): validation errors, per epoch and in
            the final report, are then measured in the labelled frames' pixels.
        train_context: Larger crops around the training crops' centres that augmentation
            warps from (:func:`dpk.trainer.data.context.load_training_data_with_context`).

    Returns:
        The result, with the validation report of the best weights.
    """
    import keras

    from dpk.trainer.models.test_time import inference_model
    from dpk.trainer.training.callbacks import (
        CosineSchedule,
        RunState,
        TimeBudget,
        ValidationError,
        predict_keypoints,
    )
    from dpk.trainer.training.dataset import MapDataset
    from dpk.trainer.training.losses import MaskedMSE

    t = spec.training
    run_dir = Path(run_dir)
    _check_labelled(train_keypoints, val_keypoints)
    state: dict[str, Any] = {}
    if resume:
        state_path = run_dir / "state.json"
        if not state_path.is_file() or not (run_dir / "last.keras").is_file():
            raise RunError(f"{run_dir}: nothing to resume (no state.json or last.keras)")
        state = json.loads(state_path.read_text())
        model = keras.saving.load_model(run_dir / "last.keras")
    else:
        keras.utils.set_random_seed(t.seed)
        if model is None:
            from dpk.trainer.models import build_model

            model = build_model(spec)
        model.compile(
            optimizer=_optimizer(spec),
            loss=MaskedMSE(t.foreground_weight, t.loss_normalization, spec.n_keypoints),
            jit_compile=False,
        )
    map_shape = _map_shape(model)
    n_outputs = _n_outputs(model)

    def dataset(
        images,
        keypoints,
        *,
        augment: bool,
        steps: int | None = None,
        workers: int = 0,
        context: np.ndarray | None = None,
    ):
        return MapDataset(
            images,
            keypoints,
            spec,
            map_shape,
            n_outputs,
            batch_size=t.batch_size,
            augment=augment,
            shuffle=augment,
            seed=t.seed,
            steps=steps,
            workers=workers,
            context=context,
        )

    train_data = dataset(
        train_images,
        train_keypoints,
        augment=True,
        steps=t.steps_per_epoch,
        workers=t.workers,
        context=train_context,
    )
    initial_epoch = int(state.get("epochs_done", 0))
    train_data.start_at_epoch(initial_epoch)
    validation = None
    epoch_images, epoch_keypoints = val_images, val_keypoints
    if len(val_images) > EPOCH_VALIDATION_FRAMES:
        pick = np.random.default_rng(t.seed).choice(
            len(val_images), EPOCH_VALIDATION_FRAMES, replace=False
        )
        epoch_images, epoch_keypoints = val_images[np.sort(pick)], val_keypoints[np.sort(pick)]
    if len(val_images):
        validation = dataset(epoch_images, epoch_keypoints, augment=False)
    monitor = "val_error" if t.checkpointing.monitor == "val_error" else "val_loss"
    if monitor == "val_error" and not np.isfinite(epoch_keypoints[..., 0]).any():
        monitor = "val_loss"  # no labelled keypoint to measure an error on
    if validation is None:
        monitor = "loss"
    budget = TimeBudget(t.max_minutes, already_spent_s=state.get("elapsed_s", 0.0))
    run_state = RunState(run_dir, monitor, budget, best=state.get("best"))
    callbacks = [
        ValidationError(
            epoch_images,
            epoch_keypoints,
            spec,
            already_spent_s=state.get("elapsed_s", 0.0),
            frame_transform=frame_transform,
            frames_per_step=train_data.batch_size,
        ),
        keras.callbacks.ModelCheckpoint(
            run_dir / "best.keras",
            monitor=monitor,
            save_best_only=True,
            mode="min",
            initial_value_threshold=state.get("best"),
        ),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=resume),
        budget,
        run_state,
    ]
    if t.schedule.type == "cosine":
        callbacks.insert(
            1,
            CosineSchedule(
                t.learning_rate,
                t.schedule.warmup_steps,
                budget,
                total_steps=t.epochs * len(train_data),
            ),
        )
    elif t.schedule.type == "plateau":
        callbacks.insert(
            1,
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                factor=t.schedule.factor,
                patience=t.schedule.patience,
                min_lr=t.schedule.min_learning_rate,
                mode="min",  # Keras cannot tell the direction of val_error by itself
                verbose=1,
            ),
        )
    if t.early_stopping.enabled:
        callbacks.insert(
            1,
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=t.early_stopping.patience,
                min_delta=t.early_stopping.min_delta,
                mode="min",
            ),
        )
    started = time.monotonic()
    stopped = "finished all epochs"
    try:
        model.fit(
            train_data,
            validation_data=validation,
            epochs=t.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
        )
    except KeyboardInterrupt:
        run_state.save()
        stopped = "interrupted"
    if stopped != "interrupted":
        if budget.stopped_for_time:
            stopped = "time budget spent"
        elif run_state.last_epoch is not None and run_state.last_epoch < t.epochs:
            stopped = "early stopping"
    epochs_done = run_state.last_epoch or initial_epoch
    best_model = model
    if (run_dir / "best.keras").is_file():
        best_model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    report: dict[str, Any] = {}
    if len(val_images):
        # as the exported file runs it (test-time quarter turns where the spec asks)
        predicted = predict_keypoints(inference_model(best_model, spec), spec, val_images)
        true = val_keypoints
        if frame_transform is not None:
            predicted, true = frame_transform.to_frame(predicted), frame_transform.to_frame(true)
        names = list(spec.skeleton.names)
        if spec.targets.anchor is not None:  # one column per animal's anchor
            from dpk.trainer.anchors import anchor_skeleton
            from dpk.trainer.training.callbacks import matched

            predicted = matched(predicted, true, spec)
            names = anchor_skeleton(names[0], true.shape[1]).names
        report = keypoint_report(predicted, true, names)
    result = TrainResult(
        run_dir=run_dir,
        epochs_done=epochs_done,
        best=run_state.best,
        best_epoch=run_state.best_epoch,
        minutes=(time.monotonic() - started) / 60.0 + state.get("elapsed_s", 0.0) / 60.0,
        stopped=stopped,
        report=report,
    )
    summary = {
        "epochs_done": result.epochs_done,
        "best": result.best,
        "best_epoch": result.best_epoch,
        "monitor": monitor,
        "minutes": result.minutes,
        "stopped": stopped,
        "n_train": len(train_images),
        "n_validation": len(val_images),
        "validation": report,
    }
    write_text_atomic(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return result


def _save_check_images(run_dir: Path, train_set, val_set, seed: int) -> None:
    """Keep a few frames in the run folder: export checks, int8 calibration, comparisons."""
    rng = np.random.default_rng(seed)

    def pick(n: int) -> np.ndarray:
        if n <= CHECK_FRAMES:
            return np.arange(n)
        return np.sort(rng.choice(n, CHECK_FRAMES, replace=False))

    val_index, train_index = pick(len(val_set.images)), pick(len(train_set.images))
    np.savez_compressed(
        run_dir / "check_images.npz",
        validation=val_set.images[val_index],
        validation_keypoints=val_set.keypoints[val_index],
        train=train_set.images[train_index],
    )


def train(
    spec: ModelSpec | str | Path,
    *,
    runs_dir: str | Path = "runs",
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    verbose: int = 1,
) -> TrainResult:
    """Train a model from a spec file (or spec) into a new run folder, or resume one.

    Args:
        spec: A spec, or the path of a YAML/JSON spec (relative data paths are resolved
            from the spec file's folder).
        runs_dir: Where new run folders go.
        run_dir: Use this folder instead of a new one under ``runs_dir``.
        resume: A run folder to continue (its own spec is used; ``spec`` is ignored).
        verbose: Keras verbosity.

    Returns:
        The training result.
    """
    from dpk.trainer.data.context import load_training_data_with_context

    if resume is not None:
        run = Path(resume)
        spec_obj = load_spec(run / "spec.yaml") if (run / "spec.yaml").is_file() else None
        if spec_obj is None:
            raise RunError(f"{run} is not a dpk run folder (no spec.yaml)")
        base_dir = run
        resume_flag = True
    else:
        if isinstance(spec, ModelSpec):
            spec_obj, base_dir = spec, Path.cwd()
        else:
            spec_path = Path(spec)
            spec_obj, base_dir = load_spec(spec_path), spec_path.resolve().parent
        run = Path(run_dir) if run_dir else _new_run_dir(spec_obj, Path(runs_dir))
        run.mkdir(parents=True, exist_ok=True)
        resume_flag = False
    if spec_obj.data is None:
        raise RunError("the spec has no data section: add data.path (the labels to train on)")
    train_set, val_set, train_context = load_training_data_with_context(spec_obj, base_dir)
    if not resume_flag:
        # The paths as the user wrote them, with the folder they are relative to, so that
        # --resume and `dpk evaluate` resolve them exactly as this run did.
        for_run = spec_obj.model_copy(update={"data": spec_obj.data.for_run(base_dir)})
        save_spec(for_run, run / "spec.yaml")
        _save_check_images(run, train_set, val_set, spec_obj.training.seed)
    print(
        f"training {spec_obj.architecture.type} on {len(train_set.images)} frames "
        f"(validation {len(val_set.images)}) into {run}"
    )
    if train_context is not None:
        side = train_context.shape[1]
        print(f"augmenting the training crops from {side}x{side} crops of their surroundings")
    return train_arrays(
        spec_obj,
        train_set.images,
        train_set.keypoints,
        val_set.images,
        val_set.keypoints,
        run,
        resume=resume_flag,
        verbose=verbose,
        frame_transform=val_set.frame_transform,
        train_context=train_context,
    )
