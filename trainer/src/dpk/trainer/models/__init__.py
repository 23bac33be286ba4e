"""The four architectures of the DeepPoseKit paper, and a CPU-efficient U-Net, in Keras 3,
built from a :class:`dpk.specs.ModelSpec`.

Every model built here follows one contract (the trainer and the exporter rely on it):

- input ``image``: ``uint8`` ``(N, H, W, C)`` with ``H, W, C`` from
  ``spec.preprocessing``; the first layers cast to float32, normalise as
  ``preprocessing.normalization`` says, and zero-pad the bottom and right to
  :func:`padded_input_shape` (sides rounded up to a multiple of ``2**n``, ``n`` the
  number of halvings of the architecture);
- outputs: a list of float32 maps named ``output_0``, ``output_1``, ... in stack order,
  each of shape ``(N, *output_shape(spec))`` (linear activation), the LAST being the
  final prediction; output map pixel ``j`` covers padded input pixels
  ``[j*s, (j+1)*s)``, ``s = 2**targets.downsample_factor``.

Outputs per architecture: Stacked DenseNet ``n_stacks + 1`` (the front end's, then one
per stack, as DeepPoseKit), Stacked Hourglass ``n_stacks``, DeepLabCut, LEAP and U-Net one.
"""

from __future__ import annotations

import keras

from dpk.specs import LEAP, DeepLabCut, ModelSpec, StackedDenseNet, StackedHourglass, UNet
from dpk.trainer.models.backbones import BACKBONES, build_backbone, load_backbone_weights
from dpk.trainer.models.deeplabcut import build_deeplabcut
from dpk.trainer.models.flops import count_flops, count_params
from dpk.trainer.models.layers import DepthToSpace, ImageNormalization, SpaceToDepth
from dpk.trainer.models.leap import build_leap
from dpk.trainer.models.shapes import (
    n_halvings,
    output_shape,
    padded_input_shape,
    padded_output_shape,
)
from dpk.trainer.models.stacked_densenet import build_stacked_densenet
from dpk.trainer.models.stacked_hourglass import build_stacked_hourglass
from dpk.trainer.models.unet import build_unet

__all__ = [
    "BACKBONES",
    "DepthToSpace",
    "ImageNormalization",
    "SpaceToDepth",
    "build_backbone",
    "build_model",
    "count_flops",
    "count_params",
    "load_backbone_weights",
    "n_halvings",
    "n_outputs",
    "output_list",
    "output_shape",
    "padded_input_shape",
    "padded_output_shape",
]


def output_list(result) -> list:
    """The outputs of a model call as a list.

    Keras returns a bare tensor (not a one-element list) when a model with ONE output is
    called, so ``model(x)[-1]`` would index the batch for DeepLabCut and LEAP; use
    ``output_list(model(x))[-1]`` for the final prediction.
    """
    return list(result) if isinstance(result, list | tuple) else [result]


def n_outputs(spec: ModelSpec) -> int:
    """How many outputs the model has (intermediate supervision included)."""
    arch = spec.architecture
    if isinstance(arch, StackedDenseNet):
        return arch.n_stacks + 1
    if isinstance(arch, StackedHourglass):
        return arch.n_stacks
    return 1


def build_model(spec: ModelSpec) -> keras.Model:
    """Build the Keras model that ``spec.architecture`` describes (weights random, or the
    DeepLabCut backbone's from ``architecture.weights``).

    Raises:
        DpkError: DeepLabCut's ``architecture.weights`` is missing or does not fit.
    """
    arch = spec.architecture
    if isinstance(arch, StackedDenseNet):
        network = build_stacked_densenet(spec)
    elif isinstance(arch, StackedHourglass):
        network = build_stacked_hourglass(spec)
    elif isinstance(arch, DeepLabCut):
        network = build_deeplabcut(spec)
    elif isinstance(arch, LEAP):
        network = build_leap(spec)
    elif isinstance(arch, UNet):
        network = build_unet(spec)
    else:
        raise TypeError(f"unknown architecture {type(arch).__name__}")
    return _crop_to_image(network, spec)


def _crop_to_image(network: keras.Model, spec: ModelSpec) -> keras.Model:
    """Crop every output to the map pixels that cover the image (not the padding) and
    name them ``output_0``, ``output_1``, ..."""
    padded_h, padded_w = padded_output_shape(spec)
    h, w, _ = output_shape(spec)
    crop = ((0, padded_h - h), (0, padded_w - w))
    outputs = [
        keras.layers.Cropping2D(crop, name=f"output_{i}", dtype="float32")(out)
        for i, out in enumerate(output_list(network.outputs))
    ]
    return keras.Model(network.input, outputs, name=network.name)
