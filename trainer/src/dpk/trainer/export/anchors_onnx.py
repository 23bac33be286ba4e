"""The anchor model's peak finder as ONNX nodes: several animals per map.

The twin of :func:`dpk.trainer.anchors.find_anchors`, operation for operation: local
maxima by MaxPool equality, the threshold, the strongest ``max_animals`` by TopK, and the
same one-pass subpixel refinement as the keypoint peak finder (its nodes are reused from
:mod:`dpk.trainer.export.peaks_onnx`). Output ``anchors``: float32 (N, A, 3), x, y in
input pixels and the map value; NaN rows for absent animals.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from dpk.trainer.anchors import MASKED
from dpk.trainer.export.peaks_onnx import (
    PEAK_OPSET,
    _Builder,
    attach_head,
    maps_output_info,
    pad_flat,
    refine_nodes,
)
from dpk.trainer.peaks import window_radius

__all__ = ["ANCHORS_OUTPUT", "anchor_finder_model", "append_anchor_finder"]

ANCHORS_OUTPUT = "anchors"
"""Name of the anchor model's output."""


def _anchor_nodes(
    b: _Builder,
    maps: str,
    h: int,
    w: int,
    *,
    stride: int,
    sigma_map: float,
    max_animals: int,
    threshold: float,
    radius: int,
    output: str,
) -> None:
    a = int(max_animals)
    anchor_map = b.op(
        "Slice",
        [
            maps,
            b.const(np.array([0], np.int64)),
            b.const(np.array([1], np.int64)),
            b.const(np.array([3], np.int64)),
        ],
        "anchor_map",
    )
    cube = b.op("Transpose", [anchor_map], "cube", perm=[0, 3, 1, 2])  # (N, 1, h, w)
    side = 2 * radius + 1
    pooled = b.op(
        "MaxPool",
        [cube],
        "pooled",
        kernel_shape=[side, side],
        pads=[radius, radius, radius, radius],
        strides=[1, 1],
    )
    floor = b.const(np.float32(threshold), "threshold")
    keep = b.op("And", [b.op("Equal", [cube, pooled]), b.op("GreaterOrEqual", [cube, floor])])
    masked = b.op("Where", [keep, cube, b.const(MASKED, "masked")], "candidates")
    flat = b.op("Reshape", [masked, b.const(np.array([0, h * w], np.int64))], "flat")
    value, index = b.op(
        "TopK", [flat, b.const(np.array([a], np.int64), "k")], "top", n_out=2, axis=1
    )  # (N, A) each, strongest first, ties by index
    column = b.const(np.array([0, a, 1], np.int64), "col_shape")
    value = b.op("Reshape", [value, column], "value")  # (N, A, 1)
    index = b.op("Reshape", [index, column], "index")
    width_i = b.const(np.array(w, np.int64), "w")
    row = b.op("Div", [index, width_i], "row")
    col = b.op("Mod", [index, width_i], "col", fmod=0)
    r = window_radius(sigma_map)
    flat_padded = pad_flat(b, cube, 1, h, w, r)  # (N, 1, L)
    copies = b.op("Expand", [flat_padded, b.const(np.array([1, a, 1], np.int64))], "copies")
    x, y = refine_nodes(b, copies, row, col, a, w, stride, sigma_map)
    found = b.op("Concat", [x, y, value], "found", axis=2)  # (N, A, 3)
    present = b.op("GreaterOrEqual", [value, floor], "present")
    nan = b.const(np.float32(np.nan), "nan")
    b.nodes.append(
        helper.make_node("Where", [present, found, nan], [output], name=b.name("anchors"))
    )


def append_anchor_finder(
    model: onnx.ModelProto,
    maps_output: str,
    *,
    stride: int,
    sigma: float,
    max_animals: int,
    threshold: float,
    radius: int,
    anchors_output: str = ANCHORS_OUTPUT,
    keep_maps: bool = True,
) -> onnx.ModelProto:
    """Add the anchor finder after ``maps_output`` (N, h, w, M) of ``model``, in place.

    Args:
        model: Model whose graph has ``maps_output`` with static h and w.
        maps_output: Name of the maps output (channel 0 is the anchor map).
        stride: Output stride in input pixels.
        sigma: Target sigma in input pixels.
        max_animals: Rows per frame (A).
        threshold: Smallest map value of an anchor.
        radius: Half-side of the local-maximum window in map pixels.
        anchors_output: Name of the new (N, A, 3) output.
        keep_maps: Keep the maps as a second output.

    Returns:
        The same model, for chaining.
    """
    graph = model.graph
    maps_info = maps_output_info(graph, maps_output)
    dims = maps_info.type.tensor_type.shape.dim
    h, w = dims[1].dim_value, dims[2].dim_value
    if max_animals > h * w:
        raise ValueError(f"max_animals ({max_animals}) is more than the {h}x{w} map's pixels")
    b = _Builder("dpk_anchors/")
    _anchor_nodes(
        b,
        maps_output,
        h,
        w,
        stride=stride,
        sigma_map=sigma / stride,
        max_animals=max_animals,
        threshold=threshold,
        radius=radius,
        output=anchors_output,
    )
    attach_head(graph, b, maps_info, anchors_output, max_animals, keep_maps)
    return model


def anchor_finder_model(
    map_height: int, map_width: int, n_maps: int = 1, **settings
) -> onnx.ModelProto:
    """A stand-alone model ``maps`` (N, h, w, M) -> ``anchors`` (N, A, 3), for tests and
    benchmarks; ``settings`` are :func:`append_anchor_finder`'s keyword arguments."""
    maps = helper.make_tensor_value_info(
        "maps", TensorProto.FLOAT, ["N", map_height, map_width, n_maps]
    )
    graph = helper.make_graph([], "dpk_anchor_finder", [maps], [maps])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", PEAK_OPSET)])
    model.ir_version = 8
    append_anchor_finder(model, "maps", keep_maps=False, **settings)
    onnx.checker.check_model(model, full_check=True)
    return model
