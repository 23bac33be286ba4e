"""Training on synthetic blobs: the loop learns, writes a complete run folder, resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpk.specs import Augmentation, ModelSpec, Preprocessing, Skeleton, Targets, Training
from dpk.trainer.metrics import error_summary, euclidean_errors
from dpk.trainer.training import load_run, train_arrays
from dpk.trainer.training.callbacks import predict_keypoints

SKELETON = Skeleton(names=["left", "right"], swaps=["right", "left"])


def make_spec(**training) -> ModelSpec:
    base = dict(epochs=6, batch_size=8, learning_rate=3e-3, workers=2, seed=1)
    base.update(training)
    return ModelSpec(
        name="blobs",
        skeleton=SKELETON,
        preprocessing=Preprocessing(height=32, width=32),
        targets=Targets(sigma=2.0, downsample_factor=1, graph=False),
        augmentation=Augmentation(
            flip_lr=0.5,
            affine=0.5,
            rotation=15,
            noise=0.0,
            dropout=0.0,
            blur=0.0,
            contrast=0.0,
            brightness=0.0,
        ),
        training=Training(**base),
    )


def blobs(n: int, seed: int):
    """Images with a bright blob on the left half and a dimmer one on the right."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:32, 0:32]
    images = np.zeros((n, 32, 32, 1), np.uint8)
    keypoints = np.zeros((n, 2, 2), np.float32)
    for i in range(n):
        left = rng.uniform([4, 4], [14, 28])
        right = rng.uniform([18, 4], [28, 28])
        image = np.zeros((32, 32))
        for (x, y), level in ((left, 250), (right, 250)):
            image += level * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5**2))
        images[i, ..., 0] = np.clip(image, 0, 255)
        keypoints[i] = [left, right]
    return images, keypoints


def tiny_model(spec: ModelSpec):
    import keras

    image = keras.Input((32, 32, 1), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255.0)(keras.ops.cast(image, "float32"))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    # x position matters (left vs right blob): give the network coordinates
    first = keras.layers.Conv2D(spec.n_output_maps, 1, name="output_0")(x)
    second = keras.layers.Conv2D(spec.n_output_maps, 3, padding="same", name="output_1")(
        keras.layers.Concatenate()([x, first])
    )
    return keras.Model(image, [first, second])


@pytest.mark.slow
def test_training_lowers_error_and_writes_run(tmp_path):
    spec = make_spec()
    train_images, train_keypoints = blobs(64, 0)
    val_images, val_keypoints = blobs(16, 1)
    model = tiny_model(spec)
    model.compile(optimizer="adam", loss="mse")
    before = error_summary(
        euclidean_errors(predict_keypoints(model, spec, val_images), val_keypoints)
    )
    result = train_arrays(
        spec,
        train_images,
        train_keypoints,
        val_images,
        val_keypoints,
        tmp_path,
        model=tiny_model(spec),
        verbose=0,
    )
    assert result.epochs_done == 6 and result.stopped == "finished all epochs"
    assert result.report["overall"]["mean"] < before["mean"]
    for name in ("best.keras", "last.keras", "state.json", "log.csv", "summary.json"):
        assert (tmp_path / name).is_file(), name
    log = (tmp_path / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    for column in (
        "loss",
        "val_loss",
        "val_error",
        "val_error_p0",
        "val_error_p50",
        "val_error_p100",
        "val_confidence",
    ):
        assert column in header
    assert len(log) == 7
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epochs_done"] == 6 and state["monitor"] == "val_error"


@pytest.mark.slow
def test_resume_continues_after_interrupt(tmp_path):
    import keras

    spec = make_spec(epochs=4, early_stopping={"enabled": False})
    train_images, train_keypoints = blobs(32, 2)
    val_images, val_keypoints = blobs(8, 3)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    model = tiny_model(spec)
    # simulate Ctrl-C after the second epoch through a callback on the model's fit
    fit = model.fit

    def fit_with_interrupt(*args, **kwargs):
        kwargs["callbacks"] = [*kwargs["callbacks"], Interrupt()]
        return fit(*args, **kwargs)

    model.fit = fit_with_interrupt
    first = train_arrays(
        spec,
        train_images,
        train_keypoints,
        val_images,
        val_keypoints,
        tmp_path,
        model=model,
        verbose=0,
    )
    assert first.stopped == "interrupted"
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epochs_done"] == 2
    second = train_arrays(
        spec,
        train_images,
        train_keypoints,
        val_images,
        val_keypoints,
        tmp_path,
        resume=True,
        verbose=0,
    )
    assert second.epochs_done == 4
    log = (tmp_path / "log.csv").read_text().splitlines()
    epochs = [int(line.split(",")[0]) for line in log[1:]]
    assert epochs[-2:] == [2, 3]


def test_time_budget_and_missing_run(tmp_path):
    from dpk.trainer.training import RunError

    with pytest.raises(RunError, match="not a dpk run folder"):
        load_run(tmp_path)


def test_labels_without_any_keypoint_are_refused_before_training(tmp_path, capsys):
    from dpk.trainer.training import RunError

    spec = make_spec()
    images, keypoints = blobs(8, 0)
    nothing = np.full_like(keypoints, np.nan)
    with pytest.raises(RunError, match="no labelled keypoint"):
        train_arrays(spec, images, nothing, images, keypoints, tmp_path, verbose=0)
    assert not any(tmp_path.iterdir())


def test_frames_without_keypoints_are_announced(capsys):
    from dpk.trainer.training.run import _check_labelled

    _, keypoints = blobs(4, 0)
    keypoints[1] = np.nan
    _check_labelled(keypoints, np.full_like(keypoints, np.nan))
    out = capsys.readouterr().out
    assert "1 of 4 training frames have no labelled keypoint" in out
    assert "the validation frames have no labelled keypoint" in out


def test_run_state_saves_short_epochs_at_most_every_interval_and_at_the_end(tmp_path):
    from dpk.trainer.training.callbacks import RunState, TimeBudget

    spec = make_spec()
    model = tiny_model(spec)
    model.compile(optimizer="adam", loss="mse")
    state = RunState(tmp_path, "val_error", TimeBudget(None), save_every_s=3600.0)
    state.set_model(model)
    state.set_params({"epochs": 5})
    state.on_epoch_end(0, {"val_error": 3.0})
    assert not (tmp_path / "last.keras").exists()  # not due yet
    model.stop_training = True  # time budget or early stopping
    state.on_epoch_end(1, {"val_error": 2.0})
    assert json.loads((tmp_path / "state.json").read_text())["epochs_done"] == 2
    model.stop_training = False
    state.on_epoch_end(2, {"val_error": 4.0})
    state.on_train_end()
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["epochs_done"] == 3 and saved["best"] == 2.0 and saved["best_epoch"] == 2
    assert (tmp_path / "last.keras").is_file()
