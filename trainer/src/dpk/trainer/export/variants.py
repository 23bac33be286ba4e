"""Smaller and faster CPU variants of an exported model: float16 weights and int8 quantisation.

Both keep the uint8 input, the float32 outputs and the peak finder in float32; only the
network changes. Each variant is measured against the float32 file on held-out frames.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

from dpk.runtime.model_file import META_PRECISION, META_SPEC
from dpk.specs import DpkError
from dpk.specs.files import atomic_output

__all__ = [
    "VARIANT_SUFFIXES",
    "VariantReport",
    "compare_models",
    "export_paths",
    "run_keypoints",
    "to_float16",
    "to_int8",
    "variant_path",
]

Variant = Literal["fp16", "int8"]
VARIANT_SUFFIXES: dict[str, str] = {"fp16": ".fp16.onnx", "int8": ".int8.onnx"}
"""The suffix of each variant's file, written beside the float32 file."""


def variant_path(output: str | Path, variant: Variant) -> Path:
    """Where the ``variant`` copy of the model file ``output`` goes: ``NAME.fp16.onnx`` or
    ``NAME.int8.onnx`` beside ``NAME.onnx``."""
    return Path(output).with_suffix(VARIANT_SUFFIXES[variant])


def export_paths(
    output: str | Path, *, precision: str = "fp32", quantize: str | None = None
) -> list[Path]:
    """Every file an export writes: ``output`` (float32) first, then the variants asked for
    (``precision="fp16"``, ``quantize="int8"``)."""
    paths = [Path(output)]
    if precision == "fp16":
        paths.append(variant_path(output, "fp16"))
    if quantize == "int8":
        paths.append(variant_path(output, "int8"))
    return paths


_PEAK_PREFIX = "dpk_peaks/"


@dataclass
class VariantReport:
    """How far a variant's keypoints are from the float32 model's (input pixels)."""

    path: Path
    size_bytes: int
    mean_difference_px: float
    p95_difference_px: float
    max_difference_px: float
    error_change_px: float | None = None

    def summary(self) -> str:
        """One line for the terminal."""
        text = (
            f"wrote {self.path} ({self.size_bytes / 1e6:.1f} MB); keypoints differ from float32 by "
            f"{self.mean_difference_px:.3f} px on average (p95 {self.p95_difference_px:.3f}, "
            f"max {self.max_difference_px:.3f})"
        )
        if self.error_change_px is not None:
            text += f"; mean error change on held-out frames {self.error_change_px:+.3f} px"
        return text


def _peak_nodes(model: onnx.ModelProto) -> list[str]:
    return [node.name for node in model.graph.node if node.name.startswith(_PEAK_PREFIX)]


_NORMALISATION_OPS = {"Cast", "Mul", "Add", "Sub", "Div", "Gather"}


def _input_nodes(model: onnx.ModelProto) -> list[str]:
    """The image input's cast and normalisation: the elementwise nodes that follow the input
    up to the first other node. Quantised, their broadcast Mul and Add become
    QLinearMul/QLinearAdd, which onnxruntime runs slower than the float ops (measured at
    batch 32 on 160x160 frames: 28-37 ms per node, against 16 ms for the U-Net's float Mul);
    they gain nothing from int8, as the first convolution's input is quantised anyway."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {i.name for i in model.graph.initializer}
    found: list[str] = []
    frontier = [i.name for i in model.graph.input if i.name not in weights]
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if node.op_type in _NORMALISATION_OPS and node.name not in found:
                found.append(node.name)
                frontier.extend(node.output)
    return found


def run_keypoints(model: bytes | str, images: np.ndarray) -> np.ndarray:
    """The ``keypoints`` output (N, K, 3) of an exported file on ``images``, with
    onnxruntime on the CPU, in batches of 16.

    Args:
        model: The ``.onnx`` file's path (or its bytes).
        images: uint8 (N, H, W, C) at the model's input size.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.concatenate(
        [
            session.run(["keypoints"], {"image": images[i : i + 16]})[0]
            for i in range(0, len(images), 16)
        ]
    )


def compare_models(
    reference: str | Path, variant: str | Path, images: np.ndarray, labels: np.ndarray | None = None
) -> VariantReport:
    """Compare a variant's keypoints with the reference model's on ``images``."""
    a = run_keypoints(str(reference), images)
    b = run_keypoints(str(variant), images)
    diff = np.sqrt(((a[..., :2] - b[..., :2]) ** 2).sum(-1)).ravel()
    change = None
    if labels is not None:
        visible = np.isfinite(labels[..., 0])
        err_a = np.sqrt(((a[..., :2] - labels) ** 2).sum(-1))[visible]
        err_b = np.sqrt(((b[..., :2] - labels) ** 2).sum(-1))[visible]
        change = float(err_b.mean() - err_a.mean())
    path = Path(variant)
    return VariantReport(
        path,
        path.stat().st_size,
        float(diff.mean()),
        float(np.percentile(diff, 95)),
        float(diff.max()),
        change,
    )


def _write(model: onnx.ModelProto, path: Path, source: str | Path) -> None:
    with atomic_output(path, inputs=[source]) as tmp:
        onnx.save(model, str(tmp))


def _network_only(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """A copy of ``model`` without the peak finder: image -> maps. Returns it and the
    original output names."""
    outputs = [o.name for o in model.graph.output]
    network = onnx.ModelProto()
    network.CopyFrom(model)
    graph = network.graph
    kept = [n for n in graph.node if not n.name.startswith(_PEAK_PREFIX)]
    used = {name for n in kept for name in n.input}
    del graph.node[:]
    graph.node.extend(kept)
    initializers = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    maps = [o for o in model.graph.output if o.name == "maps"]
    if not maps:
        maps = [onnx.helper.make_tensor_value_info("maps", onnx.TensorProto.FLOAT, None)]
    del graph.output[:]
    graph.output.extend(maps)
    return network, outputs


def _with_peaks(
    network: onnx.ModelProto, source: onnx.ModelProto, outputs: list[str]
) -> onnx.ModelProto:
    """Append the peak finder described by ``source``'s spec to ``network``."""
    from dpk.specs import ModelSpec
    from dpk.trainer.export.peaks_onnx import append_peak_finder

    meta = {p.key: p.value for p in source.metadata_props}
    spec = ModelSpec.model_validate_json(meta[META_SPEC])
    maps_info = [o for o in source.graph.output if o.name == "maps"]
    del network.graph.output[:]
    if maps_info:
        network.graph.output.extend(maps_info)
    else:  # the maps were not kept: take their shape from the graph's value info
        inferred = onnx.shape_inference.infer_shapes(network)
        info = [v for v in inferred.graph.value_info if v.name == "maps"]
        network.graph.output.extend(info)
    append_peak_finder(
        network,
        "maps",
        n_keypoints=spec.n_keypoints,
        stride=spec.targets.stride,
        sigma=spec.targets.sigma,
        keep_maps="maps" in outputs,
    )
    del network.metadata_props[:]
    network.metadata_props.extend(source.metadata_props)
    return network


def to_float16(source: str | Path, target: str | Path) -> Path:
    """Write a copy of ``source`` whose network runs in float16; the input, the outputs and
    the peak finder stay as they are."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    network, outputs = _network_only(model)
    converted = convert_float_to_float16(network, keep_io_types=True)
    final = _with_peaks(converted, model, outputs)
    final.metadata_props.add(key=META_PRECISION, value="fp16")
    onnx.checker.check_model(final)
    target = Path(target)
    _write(final, target, source)
    return target


class _Frames:
    """onnxruntime calibration reader over uint8 frames."""

    def __init__(self, images: np.ndarray, batch: int = 8):
        self.batches = iter([images[i : i + batch] for i in range(0, len(images), batch)])

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {"image": batch}


def to_int8(source: str | Path, target: str | Path, calibration_images: np.ndarray) -> Path:
    """Write a statically quantised int8 copy of ``source`` (QDQ, per-channel weights),
    calibrated on ``calibration_images`` (training frames)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration_images is None or len(calibration_images) == 0:
        raise DpkError("int8 quantisation needs calibration frames; the run folder has none")
    model = onnx.load(str(source))
    target = Path(target)

    class Reader(_Frames, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        out = Path(tmp) / "int8.onnx"
        prepared_model = onnx.load(str(prepared))
        quantize_static(
            str(prepared),
            str(out),
            Reader(calibration_images),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=_peak_nodes(prepared_model) + _input_nodes(prepared_model),
        )
        quantized = onnx.load(str(out))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(model.metadata_props)
    quantized.metadata_props.add(key=META_PRECISION, value="int8")
    _write(quantized, target, source)
    return target
