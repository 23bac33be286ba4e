"""Pieces every architecture shares: the in-graph input block, sub-pixel layers and heads.

The input block turns the ``uint8`` image into what a network needs, inside the graph,
so that an exported model takes raw frames:

1. :class:`ImageNormalization` casts to float32, picks/reorders channels (grayscale
   tiled to three channels for ImageNet backbones, BGR <-> RGB where a backbone needs
   it) and applies a per-channel affine map ``x * scale + offset`` that covers every
   normalisation mode of :class:`dpk.specs.Preprocessing`.
2. ``ZeroPadding2D`` pads the BOTTOM and RIGHT with zeros (after normalisation) up to the
   multiple of ``2**n`` the architecture needs, so that output map pixel ``j`` covers
   padded input pixels ``[j*s, (j+1)*s)``.

All layers here are plain Keras ops that export to ONNX (opset 17) with tf2onnx.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from dpk.specs import ModelSpec, Preprocessing
from dpk.trainer.models.shapes import padded_input_shape

__all__ = [
    "HEAD_INIT_STD",
    "IMAGENET_MEAN_RGB",
    "IMAGENET_STD_RGB",
    "DepthToSpace",
    "ImageNormalization",
    "SpaceToDepth",
    "head_initializer",
    "input_block",
    "normalization_layer",
    "output_head",
]

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
"""ImageNet channel means (0..1 scale, RGB order)."""
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
"""ImageNet channel standard deviations (0..1 scale, RGB order)."""

# Keras' ImageNet preprocessing per backbone (keras.applications.<module>.preprocess_input),
# as (channel order the weights expect, per-channel scale, per-channel offset) applied to
# 0..255 values. "caffe" (ResNet50) wants BGR minus the BGR means; "tf" (MobileNetV2) maps
# to [-1, 1]; "torch" (DenseNet121) standardises RGB with the ImageNet statistics.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_BACKBONE_PREPROCESSING: dict[str, tuple[str, tuple[float, ...], tuple[float, ...]]] = {
    "resnet50": ("bgr", (1.0, 1.0, 1.0), tuple(-m for m in _CAFFE_MEAN_BGR)),
    "mobilenetv2": ("rgb", (1 / 127.5,) * 3, (-1.0,) * 3),
    "densenet121": (
        "rgb",
        tuple(1 / (255 * s) for s in IMAGENET_STD_RGB),
        tuple(-m / s for m, s in zip(IMAGENET_MEAN_RGB, IMAGENET_STD_RGB)),
    ),
}


@keras.saving.register_keras_serializable(package="dpk")
class ImageNormalization(layers.Layer):
    """Cast ``uint8`` images to float32, select channels, then ``x * scale + offset``.

    Args:
        scale: One multiplier per output channel.
        offset: One offset per output channel.
        channels: Input channel feeding each output channel (e.g. ``[0, 0, 0]`` tiles a
            grayscale image, ``[2, 1, 0]`` swaps BGR and RGB); None keeps them as they are.
    """

    def __init__(
        self,
        scale: Sequence[float],
        offset: Sequence[float],
        channels: Sequence[int] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(scale) != len(offset):
            raise ValueError("scale and offset need one value per output channel")
        if channels is not None and len(channels) != len(scale):
            raise ValueError("channels needs one input index per output channel")
        self.scale = [float(v) for v in scale]
        self.offset = [float(v) for v in offset]
        self.channels = None if channels is None else [int(c) for c in channels]

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.channels is not None:
            x = ops.take(x, np.array(self.channels, dtype="int32"), axis=-1)
        scale = np.array(self.scale, dtype="float32")
        offset = np.array(self.offset, dtype="float32")
        return x * scale + offset

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.scale))

    def compute_output_spec(self, inputs):
        shape = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "offset": self.offset,
            "channels": self.channels,
        }


@keras.saving.register_keras_serializable(package="dpk")
class SpaceToDepth(layers.Layer):
    """Move each ``block x block`` patch into channels (the input's "space-to-depth" copy).

    Output channel ``(dy * block + dx) * C + c`` holds input pixel ``(block*i + dy,
    block*j + dx)``, channel ``c`` (TensorFlow's ordering). Sides must divide by ``block``.
    """

    def __init__(self, block: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block = int(block)

    def call(self, inputs):
        b = self.block
        _, h, w, c = inputs.shape
        x = ops.reshape(inputs, (-1, h // b, b, w // b, b, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h // b, w // b, b * b * c))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        b = self.block
        return (n, h // b, w // b, c * b * b)

    def get_config(self):
        return {**super().get_config(), "block": self.block}


@keras.saving.register_keras_serializable(package="dpk")
class DepthToSpace(layers.Layer):
    """Sub-pixel upsampling: the inverse of :class:`SpaceToDepth` (channels must divide
    by ``block**2``)."""

    def __init__(self, block: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.block = int(block)

    def call(self, inputs):
        b = self.block
        _, h, w, c = inputs.shape
        x = ops.reshape(inputs, (-1, h, w, b, b, c // (b * b)))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * b, w * b, c // (b * b)))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        b = self.block
        return (n, h * b, w * b, c // (b * b))

    def get_config(self):
        return {**super().get_config(), "block": self.block}


def _input_affine(pre: Preprocessing) -> tuple[list[float], list[float]]:
    """Per-input-channel (scale, offset) on 0..255 values for the spec's normalisation."""
    c = pre.channels
    if pre.normalization == "unit":
        return [1 / 255] * c, [0.0] * c
    if pre.normalization == "standardize":
        assert pre.mean is not None and pre.std is not None  # Preprocessing requires both
        mean, std = pre.mean, pre.std
    elif c == 1:  # imagenet statistics for a grayscale image: the channel averages
        mean, std = [float(np.mean(IMAGENET_MEAN_RGB))], [float(np.mean(IMAGENET_STD_RGB))]
    else:
        mean, std = list(IMAGENET_MEAN_RGB), list(IMAGENET_STD_RGB)
        if pre.color_order == "bgr":
            mean, std = mean[::-1], std[::-1]
    return [1 / (255 * s) for s in std], [-m / s for m, s in zip(mean, std)]


def normalization_layer(pre: Preprocessing, backbone: str | None = None) -> ImageNormalization:
    """The :class:`ImageNormalization` for a spec's preprocessing.

    Args:
        pre: The model's preprocessing section.
        backbone: For DeepLabCut, the ImageNet backbone the image feeds
            (``resnet50``, ``mobilenetv2`` or ``densenet121``): the output then has three
            channels in the order the backbone's ImageNet weights expect (grayscale is
            tiled), and ``imagenet`` normalisation means that backbone's own Keras
            ImageNet preprocessing. None for the other architectures, which keep the
            input's channels.
    """
    if backbone is None:
        scale, offset = _input_affine(pre)
        return ImageNormalization(scale, offset, name="normalize")
    order, bb_scale, bb_offset = _BACKBONE_PREPROCESSING[backbone]
    if pre.channels == 1:
        channels = [0, 0, 0]
    elif pre.color_order == order:
        channels = [0, 1, 2]
    else:
        channels = [2, 1, 0]
    if pre.normalization == "imagenet":
        scale, offset = list(bb_scale), list(bb_offset)
    else:
        in_scale, in_offset = _input_affine(pre)
        scale = [in_scale[i] for i in channels]
        offset = [in_offset[i] for i in channels]
    keep = None if channels == list(range(pre.channels)) else channels
    return ImageNormalization(scale, offset, channels=keep, name="normalize")


def input_block(spec: ModelSpec, backbone: str | None = None) -> tuple[keras.KerasTensor, ...]:
    """The model input and the normalised, padded float32 tensor the network starts from.

    Returns:
        ``(image, x)``: the ``uint8`` input named ``image`` with the spec's
        ``(height, width, channels)``, and the tensor of shape ``(Hp, Wp, C')`` after
        normalisation and bottom/right zero padding (``ZeroPadding2D`` named ``pad``,
        absent when no padding is needed).
    """
    pre = spec.preprocessing
    image = keras.Input((pre.height, pre.width, pre.channels), dtype="uint8", name="image")
    x = normalization_layer(pre, backbone)(image)
    hp, wp = padded_input_shape(spec)
    if (hp, wp) != (pre.height, pre.width):
        x = layers.ZeroPadding2D(((0, hp - pre.height), (0, wp - pre.width)), name="pad")(x)
    return image, x


HEAD_INIT_STD = 1e-3
"""Standard deviation of the output heads' initial kernels (biases start at zero)."""


def head_initializer() -> keras.initializers.Initializer:
    """The initial kernel of every output head: N(0, HEAD_INIT_STD), so the first maps are
    near zero everywhere.

    Keras' default (Glorot) head starts the maps at noise of order 1 on every pixel, and
    the squared error first spends its steps pulling that background down: measured on
    the fly crops (benchmarks/recipe_ab.py, 700 steps, U-Net), median error 11.8 px with
    the default head against 3.3 px with this one, and 43.4 against 2.3 px with the plain
    loss (no foreground weight, no posture graph).
    """
    return keras.initializers.RandomNormal(stddev=HEAD_INIT_STD)


def output_head(x, n_maps: int, index: int, kernel_size: int = 1):
    """A linear convolution to the confidence maps, float32, named ``head_{index}``
    (:func:`dpk.trainer.models.build_model` crops it to the image as ``output_{index}``),
    starting near zero (:func:`head_initializer`)."""
    return layers.Conv2D(
        n_maps,
        kernel_size,
        padding="same",
        kernel_initializer=head_initializer(),
        bias_initializer="zeros",
        name=f"head_{index}",
        dtype="float32",
    )(x)
