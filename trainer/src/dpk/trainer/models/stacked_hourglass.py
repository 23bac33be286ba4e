"""Stacked Hourglass (Newell, Yang & Deng 2016), as compared in the DeepPoseKit paper.

Layout (``d = targets.downsample_factor``, ``T = architecture.n_transitions`` resolved
for the input size):

- Front end, input to stride ``2**d`` (as DeepPoseKit): a 7x7 stride-2 convolution with
  ``filters`` channels + batch norm + ReLU, then ``d - 1`` times a residual block and 2x2
  max pooling, then two residual blocks.
- Residual bottleneck block (Newell's pre-activation form): BN-ReLU-1x1 conv
  (``filters // bottleneck_factor``), BN-ReLU-3x3 conv (same width), BN-ReLU-1x1 conv
  (``filters``), added to the input (through a 1x1 convolution when the widths differ).
- Hourglass of depth ``T - d``, recursive: an upper residual branch at this resolution,
  and a lower branch of max pooling, a residual block, the next hourglass (or a residual
  block at the bottom), a residual block and nearest-neighbour 2x upsampling; the two are
  added.
- After each hourglass: a residual block, a 1x1 conv + BN + ReLU, and the linear 1x1
  head ``output_k`` (one output per stack, ``output_0`` to ``output_{n_stacks-1}``).
  Between stacks, the usual remapping: the next stack's input is the previous input plus
  1x1 convolutions of those features and of the prediction.
"""

from __future__ import annotations

import keras
from keras import layers

from dpk.specs import ModelSpec, StackedHourglass
from dpk.specs.model import resolve_transitions
from dpk.trainer.models.layers import input_block, output_head

__all__ = ["build_stacked_hourglass"]


def _bn_relu(x):
    return layers.ReLU()(layers.BatchNormalization()(x))


def residual_block(x, filters: int, bottleneck_factor: int):
    """Newell's residual bottleneck module (pre-activation)."""
    inner = max(1, filters // bottleneck_factor)
    skip = x if x.shape[-1] == filters else layers.Conv2D(filters, 1)(x)
    y = layers.Conv2D(inner, 1)(_bn_relu(x))
    y = layers.Conv2D(inner, 3, padding="same")(_bn_relu(y))
    y = layers.Conv2D(filters, 1)(_bn_relu(y))
    return layers.Add()([skip, y])


def hourglass(x, depth: int, filters: int, bottleneck_factor: int):
    """One recursive hourglass of ``depth`` halvings; returns features at the input's size."""
    upper = residual_block(x, filters, bottleneck_factor)
    lower = layers.MaxPooling2D(2)(x)
    lower = residual_block(lower, filters, bottleneck_factor)
    if depth > 1:
        lower = hourglass(lower, depth - 1, filters, bottleneck_factor)
    else:
        lower = residual_block(lower, filters, bottleneck_factor)
    lower = residual_block(lower, filters, bottleneck_factor)
    lower = layers.UpSampling2D(2, interpolation="nearest")(lower)
    return layers.Add()([upper, lower])


def build_stacked_hourglass(spec: ModelSpec) -> keras.Model:
    """Build a Stacked Hourglass for ``spec`` (``spec.architecture`` a
    :class:`dpk.specs.StackedHourglass`); one output per stack."""
    arch = spec.architecture
    if not isinstance(arch, StackedHourglass):
        raise TypeError(f"expected a StackedHourglass spec, got {type(arch).__name__}")
    pre, d = spec.preprocessing, spec.targets.downsample_factor
    depth = resolve_transitions(arch.n_transitions, pre.height, pre.width) - d
    f, b, m = arch.filters, arch.bottleneck_factor, spec.n_output_maps

    image, x = input_block(spec)
    x = _bn_relu(layers.Conv2D(f, 7, strides=2, padding="same")(x))
    for _ in range(d - 1):
        x = layers.MaxPooling2D(2)(residual_block(x, f, b))
    x = residual_block(residual_block(x, f, b), f, b)

    outputs = []
    for k in range(arch.n_stacks):
        y = hourglass(x, depth, f, b)
        y = residual_block(y, f, b)
        features = _bn_relu(layers.Conv2D(f, 1)(y))
        prediction = output_head(features, m, k)
        outputs.append(prediction)
        if k < arch.n_stacks - 1:
            x = layers.Add()([x, layers.Conv2D(f, 1)(features), layers.Conv2D(f, 1)(prediction)])
    return keras.Model(image, outputs, name="stacked_hourglass")
