"""Architecture specs, as a tagged union: the four models of the DeepPoseKit paper and a
CPU-efficient U-Net.

Defaults follow DeepPoseKit (DESIGN.md, section 6). Checks that need the input size or
the output stride live in :class:`dpk.specs.ModelSpec`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dpk.specs._base import UNION_TAGS, StrictModel

__all__ = [
    "LEAP",
    "Architecture",
    "DeepLabCut",
    "StackedDenseNet",
    "StackedHourglass",
    "UNet",
    "max_transitions",
]


def max_transitions(height: int, width: int, min_size: int = 3, max_padding: float = 0.125) -> int:
    """Most 2x downsamplings an input of this size supports.

    dpk pads inputs to the multiple of ``2**n`` the architecture needs, so sides need not
    be divisible; the count is the largest ``n`` that keeps the smaller side at least
    ``min_size`` pixels at the bottleneck and adds at most ``max_padding`` (a fraction of
    the side) of padding to each side. A 192 x 192 input gives 6 (DeepPoseKit's count),
    406 x 396 gives 5 (padded to 416 x 416).
    """
    most = 0
    n = 1
    while min(height, width) / 2**n >= min_size:
        multiple = 2**n
        padded = [-(-side // multiple) * multiple for side in (height, width)]
        if all(
            p <= side * (1 + max_padding) for p, side in zip(padded, (height, width), strict=True)
        ):
            most = n
        n += 1
    return most


class StackedDenseNet(StrictModel):
    """The paper's Stacked DenseNet: fully-convolutional DenseNet encoder-decoders, stacked
    with intermediate supervision. The paper's SELU activations are ``activation: selu``;
    the default is leaky ReLU, faster and more accurate here (docs/benchmarks.md)."""

    type: Literal["stacked_densenet"] = "stacked_densenet"
    """Architecture tag."""
    n_stacks: int = Field(default=1, ge=1, le=8)
    """Number of stacked encoder-decoders; each stack's output is trained on the targets."""
    n_transitions: int = -1
    """Down/up transitions per stack counted from the input; -1 uses the most the input
    size allows, -2 one fewer, and so on."""
    growth_rate: int = Field(default=48, ge=4, le=512)
    """Channels added by each dense block's 3x3 convolution."""
    bottleneck_factor: float = Field(default=1.0, gt=0, le=8)
    """1x1 bottleneck width as a multiple of the growth rate."""
    compression_factor: float = Field(default=0.5, gt=0, le=1)
    """Channel compression of each transition."""
    layers_per_block: int = Field(default=1, ge=1, le=8)
    """Dense layers (1x1 bottleneck + 3x3 conv) in each block."""
    activation: Literal["selu", "leaky_relu"] = "leaky_relu"
    """Activation of every convolution: ``leaky_relu`` (the default since spec version 2;
    slope 0.2 below zero, He-normal weights), which onnxruntime's CPU provider fuses into
    the convolutions, or ``selu`` (the paper's, LeCun-normal weights), computed as a
    separate pass over each feature map with layout reorders around it. Measured on
    a 2-core CPU, leaky ReLU runs the paper's configuration 1.35-2.7x faster and trained
    to lower held-out errors on both real datasets (docs/benchmarks.md, issues 9 and 15).
    A version-1 spec that names no activation keeps ``selu``."""
    channel_multiple: int = Field(default=1, ge=1, le=64)
    """Round each compression's channel count to the nearest multiple of this (at least
    one multiple). 1 (the default) keeps DeepPoseKit's counts (``compression_factor`` of
    the input channels). With 16 every convolution and most concatenations can stay in
    onnxruntime's blocked channel layout (NCHWc: 16 channels a block with AVX-512, 8
    with AVX2) instead of being reordered around each dense block; measured on a 2-core
    CPU the gain is within run-to-run noise (docs/benchmarks.md, issue 15)."""


class StackedHourglass(StrictModel):
    """Stacked Hourglass (Newell et al. 2016): residual bottleneck blocks, nearest-neighbour
    upsampling with skip additions, intermediate supervision per stack."""

    type: Literal["stacked_hourglass"] = "stacked_hourglass"
    """Architecture tag."""
    n_stacks: int = Field(default=2, ge=1, le=8)
    """Number of hourglasses."""
    n_transitions: int = -1
    """Down/up transitions per hourglass counted from the input; -1 = the most possible."""
    filters: int = Field(default=256, ge=8, le=1024)
    """Channels of the residual blocks."""
    bottleneck_factor: int = Field(default=2, ge=1, le=8)
    """Residual bottleneck: inner width = filters / bottleneck_factor."""


class DeepLabCut(StrictModel):
    """DeepLabCut (Mathis et al. 2018): an ImageNet backbone at output stride 16 with a
    transposed-convolution head up to the target stride."""

    type: Literal["deeplabcut"] = "deeplabcut"
    """Architecture tag."""
    backbone: Literal["resnet50", "mobilenetv2", "densenet121"] = "resnet50"
    """Feature extractor."""
    alpha: float = Field(default=1.0, gt=0, le=1.4)
    """Width multiplier (MobileNetV2 only: 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4)."""
    weights: str | None = None
    """Path to a local Keras weights file with ImageNet weights for the backbone (no
    downloads at run time); None initialises randomly."""


class LEAP(StrictModel):
    """LEAP (Pereira et al. 2019): three convolution blocks with pooling, then
    transposed-convolution upsampling to full resolution."""

    type: Literal["leap"] = "leap"
    """Architecture tag."""
    filters: int = Field(default=64, ge=8, le=512)
    """Channels of the first block (doubled at each of the next two)."""
    upsampling: Literal["transposed", "bilinear"] = "transposed"
    """How the decoder upsamples."""
    batch_norm: bool = False
    """Batch normalisation after each convolution (off in the paper)."""


class UNet(StrictModel):
    """A plain encoder-decoder (Ronneberger et al. 2015) built for CPUs: 3x3 convolutions
    with batch normalisation and ReLU (which ONNX runtimes fuse into the convolution),
    strided-convolution downsampling, bilinear upsampling with skip concatenations, one
    output at the target stride. Not in the DeepPoseKit paper; dpk's default architecture:
    in the same 30 CPU minutes it reached lower held-out errors than the Stacked DenseNet
    on both real datasets, and its int8 file runs 2.8x its float32 speed
    (docs/benchmarks.md, issues 9 and 15)."""

    type: Literal["unet"] = "unet"
    """Architecture tag."""
    filters: int = Field(default=24, ge=4, le=512)
    """Channels at the first level (stride 2); each deeper level doubles them."""
    max_filters: int = Field(default=96, ge=4, le=1024)
    """Channel cap of the deeper levels."""
    n_transitions: int = Field(default=4, ge=1, le=8)
    """Halvings of the encoder (its deepest stride is ``2**n_transitions``); an input too
    small for that many gets the most it allows (see :func:`max_transitions`)."""
    convs_per_level: int = Field(default=2, ge=1, le=4)
    """3x3 convolutions at each encoder level (the first one strided) and at the bottom."""


Architecture = Annotated[
    StackedDenseNet | StackedHourglass | DeepLabCut | LEAP | UNet,
    Field(discriminator="type"),
]
"""One of the architectures, chosen by its ``type`` field."""

UNION_TAGS["architecture"] = {"stacked_densenet", "stacked_hourglass", "deeplabcut", "leap", "unet"}
