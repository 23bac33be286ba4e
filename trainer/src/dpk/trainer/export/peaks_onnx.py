"""The subpixel peak finder as ONNX nodes, appended to an exported network.

Exactly the algorithm of :mod:`dpk.trainer.peaks`, operation for operation (argmax, a
zero-padded window, Gaussian-weighted row and column profiles, the weighted log-parabola
fit as a positive-weighted mean over sample triples, the smooth curvature floor and the
clip; one pass, no rounding), written with real-valued standard operators only (ArgMax,
GatherElements, Gather, MatMul, ReduceMax, ReduceSum, Log and arithmetic), so any ONNX
runtime can run it and gets the numpy twin's peaks to float rounding. Maps may have any
size and the stride any power of two.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dpk.trainer.peaks import (
    EPSILON,
    TINY,
    max_offset,
    min_curvature,
    profile_weights,
    triples,
    window_radius,
)

__all__ = [
    "PEAK_OPSET",
    "append_peak_finder",
    "attach_head",
    "maps_output_info",
    "pad_flat",
    "peak_finder_model",
    "refine_nodes",
]

PEAK_OPSET = 17
"""Opset the nodes are written for (tf2onnx 1.17 exports opsets 13-18)."""


class _Builder:
    """Collects nodes and constants with unique, prefixed names."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, value, hint: str = "const", dtype=None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, n_out: int = 1, **attrs):
        outputs = [self.name(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, name=self.name(op_type), **attrs)
        )
        return outputs[0] if n_out == 1 else outputs


def _fit_offsets(b: _Builder, profile: str, radius: int, limit: float, floor: float) -> str:
    """Nodes computing the clipped log-parabola vertex of (N, K, 2R+1) profiles.

    The same operations in the same order as :func:`dpk.trainer.peaks.fit_offsets`.
    """
    index, v2, alpha, beta = triples(radius)
    p = b.op(
        "Div",
        [
            profile,
            b.op(
                "Max",
                [
                    b.op("ReduceMax", [profile], "top", axes=[2], keepdims=1),
                    b.const(np.float32(TINY), "tiny"),
                ],
            ),
        ],
    )
    p = b.op("Max", [p, b.const(np.float32(EPSILON), "eps")], "p")
    w = b.op("Mul", [p, p], "w")
    y = b.op("Log", [p], "logp")

    def gather(values: str, slot: int) -> str:  # (N, K, T)
        return b.op("Gather", [values, b.const(index[:, slot], "triple")], axis=2)

    def mul(x: str, z: str) -> str:
        return b.op("Mul", [x, z])

    def add(x: str, z: str) -> str:
        return b.op("Add", [x, z])

    wi, wj, wk = (gather(w, s) for s in range(3))
    yi, yj, yk = (gather(y, s) for s in range(3))
    weight = mul(mul(mul(wi, wj), wk), b.const(v2, "v2"))

    def combine(coefficients: np.ndarray, hint: str) -> str:
        c0, c1, c2 = (b.const(np.ascontiguousarray(coefficients[:, s]), hint) for s in range(3))
        return add(add(mul(c0, yi), mul(c1, yj)), mul(c2, yk))

    axes = b.const(np.array([2], np.int64), "axis2")

    def total(value: str) -> str:  # (N, K, 1)
        return b.op("ReduceSum", [value, axes], keepdims=1)

    big_b = total(mul(weight, combine(beta, "beta")))
    big_c = total(mul(weight, combine(alpha, "alpha")))
    curvature = b.op(
        "Max",
        [b.op("Neg", [big_c]), mul(b.const(np.float32(floor), "floor"), total(weight))],
        "curvature",
    )
    vertex = b.op("Div", [big_b, mul(b.const(np.float32(2.0), "two"), curvature)], "vertex")
    lo, hi = b.const(np.float32(-limit), "lo"), b.const(np.float32(limit), "hi")
    return b.op("Clip", [vertex, lo, hi], "clipped")  # (N, K, 1)


def pad_flat(b: _Builder, cube: str, k: int, h: int, w: int, radius: int) -> str:
    """(N, K, h, w) maps -> (N, K, (h + 2R) * (w + 2R)): zero-padded by R and flattened."""
    hp, wp = h + 2 * radius, w + 2 * radius
    pads = np.array([0, 0, radius, radius, 0, 0, radius, radius], np.int64)
    padded = b.op("Pad", [cube, b.const(pads, "pads"), b.const(np.float32(0.0), "padv")], "pad")
    return b.op("Reshape", [padded, b.const(np.array([0, k, hp * wp], np.int64))], "flatp")


def refine_nodes(
    b: _Builder,
    flat_padded: str,
    row: str,
    col: str,
    k: int,
    w: int,
    stride: int,
    sigma_map: float,
) -> tuple[str, str]:
    """Nodes of the one refinement pass around integer peaks: the twin of
    :func:`dpk.trainer.peaks.refine_at`.

    Args:
        b: The builder.
        flat_padded: (N, K, (h + 2R) * (w + 2R)) maps from :func:`pad_flat`.
        row: int64 (N, K, 1) map rows of the peaks.
        col: int64 (N, K, 1) map columns of the peaks.
        k: K, the size of axis 1.
        w: Map width.
        stride: Output stride.
        sigma_map: Target sigma in map pixels.

    Returns:
        ``(x, y)``: float (N, K, 1) tensors in input pixels.
    """
    r = window_radius(sigma_map)
    limit = max_offset(r)
    floor = min_curvature(sigma_map)
    wp = w + 2 * r
    side = 2 * r + 1
    grid = (np.arange(side)[:, None] * wp + np.arange(side)[None, :]).reshape(1, 1, -1)
    grid_name = b.const(grid.astype(np.int64), "grid")
    weights = profile_weights(r, sigma_map)
    column_weights = b.const(
        weights.reshape(side, 1), "wcol"
    )  # sums rows: (.., side, side) @ (side, 1)
    window_shape = b.const(np.array([0, k, side, side], np.int64), "wshape")
    squeeze_last = b.const(np.array([3], np.int64), "axis3")
    wp_i = b.const(np.array(wp, np.int64), "wp")

    base = b.op("Add", [b.op("Mul", [row, wp_i]), col], "base")
    window = b.op(
        "Reshape",
        [
            b.op("GatherElements", [flat_padded, b.op("Add", [base, grid_name])], axis=2),
            window_shape,
        ],
        "window",
    )  # (N, K, side, side): [row, col]
    row_profile = b.op("Squeeze", [b.op("MatMul", [window, column_weights]), squeeze_last])
    transposed = b.op("Transpose", [window], perm=[0, 1, 3, 2])
    col_profile = b.op("Squeeze", [b.op("MatMul", [transposed, column_weights]), squeeze_last])
    dx = _fit_offsets(b, col_profile, r, limit, floor)
    dy = _fit_offsets(b, row_profile, r, limit, floor)

    def as_float(value: str) -> str:
        return b.op("Cast", [value], to=TensorProto.FLOAT)

    x = b.op("Add", [as_float(col), dx], "x")
    y = b.op("Add", [as_float(row), dy], "y")
    scale = b.const(np.float32(stride), "stride")
    shift = b.const(np.float32((stride - 1) / 2.0), "shift")

    def to_input(value: str) -> str:
        return b.op("Add", [b.op("Mul", [value, scale]), shift])

    return to_input(x), to_input(y)


def _peak_nodes(
    b: _Builder,
    maps: str,
    map_height: int,
    map_width: int,
    n_keypoints: int,
    stride: int,
    sigma_map: float,
    output: str,
) -> None:
    h, w, k = map_height, map_width, n_keypoints
    r = window_radius(sigma_map)
    keypoint_maps = b.op(
        "Slice",
        [
            maps,
            b.const(np.array([0], np.int64)),
            b.const(np.array([k], np.int64)),
            b.const(np.array([3], np.int64)),
        ],
        "keypoint_maps",
    )
    cube = b.op("Transpose", [keypoint_maps], "cube", perm=[0, 3, 1, 2])  # (N, K, h, w)
    flat = b.op("Reshape", [cube, b.const(np.array([0, k, h * w], np.int64))], "flat")
    index = b.op("ArgMax", [flat], "index", axis=2, keepdims=1)  # (N, K, 1) int64
    confidence = b.op("GatherElements", [flat, index], "confidence", axis=2)  # (N, K, 1)
    width_i = b.const(np.array(w, np.int64), "w")
    row = b.op("Div", [index, width_i], "row")
    col = b.op("Mod", [index, width_i], "col", fmod=0)
    flat_padded = pad_flat(b, cube, k, h, w, r)
    x, y = refine_nodes(b, flat_padded, row, col, k, w, stride, sigma_map)
    b.nodes.append(
        helper.make_node("Concat", [x, y, confidence], [output], name=b.name("keypoints"), axis=2)
    )


def maps_output_info(graph: onnx.GraphProto, maps_output: str) -> onnx.ValueInfoProto:
    """The output ``maps_output`` of ``graph``, checked to have a static height and width
    (dims 1 and 2).

    Raises:
        ValueError: No such output, or its height or width is dynamic.
    """
    found = [o for o in graph.output if o.name == maps_output]
    if not found:
        raise ValueError(f"the graph has no output {maps_output!r}")
    dims = found[0].type.tensor_type.shape.dim
    if not (dims[1].dim_value and dims[2].dim_value):
        raise ValueError("the maps output needs a static height and width")
    return found[0]


def attach_head(
    graph: onnx.GraphProto,
    b: _Builder,
    maps_info: onnx.ValueInfoProto,
    output: str,
    rows: int,
    keep_maps: bool,
) -> None:
    """Add a head's nodes to ``graph`` and make its (N, rows, 3) ``output`` the graph's
    first output, with the maps as the second when ``keep_maps``."""
    graph.node.extend(b.nodes)
    graph.initializer.extend(b.initializers)
    batch = maps_info.type.tensor_type.shape.dim[0].dim_param or "N"
    info = helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, rows, 3])
    outputs = [info] + ([maps_info] if keep_maps else [])
    del graph.output[:]
    graph.output.extend(outputs)


def append_peak_finder(
    model: onnx.ModelProto,
    maps_output: str,
    *,
    n_keypoints: int,
    stride: int,
    sigma: float,
    keypoints_output: str = "keypoints",
    keep_maps: bool = True,
) -> onnx.ModelProto:
    """Add the peak finder after ``maps_output`` (N, h, w, M) of ``model``, in place.

    Args:
        model: Model whose graph has ``maps_output`` with static h, w, M.
        maps_output: Name of the maps output.
        n_keypoints: K, the number of leading keypoint maps.
        stride: Output stride in input pixels.
        sigma: Target sigma in input pixels.
        keypoints_output: Name of the new (N, K, 3) output.
        keep_maps: Keep the maps as a second output.

    Returns:
        The same model, for chaining.
    """
    graph = model.graph
    maps_info = maps_output_info(graph, maps_output)
    dims = maps_info.type.tensor_type.shape.dim
    h, w = dims[1].dim_value, dims[2].dim_value
    b = _Builder("dpk_peaks/")
    _peak_nodes(b, maps_output, h, w, n_keypoints, stride, sigma / stride, keypoints_output)
    attach_head(graph, b, maps_info, keypoints_output, n_keypoints, keep_maps)
    return model


def peak_finder_model(
    map_height: int, map_width: int, n_maps: int, *, n_keypoints: int, stride: int, sigma: float
) -> onnx.ModelProto:
    """A stand-alone model ``maps`` (N, h, w, M) -> ``keypoints`` (N, K, 3), for tests and
    benchmarks of the peak finder alone."""
    maps = helper.make_tensor_value_info(
        "maps", TensorProto.FLOAT, ["N", map_height, map_width, n_maps]
    )
    graph = helper.make_graph([], "dpk_peak_finder", [maps], [maps])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", PEAK_OPSET)])
    model.ir_version = 8
    append_peak_finder(
        model, "maps", n_keypoints=n_keypoints, stride=stride, sigma=sigma, keep_maps=False
    )
    onnx.checker.check_model(model, full_check=True)
    return model
