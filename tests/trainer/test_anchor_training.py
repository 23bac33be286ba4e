"""An anchor model trains from labels with several animals per frame and exports (issue 10).

Targets: one map with a Gaussian at every animal's anchor; validation errors are per
animal (predicted anchors matched to the labelled ones); the exported file's anchors
find both blobs.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from dpk.specs import (
    AnchorTargets,
    Augmentation,
    ModelSpec,
    Preprocessing,
    Skeleton,
    Targets,
    Training,
)
from dpk.trainer.anchors import anchor_skeleton, match_anchors
from dpk.trainer.targets import TargetLayout, draw_targets
from dpk.trainer.training import train_arrays
from tests.trainer.test_training import blobs, tiny_model

SPEC = ModelSpec(
    name="blob_anchor",
    skeleton=Skeleton(names=["thorax"]),
    preprocessing=Preprocessing(height=32, width=32),
    targets=Targets(
        sigma=2.0,
        downsample_factor=1,
        graph=False,
        anchor=AnchorTargets(max_animals=3, threshold=0.3, min_distance=4),
    ),
    augmentation=Augmentation(flip_lr=0.5, affine=0.0, noise=0.0, dropout=0.0, blur=0.0),
    training=Training(epochs=8, batch_size=8, learning_rate=3e-3, seed=1),
)


def anchors(n: int, seed: int):
    images, keypoints = blobs(n, seed)
    padded = np.full((n, 3, 2), np.nan, np.float32)
    padded[:, :2] = keypoints
    return images, padded


def test_targets_are_one_map_with_every_animal():
    layout = TargetLayout.from_skeleton(anchor_skeleton("thorax", 3), graph=False)
    points = np.array([[4.0, 6.0], [20.0, 10.0], [np.nan, np.nan]])
    maps = draw_targets(points, layout, SPEC.targets, (16, 16))
    assert maps.shape == (16, 16, 1) and np.isfinite(maps).all()
    assert maps[3, 2, 0] == pytest.approx(maps[5, 10, 0]) and maps.max() <= 1


def test_match_anchors_pairs_by_distance():
    predicted = np.array([[[20.0, 10.0, 0.9], [4.0, 6.0, 0.8], [np.nan] * 3]])
    labelled = np.array([[[4.0, 6.0], [20.0, 10.0], [np.nan, np.nan]]])
    out = match_anchors(predicted, labelled)
    np.testing.assert_array_equal(out[0, :2, :2], labelled[0, :2])


@pytest.mark.slow
def test_anchor_model_trains_and_exports(tmp_path):
    from dpk.trainer.export.exporter import export_onnx

    train_images, train_keypoints = anchors(64, 0)
    val_images, val_keypoints = anchors(16, 1)
    model = tiny_model(SPEC)
    result = train_arrays(
        SPEC,
        train_images,
        train_keypoints,
        val_images,
        val_keypoints,
        tmp_path,
        model=model,
        verbose=0,
    )
    assert result.epochs_done == 8
    overall = result.report["overall"]
    assert overall["count"] == 32 and overall["mean"] < 1.0  # px, per matched animal
    assert set(result.report["keypoints"]) == {"thorax", "thorax_2", "thorax_3"}
    path = tmp_path / "anchor.onnx"
    export_onnx(model, SPEC, path, check_images=val_images[:4])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    found = session.run(["anchors"], {"image": val_images})[0]
    assert found.shape == (16, 3, 3)
    matched = match_anchors(found, val_keypoints)
    distance = np.linalg.norm(matched[:, :2, :2] - val_keypoints[:, :2], axis=-1)
    assert np.nanmax(distance) < 1.5 and np.isnan(found[:, 2]).all()


def test_sleap_labels_give_whole_frames_with_every_animals_anchor(tmp_path):
    from dpk.trainer.data import load_training_data
    from tests.trainer.test_data_loading import write_slp, write_video

    write_video(tmp_path / "vid.mp4", n_frames=5)
    frames = {
        i: [[[10 + i, 20], [30, 30], [5, 5]], [[50, 40], [60 - i, 44], [5, 5]]] for i in range(4)
    }
    frames[4] = [[[10, 20], [30, 30], [5, 5]]]  # one animal only
    write_slp(tmp_path / "labels.slp", "vid.mp4", frames)
    spec = ModelSpec.model_validate(
        {
            "skeleton": {"names": ["thorax"]},
            "preprocessing": {"height": 32, "width": 40, "channels": 1, "fit": "resize"},
            "architecture": {"type": "leap"},
            "targets": {"downsample_factor": 0, "graph": False, "anchor": {"max_animals": 3}},
            "training": {"validation_fraction": 0.2, "seed": 0},
            "data": {"path": "labels.slp"},
        }
    )
    train, validation = load_training_data(spec, tmp_path)
    assert len(train) + len(validation) == 5
    assert train.images.shape[1:] == (32, 40, 1) and train.keypoints.shape[1:] == (3, 2)
    frame = {
        int(f): k
        for part in (train, validation)
        for f, k in zip(part.frame_indices, part.keypoints, strict=True)
    }
    back = train.frame_transform.to_frame(frame[2])  # whole 80x64 frames fitted to 40x32
    np.testing.assert_allclose(back[:2], [[30, 30], [58, 44]], atol=1e-4)
    assert np.isnan(back[2]).all() and np.isnan(frame[4][1:]).all()
