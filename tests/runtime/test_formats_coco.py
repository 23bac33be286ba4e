"""COCO keypoints JSON as a prediction format: layout, visibility, round trip, dispatch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dpk.runtime.formats import WriteOptions, load_predictions, prediction_format
from dpk.runtime.formats.coco import (
    is_coco_json,
    load_predictions_coco,
    save_predictions_coco,
    skeleton_from_category,
)
from dpk.runtime.predictions import Predictions
from dpk.specs import DpkError, Skeleton

SKELETON = Skeleton(
    names=["nose", "earL", "earR", "tail"],
    parents=[None, "nose", "nose", "nose"],
    swaps=[None, "earR", "earL", None],
)


def sample() -> Predictions:
    rng = np.random.default_rng(3)
    keypoints = rng.uniform(0, 300, (5, 4, 3)).astype(np.float32)
    keypoints[..., 2] = [[0.9, 0.1, 0.2, 0.5]] * 5
    keypoints[1] = np.nan  # an unreadable frame
    keypoints[3, 2] = np.nan  # one missing point
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.arange(10, 15),
        skeleton=SKELETON,
        source="/data/mouse.mp4",
        source_info={"fps": 30.0, "width": 320, "height": 240},
        model_name="m.onnx",
    )


def test_layout_visibility_and_exact_round_trip(tmp_path):
    predictions = sample()
    path = save_predictions_coco(tmp_path / "p.coco.json", predictions, WriteOptions())
    data = json.loads(path.read_text())
    category = data["categories"][0]
    assert category["keypoints"] == SKELETON.names
    assert category["skeleton"] == [[1, 2], [1, 3], [1, 4]]
    assert [i["file_name"] for i in data["images"]][:2] == [
        "mouse.mp4#frame=10",
        "mouse.mp4#frame=11",
    ]
    assert data["images"][0]["width"] == 320 and data["images"][0]["height"] == 240
    assert len(data["annotations"]) == 4  # no annotation for the unreadable frame
    first = data["annotations"][0]
    assert first["keypoints"][2::3] == [2, 1, 2, 2]  # 0.2 >= threshold 0.2 is visible
    assert first["score"] == pytest.approx(np.mean([0.9, 0.1, 0.2, 0.5]))
    third = data["annotations"][2]  # frame 13: earR missing
    assert third["keypoints"][6:9] == [0, 0, 0] and third["num_keypoints"] == 3
    back = load_predictions_coco(path)
    np.testing.assert_array_equal(back.keypoints, predictions.keypoints)
    assert back.frame_indices.tolist() == list(range(10, 15))
    assert back.names == SKELETON.names and back.skeleton.parents == SKELETON.parents
    assert back.source == "mouse.mp4" and back.model_name == "m.onnx"


def test_threshold_option_and_registry(tmp_path):
    path = tmp_path / "poses.coco.json"
    assert prediction_format(path) == "coco"
    assert prediction_format(tmp_path / "x.json", "coco") == "coco"
    save_predictions_coco(path, sample(), WriteOptions(visibility_threshold=0.95))
    data = json.loads(path.read_text())
    assert data["annotations"][0]["keypoints"][2::3] == [1, 1, 1, 1]
    assert is_coco_json(path) and not is_coco_json(tmp_path / "missing.json")
    assert load_predictions(path).n_frames == 5


def test_skeleton_cycles_and_bad_files(tmp_path):
    # COCO's person skeleton has cycles: the tree keeps the first edges, drops the closing one.
    sk = skeleton_from_category(
        {"keypoints": ["a", "b", "c"], "skeleton": [[1, 2], [2, 3], [3, 1]]}, "x"
    )
    assert sk.parents == [None, "a", "b"]
    # a pair into a keypoint that already has a parent is read the other way round
    sk = skeleton_from_category({"keypoints": ["a", "b", "c"], "skeleton": [[1, 3], [2, 3]]}, "x")
    assert sk.parents == [None, "c", "a"]
    with pytest.raises(DpkError, match="keypoint numbers"):
        skeleton_from_category({"keypoints": ["a"], "skeleton": [[0, 1]]}, "x")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(DpkError, match=r"bad\.json: not valid JSON"):
        load_predictions_coco(bad)
    two = tmp_path / "two.json"
    ann = {"image_id": 1, "keypoints": [1, 2, 2]}
    two.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png"}],
        "annotations": [dict(ann, id=1), dict(ann, id=2)],
        "categories": [{"id": 1, "keypoints": ["a"]}],
    }))  # fmt: skip
    with pytest.raises(DpkError, match="several annotations"):
        load_predictions_coco(two)


def test_real_video_predict_writes_coco(run_cli, shared_data, model_path, tmp_path):
    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    out, h5 = tmp_path / "poses.coco.json", tmp_path / "poses.h5"
    code, _, err = run_cli(
        "predict", video, "-m", model_path, "-o", out, "-o", h5, "--stop", "8", "-q",
        "--visibility-threshold", "0.5",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out.read_text())
    assert len(data["images"]) == 8 and data["images"][0]["width"] == 396
    back, reference = load_predictions(out), load_predictions(h5)
    np.testing.assert_array_equal(back.keypoints, reference.keypoints)
    for annotation, row in zip(data["annotations"], reference.keypoints, strict=True):
        assert annotation["keypoints"][2::3] == [2 if c >= 0.5 else 1 for c in row[:, 2]]


def test_batch_output_endings_cover_every_format():
    from dpk.runtime.batch import FORMAT_SUFFIXES
    from dpk.runtime.formats import FORMATS

    assert set(FORMAT_SUFFIXES) == set(FORMATS)
    for name, ending in FORMAT_SUFFIXES.items():
        assert prediction_format(f"video{ending}", name) == name
