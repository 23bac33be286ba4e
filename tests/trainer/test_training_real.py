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
    """Train briefly on the mirror mouse, export, and predict test_vid.mp4 in the runtime.

    Nothing here depends on the weights a short training reaches on a given CPU: the
    runtime's keypoints on the video equal the file's on the same fitted frames, the
    file's maps equal Keras's within float tolerance, and the in-graph peaks equal the
    numpy peak finder's on those same maps within 1e-3 map px, at any batch size.
    """
    import cv2
    import keras
    import onnxruntime as ort

    from dpk.runtime import Predictor
    from dpk.runtime.preprocess import fit_frames, to_frame_coordinates
    from dpk.trainer.data import load_training_data
    from dpk.trainer.export.exporter import export_onnx
    from dpk.trainer.models import build_model, output_list
    from dpk.trainer.peaks import PEAK_PARITY_MAP_PX, find_peaks

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
    report = export_onnx(model, spec, path, check_images=validation.images)
    stride = spec.targets.stride
    assert report.max_keypoint_difference_px <= PEAK_PARITY_MAP_PX * stride

    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    runtime = Predictor(path, device="cpu").predict_video(video, stop=12).keypoints
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(12)]
    capture.release()
    fitted, transforms = fit_frames(frames, spec.preprocessing, frame_order="bgr")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    keypoints, maps = session.run(["keypoints", "maps"], {"image": fitted})

    # the video path of the runtime = the file on the same fitted frames
    np.testing.assert_allclose(runtime, to_frame_coordinates(keypoints, transforms), atol=1e-4)
    # the network: ONNX maps = Keras maps, every pixel
    keras_maps = np.asarray(output_list(model(fitted, training=False))[-1])
    np.testing.assert_allclose(maps, keras_maps, atol=1e-4 * max(1.0, np.abs(keras_maps).max()))
    # the peaks: in-graph = numpy on the same maps, every keypoint
    want = find_peaks(maps, stride, spec.targets.sigma, spec.n_keypoints)
    assert np.abs(keypoints[..., :2] - want[..., :2]).max() <= PEAK_PARITY_MAP_PX * stride
    np.testing.assert_array_equal(keypoints[..., 2], want[..., 2])
    # and the batch size changes nothing
    one = Predictor(path, device="cpu", batch_size=1).run(fitted)
    assert np.abs(one[..., :2] - keypoints[..., :2]).max() <= PEAK_PARITY_MAP_PX * stride
