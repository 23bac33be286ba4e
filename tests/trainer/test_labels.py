"""The in-memory labels model: validation, selections, joins and the outside-image check."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.runtime.video import video_source
from dpk.specs import DpkError, Skeleton
from dpk.trainer.labels import Labels, LabelsError, restrict_skeleton

SKELETON = Skeleton(
    names=["head", "thorax", "wingL", "wingR"],
    parents=[None, "head", "thorax", "thorax"],
    swaps=[None, None, "wingR", "wingL"],
)


def make_labels(n: int = 4, height: int = 20, width: int = 30, channels: int = 1, **kwargs):
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, min(height, width) - 1, (n, 4, 2)).astype(np.float32)
    values = dict(
        images=rng.integers(0, 255, (n, height, width, channels), dtype=np.uint8),
        keypoints=keypoints,
        skeleton=SKELETON,
        sources=[video_source("clip.mp4", i * 10) for i in range(n)],
        frame_indices=np.arange(n) * 10,
        origin="labels.h5",
    )
    values.update(kwargs)
    return Labels(**values)


def test_defaults_and_views():
    labels = make_labels(frame_indices=None, n=3)
    assert len(labels) == 3
    assert labels.frame_indices.tolist() == [0, 1, 2]
    assert labels.frame_indices.dtype == np.int64
    assert labels.keypoints.dtype == np.float32
    assert labels.image_shape == (20, 30, 1)
    assert labels.names == ["head", "thorax", "wingL", "wingR"]
    assert labels.sources[1] == "clip.mp4#frame=10"
    labels.keypoints[0, 2] = np.nan
    flags = labels.annotated_or_labelled()
    assert flags.shape == (3, 4) and not flags[0, 2] and flags[0, 1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"images": np.zeros((2, 5, 5, 1), np.float32)}, "uint8"),
        ({"images": np.zeros((2, 5, 5, 2), np.uint8)}, "C = 1 or 3"),
        ({"keypoints": np.zeros((2, 3, 2))}, "shape (2, 4, 2)"),
        ({"sources": ["a"]}, "1 sources for 2 images"),
        ({"frame_indices": np.zeros(2, float)}, "frame_indices"),
        ({"annotated": np.zeros((2, 3), bool)}, "annotated must have shape (2, 4)"),
        ({"crop_offsets": np.zeros((2, 3))}, "crop_offsets"),
        ({"keypoints": np.full((2, 4, 2), np.inf)}, "infinite"),
    ],
)
def test_validation_names_the_origin(change, message):
    values = dict(
        images=np.zeros((2, 5, 5, 1), np.uint8),
        keypoints=np.zeros((2, 4, 2)),
        skeleton=SKELETON,
        sources=["a", "b"],
        origin="labels.h5",
    )
    values.update(change)
    with pytest.raises(LabelsError) as error:
        Labels(**values)
    assert message in str(error.value)
    assert "labels.h5" in str(error.value)
    assert isinstance(error.value, DpkError)


def test_subset_by_indices_mask_and_slice_keeps_every_field():
    labels = make_labels(annotated=np.eye(4, dtype=bool), crop_offsets=np.arange(8).reshape(4, 2))
    picked = labels.subset([3, 1])
    assert picked.frame_indices.tolist() == [30, 10]
    assert picked.sources == [labels.sources[3], labels.sources[1]]
    np.testing.assert_array_equal(picked.images, labels.images[[3, 1]])
    np.testing.assert_array_equal(picked.annotated, np.eye(4, dtype=bool)[[3, 1]])
    np.testing.assert_array_equal(picked.crop_offsets, [[6, 7], [2, 3]])
    masked = labels.subset(np.array([True, False, True, False]))
    assert masked.frame_indices.tolist() == [0, 20]
    assert labels.subset(slice(1, 3)).frame_indices.tolist() == [10, 20]
    assert len(labels.subset(np.array([], dtype=np.int64))) == 0
    with pytest.raises(LabelsError, match="boolean mask needs 4"):
        labels.subset(np.array([True, False]))


def test_select_keypoints_reorders_and_reparents():
    labels = make_labels()
    picked = labels.select_keypoints(["wingR", "head", "wingL"])
    np.testing.assert_array_equal(picked.keypoints, labels.keypoints[:, [3, 0, 2]])
    # thorax is dropped: the wings now hang from head, and stay each other's swap.
    assert picked.skeleton.parents == ["head", None, "head"]
    assert picked.skeleton.swaps == ["wingL", None, "wingR"]


def test_select_keypoints_with_a_skeleton_uses_it():
    labels = make_labels()
    target = Skeleton(names=["thorax", "head"], parents=[None, "thorax"])
    picked = labels.select_keypoints(target)
    assert picked.skeleton is target
    np.testing.assert_array_equal(picked.keypoints, labels.keypoints[:, [1, 0]])


def test_select_unknown_keypoints_lists_the_names_and_the_file():
    labels = make_labels()
    with pytest.raises(LabelsError) as error:
        labels.select_keypoints(["head", "tail", "nose"])
    text = str(error.value)
    assert "labels.h5" in text and "'tail'" in text and "'nose'" in text
    assert "head, thorax, wingL, wingR" in text


def test_restrict_skeleton_drops_swaps_of_dropped_partners():
    sub = restrict_skeleton(SKELETON, ["thorax", "wingL"])
    assert sub.parents == [None, "thorax"]
    assert sub.swaps == [None, None]
    with pytest.raises(LabelsError, match="'leg'"):
        restrict_skeleton(SKELETON, ["leg"])


def test_concatenate_joins_in_order_and_fills_annotated():
    a = make_labels(n=2, annotated=np.zeros((2, 4), bool))
    b = make_labels(n=3)
    b.keypoints[0, 0] = np.nan
    joined = Labels.concatenate([a, b])
    assert len(joined) == 5
    assert joined.frame_indices.tolist() == [0, 10, 0, 10, 20]
    assert not joined.annotated[:2].any()
    assert joined.annotated[2].tolist() == [False, True, True, True]
    assert joined.crop_offsets is None


def test_concatenate_refuses_different_keypoints_or_shapes():
    a = make_labels(n=2)
    with pytest.raises(LabelsError, match="different image shapes"):
        Labels.concatenate([a, make_labels(n=2, height=21)])
    with pytest.raises(LabelsError, match="different keypoints"):
        Labels.concatenate([a, a.select_keypoints(["head", "thorax", "wingR", "wingL"])])
    with pytest.raises(LabelsError, match="nothing to concatenate"):
        Labels.concatenate([])


def test_outside_image_uses_the_pixel_extent_and_half_pixel_tolerance():
    labels = make_labels(n=1, height=20, width=30)
    labels.keypoints[0] = [[-1.0, 0], [29.5 + 0.5, 19.0], [10, 20.01], [np.nan, np.nan]]
    # x = -1.0 and x = 30.0 are exactly 0.5 px beyond the extent [-0.5, 29.5]: allowed.
    assert labels.outside_image().tolist() == [[0, 2]]
    labels.check_inside(tolerance=1.0)
    with pytest.raises(LabelsError) as error:
        labels.check_inside()
    text = str(error.value)
    assert "labels.h5" in text and "clip.mp4#frame=0" in text and "'wingL'" in text
    assert "y=20.01" in text
