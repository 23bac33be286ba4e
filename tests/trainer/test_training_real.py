"""A short training run on real frames (the SLEAP fly clip) lowers the validation error."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.specs import ModelSpec


def short_training(epochs: int, batch_size: int) -> dict:
    """The training section of a short real-data run: constant rate, no early stop."""
    return {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": 0.003,
        "workers": 2,
        "early_stopping": {"enabled": False},
        "schedule": {"type": "constant"},
    }


def fit(spec: ModelSpec, model, train, validation, run_dir):
    """Train ``model`` on the loaded frames into ``run_dir`` (quietly)."""
    from dpk.trainer.training import train_arrays

    return train_arrays(
        spec,
        train.images,
        train.keypoints,
        validation.images,
        validation.keypoints,
        run_dir,
        model=model,
        verbose=0,
    )


@pytest.mark.slow
@pytest.mark.realdata
def test_short_real_training_lowers_validation_error(shared_data, tmp_path):
    from dpk.trainer.data import load_training_data
    from dpk.trainer.metrics import error_summary, euclidean_errors
    from dpk.trainer.models import build_model
    from dpk.trainer.training.callbacks import predict_keypoints

    spec = ModelSpec.model_validate(
        {
            "name": "fly_short",
            "skeleton": {
                "names": ["head", "thorax", "abdomen"],
                "parents": ["thorax", None, "thorax"],
            },
            "preprocessing": {"height": 96, "width": 96},
            "architecture": {"type": "stacked_densenet", "n_stacks": 1, "growth_rate": 8},
            "targets": {"sigma": 6.0, "downsample_factor": 3, "graph": False},
            "augmentation": {
                "flip_lr": 0.0,
                "affine": 0.0,
                "noise": 0.0,
                "dropout": 0.0,
                "blur": 0.0,
                "contrast": 0.0,
                "brightness": 0.0,
            },
            "data": {
                "path": str(shared_data / "sleap-fly-clip" / "clip.slp"),
                "crop": {"anchor": "thorax", "size": 96},
                "train_frames": {"start": 1000, "stop": 1150},
                "validation_frames": {"start": 1200, "stop": 1230},
            },
            "training": short_training(epochs=6, batch_size=16),
        }
    )
    train, validation = load_training_data(spec, tmp_path)
    assert train.images.shape == (300, 96, 96, 1) and validation.images.shape == (60, 96, 96, 1)
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(spec)
    before = error_summary(
        euclidean_errors(predict_keypoints(model, spec, validation.images), validation.keypoints)
    )
    result = fit(spec, model, train, validation, tmp_path)
    after = result.report["overall"]
    assert after["mean"] < 0.6 * before["mean"], (before, after)
    assert np.isfinite(after["median"]) and after["median"] < 10.0


@pytest.mark.slow
@pytest.mark.realdata
def test_exported_model_predicts_the_real_video_like_keras(shared_data, tmp_path):
    """Train briefly on the mirror mouse, export, and predict test_vid.mp4 in the runtime:
    the keypoints equal Keras's (with the numpy peak finder) on the same fitted frames."""
    import cv2
    import keras

    from dpk.runtime import Predictor
    from dpk.runtime.preprocess import fit_frames, to_frame_coordinates
    from dpk.trainer.data import load_training_data
    from dpk.trainer.export.exporter import export_onnx, keras_keypoints
    from dpk.trainer.models import build_model

    names = ["nose_top", "tailBase_top", "nose_bot", "tailBase_bot"]
    spec = ModelSpec.model_validate(
        {
            "name": "mouse_short",
            "skeleton": {"names": names, "parents": ["tailBase_top", None, "tailBase_bot", None]},
            "preprocessing": {"height": 102, "width": 99},
            "architecture": {"type": "stacked_densenet", "n_stacks": 1, "growth_rate": 8},
            "targets": {"sigma": 3.0, "downsample_factor": 1, "graph": False},
            "augmentation": {"flip_lr": 0.0, "affine": 0.0, "noise": 0.0, "dropout": 0.0},
            "data": {"path": str(shared_data / "lp-mirror-mouse" / "CollectedData.csv")},
            "training": short_training(epochs=25, batch_size=8),
        }
    )
    train, validation = load_training_data(spec, tmp_path)
    keras.utils.set_random_seed(0)
    model = build_model(spec)
    fit(spec, model, train, validation, tmp_path)
    path = tmp_path / "mouse.onnx"
    export_onnx(model, spec, path, check_images=validation.images)

    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    runtime = Predictor(path, device="cpu").predict_video(video, stop=12).keypoints
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(12)]
    capture.release()
    fitted, transforms = fit_frames(frames, spec.preprocessing, frame_order="bgr")
    reference = to_frame_coordinates(keras_keypoints(model, spec, fitted), transforms)

    confident = (runtime[..., 2] >= 0.2) & (reference[..., 2] >= 0.2)
    assert confident.sum() >= 12, "the short run should find some keypoints on the video"
    scale = 1 / transforms[0].scale[0]  # frame pixels per model pixel (about 4)
    difference = np.abs(runtime[confident][:, :2] - reference[confident][:, :2])
    assert difference.max() <= 0.01 * scale
    np.testing.assert_allclose(runtime[..., 2], reference[..., 2], atol=1e-3)
