"""SLEAP predictions written and read back as .slp (SLEAP projects read as labels:
``tests/trainer/test_labels_sleap.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import sleap_io as sio

from dpk.runtime.formats.sleap import load_predictions_slp, save_predictions_slp
from dpk.runtime.predictions import Predictions
from dpk.specs import DpkError, Skeleton

SKELETON = Skeleton(names=["a", "b", "c"], parents=[None, "a", "a"], swaps=[None, "c", "b"])


def make_predictions(**kwargs):
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 100, (5, 3, 3)).astype(np.float32)
    keypoints[..., 2] = rng.uniform(0.1, 1, (5, 3))
    keypoints[1, 2] = np.nan  # one keypoint not found
    keypoints[3] = np.nan  # a frame that could not be read
    values = dict(
        keypoints=keypoints,
        frame_indices=np.array([0, 1, 2, 3, 10]),
        skeleton=SKELETON,
        source="/data/video.mp4",
        source_info={"fps": 25.0},
        model_name="fly.onnx",
    )
    values.update(kwargs)
    return Predictions(**values)


def test_predictions_round_trip_through_slp(tmp_path):
    predictions = make_predictions()
    path = tmp_path / "poses.slp"
    save_predictions_slp(path, predictions)
    assert list(tmp_path.iterdir()) == [path]
    back = load_predictions_slp(path)
    rows = [0, 1, 2, 4]  # the unreadable frame is left out
    assert back.frame_indices.tolist() == [0, 1, 2, 10]
    assert back.skeleton == SKELETON
    assert back.source == "/data/video.mp4"
    np.testing.assert_allclose(back.keypoints[..., :2], predictions.keypoints[rows, :, :2])
    present = ~np.isnan(predictions.keypoints[rows, :, 0])
    np.testing.assert_allclose(
        back.keypoints[..., 2][present], predictions.keypoints[rows, :, 2][present], rtol=1e-6
    )
    raw = sio.load_slp(str(path), open_videos=False)
    instance = raw.labeled_frames[0].instances[0]
    assert type(instance).__name__ == "PredictedInstance"
    assert instance.score == pytest.approx(float(np.mean(predictions.keypoints[0, :, 2])))


def test_image_predictions_through_slp_keep_image_names(tmp_path):
    names = ["f0.png", "f1.png", "f2.png", "f3.png", "f4.png"]
    predictions = make_predictions(frame_indices=np.arange(5), image_names=names, source="/imgs")
    save_predictions_slp(tmp_path / "poses.slp", predictions)
    back = load_predictions_slp(tmp_path / "poses.slp")
    assert back.image_names == ["f0.png", "f1.png", "f2.png", "f4.png"]
    assert back.source == "/imgs"
    video = sio.load_slp(str(tmp_path / "poses.slp"), open_videos=False).videos[0]
    assert [str(f) for f in video.filename] == [f"/imgs/{n}" for n in names]


def test_video_metadata_is_recorded_for_sleap(tmp_path):
    predictions = make_predictions(
        source_info={"fps": 30.0, "width": 640, "height": 480, "n_frames": 11}
    )
    save_predictions_slp(tmp_path / "poses.slp", predictions)
    video = sio.load_slp(str(tmp_path / "poses.slp"), open_videos=False).videos[0]
    assert str(video.filename) == "/data/video.mp4"
    assert video.backend_metadata["type"] == "MediaVideo"
    assert list(video.backend_metadata["shape"]) == [11, 480, 640, 3]
    assert video.backend_metadata["fps"] == 30.0


def test_writing_into_a_missing_folder_or_reading_junk(tmp_path):
    with pytest.raises(DpkError, match="does not exist"):
        save_predictions_slp(tmp_path / "no" / "poses.slp", make_predictions())
    junk = tmp_path / "poses.slp"
    junk.write_text("not hdf5")
    with pytest.raises(DpkError, match="not a readable SLEAP file"):
        load_predictions_slp(junk)
