"""Stacked DenseNet, the DeepPoseKit paper's model (Graving et al. 2019, after Jegou et al.
2017 and Newell et al. 2016).

Layout (following DeepPoseKit's implementation; ``d = targets.downsample_factor``,
``T = architecture.n_transitions`` resolved for the input size, ``s = 2**d``):

- Front end, input to stride ``s``: a 7x7 stride-2 convolution (``growth_rate``
  filters) concatenated with a space-to-depth copy of the normalised image; then at each
  level a dense block and a transition down (2x2 max pooling + 1x1 compression). The
  features of every level are max-pooled to stride ``s``, compressed and concatenated.
  Output ``output_0`` (a 1x1 linear convolution) is trained on the targets too.
- ``n_stacks`` encoder-decoders, each with ``T - d`` transitions down (pooling + 1x1
  compression) and up (1x1 compression to a multiple of 4 + depth-to-space), dense blocks
  at every level and compressed skip concatenations between encoder and decoder. Stack
  ``k`` gets the front-end features and the batch-normalised previous prediction (plus
  the previous stack's features); its 1x1 linear head gives ``output_k``.
- Dense layers: 1x1 bottleneck (``width * bottleneck_factor`` filters) then 3x3 conv
  (``width`` filters), both SELU with LeCun-normal init (``activation: leaky_relu``:
  leaky ReLU, He-normal init), concatenated onto their input;
  ``layers_per_block`` of them per block. As in DeepPoseKit a block's ``width`` is
  ``growth_rate * min(m, 3)`` with ``m`` DeepPoseKit's per-block multiplier (its level
  in the front end and the encoder, ``d`` in the bottleneck and last block, one level
  less in the decoder).

Differences from DeepPoseKit, on purpose: the pooled front-end skips are compressed once
(DPK compresses them twice); the next stack gets the newest prediction (DPK's code feeds
the one before it, a list-aliasing slip); heads see only their stack's features (which
already include a compressed copy of the stack input); the input is padded instead of
refused when its sides do not halve ``T`` times; ``layers_per_block`` > 1 adds real dense
layers instead of widening one; ``channel_multiple`` > 1 rounds the compressions'
channels (16 lets onnxruntime keep the blocks in its blocked layout; the default 1 gives
DeepPoseKit's counts).
"""

from __future__ import annotations

import math

import keras
from keras import layers

from dpk.specs import ModelSpec, StackedDenseNet
from dpk.specs.model import resolve_transitions
from dpk.trainer.models.layers import DepthToSpace, SpaceToDepth, input_block, output_head

__all__ = ["build_stacked_densenet"]

_MAX_WIDTH_MULTIPLIER = 3


_INITIALIZERS = {"selu": "lecun_normal", "leaky_relu": "he_normal"}
"""Weights that keep each activation's output scale through the layers."""


def _concat(tensors: list):
    return tensors[0] if len(tensors) == 1 else layers.Concatenate()(tensors)


class _Builder:
    """Holds the architecture settings while the graph is built."""

    def __init__(self, arch: StackedDenseNet):
        self.arch = arch

    def conv(self, filters: int, kernel: int, **kwargs) -> layers.Conv2D:
        """A same-padded convolution with the architecture's activation."""
        activation = self.arch.activation
        return layers.Conv2D(
            filters,
            kernel,
            padding="same",
            activation=activation,
            kernel_initializer=_INITIALIZERS[activation],
            **kwargs,
        )

    def dense_block(self, x, multiplier: int):
        """``layers_per_block`` dense layers; returns the input with their outputs
        concatenated."""
        width = self.arch.growth_rate * max(1, min(multiplier, _MAX_WIDTH_MULTIPLIER))
        bottleneck = max(1, round(width * self.arch.bottleneck_factor))
        for _ in range(self.arch.layers_per_block):
            y = self.conv(bottleneck, 1)(x)
            y = self.conv(width, 3)(y)
            x = layers.Concatenate()([x, y])
        return x

    def compress(self, x, multiple_of: int = 1):
        """1x1 convolution to ``compression_factor`` of the channels, rounded to a multiple
        of ``channel_multiple`` (and of ``multiple_of``)."""
        multiple_of = math.lcm(multiple_of, self.arch.channel_multiple)
        filters = round(x.shape[-1] * self.arch.compression_factor)
        filters = max(multiple_of, round(filters / multiple_of) * multiple_of)
        return self.conv(filters, 1)(x)

    def transition_down(self, x, pool: int = 2):
        return self.compress(layers.MaxPooling2D(pool)(x))

    def transition_up(self, x):
        # Depth-to-space needs channels divisible by 4.
        return DepthToSpace(2)(self.compress(x, multiple_of=4))

    def front_end(self, x, d: int):
        """Input (stride 1) to features at stride ``2**d``."""
        conv = self.conv(self.arch.growth_rate, 7, strides=2)(x)
        features = layers.Concatenate()([SpaceToDepth(2)(x), conv])
        skips = []
        for level in range(1, d):
            features = self.dense_block(features, level)
            skips.append(self.transition_down(features, pool=2 ** (d - level)))
            features = self.transition_down(features)
        features = self.dense_block(features, d)
        skips.append(self.compress(features))
        return _concat(skips)

    def encoder_decoder(self, x, d: int, n_down: int):
        """One stack: ``n_down`` transitions down and back up, at stride ``2**d``."""
        skips = [x]
        y = self.transition_down(x)
        for level in range(1, n_down):
            y = self.dense_block(y, d + level)
            skips.append(y)
            y = self.transition_down(y)
        skips.append(y)
        y = self.dense_block(y, d)
        skips = [self.compress(s) for s in reversed(skips)]
        for k in range(n_down):
            y = layers.Concatenate()([y, skips[k]])
            y = self.dense_block(y, d + n_down - 1 - k)
            y = self.transition_up(y)
        y = layers.Concatenate()([y, skips[-1]])
        return self.dense_block(y, d)


def build_stacked_densenet(spec: ModelSpec) -> keras.Model:
    """Build a Stacked DenseNet for ``spec`` (``spec.architecture`` a
    :class:`dpk.specs.StackedDenseNet`); outputs ``output_0`` (front end) to
    ``output_{n_stacks}``."""
    arch = spec.architecture
    if not isinstance(arch, StackedDenseNet):
        raise TypeError(f"expected a StackedDenseNet spec, got {type(arch).__name__}")
    pre, d = spec.preprocessing, spec.targets.downsample_factor
    n_transitions = resolve_transitions(arch.n_transitions, pre.height, pre.width)
    build = _Builder(arch)
    m = spec.n_output_maps

    image, x = input_block(spec)
    front = build.front_end(x, d)
    prediction = output_head(front, m, 0)
    outputs = [prediction]
    stack_input = layers.Concatenate()([front, layers.BatchNormalization()(prediction)])
    for k in range(1, arch.n_stacks + 1):
        features = build.encoder_decoder(stack_input, d, n_transitions - d)
        prediction = output_head(features, m, k)
        outputs.append(prediction)
        if k < arch.n_stacks:
            normalized = layers.BatchNormalization()(prediction)
            stack_input = layers.Concatenate()([features, front, normalized])
    return keras.Model(image, outputs, name="stacked_densenet")
