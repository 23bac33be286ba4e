"""Top-down inference on synthetic frames: anchor model -> crops -> pose model (issue 10).

The anchor model finds bright dots (its map is the image / 255, stride 1); the pose model
is the runtime tests' brightest-pixel model trained on 32 px crops. Keypoints come back in
frame pixels exactly, at frame edges too; absent animals are NaN rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from dpk.runtime.crop_guard import CropMismatchError
from dpk.runtime.topdown import TopDown, crop_origin, cut_crops
from dpk.specs import AnchorTargets, ModelSpec, Preprocessing, Skeleton, Targets
from dpk.specs.data import Crop, DataSpec
from dpk.trainer.export.exporter import _append_anchors
from dpk.trainer.export.peaks_onnx import append_peak_finder
from tests.runtime.conftest import make_spec, write_model

H, W, SIZE = 96, 128, 32


def anchor_model(path, crop_size=None, max_animals=3):
    anchor = AnchorTargets(
        max_animals=max_animals, threshold=0.5, min_distance=8, crop_size=crop_size
    )
    spec = ModelSpec(
        name="dots",
        architecture={"type": "leap"},
        skeleton=Skeleton(names=["nose"]),
        preprocessing=Preprocessing(height=H, width=W, channels=1),
        targets=Targets(sigma=1.0, downsample_factor=0, graph=False, anchor=anchor),
    )
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["f", "v255"], ["maps"]),
    ]
    inits = [numpy_helper.from_array(np.array(255.0, np.float32), "v255")]
    graph = helper.make_graph(
        nodes,
        "dots",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", H, W, 1])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", H, W, 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    append_peak_finder(model, "maps", n_keypoints=1, stride=1, sigma=1.0)
    _append_anchors(model, spec)  # as the exporter does: keypoints, anchors, maps
    for key, value in {"dpk.format": "1", "dpk.spec": spec.model_dump_json()}.items():
        model.metadata_props.add(key=key, value=value)
    path.write_bytes(model.SerializeToString())
    return path


def pose_model(path, size=SIZE):
    spec = make_spec(height=SIZE, width=SIZE)
    spec = spec.model_copy(
        update={"data": DataSpec(path="x.slp", crop=Crop(anchor="nose", size=size))}
    )
    return write_model(path, spec)


def frame(dots):
    image = np.zeros((H, W, 1), np.uint8)
    for (x, y), value in zip(dots, (255, 220, 200), strict=False):
        image[y, x] = value
    return image


@pytest.fixture
def pipeline(tmp_path):
    return TopDown(anchor_model(tmp_path / "a.onnx"), pose_model(tmp_path / "p.onnx"), device="cpu")


def test_two_animals_come_back_in_frame_pixels(pipeline):
    found = pipeline.predict([frame([(20, 30), (100, 70)]), frame([(60, 50)])])
    assert found.keypoints.shape == (2, 3, 4, 3) and found.scores.shape == (2, 3)
    np.testing.assert_array_equal(found.keypoints[0, 0, 0, :2], [20, 30])
    np.testing.assert_array_equal(found.keypoints[0, 1, 0, :2], [100, 70])
    assert np.isnan(found.keypoints[0, 2]).all() and np.isnan(found.scores[0, 2])
    np.testing.assert_array_equal(found.keypoints[1, 0, 0, :2], [60, 50])
    assert np.isnan(found.keypoints[1, 1:]).all()


def test_anchor_at_the_frame_edge_is_padded_and_mapped_back_exactly(pipeline):
    found = pipeline.predict(frame([(0, 1), (127, 95)]))
    np.testing.assert_array_equal(found.keypoints[0, 0, 0, :2], [0, 1])
    np.testing.assert_array_equal(found.keypoints[0, 1, 0, :2], [127, 95])


def test_frames_without_animals_give_empty_rows(pipeline):
    found = pipeline.predict(np.zeros((3, H, W, 1), np.uint8))
    assert np.isnan(found.keypoints).all() and np.isnan(found.scores).all()


def test_more_animals_than_rows_keeps_the_strongest(tmp_path):
    pipeline = TopDown(
        anchor_model(tmp_path / "a.onnx", max_animals=2), pose_model(tmp_path / "p.onnx"), "cpu"
    )
    found = pipeline.predict(frame([(20, 30), (100, 70), (60, 50)]))
    np.testing.assert_array_equal(found.anchors[0, :, :2], [[20, 30], [100, 70]])


def test_crop_size_mismatch_is_refused(tmp_path):
    with pytest.raises(CropMismatchError, match="trained on 32x32 crops"):
        TopDown(anchor_model(tmp_path / "a.onnx", crop_size=64), pose_model(tmp_path / "p.onnx"))


def test_crops_and_origins():
    assert crop_origin(10.49, 10.5, 32) == (-6, -5)
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    crop = cut_crops(image, np.array([[-1, -1]]), 3)[0, ..., 0]
    np.testing.assert_array_equal(crop, [[0, 0, 0], [0, 0, 1], [0, 4, 5]])


def test_dynamic_crop_follows_and_searches_when_lost(tmp_path):
    from dpk.runtime.dynamic_crop import DynamicCrop

    pipeline = TopDown(anchor_model(tmp_path / "a.onnx"), pose_model(tmp_path / "p.onnx"), "cpu")
    path = [(20, 30), (24, 31), (28, 33), (110, 80), (106, 78), (0, 0)]
    frames = [frame([p]) for p in path]
    frames[-1][:] = 0  # the animal leaves
    follow = DynamicCrop(pipeline, min_score=0.3)
    found = follow.predict(frames)
    np.testing.assert_array_equal(found[:5, 0, :2], path[:5])
    assert np.isnan(found[5]).all()
    assert follow.searches == 3  # the first frame, the jump, the empty frame


def write_two_blob_video(path, n_frames: int) -> list:
    """An MJPG video of two blobs crossing each other; returns their (x, y) per frame."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (W, H))
    yy, xx = np.mgrid[0:H, 0:W]
    truth = []
    for t in range(n_frames):
        a, b = (20 + 3 * t, 30), (100 - 3 * t, 70)
        truth.append((a, b))
        image = np.zeros((H, W))
        for (x, y), value in ((a, 250), (b, 200)):
            image = np.maximum(image, value * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 2.0))
        writer.write(np.repeat(image.round().astype(np.uint8)[..., None], 3, axis=2))
    writer.release()
    return truth


def test_predict_video_tracks_two_animals(tmp_path):
    path = tmp_path / "two.avi"
    truth = write_two_blob_video(path, 12)
    pipeline = TopDown(anchor_model(tmp_path / "a.onnx"), pose_model(tmp_path / "p.onnx"), "cpu")
    found = pipeline.predict_video(path, batch_size=5)
    assert found.keypoints.shape == (12, 3, 4, 3)
    np.testing.assert_array_equal(found.frame_indices, np.arange(12))
    for t, (a, b) in enumerate(truth):
        rows = {tuple(np.round(found.keypoints[t, j, 0, :2]).astype(int)): j for j in range(2)}
        assert found.track_ids[t, rows[a]] == 0 and found.track_ids[t, rows[b]] == 1
    assert (found.track_ids[:, 2] == -1).all()
