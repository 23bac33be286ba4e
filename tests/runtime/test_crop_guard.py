"""A crop-trained model refuses whole frames of another size (issue 10)."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime.cli import main
from dpk.runtime.crop_guard import CropMismatchError, check_frame_size, crop_of
from dpk.runtime.predictor import Predictor
from dpk.specs.data import Crop, DataSpec
from tests.runtime.conftest import dot_frame, make_spec, write_dot_video, write_model


def crop_spec(size: int = 48):
    spec = make_spec(height=48, width=48)
    data = DataSpec(path="clip.slp", crop=Crop(anchor="nose", size=size))
    return spec.model_copy(update={"data": data})


@pytest.fixture
def crop_model(tmp_path):
    return write_model(tmp_path / "crop.onnx", crop_spec())


def test_crop_of_reads_the_spec():
    assert crop_of(crop_spec(64)) == ("nose", 64)
    assert crop_of(make_spec()) is None


def test_whole_frames_of_another_size_are_refused_in_one_line(crop_model):
    predictor = Predictor(crop_model, device="cpu", name="fly")
    with pytest.raises(CropMismatchError) as error:
        predictor.predict(dot_frame(120, 160, 30, 40))
    message = str(error.value)
    assert "\n" not in message
    assert "48x48 crops centred on 'nose'" in message and "160x120" in message
    assert "TopDown(ANCHOR_MODEL, MODEL)" in message and "--cropped" in message


def test_frames_of_the_crop_size_and_cropped_frames_pass(crop_model):
    predictor = Predictor(crop_model, device="cpu")
    np.testing.assert_allclose(predictor.predict(dot_frame(48, 48, 7, 9))[0, :2], [7, 9])
    cropped = Predictor(crop_model, device="cpu", cropped=True)
    np.testing.assert_allclose(cropped.predict(dot_frame(96, 96, 20, 30))[0, :2], [20, 30], atol=1)


def test_models_without_crop_take_any_size(tmp_path):
    predictor = Predictor(write_model(tmp_path / "m.onnx", make_spec(48, 48)), device="cpu")
    check_frame_size(predictor.spec, 500, 300)
    assert predictor.predict(dot_frame(96, 96, 20, 30)).shape == (4, 3)


def test_video_is_refused_before_reading(crop_model, tmp_path):
    video = tmp_path / "v.avi"
    write_dot_video(video, n=5)
    with pytest.raises(CropMismatchError, match="80x60"):
        Predictor(crop_model, device="cpu").predict_video(video)
    assert Predictor(crop_model, device="cpu", cropped=True).predict_video(video).n_frames == 5


def test_cli_refuses_and_accepts_cropped(crop_model, tmp_path, capsys):
    video = tmp_path / "v.avi"
    write_dot_video(video, n=5)
    out = tmp_path / "p.csv"
    assert main(["predict", str(video), "-m", str(crop_model), "-o", str(out), "-q"]) != 0
    err = capsys.readouterr().err
    assert "--cropped" in err and not out.exists()
    args = ["predict", str(video), "-m", str(crop_model), "-o", str(out), "-q", "--cropped"]
    assert main(args) == 0 and out.exists()
