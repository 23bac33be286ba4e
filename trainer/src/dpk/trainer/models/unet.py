"""U-Net for CPUs (Ronneberger et al. 2015, in the plain form pose estimators use).

Layout (``f = architecture.filters``, ``T`` the halvings :func:`dpk.specs.model.unet_transitions`
resolves for the input, ``d = targets.downsample_factor``, level ``l`` works at stride
``2**l`` with ``min(f * 2**(l-1), max_filters)`` channels):

- Encoder: at each level ``1..T`` a 3x3 stride-2 convolution then
  ``convs_per_level - 1`` 3x3 convolutions; every convolution is followed by batch
  normalisation and ReLU (no bias: the normalisation has one).
- Decoder, from level ``T`` back to level ``d``: bilinear 2x upsampling, concatenation
  with the encoder's features of that level, one 3x3 convolution + batch norm + ReLU.
- Head: a 1x1 linear convolution to the maps at stride ``2**d``, ``output_0``.

Why this shape: on a CPU the cost of a network is its multiply-adds plus one memory pass
per layer, so few, wide, plain layers beat many thin concatenating ones (the Stacked
DenseNet spends most of its time moving features between SELU layers the runtime cannot
fuse). Convolution + batch norm + ReLU export to one fused ONNX node.
"""

from __future__ import annotations

import keras
from keras import layers

from dpk.specs import ModelSpec, UNet
from dpk.specs.model import unet_transitions
from dpk.trainer.models.layers import input_block, output_head

__all__ = ["build_unet", "unet_widths"]


def unet_widths(arch: UNet, n_levels: int) -> list[int]:
    """Channels of levels ``1..n_levels`` (index 0 is level 1, stride 2)."""
    return [min(arch.filters * 2**level, arch.max_filters) for level in range(n_levels)]


def _conv_bn_relu(x, filters: int, strides: int = 1):
    x = layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False, kernel_initializer="he_normal"
    )(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def build_unet(spec: ModelSpec) -> keras.Model:
    """Build a U-Net for ``spec`` (``spec.architecture`` a :class:`dpk.specs.UNet`); one
    output at the target stride, ``output_0``."""
    arch = spec.architecture
    if not isinstance(arch, UNet):
        raise TypeError(f"expected a UNet spec, got {type(arch).__name__}")
    pre, d = spec.preprocessing, spec.targets.downsample_factor
    n_levels = unet_transitions(arch.n_transitions, pre.height, pre.width)
    widths = unet_widths(arch, n_levels)

    image, x = input_block(spec)
    skips = {}
    for level in range(1, n_levels + 1):
        x = _conv_bn_relu(x, widths[level - 1], strides=2)
        for _ in range(arch.convs_per_level - 1):
            x = _conv_bn_relu(x, widths[level - 1])
        skips[level] = x
    for level in range(n_levels - 1, d - 1, -1):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([x, skips[level]])
        x = _conv_bn_relu(x, widths[level - 1])
    return keras.Model(image, [output_head(x, spec.n_output_maps, 0)], name="unet")
