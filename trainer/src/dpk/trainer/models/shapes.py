"""Input padding and output map shapes of each architecture, computed from the spec alone
(no model is built)."""

from __future__ import annotations

from dpk.specs import LEAP, DeepLabCut, ModelSpec, StackedDenseNet, StackedHourglass, UNet
from dpk.specs.model import resolve_transitions, unet_transitions

__all__ = [
    "DEEPLABCUT_HALVINGS",
    "LEAP_HALVINGS",
    "n_halvings",
    "output_shape",
    "padded_input_shape",
    "padded_output_shape",
]

DEEPLABCUT_HALVINGS = 4
"""DeepLabCut backbones work at output stride 16."""
LEAP_HALVINGS = 2
"""LEAP pools twice."""


def n_halvings(spec: ModelSpec) -> int:
    """How many times the architecture halves the image (its deepest stride is ``2**n``).

    Stacked DenseNet and Stacked Hourglass: ``architecture.n_transitions`` resolved for the
    input size; DeepLabCut: 4; LEAP: 2.
    """
    arch, pre = spec.architecture, spec.preprocessing
    if isinstance(arch, StackedDenseNet | StackedHourglass):
        return resolve_transitions(arch.n_transitions, pre.height, pre.width)
    if isinstance(arch, DeepLabCut):
        return DEEPLABCUT_HALVINGS
    if isinstance(arch, LEAP):
        return LEAP_HALVINGS
    if isinstance(arch, UNet):
        return unet_transitions(arch.n_transitions, pre.height, pre.width)
    raise TypeError(f"unknown architecture {type(arch).__name__}")


def _round_up(side: int, multiple: int) -> int:
    return -(-side // multiple) * multiple


def padded_input_shape(spec: ModelSpec) -> tuple[int, int]:
    """``(Hp, Wp)``: the input sides rounded up to the multiple of ``2**n_halvings`` the
    network needs. The model pads the bottom and right of the image with zeros to it."""
    multiple = 2 ** n_halvings(spec)
    pre = spec.preprocessing
    return _round_up(pre.height, multiple), _round_up(pre.width, multiple)


def padded_output_shape(spec: ModelSpec) -> tuple[int, int]:
    """``(Hp / s, Wp / s)``: the maps the network computes on the padded input."""
    hp, wp = padded_input_shape(spec)
    s = spec.targets.stride
    return hp // s, wp // s


def output_shape(spec: ModelSpec) -> tuple[int, int, int]:
    """``(ceil(H / s), ceil(W / s), M)``: the shape of every output map (without the batch
    axis), with ``s = 2**targets.downsample_factor`` and ``M = spec.n_output_maps``.

    The network works on the padded input; its maps are cropped back to the map pixels
    that cover the image, so no peak can be found (and no loss is spent) in the padding.
    """
    pre, s = spec.preprocessing, spec.targets.stride
    return -(-pre.height // s), -(-pre.width // s), spec.n_output_maps
