"""The subpixel peak finder as ONNX nodes, appended to an exported network.

Exactly the algorithm of :mod:`dpk.trainer.peaks` (argmax, a zero-padded window,
Gaussian-weighted row and column profiles, a weighted log-parabola fit in closed form, a
second pass centred on the first estimate), written with real-valued standard operators
only (ArgMax, GatherElements, MatMul, Log, Round and arithmetic), so any ONNX runtime
can run it. Maps may have any size and the stride any power of two.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dpk.trainer.peaks import EPSILON, PASSES, max_offset, profile_weights, window_radius

__all__ = ["PEAK_OPSET", "append_peak_finder", "peak_finder_model"]

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


def _fit_offsets(b: _Builder, profile: str, radius: int, limit: float) -> str:
    """Nodes computing the clipped log-parabola vertex of (N, K, 2R+1) profiles."""
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    powers = (t[:, None] ** np.arange(5, dtype=np.float32)[None, :]).astype(np.float32)
    p = b.op("Max", [profile, b.const(np.float32(EPSILON), "eps")], "p")
    w = b.op("Mul", [p, p], "w")
    y = b.op("Log", [p], "logp")
    moments = b.op("MatMul", [w, b.const(powers, "powers")], "moments")  # (N, K, 5)
    wy = b.op("Mul", [w, y], "wy")
    rhs = b.op("MatMul", [wy, b.const(powers[:, :3], "powers3")], "rhs")  # (N, K, 3)
    m = b.op("Split", [moments, b.const(np.ones(5, np.int64), "split5")], "m", n_out=5, axis=2)
    r = b.op("Split", [rhs, b.const(np.ones(3, np.int64), "split3")], "r", n_out=3, axis=2)
    m0, m1, m2, m3, m4 = m
    y0, y1, y2 = r

    def mul(x, z):
        return b.op("Mul", [x, z])

    def sub(x, z):
        return b.op("Sub", [x, z])

    def add(x, z):
        return b.op("Add", [x, z])

    # det_b = m0 (y1 m4 - m3 y2) - y0 (m1 m4 - m3 m2) + m2 (m1 y2 - y1 m2)
    det_b = add(
        sub(mul(m0, sub(mul(y1, m4), mul(m3, y2))), mul(y0, sub(mul(m1, m4), mul(m3, m2)))),
        mul(m2, sub(mul(m1, y2), mul(y1, m2))),
    )
    # det_c = m0 (m2 y2 - y1 m3) - m1 (m1 y2 - y1 m2) + y0 (m1 m3 - m2 m2)
    det_c = add(
        sub(mul(m0, sub(mul(m2, y2), mul(y1, m3))), mul(m1, sub(mul(m1, y2), mul(y1, m2)))),
        mul(y0, sub(mul(m1, m3), mul(m2, m2))),
    )
    zero = b.const(np.float32(0.0), "zero")
    peaked = b.op("Less", [det_c, zero], "peaked")
    safe = b.op("Where", [peaked, det_c, b.const(np.float32(-1.0), "minus_one")], "safe")
    vertex = b.op("Div", [b.op("Neg", [det_b]), mul(safe, b.const(np.float32(2.0), "two"))])
    offset = b.op("Where", [peaked, vertex, zero], "offset")
    lo, hi = b.const(np.float32(-limit), "lo"), b.const(np.float32(limit), "hi")
    return b.op("Clip", [offset, lo, hi], "clipped")  # (N, K, 1)


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
    limit = max_offset(r)
    hp, wp = h + 2 * r, w + 2 * r
    side = 2 * r + 1
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
    pads = np.array([0, 0, r, r, 0, 0, r, r], np.int64)
    padded = b.op("Pad", [cube, b.const(pads, "pads"), b.const(np.float32(0.0), "padv")], "pad")
    flat_padded = b.op("Reshape", [padded, b.const(np.array([0, k, hp * wp], np.int64))], "flatp")
    grid = (np.arange(side)[:, None] * wp + np.arange(side)[None, :]).reshape(1, 1, -1)
    grid_name = b.const(grid.astype(np.int64), "grid")
    weights = profile_weights(r, sigma_map)
    column_weights = b.const(
        weights.reshape(side, 1), "wcol"
    )  # sums rows: (.., side, side) @ (side, 1)
    window_shape = b.const(np.array([0, k, side, side], np.int64), "wshape")
    squeeze_last = b.const(np.array([3], np.int64), "axis3")
    wp_i = b.const(np.array(wp, np.int64), "wp")

    def fit(row_i: str, col_i: str) -> tuple[str, str]:
        """Offsets (N, K, 1) of the window whose top-left padded pixel is (row_i, col_i)."""
        base = b.op("Add", [b.op("Mul", [row_i, wp_i]), col_i], "base")
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
        return _fit_offsets(b, col_profile, r, limit), _fit_offsets(b, row_profile, r, limit)

    def as_float(value: str) -> str:
        return b.op("Cast", [value], to=TensorProto.FLOAT)

    x = as_float(col)
    y = as_float(row)
    zero_f = b.const(np.float32(0.0), "zf")
    max_col = b.const(np.float32(w - 1), "maxc")
    max_row = b.const(np.float32(h - 1), "maxr")
    for _ in range(PASSES):
        col_i = b.op(
            "Cast", [b.op("Clip", [b.op("Round", [x]), zero_f, max_col])], to=TensorProto.INT64
        )
        row_i = b.op(
            "Cast", [b.op("Clip", [b.op("Round", [y]), zero_f, max_row])], to=TensorProto.INT64
        )
        dx, dy = fit(row_i, col_i)
        x = b.op("Add", [as_float(col_i), dx], "x")
        y = b.op("Add", [as_float(row_i), dy], "y")
    scale = b.const(np.float32(stride), "stride")
    shift = b.const(np.float32((stride - 1) / 2.0), "shift")

    def to_input(value: str) -> str:
        return b.op("Add", [b.op("Mul", [value, scale]), shift])

    b.nodes.append(
        helper.make_node(
            "Concat",
            [to_input(x), to_input(y), confidence],
            [output],
            name=b.name("keypoints"),
            axis=2,
        )
    )


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
    found = [o for o in graph.output if o.name == maps_output]
    if not found:
        raise ValueError(f"the graph has no output {maps_output!r}")
    dims = found[0].type.tensor_type.shape.dim
    h, w = dims[1].dim_value, dims[2].dim_value
    if not (h and w):
        raise ValueError("the maps output needs a static height and width")
    b = _Builder("dpk_peaks/")
    _peak_nodes(b, maps_output, h, w, n_keypoints, stride, sigma / stride, keypoints_output)
    graph.node.extend(b.nodes)
    graph.initializer.extend(b.initializers)
    keypoints_info = helper.make_tensor_value_info(
        keypoints_output, TensorProto.FLOAT, [dims[0].dim_param or "N", n_keypoints, 3]
    )
    outputs = [keypoints_info] + ([found[0]] if keep_maps else [])
    del graph.output[:]
    graph.output.extend(outputs)
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
