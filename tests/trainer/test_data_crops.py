"""Anchor crops: pixel-exact cutting, zero padding, crop coordinates, instance selection."""

from __future__ import annotations

import numpy as np
import pytest

from dpk.specs import Crop, DpkError, Skeleton
from dpk.trainer.data.crops import (
    crop_frames,
    crop_image,
    crop_labels,
    crop_origin,
    crop_sleap,
    keypoint_columns,
)
from dpk.trainer.labels import Labels
from dpk.trainer.labels.formats.sleap import load_slp

SKELETON = Skeleton(names=["head", "thorax", "tail"], parents=[None, "head", "thorax"])


def ramp(height=40, width=60):
    """An image whose pixel (y, x) holds (y * width + x) % 251, so positions are checkable."""
    y, x = np.mgrid[0:height, 0:width]
    return ((y * width + x) % 251).astype(np.uint8)[..., None]


def test_crop_origin_rounds_to_the_nearest_pixel():
    assert crop_origin((10.5, 20.49), 8) == (7, 16)  # 10.5 -> 11, 20.49 -> 20
    assert crop_origin((-0.6, 0.0), 5) == (-3, -2)
    assert crop_origin((3.0, 3.0), 7) == (0, 0)


def test_crop_copies_pixels_and_pads_with_zeros():
    image = ramp()
    inside = crop_image(image, 5, 7, 10)
    np.testing.assert_array_equal(inside, image[7:17, 5:15])
    corner = crop_image(image, -3, -2, 6)
    assert corner.shape == (6, 6, 1)
    assert not corner[:2].any() and not corner[:, :3].any()
    np.testing.assert_array_equal(corner[2:, 3:], image[0:4, 0:3])
    beyond = crop_image(image, 100, 100, 4)
    assert not beyond.any()


def test_crop_labels_shift_keypoints_and_keep_rows():
    image = ramp()
    keypoints = np.array(
        [
            [[25.2, 15.0], [30.0, 20.6], [50.0, 38.0]],  # tail falls outside a 16 px crop
            [[np.nan, np.nan], [12.0, 12.0], [14.0, 14.0]],
        ],
        np.float32,
    )
    labels = Labels(
        images=np.stack([image, image]),
        keypoints=keypoints,
        skeleton=SKELETON,
        sources=["a.png", "b.png"],
        frame_indices=np.array([4, 9]),
        annotated=np.ones((2, 3), bool),
        origin="labels.csv",
    )
    cropped = crop_labels(labels, Crop(anchor="thorax", size=16, min_visible=0.5))
    assert len(cropped) == 2
    assert cropped.crop_offsets.tolist() == [[22, 13], [4, 4]]  # round(30, 20.6) - 8
    np.testing.assert_allclose(cropped.keypoints[0, 1], [8.0, 7.6])  # the anchor at the centre
    np.testing.assert_allclose(cropped.keypoints[0, 0], [3.2, 2.0], rtol=1e-6)
    assert np.isnan(cropped.keypoints[0, 2]).all()  # outside the crop: missing
    assert np.isnan(cropped.keypoints[1, 0]).all()
    np.testing.assert_array_equal(cropped.images[0], image[13:29, 22:38])
    assert cropped.sources == ["a.png", "b.png"] and cropped.frame_indices.tolist() == [4, 9]
    assert cropped.annotated.shape == (2, 3)
    # Frame coordinates = crop coordinates + offset.
    np.testing.assert_allclose(
        cropped.keypoints[0, :2] + cropped.crop_offsets[0], keypoints[0, :2], atol=1e-5
    )


def test_instances_without_anchor_or_too_few_points_are_skipped():
    image = ramp()
    labels = Labels(
        images=np.stack([image] * 3),
        keypoints=np.array(
            [
                [[5, 5], [10, 10], [15, 15]],
                [[5, 5], [np.nan, np.nan], [15, 15]],  # no anchor
                [[np.nan, np.nan], [10, 10], [np.nan, np.nan]],  # 1 of 3 labelled
            ],
            np.float32,
        ),
        skeleton=SKELETON,
        sources=["a", "b", "c"],
        origin="labels.csv",
    )
    with pytest.warns(UserWarning, match="skipped 2 of 3 instance") as record:
        cropped = crop_labels(labels, Crop(anchor="thorax", size=16, min_visible=0.5))
    assert "1 without the anchor 'thorax', 1 with fewer than 50%" in str(record[0].message)
    assert cropped.sources == ["a"]
    with pytest.raises(DpkError) as error:
        crop_labels(labels.subset([1, 2]), Crop(anchor="thorax", size=16, min_visible=0.9))
    assert "labels.csv" in str(error.value) and "empty set" in str(error.value)


def test_each_instance_gets_only_its_own_keypoints():
    image = ramp(64, 64)
    instances = {
        3: np.array([[[20, 20], [22, 22], [24, 24]], [[26, 26], [28, 28], [30, 30]]], np.float32)
    }
    labels = crop_frames(
        [(3, image)],
        instances,
        skeleton=SKELETON,
        crop=Crop(anchor="thorax", size=32),
        source_of=lambda f: f"v.mp4#frame={f}",
        origin="v.slp",
    )
    assert len(labels) == 2 and labels.sources == ["v.mp4#frame=3"] * 2
    np.testing.assert_allclose(labels.keypoints[0, 1], [16, 16])
    np.testing.assert_allclose(labels.keypoints[1, 1], [16, 16])
    np.testing.assert_allclose(labels.keypoints[1, 0], [14, 14])  # not the other fly's head


def test_keypoints_outside_the_frame_are_an_error():
    instances = {8: np.array([[[20, 20], [22, 22], [24, 70]]], np.float32)}
    with pytest.raises(DpkError) as error:
        crop_frames(
            [(8, ramp(64, 64))],
            instances,
            skeleton=SKELETON,
            crop=Crop(anchor="thorax", size=32),
            source_of=str,
            origin="v.slp",
        )
    text = str(error.value)
    assert "v.slp" in text and "frame 8" in text and "'tail'" in text


def test_unknown_names_are_listed():
    with pytest.raises(DpkError) as error:
        keypoint_columns(["a", "b"], ["b", "z"], "v.slp")
    assert "v.slp" in str(error.value) and "'z'" in str(error.value) and "a, b" in str(error.value)


@pytest.mark.realdata
def test_real_fly_crops_centre_the_thorax(shared_data):
    sleap = load_slp(shared_data / "sleap-fly-clip" / "clip.slp")
    frames = list(range(100, 130))
    skeleton = Skeleton.from_names(["thorax", "head", "abdomen"])
    labels = crop_sleap(sleap, Crop(anchor="thorax", size=96), skeleton=skeleton, frames=frames)
    assert len(labels) == 60 and labels.images.shape == (60, 96, 96, 1)
    assert labels.frame_indices.tolist() == [f for f in frames for _ in range(2)]
    thorax = labels.keypoints[:, 0]
    assert np.all(np.abs(thorax - 48) <= 0.5)
    decoded = dict(sleap.iter_frames([100]))
    x0, y0 = labels.crop_offsets[0]
    np.testing.assert_array_equal(labels.images[0], decoded[100][y0 : y0 + 96, x0 : x0 + 96])
    frame_points = sleap.instances[100][0][[1, 0, 2]]
    np.testing.assert_allclose(labels.keypoints[0] + labels.crop_offsets[0], frame_points)
