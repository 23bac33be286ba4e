"""Test-time quarter turns: the averaged model, and the file the exporter writes with it."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from dpk.specs import Augmentation, ModelSpec, Preprocessing, Skeleton, Targets
from dpk.trainer.export.exporter import export_onnx
from dpk.trainer.models.test_time import inference_model, quarter_turn_average
from dpk.trainer.peaks import PEAK_PARITY_MAP_PX, find_peaks
from tests.trainer.test_export import with_random_weights

SIDE = 32
SPEC = ModelSpec(
    name="turns",
    skeleton=Skeleton(names=["a", "b"], parents=[None, "a"]),
    preprocessing=Preprocessing(height=SIDE, width=SIDE, channels=1),
    targets=Targets(sigma=3.0, downsample_factor=1),
)


@pytest.fixture(scope="module")
def model():
    """A small network with fixed random weights: not rotation-equivariant by itself."""
    import keras

    image = keras.Input((SIDE, SIDE, 1), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255.0)(keras.ops.cast(image, "float32"))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    first = keras.layers.Conv2D(SPEC.n_output_maps, 1, name="output_0")(x)
    last = keras.layers.Conv2D(SPEC.n_output_maps, 3, padding="same", name="output_1")(x)
    return with_random_weights(keras.Model(image, [first, last]), seed=3)


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIDE, SIDE, 1), dtype=np.uint8)


def last_maps(model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_on_batch(images)[-1])


def test_the_average_of_the_four_turned_back_maps(model):
    images = frames(3)
    averaged = np.asarray(quarter_turn_average(model, SPEC).predict_on_batch(images))
    turns = [
        np.rot90(last_maps(model, np.ascontiguousarray(np.rot90(images, t, (1, 2)))), -t, (1, 2))
        for t in range(4)
    ]
    np.testing.assert_allclose(averaged, np.mean(turns, axis=0), atol=1e-6)
    # the plain network is not rotation-equivariant, so the average really differs from it
    assert np.abs(averaged - last_maps(model, images)).max() > 1e-2


def test_the_averaged_model_turns_with_the_image(model):
    averaged = quarter_turn_average(model, SPEC)
    images = frames(2, seed=1)
    turned = np.ascontiguousarray(np.rot90(images, 1, (1, 2)))
    np.testing.assert_allclose(
        np.asarray(averaged.predict_on_batch(turned)),
        np.rot90(np.asarray(averaged.predict_on_batch(images)), 1, (1, 2)),
        atol=1e-5,
    )


def test_inference_model_follows_the_spec(model):
    assert SPEC.quarter_turns_at_test_time
    assert inference_model(model, SPEC) is not model
    off = SPEC.model_copy(update={"augmentation": Augmentation(test_time="off")})
    assert inference_model(model, off) is model


def test_the_exported_file_averages_and_says_so(model, tmp_path):
    path = tmp_path / "turns.onnx"
    report = export_onnx(model, SPEC, path, check_images=frames(4), flops=1000)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["dpk.spec"])["augmentation"]["test_time"] == "quarter_turns"
    assert meta["dpk.flops"] == "4000" and report.flops == 4000
    images = frames(5, seed=2)
    keypoints, maps = session.run(None, {"image": images})
    averaged = np.asarray(quarter_turn_average(model, SPEC).predict_on_batch(images))
    np.testing.assert_allclose(maps, averaged, atol=1e-4)
    stride = SPEC.targets.stride
    want = find_peaks(maps, stride, SPEC.targets.sigma, SPEC.n_keypoints)
    assert np.abs(keypoints[..., :2] - want[..., :2]).max() <= PEAK_PARITY_MAP_PX * stride
    # a quarter turn of the frame turns the keypoints: (x, y) -> (y, side - 1 - x)
    turned, _ = session.run(None, {"image": np.ascontiguousarray(np.rot90(images, 1, (1, 2)))})
    expected = np.stack([keypoints[..., 1], SIDE - 1 - keypoints[..., 0]], axis=-1)
    assert np.abs(turned[..., :2] - expected).max() < 1e-3


def test_off_exports_the_plain_network(model, tmp_path):
    off = SPEC.model_copy(update={"augmentation": Augmentation(test_time="off")})
    path = tmp_path / "plain.onnx"
    export_onnx(model, off, path, check_images=frames(2), flops=1000)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["dpk.spec"])["augmentation"]["test_time"] == "off"
    assert meta["dpk.flops"] == "1000"
    images = frames(3, seed=4)
    _, maps = session.run(None, {"image": images})
    np.testing.assert_allclose(maps, last_maps(model, images), atol=1e-4)
