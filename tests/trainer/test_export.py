"""Export: one self-describing ONNX file that matches Keras, or no file at all.

The export check and these tests compare the network's maps (ONNX vs Keras) and the peaks
(in-graph vs numpy on the same maps) separately, on models with fixed weights.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from dpk.specs import (
    Crop,
    DataSpec,
    ModelCard,
    ModelSpec,
    Preprocessing,
    Skeleton,
    Targets,
    TrainingData,
)
from dpk.specs.files import OutputError
from dpk.trainer.export.exporter import ExportError, export_onnx
from dpk.trainer.peaks import PEAK_PARITY_MAP_PX, find_peaks

SPEC = ModelSpec(
    name="tiny",
    skeleton=Skeleton(names=["a", "b", "c"], parents=[None, "a", "a"], swaps=[None, "c", "b"]),
    preprocessing=Preprocessing(height=37, width=53, channels=1),
    targets=Targets(sigma=3.0, downsample_factor=1, graph=True),
)

STORED_SPEC = SPEC.model_copy(
    update={"augmentation": SPEC.augmentation.model_copy(update={"test_time": "off"})}
)
"""SPEC as the exporter stores it: ``augmentation.test_time`` resolved."""


@pytest.fixture(scope="module")
def tiny_model():
    """A network whose maps are the image, blurred and halved: blobs give clear peaks."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((37, 53, 1), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255.0)(keras.ops.cast(image, "float32"))
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="selu")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    maps = keras.layers.Conv2D(SPEC.n_output_maps, 1, name="output_0")(x)
    model = keras.Model(image, [maps])
    conv = model.layers[-3]
    kernel = np.zeros((3, 3, 1, 4), np.float32)
    kernel[1, 1, 0, :] = 1.0
    conv.set_weights([kernel, np.zeros(4, np.float32)])
    head = model.layers[-1]
    head.set_weights(
        [
            np.full((1, 1, 4, SPEC.n_output_maps), 0.25, np.float32),
            np.zeros(SPEC.n_output_maps, np.float32),
        ]
    )
    return model


def frames(n=6, seed=0):
    """Frames with one bright Gaussian blob at a random subpixel position."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:37, 0:53]
    out = np.zeros((n, 37, 53, 1), np.uint8)
    for i in range(n):
        x, y = rng.uniform(5, 48), rng.uniform(5, 32)
        out[i, ..., 0] = np.clip(230 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 18.0), 0, 255)
    return out


def test_export_writes_a_self_describing_file(tiny_model, tmp_path):
    card = ModelCard(description="test model", metrics={"error_median_px": 1.0})
    path = tmp_path / "tiny.onnx"
    report = export_onnx(tiny_model, SPEC, path, check_images=frames(), card=card, flops=1234)
    assert path.is_file() and report.size_bytes == path.stat().st_size
    assert report.max_keypoint_difference_px <= PEAK_PARITY_MAP_PX * SPEC.targets.stride
    assert report.outputs == ["keypoints", "maps"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["dpk.format"] == "1"
    # the spec as given, with augmentation.test_time resolved (37x53 is not square: off)
    assert ModelSpec.model_validate_json(meta["dpk.spec"]) == STORED_SPEC
    assert ModelCard.model_validate_json(meta["dpk.card"]) == card
    assert meta["dpk.flops"] == "1234"
    assert json.loads(meta["dpk.outputs"]) == ["keypoints", "maps"]
    (inp,) = session.get_inputs()
    assert inp.name == "image" and inp.type == "tensor(uint8)" and inp.shape[1:] == [37, 53, 1]
    images = frames(5, seed=3)
    keypoints, maps = session.run(None, {"image": images})
    assert keypoints.shape == (5, 3, 3) and maps.shape == (5, 19, 27, SPEC.n_output_maps)
    np.testing.assert_allclose(maps, np.asarray(tiny_model(images)), atol=1e-5)
    want = find_peaks(maps, SPEC.targets.stride, SPEC.targets.sigma, SPEC.n_keypoints)
    np.testing.assert_allclose(keypoints, want, atol=PEAK_PARITY_MAP_PX * SPEC.targets.stride)
    # any batch size works (dynamic N)
    assert session.run(["keypoints"], {"image": images[:1]})[0].shape == (1, 3, 3)


def test_the_exporter_writes_the_runtimes_model_file_constants(tiny_model, tmp_path):
    from dpk.runtime import model_file
    from dpk.trainer.export import exporter

    assert exporter.MODEL_FORMAT is model_file.MODEL_FORMAT  # one home: the runtime
    path = tmp_path / "c.onnx"
    export_onnx(tiny_model, SPEC, path, check_images=frames(1), flops=10)
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    keys = ["META_FORMAT", "META_SPEC", "META_VERSION", "META_CARD", "META_FLOPS", "META_OUTPUTS"]
    assert {getattr(model_file, key) for key in keys} == set(meta)
    loaded = model_file.ModelFile.load(path)
    assert loaded.outputs == (model_file.KEYPOINTS_NAME, model_file.MAPS_NAME)


def test_the_file_carries_no_path_of_this_machine(tiny_model, tmp_path):
    """The spec and card inside the file keep the labels' file names, not their folders."""
    lab = "/srv/lab/alice"
    data = DataSpec(
        path=f"{lab}/labels/clip.slp",
        video=f"{lab}/videos/clip.mp4",
        relative_to=lab,
        crop=Crop(anchor="a", size=32),
    )
    spec = SPEC.model_copy(update={"data": data})
    card = ModelCard(
        description=f"trained on {lab}/labels/clip.slp",
        training_data=TrainingData(name="clip", source="~/labels/clip.slp"),
        training={"run": f"{lab}/runs/r1", "weights": "C:\\Users\\alice\\w.h5", "seed": 0},
    )
    path = tmp_path / "p.onnx"
    export_onnx(tiny_model, spec, path, check_images=frames(1), card=card)
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    for key in ("dpk.spec", "dpk.card"):
        assert "/srv" not in meta[key] and "alice" not in meta[key] and "~" not in meta[key]
    stored = ModelSpec.model_validate_json(meta["dpk.spec"])
    assert stored.data.path == "clip.slp" and stored.data.video == "clip.mp4"
    assert stored.data.relative_to is None and stored.data.crop == data.crop
    assert stored.model_copy(update={"data": None}) == STORED_SPEC  # the rest as it was
    stored_card = ModelCard.model_validate_json(meta["dpk.card"])
    assert stored_card.description == "trained on clip.slp"
    assert stored_card.training_data.source == "clip.slp"
    assert stored_card.training == {"run": "r1", "weights": "w.h5", "seed": 0}
    assert spec.data.path == f"{lab}/labels/clip.slp"  # the caller's spec is not changed


def test_export_without_maps(tiny_model, tmp_path):
    report = export_onnx(
        tiny_model, SPEC, tmp_path / "k.onnx", check_images=frames(2), include_maps=False
    )
    assert report.outputs == ["keypoints"]


def test_mismatch_fails_and_leaves_no_file(tiny_model, tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="disagree"):
        export_onnx(tiny_model, SPEC, path, check_images=frames(2), tolerance_px=-1.0)
    assert not list(tmp_path.iterdir())


def test_bad_arguments(tiny_model, tmp_path):
    # The output is checked before the slow conversion: the message names the file and the fix.
    missing = tmp_path / "no" / "x.onnx"
    with pytest.raises(OutputError, match=r"x\.onnx: the folder .* does not exist; create it"):
        export_onnx(tiny_model, SPEC, missing, check_images=frames(1))
    with pytest.raises(ExportError, match="check images must be uint8"):
        export_onnx(
            tiny_model, SPEC, tmp_path / "x.onnx", check_images=np.zeros((1, 37, 53, 3), np.uint8)
        )


RANDOM_SPEC = ModelSpec(
    name="random",
    skeleton=Skeleton(names=["a", "b", "c", "d"], parents=[None, "a", "a", "b"]),
    preprocessing=Preprocessing(height=48, width=64, channels=3, color_order="rgb"),
    targets=Targets(sigma=5.0, downsample_factor=2, graph=True),
)


@pytest.fixture(scope="module")
def random_model():
    """An untrained network with fixed random weights (numpy's generator, so the same on
    every machine): its maps are noise with many near-ties, the hard case for a check
    that compares keypoints from two sets of maps."""
    import keras

    image = keras.Input((48, 64, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255.0)(keras.ops.cast(image, "float32"))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    maps = keras.layers.Conv2D(RANDOM_SPEC.n_output_maps, 1, name="output_0")(x)
    return with_random_weights(keras.Model(image, [maps]), seed=11)


def with_random_weights(model, seed: int):
    """``model`` with every weight drawn from N(0, 0.3) by numpy's seeded generator (the
    same weights on every machine, unlike Keras' initialisers across backends)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])
    return model


def noise_frames(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, 48, 64, 3), dtype=np.uint8)
    frames[: n // 2] //= 8  # dark frames: flat, low maps
    return frames


def test_random_weights_export_and_match_maps_and_peaks(random_model, tmp_path):
    path = tmp_path / "random.onnx"
    stride = RANDOM_SPEC.targets.stride
    report = export_onnx(random_model, RANDOM_SPEC, path, check_images=noise_frames(20, 0))
    assert report.max_keypoint_difference_px <= PEAK_PARITY_MAP_PX * stride
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = noise_frames(12, 1)
    keypoints, maps = session.run(None, {"image": images})
    keras_maps = np.asarray(random_model(images))
    np.testing.assert_allclose(maps, keras_maps, atol=1e-4 * max(1.0, np.abs(keras_maps).max()))
    want = find_peaks(maps, stride, RANDOM_SPEC.targets.sigma, RANDOM_SPEC.n_keypoints)
    assert np.abs(keypoints[..., :2] - want[..., :2]).max() <= PEAK_PARITY_MAP_PX * stride
    np.testing.assert_array_equal(keypoints[..., 2], want[..., 2])


def test_keypoints_do_not_depend_on_the_batch_size(random_model, tmp_path):
    from dpk.runtime import Predictor

    path = tmp_path / "random.onnx"
    export_onnx(random_model, RANDOM_SPEC, path, check_images=noise_frames(4, 0))
    images = noise_frames(33, 2)
    one = Predictor(path, device="cpu", batch_size=1).run(images)
    stride = RANDOM_SPEC.targets.stride
    for batch_size in (16, 5, 33):
        other = Predictor(path, device="cpu", batch_size=batch_size).run(images)
        assert np.abs(other[..., :2] - one[..., :2]).max() <= PEAK_PARITY_MAP_PX * stride
        np.testing.assert_allclose(other[..., 2], one[..., 2], rtol=1e-5, atol=1e-6)
