"""Analytic cost of a model: floating-point operations and parameters.

``count_flops`` counts 2 x the multiply-adds of the layers that carry nearly all the
work, for ONE image, from the layers' static shapes:

- ``Conv2D``: ``H_out * W_out * C_out * kh * kw * C_in / groups``
  (dilation does not change the count);
- ``DepthwiseConv2D``: ``H_out * W_out * C_in * depth_multiplier * kh * kw``;
- ``Conv2DTranspose``: ``H_in * W_in * C_in * kh * kw * C_out`` (each input pixel
  scatters one kernel);
- ``Dense``: ``units * input_features`` times the other non-batch axes;
- nested models (e.g. a DeepLabCut backbone) are counted layer by layer.

Not counted: biases, batch normalisation, activations, pooling, upsampling, padding,
normalisation of the input, additions and concatenations (together a few percent of the
total for these networks). This is the number the model file carries as ``dpk.flops``.
"""

from __future__ import annotations

import math

import keras
from keras import layers

__all__ = ["count_flops", "count_params", "layer_flops"]


def _spatial(shape) -> int:
    return math.prod(int(v) for v in shape[1:-1])


def layer_flops(layer: keras.layers.Layer) -> int:
    """2 x multiply-adds of one layer for one image (0 for layers that are not counted)."""
    if isinstance(layer, keras.Model):
        return sum(layer_flops(inner) for inner in layer.layers)
    if isinstance(layer, layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        c_in = int(layer.input.shape[-1])
        return 2 * _spatial(layer.input.shape) * c_in * kh * kw * layer.filters
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        out = layer.output.shape
        return 2 * _spatial(out) * int(out[-1]) * kh * kw
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        c_in = int(layer.input.shape[-1])
        out = layer.output.shape
        return 2 * _spatial(out) * int(out[-1]) * kh * kw * c_in // layer.groups
    if isinstance(layer, layers.Dense):
        shape = layer.input.shape
        return 2 * math.prod(int(v) for v in shape[1:]) * layer.units
    return 0


def count_flops(model: keras.Model) -> int:
    """Floating-point operations (2 x multiply-adds) of ``model`` for one image; see the
    module docstring for what is counted."""
    return int(sum(layer_flops(layer) for layer in model.layers))


def count_params(model: keras.Model) -> int:
    """All parameters of ``model`` (trainable and not, e.g. batch-norm statistics)."""
    return int(model.count_params())
