"""The Python API around predictions: one-frame predict, confidence in [0, 1], DataFrames,
movement datasets, named edges, and SLEAP predictions reusable as labels."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime.formats.options import WriteOptions
from dpk.runtime.formats.sleap import load_predictions_slp, save_predictions_slp
from dpk.runtime.predictions import Predictions
from dpk.runtime.predictor import Predictor
from dpk.specs import Skeleton
from tests.runtime.conftest import dot_frame

SKELETON = Skeleton(names=["a", "b", "c"], parents=[None, "a", "a"], swaps=[None, "c", "b"])


def make_predictions(**kwargs):
    keypoints = np.array(
        [
            [[10, 20, 0.9], [-3, 5, 1.27], [30, 40, 0.1]],
            [[np.nan] * 3] * 3,
            [[11, 21, 0.8], [639.9, 479.7, 0.5], [31, 41, 0.05]],
        ],
        np.float32,
    )
    values = dict(
        keypoints=keypoints,
        frame_indices=np.array([3, 4, 5]),
        skeleton=SKELETON,
        source="video.mp4",
        source_info={"fps": 30.0, "width": 640, "height": 480, "n_frames": 10},
        model_name="m.onnx",
    )
    values.update(kwargs)
    return Predictions(**values)


def test_predict_takes_one_frame(model_path):
    predictor = Predictor(model_path, device="cpu")
    gray = dot_frame(96, 128, 50, 60)
    for frame in (gray, gray[..., 0], np.repeat(gray, 3, axis=-1)):
        keypoints = predictor.predict(frame)
        assert keypoints.shape == (4, 3)
        np.testing.assert_allclose(keypoints[0, :2], [50, 60], atol=1)
    np.testing.assert_array_equal(predictor.predict(gray), predictor.predict([gray])[0])


def test_confidence_is_clipped_to_one_place():
    predictions = make_predictions()
    confidence = predictions.keypoints[..., 2]
    assert np.nanmax(confidence) == 1.0 and np.nanmin(confidence) >= 0.0
    assert np.isnan(predictions.keypoints[1]).all()


def test_dataframes_and_edges():
    predictions = make_predictions()
    assert predictions.edge_names == [("a", "b"), ("a", "c")]
    frame = predictions.to_dataframe()
    assert list(frame.columns.names) == ["scorer", "bodyparts", "coords"]
    assert frame.index.tolist() == [3, 4, 5]
    assert frame[("m.onnx", "c", "x")].tolist()[::2] == [30.0, 31.0]
    tidy = predictions.to_dataframe("tidy")
    assert list(tidy.columns) == ["frame", "keypoint", "x", "y", "confidence"]
    assert len(tidy) == 9 and tidy.loc[2, "keypoint"] == "c" and tidy.loc[2, "frame"] == 3
    with pytest.raises(ValueError, match="unknown layout"):
        predictions.to_dataframe("wide")


def test_movement_dataset_layout():
    pytest.importorskip("xarray")
    ds = make_predictions().to_movement()
    assert ds.position.dims == ("time", "space", "keypoints", "individuals")
    assert ds.confidence.dims == ("time", "keypoints", "individuals")
    assert ds.position.shape == (3, 2, 3, 1)
    np.testing.assert_allclose(ds.time.values, np.array([3, 4, 5]) / 30.0)
    assert ds.frame.values.tolist() == [3, 4, 5]
    assert ds.keypoints.values.tolist() == ["a", "b", "c"]
    assert float(ds.position.sel(space="y", keypoints="c").values[0, 0]) == 40.0
    assert ds.attrs["fps"] == 30.0 and ds.attrs["source_software"] == "dpk"


def test_slp_visibility_threshold_and_points_inside_the_frame(tmp_path):
    sio = pytest.importorskip("sleap_io")
    predictions = make_predictions()
    path = tmp_path / "p.slp"
    save_predictions_slp(path, predictions, WriteOptions(visibility_threshold=0.2))
    labels = sio.load_slp(str(path), open_videos=False)
    first = labels.labeled_frames[0].instances[0]
    assert first.points["visible"].tolist() == [True, True, False]  # 0.1 < 0.2
    xy = np.stack([lf.instances[0].points["xy"] for lf in labels.labeled_frames])
    assert xy[..., 0].min() >= -0.5 and xy[..., 0].max() <= 639.5
    assert xy[..., 1].max() <= 479.5
    assert xy[0, 1, 0] == -0.5 and xy[1, 1, 1] == pytest.approx(479.5)
    assert labels.videos[0].filename == str((tmp_path.cwd() / "video.mp4").absolute())
    back = load_predictions_slp(path)
    assert back.frame_indices.tolist() == [3, 5]
    np.testing.assert_allclose(back.keypoints[:, 2, :2], [[30, 40], [31, 41]])  # kept
    everything = tmp_path / "all.slp"
    save_predictions_slp(everything, predictions, WriteOptions(visibility_threshold=0.0))
    first = sio.load_slp(str(everything), open_videos=False).labeled_frames[0].instances[0]
    assert first.points["visible"].all()
