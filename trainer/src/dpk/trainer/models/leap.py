"""LEAP (Pereira et al. 2019), as compared in the DeepPoseKit paper.

Layout (``f = architecture.filters``), full-resolution output (downsample_factor 0):

- Encoder: three blocks of three 3x3 ReLU convolutions with ``f``, ``2f`` and ``4f``
  filters; 2x2 max pooling after the first two.
- Decoder, ``upsampling: transposed`` (the paper's): a 3x3 stride-2 transposed
  convolution (``2f``, ReLU), two 3x3 ReLU convolutions (``2f``), then a 3x3 stride-2
  transposed convolution to the maps (linear), named ``output_0``.
- ``upsampling: bilinear``: bilinear 2x upsampling instead of the first transposed
  convolution, and bilinear upsampling then a 3x3 linear convolution instead of the last.
- ``batch_norm``: batch normalisation after every convolution (then without bias), as
  DeepPoseKit's option; off in the paper.
"""

from __future__ import annotations

import keras
from keras import layers

from dpk.specs import LEAP, ModelSpec
from dpk.trainer.models.layers import head_initializer, input_block, output_head

__all__ = ["build_leap"]


def _conv_block(x, n_layers: int, filters: int, batch_norm: bool):
    for _ in range(n_layers):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", use_bias=not batch_norm)(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
    return x


def build_leap(spec: ModelSpec) -> keras.Model:
    """Build LEAP for ``spec`` (``spec.architecture`` a :class:`dpk.specs.LEAP`); one
    full-resolution output, ``output_0``."""
    arch = spec.architecture
    if not isinstance(arch, LEAP):
        raise TypeError(f"expected a LEAP spec, got {type(arch).__name__}")
    f, bn, m = arch.filters, arch.batch_norm, spec.n_output_maps

    image, x = input_block(spec)
    x = layers.MaxPooling2D(2)(_conv_block(x, 3, f, bn))
    x = layers.MaxPooling2D(2)(_conv_block(x, 3, 2 * f, bn))
    x = _conv_block(x, 3, 4 * f, bn)
    if arch.upsampling == "transposed":
        x = layers.Conv2DTranspose(
            2 * f,
            3,
            strides=2,
            padding="same",
            activation="relu",
            use_bias=not bn,
            kernel_initializer="glorot_normal",
        )(x)
    else:
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    if bn:
        x = layers.BatchNormalization()(x)
    x = _conv_block(x, 2, 2 * f, bn)
    if arch.upsampling == "transposed":
        out = layers.Conv2DTranspose(
            m,
            3,
            strides=2,
            padding="same",
            kernel_initializer=head_initializer(),
            name="head_0",
            dtype="float32",
        )(x)
    else:
        out = output_head(layers.UpSampling2D(2, interpolation="bilinear")(x), m, 0, 3)
    return keras.Model(image, [out], name="leap")
