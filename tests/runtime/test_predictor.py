"""The Predictor on arrays, videos and image folders; zoo names; devices."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dpk.runtime.model_file import ModelFileError
from dpk.runtime.predictor import Predictor, resolve_model
from dpk.runtime.providers import ProviderError, working_providers
from dpk.runtime.video import SourceError
from dpk.specs import ModelSpec
from tests.runtime.conftest import (
    NAMES,
    corrupt_mjpeg_frames,
    dot_frame,
    make_model_bytes,
    make_spec,
    write_model,
)


@pytest.fixture
def predictor(model_path):
    return Predictor(model_path, device="cpu", batch_size=8)


def test_predict_arrays_lists_and_nothing(predictor):
    frames = np.stack([dot_frame(48, 64, 3 + i, 7 + i) for i in range(20)])
    keypoints = predictor.predict(frames)
    assert keypoints.shape == (20, 4, 3) and keypoints.dtype == np.float32
    np.testing.assert_allclose(keypoints[:, 0, 0], 3 + np.arange(20))
    np.testing.assert_allclose(keypoints[:, 0, 1], 7 + np.arange(20))
    one = predictor.predict([dot_frame(96, 128, 50, 60)])
    assert one.shape == (1, 4, 3)
    assert predictor.predict([]).shape == (0, 4, 3)


def test_predict_video_recovers_the_track(predictor, dot_video):
    path, track = dot_video
    predictions = predictor.predict_video(path)
    assert predictions.n_frames == 30
    assert predictions.frame_indices.tolist() == list(range(30))
    assert predictions.names == list(NAMES)
    error = np.abs(predictions.keypoints[:, 0, :2] - track)
    assert error.max() <= 1.0, error.max()
    assert predictions.source == str(path)
    assert predictions.source_info["fps"] == pytest.approx(25.0)
    assert predictions.source_info["n_frames"] == 30
    assert predictions.model_name == "fake.onnx"
    assert ModelSpec.model_validate(json.loads(predictions.model_spec)).name == "fake"
    assert predictions.errors == {}


def test_predict_video_range(predictor, dot_video):
    path, track = dot_video
    predictions = predictor.predict_video(path, start=4, stop=25, step=3)
    assert predictions.frame_indices.tolist() == list(range(4, 25, 3))
    error = np.abs(predictions.keypoints[:, 0, :2] - track[4:25:3])
    assert error.max() <= 1.0


def test_unreadable_frames_get_nan_rows_and_the_run_goes_on(predictor, dot_video, tmp_path):
    path, track = dot_video
    broken = tmp_path / "broken.avi"
    corrupt_mjpeg_frames(path, broken, [8, 9, 17])
    predictions = predictor.predict_video(broken)
    assert predictions.n_frames == 30
    assert sorted(predictions.errors) == [8, 9, 17]
    rows = predictions.keypoints
    assert np.isnan(rows[[8, 9, 17]]).all()
    good = np.setdiff1d(np.arange(30), [8, 9, 17])
    assert np.abs(rows[good, 0, :2] - track[good]).max() <= 1.0


def test_a_video_whose_frames_all_fail(predictor, dot_video, tmp_path):
    path, _ = dot_video
    broken = tmp_path / "dead.avi"
    corrupt_mjpeg_frames(path, broken, range(30))
    with pytest.raises(SourceError, match=r"dead\.avi: none of its frames could be read"):
        predictor.predict_video(broken)


def test_empty_range_is_an_error(predictor, dot_video):
    with pytest.raises(SourceError, match="empty"):
        predictor.predict_video(dot_video[0], start=40)


def test_predict_folder_with_an_unreadable_image(predictor, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a1.png"), dot_frame(48, 64, 10, 20))
    cv2.imwrite(str(folder / "a2.jpg"), np.repeat(dot_frame(96, 128, 40, 30, value=255), 3, 2))
    (folder / "a3.png").write_bytes(b"\x89PNG broken")
    predictions = predictor.predict_path(folder)
    assert predictions.image_names == ["a1.png", "a2.jpg", "a3.png"]
    assert predictions.frame_indices.tolist() == [0, 1, 2]
    np.testing.assert_allclose(predictions.keypoints[0, 0, :2], [10, 20])
    assert np.abs(predictions.keypoints[1, 0, :2] - [40, 30]).max() <= 1.0
    assert np.isnan(predictions.keypoints[2]).all()
    assert "a3.png" in predictions.errors[2]


def test_model_bytes_and_small_batches(dot_video):
    predictor = Predictor(make_model_bytes(), device="cpu", batch_size=1)
    assert predictor.name is None
    predictions = predictor.predict_video(dot_video[0], stop=5)
    assert predictions.n_frames == 5 and predictions.model_name is None
    with pytest.raises(Exception, match="batch_size"):
        Predictor(make_model_bytes(), device="cpu", batch_size=0)


def test_cuda_that_does_not_work_is_an_error_not_a_cpu_fallback(model_path):
    problems = working_providers()
    if problems.get("CUDAExecutionProvider", "absent") is None:
        pytest.skip("CUDA works on this machine")
    with pytest.raises(ProviderError, match="cuda"):
        Predictor(model_path, device="cuda")


def test_auto_device_says_which_provider_it_got(model_path):
    predictor = Predictor(model_path, device="auto")
    assert predictor.provider in ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert predictor.session.get_providers()[0] == predictor.provider


def test_resolve_model_files_folders_and_names(model_path, tmp_path):
    assert resolve_model(model_path) == (model_path, "fake.onnx")
    with pytest.raises(ModelFileError, match="no such model file"):
        resolve_model(tmp_path / "missing.onnx")
    with pytest.raises(ModelFileError, match="no such model file"):
        resolve_model("missing.onnx")  # looks like a zoo name, but a .onnx is a file
    with pytest.raises(ModelFileError, match="not a zoo name"):
        resolve_model("Not A Name")
    with pytest.raises(ModelFileError, match="folder"):
        resolve_model(tmp_path)


@pytest.fixture
def local_zoo(tmp_path, monkeypatch):
    """A registry with one model served from a file:// URL, and an empty cache."""
    from dpk.zoo import add_entry, make_entry

    (tmp_path / "served").mkdir()
    served = write_model(tmp_path / "served" / "fake_dots.onnx", make_spec())
    entry = make_entry(
        served,
        "fake.dots",
        urls=[served.as_uri()],
        license="MIT",
        training_data="dots",
        data_license="MIT",
        input=make_spec().preprocessing,
        keypoints=list(NAMES),
    )
    registry = tmp_path / "registry.yaml"
    add_entry(registry, entry)
    monkeypatch.setenv("DPK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DPK_REGISTRIES", str(registry))
    monkeypatch.delenv("DPK_OFFLINE", raising=False)
    return "fake.dots"


def test_from_pretrained_and_zoo_names(local_zoo, dot_video):
    predictor = Predictor.from_pretrained(local_zoo, device="cpu")
    assert predictor.name == local_zoo
    predictions = predictor.predict_video(dot_video[0], stop=3)
    assert predictions.model_name == local_zoo
    path, name = resolve_model(local_zoo)
    assert name == local_zoo and path.is_file()


@pytest.mark.realdata
def test_real_video_short_range(shared_data, model_path):
    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    predictor = Predictor(model_path, device="cpu")
    predictions = predictor.predict_video(video, start=0, stop=50, step=5)
    assert predictions.frame_indices.tolist() == list(range(0, 50, 5))
    assert predictions.source_info["n_frames"] == 994
    assert predictions.source_info["fps"] == pytest.approx(250.0)
    kp = predictions.keypoints
    assert np.isfinite(kp).all()
    # brightest pixel of the (gray) mouse frames, within the 396 x 406 frame
    assert (kp[..., 0] >= -0.5).all() and (kp[..., 0] <= 395.5).all()
    assert (kp[..., 1] >= -0.5).all() and (kp[..., 1] <= 405.5).all()
    # the same frames through predict() give the same keypoints
    capture = cv2.VideoCapture(str(video))
    frames = []
    for index in range(50):
        ok, frame = capture.read()
        assert ok
        if index % 5 == 0:
            frames.append(frame)
    capture.release()
    np.testing.assert_allclose(predictor.predict(np.stack(frames)), kp)


def test_cpu_batches_run_in_calls_of_at_most_cpu_call_frames(model_path):
    from dpk.runtime.predictor import CPU_CALL_FRAMES

    predictor = Predictor(model_path, device="cpu", batch_size=20)
    assert predictor.call_frames == CPU_CALL_FRAMES
    sizes: list[int] = []
    run = predictor.session.run

    def counting(names, feed):
        sizes.append(len(feed["image"]))
        return run(names, feed)

    predictor.session.run = counting  # type: ignore[method-assign]
    frames = np.stack([dot_frame(48, 64, 3 + i, 7 + i) for i in range(20)])
    keypoints = predictor.predict(frames)
    assert sizes == [8, 8, 4]
    np.testing.assert_allclose(keypoints[:, 0, 0], 3 + np.arange(20))
    predictor.call_frames = None  # the whole batch in one call, as on a GPU
    sizes.clear()
    np.testing.assert_allclose(predictor.predict(frames), keypoints, atol=1e-3)
    assert sizes == [20]
