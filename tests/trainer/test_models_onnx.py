"""Every architecture converts to ONNX (tf2onnx, opset 17), loads in onnxruntime and
matches Keras on its final maps."""

from __future__ import annotations

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf
import tf2onnx

from dpk.specs import (
    LEAP,
    DeepLabCut,
    ModelSpec,
    Preprocessing,
    Skeleton,
    StackedDenseNet,
    StackedHourglass,
    Targets,
    UNet,
)
from dpk.trainer.models import build_model, output_list, output_shape

SKELETON = Skeleton.from_edges(["head", "thorax", "tail"], [("thorax", "head"), ("thorax", "tail")])
REJECTED_OPS = {"Bitcast", "BitwiseAnd", "BitwiseOr", "BitShift"}


def make_spec(arch, shape, downsample: int) -> ModelSpec:
    h, w, c = shape
    return ModelSpec(
        skeleton=SKELETON,
        preprocessing=Preprocessing(
            height=h, width=w, channels=c, color_order="gray" if c == 1 else "bgr"
        ),
        architecture=arch,
        targets=Targets(downsample_factor=downsample),
    )


def to_onnx(model: keras.Model, shape) -> bytes:
    """The final output of ``model`` as an ONNX graph with a uint8 ``image`` input."""
    signature = [tf.TensorSpec([None, *shape], tf.uint8, name="image")]

    @tf.function(input_signature=signature)
    def final_maps(image):
        return output_list(model(image, training=False))[-1]

    proto, _ = tf2onnx.convert.from_function(final_maps, input_signature=signature, opset=17)
    return proto


@pytest.mark.parametrize(
    ("arch", "shape", "downsample"),
    [
        (StackedDenseNet(n_stacks=2, growth_rate=8), (37, 53, 1), 2),
        (StackedDenseNet(n_stacks=1, growth_rate=8, activation="leaky_relu"), (37, 53, 1), 2),
        (StackedHourglass(n_stacks=2, filters=16), (37, 53, 3), 2),
        (LEAP(filters=8), (37, 53, 1), 0),
        (LEAP(filters=8, upsampling="bilinear", batch_norm=True), (40, 52, 3), 0),
        (DeepLabCut(backbone="mobilenetv2", alpha=0.35), (37, 53, 3), 2),
        (UNet(filters=8, max_filters=16), (37, 53, 1), 2),
    ],
    ids=[
        "stacked_densenet",
        "stacked_densenet_leaky_relu",
        "stacked_hourglass",
        "leap",
        "leap_bilinear_bn",
        "deeplabcut",
        "unet",
    ],
)
def test_onnx_matches_keras(arch, shape, downsample):
    keras.utils.set_random_seed(0)
    spec = make_spec(arch, shape, downsample)
    model = build_model(spec)
    proto = to_onnx(model, shape)
    assert not REJECTED_OPS & {node.op_type for node in proto.graph.node}

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_input,) = session.get_inputs()
    assert onnx_input.name == "image"
    assert onnx_input.type == "tensor(uint8)"

    images = np.random.default_rng(0).integers(0, 256, (3, *shape), dtype=np.uint8)
    expected = np.asarray(output_list(model(images, training=False))[-1])
    (got,) = session.run(None, {"image": images})
    assert got.shape == expected.shape == (3, *output_shape(spec))
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(got, expected, rtol=0, atol=min(1e-4, 1e-3 * scale))


@pytest.mark.parametrize(("activation", "fused"), [("selu", False), ("leaky_relu", True)])
def test_stacked_densenet_activation_fuses_into_the_convolutions(tmp_path, activation, fused):
    """onnxruntime's CPU provider folds leaky ReLU into the convolutions; SELU stays a
    separate pass over every feature map (the reason the option exists)."""
    keras.utils.set_random_seed(0)
    arch = StackedDenseNet(n_stacks=1, growth_rate=8, activation=activation)
    model = build_model(make_spec(arch, (32, 32, 1), 2))
    layer_activations = {
        layer.activation.__name__
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    }
    assert activation in layer_activations
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    ort.InferenceSession(
        to_onnx(model, (32, 32, 1)).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    ops = [node.op_type for node in onnx.load(str(tmp_path / "optimized.onnx")).graph.node]
    standalone = {"Selu", "LeakyRelu"} & set(ops)
    assert (not standalone) == fused, ops


def _blocked_convolutions(tmp_path, channel_multiple: int) -> tuple[int, int]:
    """(convolutions onnxruntime runs in its blocked NCHWc layout, all convolutions) for a
    small leaky-ReLU Stacked DenseNet."""
    keras.utils.set_random_seed(0)
    arch = StackedDenseNet(
        n_stacks=1, growth_rate=16, activation="leaky_relu", channel_multiple=channel_multiple
    )
    model = build_model(make_spec(arch, (64, 64, 1), 2))
    options = ort.SessionOptions()
    path = tmp_path / f"optimized_{channel_multiple}.onnx"
    options.optimized_model_filepath = str(path)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # the warning that the saved file is CPU-specific
    ort.InferenceSession(
        to_onnx(model, (64, 64, 1)).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    nodes = onnx.load(str(path)).graph.node
    convolutions = [n for n in nodes if n.op_type in ("Conv", "FusedConv")]
    blocked = [n for n in convolutions if n.domain == "com.microsoft.nchwc"]
    return len(blocked), len(convolutions)


def test_stacked_densenet_channel_multiple_keeps_convolutions_blocked(tmp_path):
    """Compressions rounded to 16 channels let onnxruntime run every convolution but the
    few fed by unaligned tensors (the image, the stack input with the maps) in NCHWc;
    DeepPoseKit's own counts (channel_multiple 1) leave the compressions out."""
    aligned, total = _blocked_convolutions(tmp_path, 16)
    exact, exact_total = _blocked_convolutions(tmp_path, 1)
    assert total == exact_total
    assert aligned > exact
    assert total - aligned <= 3, (aligned, total)


@pytest.mark.parametrize(
    ("channels", "multiple", "multiple_of", "expected"),
    [
        (206, 1, 1, 103),
        (206, 16, 1, 96),
        (221, 16, 1, 112),
        (20, 16, 1, 16),
        (206, 1, 4, 104),
        (206, 16, 4, 96),
    ],
)
def test_stacked_densenet_compression_rounds_to_the_channel_multiple(
    channels, multiple, multiple_of, expected
):
    from dpk.trainer.models.stacked_densenet import _Builder

    # The default stays DeepPoseKit's counts: specs in model files written before the
    # setting existed describe networks built that way.
    assert StackedDenseNet().channel_multiple == 1
    arch = StackedDenseNet(channel_multiple=multiple)
    compressed = _Builder(arch).compress(keras.Input((8, 8, channels)), multiple_of=multiple_of)
    assert compressed.shape[-1] == expected
