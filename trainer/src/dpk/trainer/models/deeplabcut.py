"""DeepLabCut (Mathis et al. 2018), as compared in the DeepPoseKit paper.

An ImageNet backbone (ResNet-50, MobileNetV2 or DenseNet-121; see
:mod:`dpk.trainer.models.backbones`) at output stride 16, then a head up to the target
stride ``s = 2**d`` (``d = targets.downsample_factor``), as DeepPoseKit builds it:

- ``d = 4``: a 1x1 linear convolution to the maps.
- ``d < 4``: ``3 - d`` parameter-free sub-pixel (depth-to-space) 2x upsamplings of the
  backbone features, then DeepLabCut's 3x3 stride-2 transposed convolution straight to the
  maps (linear). With ``d = 3`` this is exactly DeepLabCut's head.

The image is tiled to three channels when grayscale and put in the channel order the
backbone's ImageNet weights expect; ``imagenet`` normalisation is the backbone's own Keras
preprocessing (caffe-style for ResNet-50, [-1, 1] for MobileNetV2, torch-style for
DenseNet-121). Weights come from ``architecture.weights`` (a local file) or are random.
"""

from __future__ import annotations

import keras
from keras import layers

from dpk.specs import DeepLabCut, ModelSpec
from dpk.trainer.models.backbones import build_backbone, load_backbone_weights
from dpk.trainer.models.layers import DepthToSpace, head_initializer, input_block, output_head
from dpk.trainer.models.shapes import DEEPLABCUT_HALVINGS, padded_input_shape

__all__ = ["build_deeplabcut"]


def build_deeplabcut(spec: ModelSpec) -> keras.Model:
    """Build DeepLabCut for ``spec`` (``spec.architecture`` a
    :class:`dpk.specs.DeepLabCut`); one output, ``output_0``.

    Raises:
        DpkError: ``architecture.weights`` names a missing or unsuitable file.
    """
    arch = spec.architecture
    if not isinstance(arch, DeepLabCut):
        raise TypeError(f"expected a DeepLabCut spec, got {type(arch).__name__}")
    d, m = spec.targets.downsample_factor, spec.n_output_maps
    hp, wp = padded_input_shape(spec)

    backbone = build_backbone(arch.backbone, (hp, wp, 3), alpha=arch.alpha)
    if arch.weights is not None:
        load_backbone_weights(backbone, arch.backbone, arch.weights, alpha=arch.alpha)

    image, x = input_block(spec, backbone=arch.backbone)
    x = backbone(x)
    steps = DEEPLABCUT_HALVINGS - d
    if steps == 0:
        out = output_head(x, m, 0)
    else:
        for _ in range(steps - 1):
            x = DepthToSpace(2)(x)
        out = layers.Conv2DTranspose(
            m,
            3,
            strides=2,
            padding="same",
            kernel_initializer=head_initializer(),
            name="head_0",
            dtype="float32",
        )(x)
    return keras.Model(image, [out], name="deeplabcut")
