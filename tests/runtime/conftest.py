"""Small, real dpk model files built with onnx.helper, and synthetic videos, for runtime tests.

The fake model finds the brightest pixel: every keypoint is the (x, y) of the maximum of
the channel-mean image (first maximum in row-major order), with confidence max / 255
scaled by (k + 1) / K for keypoint k. A test draws a bright dot in a frame of any size
and checks that the runtime maps it back to the frame's pixels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from dpk.specs import ModelCard, ModelSpec, Preprocessing, Skeleton

NAMES = ("nose", "earL", "earR", "tail")
PARENTS = (None, "nose", "nose", "nose")
SWAPS = (None, "earR", "earL", None)


def make_spec(
    height: int = 48,
    width: int = 64,
    channels: int = 1,
    color_order: str = "gray",
    fit: str = "letterbox",
    pad_value: int = 0,
    names: Sequence[str] = NAMES,
    parents: Sequence[str | None] | None = PARENTS,
    swaps: Sequence[str | None] | None = SWAPS,
) -> ModelSpec:
    """A valid ModelSpec for the fake model."""
    skeleton = Skeleton(
        names=list(names),
        parents=list(parents) if parents is not None else None,
        swaps=list(swaps) if swaps is not None else None,
    )
    pre = Preprocessing(
        height=height,
        width=width,
        channels=channels,
        color_order=color_order,
        fit=fit,
        pad_value=pad_value,
    )
    return ModelSpec(name="fake", skeleton=skeleton, preprocessing=pre)


def brightest_pixel_graph(
    spec: ModelSpec, with_maps: bool = False, heavy: int = 0, input_dtype: int = TensorProto.UINT8
) -> onnx.GraphProto:
    """The graph: image uint8 (N, H, W, C) -> keypoints float32 (N, K, 3) [, maps].

    Args:
        spec: Gives H, W, C and K.
        with_maps: Also output ``maps`` (N, H, W, 1), the channel mean / 255.
        heavy: Add this many 3x3 convolutions (16 channels) whose result is added times
            zero to the confidence: a model with real cost, for throughput measurements.
        input_dtype: Element type of the input (uint8 for a valid model).
    """
    pre = spec.preprocessing
    h, w, c, k = pre.height, pre.width, pre.channels, spec.n_keypoints
    inits = [
        numpy_helper.from_array(np.array([-1, h * w], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array(w, np.int64), "width"),
        numpy_helper.from_array(np.array(255.0, np.float32), "v255"),
        numpy_helper.from_array(np.array([1, k, 1], np.int64), "tile"),
        numpy_helper.from_array(
            np.array([[[1.0, 1.0, (i + 1) / k] for i in range(k)]], np.float32), "conf_scale"
        ),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([3], np.int64), "axis3"),
    ]
    nodes = [
        helper.make_node("Cast", ["image"], ["imagef"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["imagef", "axis3"], ["mean"], keepdims=0),
        helper.make_node("Reshape", ["mean", "flat_shape"], ["flat"]),
        helper.make_node("ArgMax", ["flat"], ["idx"], axis=1, keepdims=1),
        helper.make_node("ReduceMax", ["flat", "axis1"], ["peak"], keepdims=1),
        helper.make_node("Mod", ["idx", "width"], ["xi"]),
        helper.make_node("Div", ["idx", "width"], ["yi"]),
        helper.make_node("Cast", ["xi"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["yi"], ["y"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["peak", "v255"], ["conf0"]),
    ]
    conf = "conf0"
    if heavy:
        chans = 16
        rng = np.random.default_rng(0)
        prev, prev_c = "nchw", c
        nodes.append(helper.make_node("Transpose", ["imagef"], ["nchw"], perm=[0, 3, 1, 2]))
        for i in range(heavy):
            weight = rng.normal(0, 0.1, (chans, prev_c, 3, 3)).astype(np.float32)
            inits.append(numpy_helper.from_array(weight, f"conv_w{i}"))
            nodes.append(
                helper.make_node("Conv", [prev, f"conv_w{i}"], [f"conv{i}"], pads=[1, 1, 1, 1])
            )
            nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
            prev, prev_c = f"relu{i}", chans
        inits.append(numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes123"))
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero"))
        nodes += [
            helper.make_node("ReduceMean", [prev, "axes123"], ["feat"], keepdims=0),
            helper.make_node("Unsqueeze", ["feat", "axis1"], ["feat1"]),
            helper.make_node("Mul", ["feat1", "zero"], ["feat0"]),
            helper.make_node("Add", ["conf0", "feat0"], ["conf_heavy"]),
        ]
        conf = "conf_heavy"
    nodes += [
        helper.make_node("Concat", ["x", "y", conf], ["xyc"], axis=1),
        helper.make_node("Unsqueeze", ["xyc", "axis1"], ["xyc1"]),
        helper.make_node("Tile", ["xyc1", "tile"], ["tiled"]),
        helper.make_node("Mul", ["tiled", "conf_scale"], ["keypoints"]),
    ]
    outputs = [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["N", k, 3])]
    if with_maps:
        nodes += [
            helper.make_node("Unsqueeze", ["mean", "axis3"], ["mean1"]),
            helper.make_node("Div", ["mean1", "v255"], ["maps"]),
        ]
        outputs.append(helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", h, w, 1]))
    if input_dtype != TensorProto.UINT8:
        nodes[0] = helper.make_node("Cast", ["image"], ["imagef"], to=TensorProto.FLOAT)
    inputs = [helper.make_tensor_value_info("image", input_dtype, ["N", h, w, c])]
    return helper.make_graph(nodes, "brightest_pixel", inputs, outputs, inits)


def make_model_bytes(
    spec: ModelSpec | None = None,
    *,
    with_maps: bool = False,
    heavy: int = 0,
    flops: int | None = 123_456,
    card: ModelCard | None = None,
    metadata: dict[str, str] | None = None,
    drop: Sequence[str] = (),
    input_dtype: int = TensorProto.UINT8,
) -> bytes:
    """A dpk model file (bytes) with metadata per docs/model-file.md.

    Args:
        spec: The model spec (default :func:`make_spec`).
        with_maps: Also output ``maps``.
        heavy: Extra convolutions (see :func:`brightest_pixel_graph`).
        flops: Stored as ``dpk.flops`` (None stores an empty value).
        card: Stored as ``dpk.card`` (default: an empty card ``{}``).
        metadata: Entries that replace or add metadata.
        drop: Metadata keys to leave out (e.g. ``dpk.spec``).
        input_dtype: Input element type (uint8 for a valid model).
    """
    spec = spec or make_spec()
    graph = brightest_pixel_graph(spec, with_maps=with_maps, heavy=heavy, input_dtype=input_dtype)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    outputs = [o.name for o in graph.output]
    entries = {
        "dpk.format": "1",
        "dpk.spec": spec.model_dump_json(),
        "dpk.version": "0.1.0",
        "dpk.card": card.model_dump_json() if card is not None else "{}",
        "dpk.flops": str(flops) if flops else "",
        "dpk.outputs": json.dumps(outputs),
    }
    entries.update(metadata or {})
    for key, value in entries.items():
        if key not in drop:
            model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_model(path: Path, spec: ModelSpec | None = None, **kwargs) -> Path:
    """Write :func:`make_model_bytes` to ``path``."""
    path.write_bytes(make_model_bytes(spec, **kwargs))
    return path


def dot_frame(
    height: int, width: int, x: int, y: int, channels: int = 1, value: int = 255
) -> np.ndarray:
    """A black uint8 frame (H, W, C) with one bright pixel at (x, y)."""
    frame = np.zeros((height, width, channels), np.uint8)
    frame[y, x] = value
    return frame


def dot_track(n: int, width: int, height: int) -> np.ndarray:
    """A moving dot's integer (x, y) per frame, well inside the frame."""
    t = np.arange(n)
    x = (width * 0.2 + (width * 0.6) * (t / max(1, n - 1))).round().astype(int)
    y = (height * 0.5 + height * 0.25 * np.sin(t / 3)).round().astype(int)
    return np.stack([x, y], axis=1)


def write_dot_video(
    path: Path, n: int = 30, width: int = 80, height: int = 60, fourcc: str = "MJPG", fps=25.0
) -> np.ndarray:
    """A video of a bright 5x5 blob (brightest at its centre) moving on black; returns the track."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    track = dot_track(n, width, height)
    yy, xx = np.mgrid[0:height, 0:width]
    for x, y in track:
        blob = 255.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.2**2))
        frame = np.repeat(blob.round().astype(np.uint8)[..., None], 3, axis=2)
        writer.write(frame)
    writer.release()
    return track


@pytest.fixture
def model_path(tmp_path) -> Path:
    """A valid gray 48x64 letterbox fake model file with 4 keypoints."""
    return write_model(tmp_path / "fake.onnx")


@pytest.fixture(scope="session")
def dot_video(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 30-frame 80x60 MJPG video of a moving dot, and its track."""
    path = tmp_path_factory.mktemp("video") / "dot.avi"
    track = write_dot_video(path)
    return path, track


def corrupt_mjpeg_frames(source: Path, target: Path, frames: Sequence[int]) -> None:
    """Copy an MJPG .avi, wiping the JPEG data of some frames so that they cannot decode.

    Only the frame's payload is wiped; the AVI chunk headers stay intact, so the container
    still knows where every frame is (a damaged container is another matter).
    """
    data = bytearray(source.read_bytes())
    starts = [i for i in range(8, len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    starts = [i for i in starts if data[i - 8 : i - 6] == b"00" and data[i - 6 : i - 4] == b"dc"]
    for index in frames:
        start = starts[index]
        size = int.from_bytes(data[start - 4 : start], "little")
        data[start : start + size] = bytes(size)
    target.write_bytes(bytes(data))
