"""The four architectures: shapes, outputs, in-graph normalisation and padding, training,
DeepLabCut backbones and their weight files, and the FLOP counter."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from dpk.specs import (
    LEAP,
    DeepLabCut,
    DpkError,
    ModelSpec,
    Preprocessing,
    Skeleton,
    StackedDenseNet,
    StackedHourglass,
    Targets,
    UNet,
)
from dpk.trainer.models import (
    build_model,
    count_flops,
    count_params,
    n_outputs,
    output_list,
    output_shape,
    padded_input_shape,
)
from dpk.trainer.models.layers import normalization_layer

SKELETON = Skeleton.from_edges(["head", "thorax", "tail"], [("thorax", "head"), ("thorax", "tail")])

TINY = {
    "stacked_densenet": lambda: StackedDenseNet(n_stacks=2, growth_rate=8),
    "stacked_hourglass": lambda: StackedHourglass(n_stacks=2, filters=16),
    "leap": lambda: LEAP(filters=8),
    "leap_bilinear_bn": lambda: LEAP(filters=8, upsampling="bilinear", batch_norm=True),
    "unet": lambda: UNet(filters=8, max_filters=16),
}
STRIDE_OF = {
    "stacked_densenet": 2,
    "stacked_hourglass": 2,
    "leap": 0,
    "leap_bilinear_bn": 0,
    "unet": 2,
}


def make_spec(
    arch,
    shape=(37, 53, 1),
    downsample: int = 2,
    graph: bool = True,
    skeleton: Skeleton = SKELETON,
    **preprocessing,
) -> ModelSpec:
    h, w, c = shape
    pre = {"color_order": "gray" if c == 1 else "rgb", **preprocessing}
    return ModelSpec(
        skeleton=skeleton,
        preprocessing=Preprocessing(height=h, width=w, channels=c, **pre),
        architecture=arch,
        targets=Targets(downsample_factor=downsample, graph=graph),
    )


def random_images(shape, n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def run(model: keras.Model, images: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(y) for y in output_list(model(images, training=False))]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


# ------------------------------------------------------------------ shapes and outputs
@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("shape", [(37, 53, 1), (64, 64, 3), (97, 131, 1)])
def test_builds_any_size_and_channel_count(name, shape):
    spec = make_spec(TINY[name](), shape, STRIDE_OF[name])
    model = build_model(spec)
    assert model.input.dtype == "uint8"
    assert model.input.name == "image"
    assert tuple(model.input.shape) == (None, *shape)
    outputs = run(model, random_images(shape))
    assert len(outputs) == n_outputs(spec)
    assert model.output_names == [f"output_{i}" for i in range(len(outputs))]
    for y in outputs:
        assert y.dtype == np.float32
        assert y.shape == (2, *output_shape(spec))
        assert np.isfinite(y).all()
    assert output_shape(spec)[-1] == spec.n_output_maps


def test_map_count_follows_the_posture_graph():
    with_graph = make_spec(LEAP(filters=8), downsample=0, graph=True)
    without = make_spec(LEAP(filters=8), downsample=0, graph=False)
    # 3 keypoints + 1 limb group + 2 edges + all edges + global = 8; without graph: 3.
    assert run(build_model(with_graph), random_images((37, 53, 1)))[0].shape[-1] == 8
    assert run(build_model(without), random_images((37, 53, 1)))[0].shape[-1] == 3


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        (StackedDenseNet(n_stacks=1, growth_rate=8), 2),
        (StackedDenseNet(n_stacks=3, growth_rate=8), 4),
        (StackedHourglass(n_stacks=1, filters=16), 1),
        (StackedHourglass(n_stacks=3, filters=16), 3),
    ],
)
def test_intermediate_supervision_outputs(arch, expected):
    spec = make_spec(arch, (32, 32, 1))
    model = build_model(spec)
    assert n_outputs(spec) == expected
    assert len(model.outputs) == expected
    outputs = run(model, random_images((32, 32, 1)))
    # Every stack predicts something of its own.
    assert all(not np.allclose(outputs[0], y) for y in outputs[1:])


@pytest.mark.parametrize(
    ("arch", "downsample", "padded", "out"),
    [
        (StackedDenseNet(growth_rate=8), 2, (40, 56), (10, 14)),  # 3 transitions: x8
        (
            StackedHourglass(n_transitions=3, filters=16),
            1,
            (40, 56),
            (19, 27),
        ),  # outputs cropped to ceil(37 / s) x ceil(53 / s)
        (DeepLabCut(backbone="mobilenetv2", alpha=0.35), 3, (48, 64), (5, 7)),  # x16
        (LEAP(filters=8), 0, (40, 56), (37, 53)),  # x4
        (UNet(filters=8, n_transitions=2), 2, (40, 56), (10, 14)),  # x4, no decoder
        (UNet(filters=8, n_transitions=7), 1, (40, 56), (19, 27)),  # 37 px allows 3: x8
    ],
)
def test_padded_and_output_shapes(arch, downsample, padded, out):
    spec = make_spec(arch, (37, 53, 1), downsample)
    assert padded_input_shape(spec) == padded
    assert output_shape(spec) == (*out, spec.n_output_maps)


# ------------------------------------------------------------- padding, normalisation
def _sub_model(model: keras.Model, layer: str) -> keras.Model:
    return keras.Model(model.input, model.get_layer(layer).output)


def test_pads_bottom_and_right_with_zeros_after_normalising():
    spec = make_spec(StackedDenseNet(growth_rate=8), (37, 53, 1), normalization="imagenet")
    model = build_model(spec)
    images = random_images((37, 53, 1))
    padded = np.asarray(_sub_model(model, "pad")(images))
    assert padded.shape == (2, 40, 56, 1)
    expected = (images / 255.0 - 0.449) / 0.226
    np.testing.assert_allclose(padded[:, :37, :53], expected, atol=1e-5)
    assert not padded[:, 37:].any()
    assert not padded[:, :, 53:].any()


@pytest.mark.parametrize("name", ["stacked_densenet", "stacked_hourglass", "leap", "unet"])
def test_bottom_right_corner_pixel_reaches_the_output(name):
    spec = make_spec(TINY[name](), (37, 53, 1), STRIDE_OF[name])
    model = build_model(spec)
    dark = np.zeros((1, 37, 53, 1), np.uint8)
    bright = dark.copy()
    bright[0, -1, -1, 0] = 255
    s = spec.targets.stride
    j, i = 36 // s, 52 // s  # the map pixel that covers input pixel (52, 36)
    difference = np.abs(run(model, bright)[-1] - run(model, dark)[-1])
    assert difference[0, j, i].max() > 1e-6


@pytest.mark.parametrize(
    ("arch", "shape", "downsample"),
    [
        (StackedDenseNet(growth_rate=8), (64, 64, 1), 2),
        (StackedHourglass(filters=16), (96, 48, 3), 2),
        (LEAP(filters=8), (36, 52, 1), 0),
    ],
)
def test_divisible_input_needs_no_padding(arch, shape, downsample):
    spec = make_spec(arch, shape, downsample)
    model = build_model(spec)
    assert padded_input_shape(spec) == shape[:2]
    assert "pad" not in [layer.name for layer in model.layers]


def _normalize(pre: Preprocessing, images: np.ndarray, backbone: str | None = None):
    return np.asarray(normalization_layer(pre, backbone)(images))


def test_unit_and_standardize_normalisation():
    images = random_images((9, 11, 3))
    unit = Preprocessing(height=9, width=11, channels=3, color_order="bgr")
    np.testing.assert_allclose(_normalize(unit, images), images / 255.0, atol=1e-6)
    mean, std = [0.1, 0.5, 0.9], [0.2, 0.3, 0.4]
    pre = Preprocessing(
        height=9,
        width=11,
        channels=3,
        color_order="bgr",
        normalization="standardize",
        mean=mean,
        std=std,
    )
    expected = (images / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(_normalize(pre, images), expected, atol=1e-5)


@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_imagenet_normalisation_keeps_the_channel_order(order):
    images = random_images((9, 11, 3))
    pre = Preprocessing(height=9, width=11, channels=3, color_order=order, normalization="imagenet")
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    if order == "bgr":
        mean, std = mean[::-1], std[::-1]
    np.testing.assert_allclose(_normalize(pre, images), (images / 255.0 - mean) / std, atol=1e-5)


@pytest.mark.parametrize(
    ("backbone", "module"),
    [
        ("resnet50", keras.applications.resnet50),
        ("mobilenetv2", keras.applications.mobilenet_v2),
        ("densenet121", keras.applications.densenet),
    ],
)
@pytest.mark.parametrize("order", ["rgb", "bgr", "gray"])
def test_deeplabcut_normalisation_is_the_backbones_imagenet_preprocessing(backbone, module, order):
    channels = 1 if order == "gray" else 3
    images = random_images((9, 11, channels))
    pre = Preprocessing(
        height=9, width=11, channels=channels, color_order=order, normalization="imagenet"
    )
    rgb = images.astype("float32")
    if order == "gray":
        rgb = np.repeat(rgb, 3, axis=-1)
    elif order == "bgr":
        rgb = rgb[..., ::-1]
    expected = np.asarray(module.preprocess_input(rgb.copy()))
    np.testing.assert_allclose(_normalize(pre, images, backbone), expected, atol=1e-4)


def test_deeplabcut_unit_normalisation_tiles_grayscale():
    images = random_images((9, 11, 1))
    pre = Preprocessing(height=9, width=11)
    out = _normalize(pre, images, "mobilenetv2")
    np.testing.assert_allclose(out, np.repeat(images / 255.0, 3, axis=-1), atol=1e-6)


# ------------------------------------------------------------------------- training
def test_adam_steps_lower_the_mse():
    spec = make_spec(StackedDenseNet(n_stacks=1, growth_rate=8), (32, 32, 1))
    model = build_model(spec)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=["mse"] * n_outputs(spec), jit_compile=False
    )
    images = random_images((32, 32, 1), n=4)
    rng = np.random.default_rng(1)
    targets = [rng.random((4, *output_shape(spec)), dtype=np.float32)] * n_outputs(spec)
    losses = [float(model.train_on_batch(images, targets)[0]) for _ in range(10)]
    assert losses[-1] < 0.8 * losses[0]


def test_saved_model_file_round_trip(tmp_path):
    spec = make_spec(StackedDenseNet(n_stacks=1, growth_rate=8), (37, 53, 3))
    model = build_model(spec)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = random_images((37, 53, 3))
    for a, b in zip(run(model, images), run(loaded, images)):
        np.testing.assert_allclose(a, b, atol=1e-6)


# ---------------------------------------------------------------------- DeepLabCut
@pytest.mark.parametrize(
    ("backbone", "shape", "downsample", "alpha"),
    [
        ("resnet50", (64, 64, 1), 2, 1.0),
        ("mobilenetv2", (37, 53, 3), 0, 0.35),
        ("densenet121", (64, 48, 3), 4, 1.0),
    ],
)
def test_deeplabcut_backbones(backbone, shape, downsample, alpha):
    spec = make_spec(DeepLabCut(backbone=backbone, alpha=alpha), shape, downsample)
    model = build_model(spec)
    hp, wp = padded_input_shape(spec)
    features = model.get_layer("backbone").output
    assert tuple(features.shape[1:3]) == (hp // 16, wp // 16)  # output stride 16
    outputs = run(model, random_images(shape, n=1))
    assert len(outputs) == 1 and model.output_names == ["output_0"]
    assert outputs[0].shape == (1, *output_shape(spec))
    momenta = [
        layer.momentum
        for layer in model.get_layer("backbone").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert momenta and max(momenta) <= 0.99  # MobileNetV2's 0.999 is capped


def _dlc_spec(weights: str | None, alpha: float = 0.35) -> ModelSpec:
    return make_spec(DeepLabCut(backbone="mobilenetv2", alpha=alpha, weights=weights), (64, 64, 1))


def _stock_mobilenet(include_top: bool = False, alpha: float = 0.35) -> keras.Model:
    if include_top:
        return keras.applications.MobileNetV2(include_top=True, weights=None, alpha=alpha)
    return keras.applications.MobileNetV2(
        include_top=False, weights=None, alpha=alpha, input_shape=(32, 32, 3)
    )


def _assert_backbone_holds(model: keras.Model, stock: keras.Model):
    backbone = model.get_layer("backbone")
    checked = 0
    for layer in backbone.layers:
        if layer.weights:
            for a, b in zip(layer.get_weights(), stock.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
                checked += 1
    assert checked == len(backbone.weights)


@pytest.mark.parametrize("include_top", [False, True])
def test_deeplabcut_loads_keras3_weights_file(tmp_path, include_top):
    stock = _stock_mobilenet(include_top)
    path = tmp_path / "mobilenet.weights.h5"
    stock.save_weights(path)
    _assert_backbone_holds(build_model(_dlc_spec(str(path))), stock)


def _write_legacy_h5(model: keras.Model, path, rename: bool = False) -> None:
    """Write weights in the layout of Keras 2's HDF5 weight files."""
    with h5py.File(path, "w") as handle:
        names = []
        for k, layer in enumerate(model.layers):
            name = f"layer{k}" if rename else layer.name
            names.append(name.encode())
            group = handle.create_group(name)
            weight_names = [f"{name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = weight_names
            for wname, value in zip(weight_names, layer.get_weights()):
                group.create_dataset(wname.decode(), data=value)
        handle.attrs["layer_names"] = names


@pytest.mark.parametrize("rename", [False, True])
def test_deeplabcut_loads_legacy_h5_weights_by_name_or_order(tmp_path, rename):
    stock = _stock_mobilenet()
    path = tmp_path / "mobilenet_v2_weights_notop.h5"
    _write_legacy_h5(stock, path, rename=rename)
    _assert_backbone_holds(build_model(_dlc_spec(str(path))), stock)


def test_deeplabcut_weights_missing_or_not_hdf5(tmp_path):
    with pytest.raises(DpkError, match=r"not found.*architecture.weights to null"):
        build_model(_dlc_spec(str(tmp_path / "missing.h5")))
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file")
    with pytest.raises(DpkError, match="not a Keras HDF5 weights file"):
        build_model(_dlc_spec(str(garbage)))


def test_deeplabcut_weights_of_another_network(tmp_path):
    other = tmp_path / "alpha050.weights.h5"
    _stock_mobilenet(alpha=0.5).save_weights(other)
    with pytest.raises(DpkError, match=r"does not hold mobilenetv2 \(alpha 0.35\) weights"):
        build_model(_dlc_spec(str(other)))
    renamed = tmp_path / "weights.h5"
    renamed.write_bytes(other.read_bytes())
    with pytest.raises(DpkError, match="rename it"):
        build_model(_dlc_spec(str(renamed), alpha=0.5))


def test_deeplabcut_legacy_weights_of_another_network(tmp_path):
    legacy = tmp_path / "legacy.h5"
    _write_legacy_h5(_stock_mobilenet(alpha=0.5), legacy)
    with pytest.raises(DpkError, match="missing or have other shapes"):
        build_model(_dlc_spec(str(legacy)))


# -------------------------------------------------------------------------- FLOPs
def test_flop_counter_counts_each_layer_kind_exactly():
    x_in = keras.Input((8, 10, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(x_in)  # 8*10*4*9*3
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", groups=2)(x)  # 4*5*6*9*2
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)  # 4*5*12*9
    x = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same")(x)  # 4*5*12*16*5
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Dense(7)(x)  # 4*5*5*7
    inner = keras.Model(x_in, x)
    outer_in = keras.Input((8, 10, 3))
    outer = keras.Model(outer_in, keras.layers.Dense(2)(inner(outer_in)))  # + 4*5*7*2
    macs = 8 * 10 * 4 * 27 + 4 * 5 * 6 * 18 + 4 * 5 * 12 * 9 + 4 * 5 * 12 * 16 * 5 + 4 * 5 * 5 * 7
    assert count_flops(inner) == 2 * macs
    assert count_flops(outer) == 2 * (macs + 4 * 5 * 7 * 2)
    assert count_params(outer) == outer.count_params()


@pytest.mark.parametrize(
    ("arch", "downsample"),
    [(LEAP(filters=8), 0), (StackedDenseNet(n_transitions=3, growth_rate=8), 2)],
)
def test_flops_grow_fourfold_when_the_side_doubles(arch, downsample):
    small = count_flops(build_model(make_spec(arch, (32, 48, 1), downsample)))
    large = count_flops(build_model(make_spec(arch, (64, 96, 1), downsample)))
    assert small > 0
    assert large == pytest.approx(4 * small, rel=0.01)
