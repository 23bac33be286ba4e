"""Fitting frames to the model input and mapping keypoints back (docs/model-file.md)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dpk.runtime.predictor import Predictor
from dpk.runtime.preprocess import (
    FrameError,
    FrameFitter,
    FrameTransform,
    convert_channels,
    fit_frames,
    to_frame_coordinates,
)
from tests.runtime.conftest import dot_frame, make_model_bytes, make_spec


def blob_frame(height, width, x, y, sigma, channels=1):
    """A Gaussian blob centred at subpixel (x, y): its brightest point survives scaling."""
    yy, xx = np.mgrid[0:height, 0:width]
    blob = 255.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    frame = blob.round().astype(np.uint8)[..., None]
    return np.repeat(frame, channels, axis=-1)


def test_letterbox_transform_follows_the_contract_formula():
    pre = make_spec(height=48, width=64, fit="letterbox").preprocessing
    t = FrameTransform.for_frame(480, 320, pre)
    r = min(48 / 480, 64 / 320)
    assert t.scale == (r, r)
    assert t.scaled_size == (48, 32)
    frame_points = np.array([[0.0, 0.0], [100.25, 200.5], [319.0, 479.0]], np.float32)
    expected = (frame_points + 0.5) * r - 0.5
    np.testing.assert_allclose(t.to_model(frame_points), expected, atol=1e-5)
    np.testing.assert_allclose(t.to_frame(t.to_model(frame_points)), frame_points, atol=1e-4)


def test_resize_transform_stretches_each_axis():
    pre = make_spec(height=48, width=64, fit="resize").preprocessing
    t = FrameTransform.for_frame(60, 200, pre)
    assert t.scale == (64 / 200, 48 / 60)
    point = np.array([[10.0, 20.0, 0.7]], np.float32)
    model = t.to_model(point)
    np.testing.assert_allclose(model[0, :2], [(10.5) * 0.32 - 0.5, 20.5 * 0.8 - 0.5], atol=1e-5)
    assert model[0, 2] == pytest.approx(0.7)  # other columns are kept


def test_pad_crop_transform_crops_the_centre_and_pads_bottom_right():
    pre = make_spec(height=48, width=64, fit="pad_crop").preprocessing
    t = FrameTransform.for_frame(40, 100, pre)  # shorter (pad) and wider (crop)
    assert t.scale == (1.0, 1.0)
    assert t.crop == ((100 - 64) // 2, 0)
    np.testing.assert_allclose(t.to_model(np.array([[30.0, 7.0]])), [[30.0 - 18, 7.0]])


def contract_frame_point(fit, frame_hw, model_hw, model_xy):
    """The frame point that lands on ``model_xy``, computed from docs/model-file.md alone."""
    (h0, w0), (h, w), (mx, my) = frame_hw, model_hw, model_xy
    if fit == "letterbox":
        r = min(h / h0, w / w0)
        return (mx + 0.5) / r - 0.5, (my + 0.5) / r - 0.5
    if fit == "resize":
        return (mx + 0.5) / (w / w0) - 0.5, (my + 0.5) / (h / h0) - 0.5
    return mx + max(0, (w0 - w) // 2), my + max(0, (h0 - h) // 2)


SIZES = [(48, 64), (120, 160), (200, 90), (30, 40), (144, 64), (97, 131), (480, 640)]


@pytest.mark.parametrize("fit", ["letterbox", "resize", "pad_crop"])
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_predictor_maps_a_dot_back_to_frame_pixels(fit, height, width):
    """A blob in a frame of another size is found exactly where it was drawn.

    The blob is centred on the frame point that, by the contract's formulas, lands on the
    centre of a whole model pixel, so the fake model's brightest pixel is that one; the
    Predictor must map it back to the drawn point.
    """
    spec = make_spec(height=48, width=64, fit=fit)
    predictor = Predictor(make_model_bytes(spec), device="cpu")
    transform = FrameTransform.for_frame(height, width, spec.preprocessing)
    sigma = 1.5 / min(transform.scale)  # 1.5 model pixels
    rng = np.random.default_rng(height * width)
    sh, sw = transform.scaled_size
    visible_w, visible_h = min(64, sw), min(48, sh)  # model pixels showing the frame
    for _ in range(3):
        model_xy = (rng.integers(3, visible_w - 3), rng.integers(3, visible_h - 3))
        x, y = contract_frame_point(fit, (height, width), (48, 64), model_xy)
        keypoints = predictor.predict([blob_frame(height, width, x, y, sigma)])
        assert keypoints.shape == (1, 4, 3)
        np.testing.assert_allclose(keypoints[0, :, :2], [[x, y]] * 4, atol=1e-3)


@pytest.mark.parametrize("fit", ["letterbox", "resize", "pad_crop"])
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_fitted_pixels_follow_the_contract(fit, height, width):
    """The resampled image puts a subpixel blob where the contract says (centroid, 0.05 px)."""
    spec = make_spec(height=48, width=64, fit=fit)
    transform = FrameTransform.for_frame(height, width, spec.preprocessing)
    sigma_model = 2.0
    rng = np.random.default_rng(height + width)
    sh, sw = transform.scaled_size
    mx = rng.uniform(10, min(64, sw) - 10)
    my = rng.uniform(10, min(48, sh) - 10)
    x, y = contract_frame_point(fit, (height, width), (48, 64), (mx, my))
    scale = np.array(transform.scale)
    frame = blob_frame(height, width, x, y, sigma_model / scale.mean())
    if fit == "resize" and abs(scale[0] - scale[1]) > 1e-9:  # an elliptic blob
        yy, xx = np.mgrid[0:height, 0:width]
        sx, sy = sigma_model / scale
        blob = 255 * np.exp(-((xx - x) ** 2) / (2 * sx**2) - (yy - y) ** 2 / (2 * sy**2))
        frame = blob.round().astype(np.uint8)[..., None]
    batch, _ = fit_frames(frame[None], spec.preprocessing)
    image = batch[0, ..., 0].astype(np.float64)
    yy, xx = np.mgrid[0:48, 0:64]
    window = (abs(xx - mx) < 4 * sigma_model) & (abs(yy - my) < 4 * sigma_model)
    weights = image * window
    centroid = (weights * xx).sum() / weights.sum(), (weights * yy).sum() / weights.sum()
    np.testing.assert_allclose(centroid, (mx, my), atol=0.05)
    np.testing.assert_allclose(transform.to_model(np.array([x, y])), (mx, my), atol=1e-4)


def test_colour_frames_for_a_gray_model_use_opencv_bt601_weights():
    frames = np.random.default_rng(1).integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    gray = convert_channels(frames, "gray", "bgr")
    assert gray.shape == (3, 48, 64, 1)
    expected = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames])[..., None]
    np.testing.assert_array_equal(gray, expected)
    rgb_gray = convert_channels(frames[..., ::-1], "gray", "rgb")
    np.testing.assert_array_equal(rgb_gray, expected)


def test_gray_frames_are_repeated_and_bgr_is_swapped_for_rgb_models():
    gray = np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8, 1)
    for order in ("rgb", "bgr"):
        colour = convert_channels(gray, order)
        assert colour.shape == (2, 8, 8, 3)
        assert (colour == gray).all()
    bgr = np.zeros((1, 8, 8, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    rgb = convert_channels(bgr, "rgb", "bgr")
    assert rgb[0, 0, 0].tolist() == [0, 0, 200]
    assert convert_channels(bgr, "bgr", "bgr") is bgr  # nothing to do, no copy


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("color_order", ["gray", "rgb", "bgr"])
@pytest.mark.parametrize("frame_order", ["bgr", "rgb"])
def test_an_empty_batch_converts_to_an_empty_batch(channels, color_order, frame_order):
    # OpenCV asserts on empty images: an empty set of label images must not reach it.
    out = convert_channels(np.zeros((0, 8, 6, channels), np.uint8), color_order, frame_order)
    assert out.shape == (0, 8, 6, 1 if color_order == "gray" else 3)
    assert out.dtype == np.uint8


def test_colour_model_sees_the_right_channel_order():
    spec = make_spec(channels=3, color_order="rgb")
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    batch, _ = fit_frames(frame[None], spec.preprocessing)
    assert batch[0, 0, 0].tolist() == [255, 0, 0]
    batch, _ = fit_frames(frame[None, ..., ::-1], spec.preprocessing, frame_order="rgb")
    assert batch[0, 0, 0].tolist() == [255, 0, 0]


def test_gray_and_colour_frames_give_the_same_keypoints():
    spec = make_spec(height=48, width=64, channels=3, color_order="rgb")
    predictor = Predictor(make_model_bytes(spec), device="cpu")
    gray = dot_frame(96, 128, 40, 30, channels=1)
    colour = np.repeat(gray, 3, axis=-1)
    kp_gray = predictor.predict([gray[..., 0]])  # (H, W) frames work too
    kp_colour = predictor.predict(colour[None])
    np.testing.assert_allclose(kp_gray, kp_colour)


def test_letterbox_pads_with_the_pad_value_and_identity_is_untouched():
    spec = make_spec(height=48, width=64, fit="letterbox", pad_value=7)
    frames = np.full((2, 96, 64, 1), 100, np.uint8)  # tall: scaled to 48x32, padded right
    batch, transforms = fit_frames(frames, spec.preprocessing)
    assert batch.shape == (2, 48, 64, 1)
    assert (batch[:, :, :32] == 100).all() and (batch[:, :, 32:] == 7).all()
    assert transforms[0] is transforms[1]
    same = np.zeros((3, 48, 64, 1), np.uint8)
    out, transforms = fit_frames(same, spec.preprocessing)
    assert transforms[0].is_identity and out.shape == same.shape


def test_frames_of_different_sizes_in_one_call():
    spec = make_spec(height=48, width=64)
    frames = [dot_frame(48, 64, 10, 10), dot_frame(96, 128, 100, 50), dot_frame(48, 64, 20, 30)]
    batch, transforms = fit_frames(frames, spec.preprocessing)
    assert batch.shape == (3, 48, 64, 1)
    assert transforms[0].is_identity and not transforms[1].is_identity
    keypoints = np.zeros((3, 1, 3), np.float32)
    keypoints[1, 0, :2] = transforms[1].to_model(np.array([100.0, 50.0]))
    back = to_frame_coordinates(keypoints, transforms)
    np.testing.assert_allclose(back[1, 0, :2], [100.0, 50.0], atol=1e-4)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((2, 48, 64, 4), np.uint8), "4 channels"),
        (np.zeros((2, 48, 64, 2), np.uint8), "2 channels"),
        (np.zeros((2, 48, 64, 3), np.float32), "must be uint8"),
        (np.zeros((48,), np.uint8), "shape"),
        (np.zeros((48, 64, 3), np.uint8), "for one frame pass a list"),
    ],
)
def test_frames_that_cannot_be_converted_are_refused_with_the_fix(frames, message):
    spec = make_spec()
    with pytest.raises(FrameError, match=message):
        fit_frames(frames, spec.preprocessing)
    predictor = Predictor(make_model_bytes(spec), device="cpu")
    if message == "for one frame pass a list":  # the predictor takes one frame as it is
        assert predictor.predict(frames).shape == (spec.n_keypoints, 3)
        return
    with pytest.raises(FrameError, match=message):
        predictor.predict(frames)


def test_fitter_caches_one_transform_per_size():
    fitter = FrameFitter(make_spec().preprocessing)
    a = fitter(np.zeros((100, 100, 3), np.uint8))[1]
    b = fitter(np.zeros((100, 100, 3), np.uint8))[1]
    c = fitter(np.zeros((50, 100, 3), np.uint8))[1]
    assert a is b and a != c
    with pytest.raises(FrameError, match="frame_order"):
        FrameFitter(make_spec().preprocessing, frame_order="xyz")  # type: ignore[arg-type]
