"""Context crops: augmentation of a crop warps from its surroundings, not a black border."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpk.specs import Augmentation, ModelSpec, Skeleton
from dpk.trainer.augment import AffineParams, Augmenter, AugmentParams
from dpk.trainer.data import load_training_data
from dpk.trainer.data.context import context_size, load_training_data_with_context

SKELETON = Skeleton(names=["a", "b"], parents=[None, "a"])


def test_context_side_covers_the_widest_transform():
    # 45 degrees or more: the window's corner reaches sqrt(2) * half the side.
    fly = Augmentation(rotation=180, scale=(0.9, 1.1), translation=0.05)
    assert context_size(160, fly) == 278  # (80 + 8) * sqrt(2) / 0.9 = 138.3 per side
    assert context_size(160, Augmentation(rotation=45, scale=(1, 1), translation=0)) == 228
    small = Augmentation(rotation=15, scale=(1, 1), translation=0)
    assert context_size(160, small) == math.ceil(160 * (math.cos(0.2618) + math.sin(0.2618)))
    # the two crops share their centre pixel: same parity
    for size in (95, 96, 160, 161):
        assert (context_size(size, fly) - size) % 2 == 0
    # nothing spatial: no context needed
    assert context_size(160, Augmentation(affine=0)) == 160
    assert context_size(160, Augmentation(enabled=False)) == 160
    assert context_size(160, Augmentation(rotation=0, scale=(1, 1), translation=0)) == 160


def _scene(side: int) -> np.ndarray:
    """A bright, smooth, position-coded image (no pixel is 0)."""
    y, x = np.mgrid[0:side, 0:side]
    return (30 + (np.sin(x / 7.0) + np.cos(y / 5.0) + 2) * 50).astype(np.uint8)[..., None]


@pytest.mark.parametrize(
    "spatial",
    [
        AffineParams(rotation=45.0),
        AffineParams(rotation=-130.0, scale=0.9, translation=(8.0, -8.0)),
        AffineParams(rotation=10.0, scale=1.1, translation=(-3.5, 2.0)),
    ],
)
def test_warp_from_context_equals_the_crop_where_the_crop_reaches(spatial):
    size = 40
    augmentation = Augmentation(rotation=180, scale=(0.9, 1.1), translation=0.2)
    side = context_size(size, augmentation)
    margin = (side - size) // 2
    context = _scene(side)
    image = context[margin : margin + size, margin : margin + size].copy()
    keypoints = np.array([[20.0, 20.0], [5.0, 33.0]], np.float32)
    augmenter = Augmenter(augmentation, SKELETON)
    params = AugmentParams(spatial=spatial)

    alone, alone_points = augmenter.apply(image, keypoints, params)
    wide, wide_points = augmenter.apply(image, keypoints, params, context)

    assert wide.shape == image.shape and wide.dtype == np.uint8
    np.testing.assert_array_equal(wide_points, alone_points)  # keypoints: the crop's frame
    inside = augmenter.apply(np.full_like(image, 255), keypoints, params)[0] == 255
    assert 0 < inside.sum() < inside.size  # the crop alone leaves a border here
    np.testing.assert_array_equal(wide[inside], alone[inside])
    assert wide.min() > 0  # the border is the real surroundings, never black
    assert alone.min() == 0


def test_flips_and_no_transform_ignore_the_context():
    size, side = 20, 30
    context = _scene(side)
    image = context[5:25, 5:25].copy()
    keypoints = np.array([[3.0, 4.0], [10.0, 12.0]], np.float32)
    augmenter = Augmenter(Augmentation(flip_lr=1.0), SKELETON)
    for spatial in (AffineParams(), AffineParams(flip_lr=True)):
        params = AugmentParams(spatial=spatial)
        alone = augmenter.apply(image, keypoints, params)
        wide = augmenter.apply(image, keypoints, params, context)
        np.testing.assert_array_equal(wide[0], alone[0])
        np.testing.assert_array_equal(wide[1], alone[1])
    assert size == image.shape[0]


def _fly_spec(shared_data, **crop) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "skeleton": {"names": ["thorax", "head", "abdomen"]},
            "preprocessing": {"height": 64, "width": 64, "channels": 1, "color_order": "gray"},
            "augmentation": {"rotation": 180, "scale": [0.9, 1.1], "translation": 0.05},
            "data": {
                "path": str(shared_data / "sleap-fly-clip" / "clip.slp"),
                "crop": {"anchor": "thorax", "size": 64, **crop},
                "train_frames": {"start": 0, "stop": 10},
                "validation_frames": {"start": 10, "stop": 12},
            },
        }
    )


@pytest.mark.realdata
def test_training_crops_get_their_surroundings(shared_data):
    spec = _fly_spec(shared_data)
    train, validation, context = load_training_data_with_context(spec, shared_data)
    side = context_size(64, spec.augmentation)
    assert context is not None and context.shape == (len(train.images), side, side, 1)
    margin = (side - 64) // 2
    np.testing.assert_array_equal(context[:, margin:-margin, margin:-margin], train.images)
    # the surroundings hold more than zero padding: the frame goes on around the crop
    assert context[:, :margin].mean() > 10
    # one read at the context side gives exactly what cropping at 64 px gives
    direct_train, direct_validation = load_training_data(spec, shared_data)
    for derived, direct in ((train, direct_train), (validation, direct_validation)):
        np.testing.assert_array_equal(derived.images, direct.images)
        np.testing.assert_array_equal(derived.keypoints, direct.keypoints)  # NaN where NaN
        np.testing.assert_array_equal(derived.crop_offsets, direct.crop_offsets)
        assert derived.sources == direct.sources
        np.testing.assert_array_equal(derived.frame_indices, direct.frame_indices)
    # some keypoints lie inside the context crop but outside the 64 px crop
    assert np.isnan(train.keypoints).sum() > 0


@pytest.mark.realdata
def test_no_context_when_switched_off_or_nothing_spatial(shared_data):
    spec = _fly_spec(shared_data, context=False)
    assert load_training_data_with_context(spec, shared_data)[2] is None
    still = _fly_spec(shared_data).model_copy(update={"augmentation": Augmentation(affine=0.0)})
    assert load_training_data_with_context(still, shared_data)[2] is None


def test_centre_crop_drops_keypoints_outside_and_moves_offsets():
    from dpk.specs.skeleton import Skeleton
    from dpk.trainer.data.context import centre_crop
    from dpk.trainer.labels import Labels

    images = np.arange(2 * 9 * 9, dtype=np.uint8).reshape(2, 9, 9, 1)
    keypoints = np.array([[[4.0, 4.0], [0.0, 4.0]], [[6.4, 2.0], [np.nan, np.nan]]], np.float32)
    labels = Labels(
        images=images,
        keypoints=keypoints,
        skeleton=Skeleton(names=["a", "b"]),
        sources=["f#0", "f#1"],
        crop_offsets=np.array([[10, 20], [0, 0]]),
    )
    small = centre_crop(labels, 5)
    np.testing.assert_array_equal(small.images, images[:, 2:7, 2:7])
    np.testing.assert_array_equal(
        small.keypoints,
        np.array([[[2, 2], [np.nan, np.nan]], [[4.4, 0], [np.nan, np.nan]]], np.float32),
    )
    np.testing.assert_array_equal(small.crop_offsets, [[12, 22], [2, 2]])
    assert labels.images.shape == (2, 9, 9, 1)  # the input is left as it was
