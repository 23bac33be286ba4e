"""Augmentation: keypoints stay on what they mark, flips swap labels, noise leaves them alone.

The central check draws a Gaussian dot at each (subpixel) keypoint, augments image and
keypoints together, and finds every dot again in the output: its intensity-weighted
centroid must lie within 0.2 px (the requirement: 0.5 px) of the transformed keypoint, and its mass must match
the dot it came from (so a flip that forgets to swap labels is caught).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dpk.specs import Augmentation, Skeleton
from dpk.specs.errors import DpkError
from dpk.trainer.augment import (
    AffineParams,
    Augmenter,
    AugmentParams,
    IntensityParams,
    affine_matrix,
    apply_affine_to_keypoints,
    apply_intensity,
    mark_outside,
    permute_keypoints,
    random_affine_matrix,
    warp_image,
)

SKELETON = Skeleton(
    names=["head", "L", "R", "Lb", "Rb"],
    parents=[None, "head", "head", "L", "R"],
    swaps=[None, "R", "L", "Rb", "Lb"],
)
PERM = SKELETON.flip_permutation  # [0, 2, 1, 4, 3]
OFFSETS = np.array([(0, 0), (-17, -11), (17, -11), (-14, 13), (15, 12)], dtype=np.float64)
INTENSITIES = np.array([250.0, 200.0, 150.0, 100.0, 60.0])
SIGMA = 1.5
# The brief asks for 0.5 px; bilinear warping of a 1.5 px dot measures <= 0.06 px, so a
# tighter bound also catches subtler convention slips (a quarter-pixel offset).
TOLERANCE_PX = 0.2
SHAPES = [(97, 131, 1), (64, 64, 3), (80, 56, 1)]

OFF = dict(
    flip_lr=0.0,
    flip_ud=0.0,
    affine=0.0,
    noise=0.0,
    dropout=0.0,
    blur=0.0,
    contrast=0.0,
    brightness=0.0,
)
AFFINE_ONLY = dict(OFF, affine=1.0, rotation=0.0, scale=(1.0, 1.0), translation=0.0, shear=0.0)
SPATIAL_SPECS = {
    "flip_lr": Augmentation(**dict(OFF, flip_lr=1.0)),
    "flip_ud": Augmentation(**dict(OFF, flip_ud=1.0)),
    "rotation": Augmentation(**dict(AFFINE_ONLY, rotation=180.0)),
    "scale": Augmentation(**dict(AFFINE_ONLY, scale=(0.6, 1.5))),
    "translation": Augmentation(**dict(AFFINE_ONLY, translation=0.2)),
    "shear": Augmentation(**dict(AFFINE_ONLY, shear=30.0)),
    "all": Augmentation(
        **dict(
            OFF,
            flip_lr=0.5,
            flip_ud=0.5,
            affine=1.0,
            rotation=180.0,
            scale=(0.75, 1.25),
            translation=0.1,
            shear=15.0,
        )
    ),
}
NOISE_ONLY = Augmentation(
    flip_lr=0.0,
    flip_ud=0.0,
    affine=0.0,
    noise=1.0,
    noise_std=0.1,
    dropout=1.0,
    dropout_rate=0.05,
    blur=1.0,
    blur_sigma=(0.5, 1.5),
    contrast=1.0,
    brightness=1.0,
)


# ----------------------------------------------------------------------------- helpers
def make_keypoints(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Five well-separated keypoints around the centre, at random subpixel positions."""
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    jitter = rng.uniform(-0.5, 0.5, size=OFFSETS.shape)
    return (centre + OFFSETS + jitter).astype(np.float32)


def draw_dots(height: int, width: int, channels: int, keypoints: np.ndarray) -> np.ndarray:
    """A dark image with one Gaussian dot (sigma 1.5 px) per keypoint, pixel centres at ints."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.zeros((height, width))
    for (x, y), value in zip(keypoints, INTENSITIES, strict=True):
        image += value * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIGMA**2))
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return np.repeat(image[:, :, None], channels, axis=2)


def find_dot(
    image: np.ndarray, x: float, y: float, linear: np.ndarray | None = None, reach: float = 4.0
) -> tuple[float, float, float]:
    """Intensity-weighted centroid and mass of the dot around (x, y).

    The window is the ellipse where the transformed dot (covariance sigma^2 A A^T, with A
    the linear part of the transform) is within ``reach`` standard deviations of (x, y):
    symmetric about the expected centre, so it does not pull the centroid towards it,
    and in this metric the dots are as far apart as before the transform.
    """
    linear = np.eye(2) if linear is None else linear
    inverse = np.linalg.inv(SIGMA**2 * linear @ linear.T)
    radius = math.ceil(reach * SIGMA * np.linalg.svd(linear, compute_uv=False)[0]) + 1
    cx, cy = round(float(x)), round(float(y))
    yy, xx = np.mgrid[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
    dx, dy = xx - x, yy - y
    inside = inverse[0, 0] * dx**2 + 2 * inverse[0, 1] * dx * dy + inverse[1, 1] * dy**2
    window = image[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1].astype(float)
    window = window * (inside <= reach**2)
    mass = window.sum()
    return (window * xx).sum() / mass, (window * yy).sum() / mass, mass


def check_dots_follow_keypoints(
    image: np.ndarray, keypoints: np.ndarray, params: AffineParams
) -> int:
    """Every dot is within 0.5 px of its transformed keypoint and is the right dot.

    Returns how many keypoints were checked (those whose dot lies wholly in the image).
    """
    height, width, channels = image.shape
    linear = params.matrix(height, width)[:, :2]
    stretch = np.linalg.svd(linear, compute_uv=False)[0]
    radius = math.ceil(4 * SIGMA * stretch) + 1
    expected_source = np.arange(len(keypoints))
    for flipped in (params.flip_lr, params.flip_ud):
        if flipped:
            expected_source = expected_source[PERM]
    masses, sources = [], []
    for i, (x, y) in enumerate(keypoints):
        if np.isnan(x):
            continue
        if not (radius <= x <= width - 1 - radius and radius <= y <= height - 1 - radius):
            continue  # the dot is cut by the border: its centroid is biased
        for c in range(channels):
            fx, fy, mass = find_dot(image[:, :, c], x, y, linear)
            assert math.hypot(fx - x, fy - y) < TOLERANCE_PX, (i, (fx, fy), (x, y), params)
        masses.append(mass)
        sources.append(expected_source[i])
    if len(masses) >= 2:
        # A dot's mass is its intensity times the (common) area factor: compare shares.
        share = np.array(masses) / np.sum(masses)
        expected = INTENSITIES[sources] / INTENSITIES[sources].sum()
        np.testing.assert_allclose(share, expected, rtol=0.08, err_msg=str(params))
    return len(masses)


def all_on() -> Augmentation:
    return Augmentation(flip_lr=0.5, flip_ud=0.5, affine=1.0, noise=1.0, dropout=1.0, blur=1.0)


# ---------------------------------------------------------------- spatial: dots & labels
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("transform", list(SPATIAL_SPECS))
def test_dots_stay_on_keypoints(transform, shape):
    height, width, channels = shape
    augmenter = Augmenter(SPATIAL_SPECS[transform], SKELETON)
    checked = 0
    for seed in range(6):
        keypoints = make_keypoints(height, width, np.random.default_rng(100 + seed))
        image = draw_dots(height, width, channels, keypoints)
        params = augmenter.sample(height, width, np.random.default_rng(seed))
        out_image, out_keypoints = augmenter.apply(image, keypoints, params)
        assert out_image.shape == image.shape and out_image.dtype == np.uint8
        assert out_keypoints.shape == keypoints.shape and out_keypoints.dtype == np.float32
        checked += check_dots_follow_keypoints(out_image, out_keypoints, params.spatial)
        # __call__ with the same generator state does the same thing as sample + apply.
        again_image, again_keypoints = augmenter(image, keypoints, np.random.default_rng(seed))
        np.testing.assert_array_equal(again_image, out_image)
        np.testing.assert_array_equal(again_keypoints, out_keypoints)
    assert checked >= 15  # most dots stay wholly inside the image


def test_flip_lr_swaps_left_and_right():
    height, width = 40, 70
    keypoints = np.array([[10.25, 5.5], [3.0, 20.75], [60.5, 21.0], [7.0, 30.0], [50.0, 31.0]])
    augmenter = Augmenter(SPATIAL_SPECS["flip_lr"], SKELETON)
    image = np.zeros((height, width, 1), np.uint8)
    _, out = augmenter(image, keypoints.astype(np.float32), np.random.default_rng(0))
    left, right = SKELETON.index("L"), SKELETON.index("R")
    assert out[left, 0] == pytest.approx(width - 1 - keypoints[right, 0])
    assert out[left, 1] == pytest.approx(keypoints[right, 1])
    assert out[right, 0] == pytest.approx(width - 1 - keypoints[left, 0])
    assert out[0, 0] == pytest.approx(width - 1 - 10.25)  # head has no partner
    np.testing.assert_allclose(out[:, 1], keypoints[PERM, 1])


def test_flip_ud_swaps_and_mirrors_y():
    height, width = 40, 70
    keypoints = np.array([[10.25, 5.5], [3.0, 20.75], [60.5, 21.0], [7.0, 30.0], [50.0, 31.0]])
    augmenter = Augmenter(SPATIAL_SPECS["flip_ud"], SKELETON)
    image = np.zeros((height, width, 3), np.uint8)
    _, out = augmenter(image, keypoints.astype(np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(out[:, 1], height - 1 - keypoints[PERM, 1])
    np.testing.assert_allclose(out[:, 0], keypoints[PERM, 0])


def test_flip_fast_path_matches_the_warp():
    image = np.random.default_rng(0).integers(0, 256, (9, 14, 3), dtype=np.uint8)
    for lr, ud in [(True, False), (False, True), (True, True)]:
        matrix = affine_matrix(9, 14, flip_lr=lr, flip_ud=ud)
        expected = image[:: -1 if ud else 1, :: -1 if lr else 1]
        np.testing.assert_array_equal(warp_image(image, matrix), expected)
        params = AugmentParams(spatial=AffineParams(flip_lr=lr, flip_ud=ud))
        out, _ = Augmenter(Augmentation(), SKELETON).apply(image, np.zeros((5, 2)), params)
        np.testing.assert_array_equal(out, expected)


# ------------------------------------------------------- spatial: each transform's geometry
def _sampled(transform: str, seed: int, height: int = 97, width: int = 131):
    spec = SPATIAL_SPECS[transform]
    keypoints = make_keypoints(height, width, np.random.default_rng(seed))
    matrix, params = random_affine_matrix(spec, height, width, np.random.default_rng(seed))
    moved = apply_affine_to_keypoints(matrix, keypoints)
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    return spec, params, keypoints - centre, moved - centre


@pytest.mark.parametrize("seed", range(5))
def test_rotation_turns_about_the_centre(seed):
    spec, params, before, after = _sampled("rotation", seed)
    assert abs(params.rotation) <= spec.rotation and params.rotation != 0
    np.testing.assert_allclose(
        np.linalg.norm(after, axis=1), np.linalg.norm(before, axis=1), rtol=1e-5
    )
    # Counter-clockwise on screen with y down: the angle atan2(-y, x) grows by `rotation`.
    turn = np.arctan2(-after[:, 1], after[:, 0]) - np.arctan2(-before[:, 1], before[:, 0])
    turn = (np.degrees(turn) - params.rotation + 180) % 360 - 180
    np.testing.assert_allclose(turn, 0, atol=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_scale_zooms_about_the_centre(seed):
    spec, params, before, after = _sampled("scale", seed)
    assert spec.scale[0] <= params.scale <= spec.scale[1]
    np.testing.assert_allclose(after, before * params.scale, atol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_translation_shifts_every_keypoint_alike(seed):
    spec, params, before, after = _sampled("translation", seed)
    shift = after - before
    np.testing.assert_allclose(shift, np.broadcast_to(params.translation, shift.shape), atol=1e-4)
    assert abs(params.translation[0]) <= spec.translation * 131
    assert abs(params.translation[1]) <= spec.translation * 97


@pytest.mark.parametrize("seed", range(5))
def test_shear_moves_x_in_proportion_to_y(seed):
    spec, params, before, after = _sampled("shear", seed)
    assert abs(params.shear) <= spec.shear
    np.testing.assert_allclose(after[:, 1], before[:, 1], atol=1e-4)
    slope = math.tan(math.radians(params.shear))
    np.testing.assert_allclose(after[:, 0], before[:, 0] + slope * before[:, 1], atol=1e-4)


def test_affine_matrix_conventions():
    height, width = 31, 36
    lr = affine_matrix(height, width, flip_lr=True)
    np.testing.assert_allclose(apply_affine_to_keypoints(lr, [[0, 2], [35, 8]]), [[35, 2], [0, 8]])
    ud = affine_matrix(height, width, flip_ud=True)
    np.testing.assert_allclose(apply_affine_to_keypoints(ud, [[0, 0], [5, 30]]), [[0, 30], [5, 0]])
    quarter = affine_matrix(height, width, rotation=90)
    centre = np.array([17.5, 15.0])
    np.testing.assert_allclose(
        apply_affine_to_keypoints(quarter, [centre, centre + np.array([3, 0])]),
        [centre, centre + np.array([0, -3])],  # right of the centre -> above it
        atol=1e-5,
    )
    # A rotated dot image lands where the matrix says: the image follows the same matrix.
    keypoints = np.array([[20.3, 15.2]], np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    dot = 200 * np.exp(-((xx - 20.3) ** 2 + (yy - 15.2) ** 2) / (2 * SIGMA**2))
    warped = warp_image(np.rint(dot).astype(np.uint8)[:, :, None], quarter)
    (x, y), *_ = apply_affine_to_keypoints(quarter, keypoints)
    fx, fy, _ = find_dot(warped[:, :, 0], x, y)
    assert math.hypot(fx - x, fy - y) < 0.15


# --------------------------------------------------------------- missing keypoints (NaN)
def test_keypoints_outside_the_image_become_nan():
    keypoints = np.array(
        [[-0.5, 3.0], [-0.51, 3.0], [13.5, 3.0], [13.51, 3.0], [2.0, -0.6], [2.0, 8.5], [2, 8.6]],
        np.float32,
    )
    out = mark_outside(keypoints.copy(), height=9, width=14)
    inside = [True, False, True, False, False, True, False]
    np.testing.assert_array_equal(~np.isnan(out[:, 0]), inside)
    np.testing.assert_array_equal(~np.isnan(out[:, 1]), inside)


def test_translation_out_of_the_image_gives_nan_and_keeps_confidence():
    keypoints = np.array(
        [[5.0, 5.0, 1.0], [100.0, 5.0, 0.8], [20.0, 30.0, 1.0], [0.0, 0.0, 0.5], [2.0, 2.0, 1.0]],
        np.float32,
    )
    params = AugmentParams(spatial=AffineParams(translation=(25.0, 0.0)))
    image = np.zeros((40, 120, 1), np.uint8)
    _, out = Augmenter(Augmentation(), SKELETON).apply(image, keypoints, params)
    np.testing.assert_allclose(out[[0, 2, 3, 4], 0], keypoints[[0, 2, 3, 4], 0] + 25)
    assert np.isnan(out[1, :2]).all()  # 125 > 119.5
    np.testing.assert_array_equal(out[:, 2], keypoints[:, 2])


def test_nan_stays_nan_and_moves_with_its_label():
    height, width = 64, 64
    keypoints = make_keypoints(height, width, np.random.default_rng(3))
    keypoints[SKELETON.index("R")] = np.nan
    augmenter = Augmenter(SPATIAL_SPECS["all"], SKELETON)
    image = draw_dots(height, width, 1, np.nan_to_num(keypoints))
    for seed in range(8):
        params = augmenter.sample(height, width, np.random.default_rng(seed))
        _, out = augmenter.apply(image, keypoints, params)
        flips = params.spatial.flip_lr + params.spatial.flip_ud
        missing = SKELETON.index("L") if flips == 1 else SKELETON.index("R")
        assert np.isnan(out[missing]).all()
        assert np.isnan(out).any(axis=1).sum() >= 1


# ----------------------------------------------------------------- switches and contract
@pytest.mark.parametrize("shape", [(30, 41, 1), (30, 41, 3)])
def test_probability_zero_and_disabled_change_nothing(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    keypoints = make_keypoints(60, 60, rng) / 2
    zero = Augmenter(Augmentation(**OFF, rotation=90, shear=20, translation=0.3), SKELETON)
    disabled = Augmenter(all_on().model_copy(update={"enabled": False}), SKELETON)
    for augmenter in (zero, disabled):
        for seed in range(5):
            out_image, out_keypoints = augmenter(image, keypoints, np.random.default_rng(seed))
            np.testing.assert_array_equal(out_image, image)
            np.testing.assert_array_equal(out_keypoints, keypoints)
            assert out_image is not image and out_keypoints is not keypoints
            out_image[...] = 7
            out_keypoints[...] = 7
            assert image.max() > 7 and keypoints.max() > 7  # outputs are copies


@pytest.mark.parametrize("channels", [1, 3])
def test_all_transforms_keep_dtype_shape_and_are_deterministic(channels):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (50, 70, channels), dtype=np.uint8)
    keypoints = np.concatenate([make_keypoints(50, 70, rng), np.ones((5, 1), np.float32)], axis=1)
    augmenter = Augmenter(all_on(), SKELETON)
    outputs = [augmenter(image, keypoints, np.random.default_rng(42)) for _ in range(2)]
    for out_image, out_keypoints in outputs:
        assert out_image.dtype == np.uint8 and out_image.shape == image.shape
        assert out_keypoints.dtype == np.float32 and out_keypoints.shape == keypoints.shape
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
    other, _ = augmenter(image, keypoints, np.random.default_rng(43))
    assert not np.array_equal(other, outputs[0][0])


def test_same_seed_gives_the_same_result_in_concurrent_threads():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (60, 50, 3), dtype=np.uint8)
    keypoints = make_keypoints(60, 50, rng)
    augmenter = Augmenter(all_on(), SKELETON)

    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        return augmenter(image, keypoints, np.random.default_rng(seed))

    expected = [run(seed) for seed in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, list(range(8)) * 4))
    for k, (out_image, out_keypoints) in enumerate(results):
        np.testing.assert_array_equal(out_image, expected[k % 8][0])
        np.testing.assert_array_equal(out_keypoints, expected[k % 8][1])


def test_augment_batch_matches_one_by_one():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    keypoints = rng.uniform(5, 30, (4, 5, 2)).astype(np.float32)
    augmenter = Augmenter(all_on(), SKELETON)
    batch_images, batch_keypoints = augmenter.augment_batch(
        images, keypoints, np.random.default_rng(9)
    )
    single = np.random.default_rng(9)
    for n in range(4):
        image, points = augmenter(images[n], keypoints[n], single)
        np.testing.assert_array_equal(batch_images[n], image)
        np.testing.assert_array_equal(batch_keypoints[n], points)


def test_border_value_fills_what_the_warp_brings_in():
    image = np.full((20, 30, 3), 100, np.uint8)
    params = AugmentParams(spatial=AffineParams(translation=(10.0, 0.0)))
    out, _ = Augmenter(Augmentation(), SKELETON, border_value=33).apply(
        image, np.zeros((5, 2)), params
    )
    assert (out[:, :9] == 33).all() and (out[:, 11:] == 100).all()


def test_bad_inputs_raise_dpk_error():
    augmenter = Augmenter(Augmentation(), SKELETON)
    rng = np.random.default_rng(0)
    with pytest.raises(DpkError, match="uint8"):
        augmenter(np.zeros((8, 8, 1), np.float32), np.zeros((5, 2)), rng)
    with pytest.raises(DpkError, match=r"\(H, W, C\)"):
        augmenter(np.zeros((8, 8), np.uint8), np.zeros((5, 2)), rng)
    with pytest.raises(DpkError, match="5 keypoints"):
        augmenter(np.zeros((8, 8, 1), np.uint8), np.zeros((4, 2)), rng)
    with pytest.raises(DpkError, match="channels"):
        augmenter(np.zeros((8, 8, 2), np.uint8), np.zeros((5, 2)), rng)
    with pytest.raises(DpkError, match="border_value"):
        Augmenter(Augmentation(), SKELETON, border_value=300)


def test_permute_keypoints_follows_the_swap_map():
    keypoints = np.arange(10, dtype=np.float32).reshape(5, 2)
    out = permute_keypoints(keypoints, PERM)
    np.testing.assert_array_equal(out[1], keypoints[2])
    np.testing.assert_array_equal(out[3], keypoints[4])
    np.testing.assert_array_equal(out[0], keypoints[0])


# ----------------------------------------------------------------------------- noise family
def test_noise_family_leaves_keypoints_alone_and_changes_pixels():
    rng = np.random.default_rng(5)
    image = rng.integers(40, 200, (40, 60, 3), dtype=np.uint8)
    keypoints = rng.uniform(0, 39, (5, 2)).astype(np.float32)
    augmenter = Augmenter(NOISE_ONLY, SKELETON)
    for seed in range(5):
        out_image, out_keypoints = augmenter(image, keypoints, np.random.default_rng(seed))
        np.testing.assert_array_equal(out_keypoints, keypoints)
        assert not np.array_equal(out_image, image)


@pytest.mark.parametrize("channels", [1, 3])
def test_dropout_zeroes_the_given_fraction_of_whole_pixels(channels):
    image = np.full((128, 128, channels), 200, np.uint8)
    out = apply_intensity(image, IntensityParams(dropout_rate=0.2, pixel_seed=4))
    dropped = (out == 0).all(axis=2)
    assert abs(dropped.mean() - 0.2) < 0.015
    assert ((out == 0).any(axis=2) == dropped).all()  # all channels of a pixel together
    assert (out[~dropped] == 200).all()
    assert (image == 200).all()  # input untouched


def test_additive_noise_has_the_sampled_std():
    image = np.full((128, 128, 1), 128, np.uint8)
    augmenter = Augmenter(Augmentation(**dict(OFF, noise=1.0, noise_std=0.1)), SKELETON)
    params = augmenter.sample(128, 128, np.random.default_rng(3))
    assert 0 < params.intensity.noise_std <= 0.1
    out, _ = augmenter.apply(image, np.zeros((5, 2)), params)
    assert out.astype(float).std() == pytest.approx(params.intensity.noise_std * 255, rel=0.05)
    assert out.astype(float).mean() == pytest.approx(128, abs=0.5)


def test_contrast_multiplies_around_the_mean():
    rng = np.random.default_rng(6)
    image = rng.integers(60, 190, (64, 64, 3), dtype=np.uint8)
    same = Augmenter(Augmentation(**dict(OFF, contrast=1.0, contrast_range=(1.0, 1.0))), SKELETON)
    out, _ = same(image, np.zeros((5, 2)), rng)
    np.testing.assert_array_equal(out, image)
    half = apply_intensity(image, IntensityParams(contrast=0.5)).astype(float)
    source = image.astype(float)
    assert half.mean() == pytest.approx(source.mean(), abs=0.6)
    np.testing.assert_allclose(half.std(axis=(0, 1)), source.std(axis=(0, 1)) / 2, rtol=0.02)
    np.testing.assert_allclose(half - half.mean(), (source - source.mean()) / 2, atol=1.01)


def test_brightness_adds_an_offset_and_clips():
    image = np.array([[[0], [100], [250]]], np.uint8)
    brighter = apply_intensity(image, IntensityParams(brightness=0.1))
    np.testing.assert_array_equal(brighter[..., 0], [[26, 126, 255]])
    darker = apply_intensity(image, IntensityParams(brightness=-0.2))
    np.testing.assert_array_equal(darker[..., 0], [[0, 49, 199]])


@pytest.mark.parametrize("channels", [1, 3])
def test_blur_reduces_variance(channels):
    image = np.random.default_rng(7).integers(0, 256, (48, 48, channels), dtype=np.uint8)
    augmenter = Augmenter(Augmentation(**dict(OFF, blur=1.0, blur_sigma=(1.0, 2.0))), SKELETON)
    out, _ = augmenter(image, np.zeros((5, 2)), np.random.default_rng(0))
    assert out.shape == image.shape
    assert out.astype(float).var() < 0.3 * image.astype(float).var()
    assert out.astype(float).mean() == pytest.approx(image.astype(float).mean(), abs=2)
