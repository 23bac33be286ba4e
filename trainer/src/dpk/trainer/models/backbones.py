"""ImageNet backbones for DeepLabCut at output stride 16, and loading their weights from a
local file (never from the network).

A backbone is Keras' own ``keras.applications`` model (``weights=None``,
``include_top=False``), rebuilt with its last stride removed and the layers after it
dilated by 2, which is how DeepLabCut (Mathis et al. 2018) and DeepPoseKit run these
networks at output stride 16 (atrous convolution as in DeepLab). Layer names and weight
shapes are unchanged, so Keras' ImageNet weight files load into it by layer name:

- ``resnet50``: stage 5 (``conv5_*``) at stride 1, its 3x3 convolutions dilated by 2;
  output ``conv5_block3_out``, 2048 channels.
- ``mobilenetv2``: block 13's depthwise convolution at stride 1, blocks 13-16 depthwise
  convolutions dilated by 2; output ``out_relu`` (1280 channels, more for alpha > 1).
- ``densenet121``: no pooling in ``pool4``, block 5's 3x3 convolutions dilated by 2;
  output ``relu``, 1024 channels.

Weights files: Keras 3 ``.weights.h5`` files saved from the ``keras.applications`` model
(with or without its classification top), or legacy Keras HDF5 weight files such as the
official ``*_weights_tf_dim_ordering_tf_kernels_notop.h5`` (matched by layer name, or in
layer order as Keras itself loads them when the names differ).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable

import h5py
import keras
import numpy as np

from dpk.specs.errors import DpkError

__all__ = ["BACKBONES", "BATCH_NORM_MOMENTUM", "build_backbone", "load_backbone_weights"]

BACKBONES = ("resnet50", "mobilenetv2", "densenet121")
"""Backbones DeepLabCut supports."""


def _stock(name: str, alpha: float, input_shape, include_top: bool = False) -> keras.Model:
    """Keras' application model, randomly initialised (no download ever)."""
    kwargs = {"include_top": include_top, "weights": None}
    if not include_top:
        kwargs["input_shape"] = input_shape
    if name == "resnet50":
        return keras.applications.ResNet50(**kwargs)
    if name == "mobilenetv2":
        return keras.applications.MobileNetV2(alpha=alpha, **kwargs)
    if name == "densenet121":
        return keras.applications.DenseNet121(**kwargs)
    raise ValueError(f"unknown backbone {name!r}: use one of {', '.join(BACKBONES)}")


# Per backbone: which layers change to reach output stride 16, and which are bypassed.
_RESNET_UNSTRIDED = {"conv5_block1_0_conv", "conv5_block1_1_conv"}
_RESNET_DILATED = re.compile(r"conv5_block\d+_2_conv")
_MOBILENET_DILATED = re.compile(r"block_1[3-6]_depthwise")
_DENSENET_DILATED = re.compile(r"conv5_block\d+_2_conv")
_BYPASSED = {"mobilenetv2": {"block_13_pad"}, "densenet121": {"pool4_pool"}}


BATCH_NORM_MOMENTUM = 0.99
"""Upper bound on the backbones' batch-norm momentum. Keras' MobileNetV2 uses 0.999, so
its moving statistics need thousands of steps to leave their initial values; trained from
scratch for a few thousand steps, its inference-mode outputs stayed far from its training
outputs (fly crops: training loss falling for 7 epochs, validation error 84 px)."""


def _stride16_config(name: str, layer_name: str, config: dict) -> dict:
    if "momentum" in config and config["momentum"] > BATCH_NORM_MOMENTUM:
        config["momentum"] = BATCH_NORM_MOMENTUM
    if name == "resnet50":
        if layer_name in _RESNET_UNSTRIDED:
            config["strides"] = (1, 1)
        if _RESNET_DILATED.fullmatch(layer_name):
            config["dilation_rate"] = (2, 2)
    elif name == "mobilenetv2" and _MOBILENET_DILATED.fullmatch(layer_name):
        config.update(strides=(1, 1), padding="same", dilation_rate=(2, 2))
    elif name == "densenet121" and _DENSENET_DILATED.fullmatch(layer_name):
        config["dilation_rate"] = (2, 2)
    return config


def build_backbone(name: str, input_shape: tuple[int, int, int], alpha: float = 1.0) -> keras.Model:
    """The backbone at output stride 16 as a nested model named ``backbone``.

    Batch-norm momentum is capped at :data:`BATCH_NORM_MOMENTUM`.

    Args:
        name: ``resnet50``, ``mobilenetv2`` or ``densenet121``.
        input_shape: ``(H, W, 3)`` with ``H`` and ``W`` multiples of 16.
        alpha: MobileNetV2 width multiplier.
    """
    stock = _stock(name, alpha, input_shape)
    bypassed = _BYPASSED.get(name, set())

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = _stride16_config(name, layer.name, layer.get_config())
        return layer.__class__.from_config(config)

    def call(layer: keras.layers.Layer, *args, **kwargs):
        return args[0] if layer.name in bypassed else layer(*args, **kwargs)

    rebuilt = keras.models.clone_model(stock, clone_function=clone, call_function=call)
    return keras.Model(rebuilt.inputs[0], rebuilt.outputs[0], name="backbone")


def _weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if layer.weights]


def _read_legacy_h5(handle: h5py.File) -> list[tuple[str, list[np.ndarray]]]:
    """(layer name, weights) in file order from a legacy Keras HDF5 weights file."""
    group = handle.get("model_weights", handle)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]
    layers = []
    for name in names:
        weight_names = group[name].attrs.get("weight_names", [])
        arrays = [
            np.asarray(group[name][w.decode() if isinstance(w, bytes) else str(w)])
            for w in weight_names
        ]
        if arrays:
            layers.append((name, arrays))
    return layers


def _match_legacy(
    stock: keras.Model, stored: list[tuple[str, list[np.ndarray]]]
) -> dict[str, list[np.ndarray]]:
    """Map stored weights onto the stock model's layers: by name, else in layer order."""
    targets = _weighted_layers(stock)
    by_name = dict(stored)

    def fits(layer, arrays) -> bool:
        return arrays is not None and [tuple(w.shape) for w in layer.weights] == [
            a.shape for a in arrays
        ]

    if all(fits(layer, by_name.get(layer.name)) for layer in targets):
        return {layer.name: by_name[layer.name] for layer in targets}
    ordered = [arrays for _, arrays in stored]
    if len(ordered) >= len(targets) and all(
        fits(layer, arrays) for layer, arrays in zip(targets, ordered)
    ):
        return {layer.name: arrays for layer, arrays in zip(targets, ordered)}
    missing = [layer.name for layer in targets if not fits(layer, by_name.get(layer.name))]
    raise ValueError(
        f"{len(missing)} of {len(targets)} layers are missing or have other shapes "
        f"(first: {', '.join(missing[:3])})"
    )


def _load_keras3(stock_factory: Callable[[bool], keras.Model], path: str) -> dict:
    """Load a Keras 3 ``.weights.h5`` file into the stock model (without, then with its
    classification top) and return the weights by layer name."""
    errors = []
    for include_top in (False, True):
        stock = stock_factory(include_top)
        try:
            with warnings.catch_warnings():
                # A failed attempt warns about every layer it skipped; we raise instead.
                warnings.simplefilter("ignore")
                stock.load_weights(path)
        except ValueError as error:
            errors.append(str(error).splitlines()[0])
            continue
        return {layer.name: layer.get_weights() for layer in _weighted_layers(stock)}
    raise ValueError(errors[0])


def load_backbone_weights(backbone: keras.Model, name: str, path: str, alpha: float = 1.0) -> None:
    """Load ImageNet weights for ``name`` from the local file ``path`` into ``backbone``
    (a model from :func:`build_backbone`).

    Raises:
        DpkError: The file is missing, is not a Keras weights file, or holds the weights
            of another network.
    """
    label = name if name != "mobilenetv2" else f"{name} (alpha {alpha})"
    hint = (
        f"give a Keras ImageNet weights file for keras.applications {label} "
        "(.weights.h5 saved with model.save_weights, or Keras' *_notop.h5 file), "
        "or set architecture.weights to null for random initialisation"
    )
    if not os.path.isfile(path):
        raise DpkError(f"backbone weights file {path} not found: {hint}")
    try:
        with h5py.File(path, "r") as handle:
            is_keras3 = "layers" in handle and "layer_names" not in handle.attrs
            legacy = None if is_keras3 else _read_legacy_h5(handle)
    except (OSError, KeyError) as error:
        raise DpkError(f"{path} is not a Keras HDF5 weights file ({error}): {hint}") from None
    input_shape = tuple(backbone.input.shape[1:])

    def stock_factory(include_top: bool) -> keras.Model:
        return _stock(name, alpha, input_shape, include_top=include_top)

    try:
        if is_keras3:
            if not path.endswith(".weights.h5"):
                raise DpkError(
                    f"{path} is a Keras 3 weights file, which Keras reads only with the "
                    "extension .weights.h5: rename it"
                )
            weights = _load_keras3(stock_factory, path)
        else:
            assert legacy is not None  # read above for every legacy file
            weights = _match_legacy(stock_factory(False), legacy)
    except ValueError as error:
        raise DpkError(f"{path} does not hold {label} weights: {error}; {hint}") from None
    for layer in _weighted_layers(backbone):
        layer.set_weights(weights[layer.name])
