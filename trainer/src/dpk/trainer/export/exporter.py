"""Export a trained Keras model to one self-describing ONNX file (docs/model-file.md).

The network is converted with tf2onnx (opset 17), the subpixel peak finder is appended as
ONNX nodes, the spec and card go into ``metadata_props``, and the file is reloaded in
onnxruntime and compared with Keras on real frames before it is moved into place: a
mismatch fails the export and leaves no file behind.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from dpk.specs import DpkError, ModelCard, ModelSpec
from dpk.specs.files import check_writable, write_bytes_atomic
from dpk.trainer.export.peaks_onnx import PEAK_OPSET, append_peak_finder
from dpk.trainer.peaks import find_peaks
from dpk.trainer.version import __version__

__all__ = [
    "EXPORT_TOLERANCE_PX",
    "ExportError",
    "ExportReport",
    "convert_network",
    "export_onnx",
    "keras_keypoints",
]

EXPORT_TOLERANCE_PX = 0.01
"""Largest keypoint difference (input pixels) allowed between ONNX and Keras."""
CONFIDENT = 0.2
"""Keypoints below this confidence have flat maps whose maximum is not a location; the
Keras comparison skips them (the map comparison still covers every pixel)."""
MAP_TOLERANCE = 1e-3
"""Largest map difference allowed, relative to the largest map value (at least 1)."""
MODEL_FORMAT = "1"


class ExportError(DpkError):
    """The export failed; nothing was written."""


@dataclass
class ExportReport:
    """What an export produced and how it was checked."""

    path: Path
    size_bytes: int
    max_keypoint_difference_px: float
    max_confidence_difference: float
    n_check_images: int
    seconds: float
    flops: int | None = None
    outputs: list[str] = field(default_factory=list)
    n_confident_keypoints: int = 0
    max_map_difference: float = 0.0

    def summary(self) -> str:
        """One paragraph for the terminal."""
        return (
            f"wrote {self.path} ({self.size_bytes / 1e6:.1f} MB, outputs: {', '.join(self.outputs)}); "
            f"onnxruntime vs Keras on {self.n_check_images} frames: maps within "
            f"{self.max_map_difference:.1e}, keypoints within {self.max_keypoint_difference_px:.4f} px "
            f"({self.n_confident_keypoints} confident keypoints compared), confidence within "
            f"{self.max_confidence_difference:.5f}"
        )


def _last_output(model, images):
    outputs = model(images, training=False)
    return outputs[-1] if isinstance(outputs, list | tuple) else outputs


def keras_keypoints(model, spec: ModelSpec, images: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Keypoints from the Keras model with the numpy peak finder (the export's reference)."""
    stride = spec.targets.stride
    found = []
    for start in range(0, len(images), batch_size):
        maps = np.asarray(_last_output(model, images[start : start + batch_size]))
        found.append(find_peaks(maps, stride, spec.targets.sigma, spec.n_keypoints))
    return np.concatenate(found)


def convert_network(model, spec: ModelSpec, opset: int = PEAK_OPSET) -> onnx.ModelProto:
    """Convert the Keras network (uint8 image -> last maps) with tf2onnx."""
    import tensorflow as tf
    import tf2onnx

    pre = spec.preprocessing
    signature = [tf.TensorSpec([None, pre.height, pre.width, pre.channels], tf.uint8, name="image")]

    @tf.function(input_signature=signature)
    def network(image):
        return {"maps": _last_output(model, image)}

    proto, _ = tf2onnx.convert.from_function(network, input_signature=signature, opset=opset)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_param = "N"
    return proto


def _metadata(proto: onnx.ModelProto, entries: dict[str, str]) -> None:
    del proto.metadata_props[:]
    for key, value in entries.items():
        proto.metadata_props.add(key=key, value=value)


def export_onnx(
    model,
    spec: ModelSpec,
    path: str | os.PathLike,
    *,
    check_images: np.ndarray,
    card: ModelCard | None = None,
    include_maps: bool = True,
    flops: int | None = None,
    tolerance_px: float = EXPORT_TOLERANCE_PX,
) -> ExportReport:
    """Write ``model`` as one self-describing ONNX file and prove it matches Keras.

    Args:
        model: The trained Keras model (uint8 input ``image``, maps outputs).
        spec: Its model spec (stored in the file).
        path: Destination ``.onnx`` file.
        check_images: uint8 (N, H, W, C) real frames for the comparison.
        card: Model card to store (default: ``spec.card``).
        include_maps: Keep the confidence maps as a second output.
        flops: FLOPs of one forward pass, stored for speed reports.
        tolerance_px: Largest keypoint difference allowed.

    Returns:
        What was written and how well it matched.

    Raises:
        ExportError: The conversion failed, or onnxruntime disagrees with Keras; no file
            is left at ``path``.
    """
    import onnxruntime as ort

    start = time.perf_counter()
    path = Path(path)
    check_writable(path)  # before the slow conversion
    check_images = np.asarray(check_images)
    pre = spec.preprocessing
    if (
        check_images.ndim != 4
        or check_images.shape[1:] != pre.shape
        or check_images.dtype != np.uint8
    ):
        raise ExportError(
            f"check images must be uint8 (N, {pre.height}, {pre.width}, {pre.channels}), "
            f"got {check_images.dtype} {check_images.shape}"
        )
    try:
        proto = convert_network(model, spec)
    except Exception as error:  # tf2onnx raises many types
        raise ExportError(f"tf2onnx could not convert the network: {error}") from error
    append_peak_finder(
        proto,
        "maps",
        n_keypoints=spec.n_keypoints,
        stride=spec.targets.stride,
        sigma=spec.targets.sigma,
        keep_maps=True,
    )
    card = card if card is not None else (spec.card or ModelCard())
    proto.producer_name = "dpk"
    proto.producer_version = __version__
    proto.doc_string = (
        f"dpk pose model {spec.name!r}: {spec.n_keypoints} keypoints ({spec.architecture.type})"
    )
    try:
        onnx.checker.check_model(proto)
        session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
    except Exception as error:
        raise ExportError(f"onnxruntime refuses the exported graph: {error}") from error
    batches = [
        session.run(["keypoints", "maps"], {"image": check_images[i : i + 16]})
        for i in range(0, len(check_images), 16)
    ]
    onnx_keypoints = np.concatenate([b[0] for b in batches])
    onnx_maps = np.concatenate([b[1] for b in batches])
    keras_maps = np.concatenate(
        [
            np.asarray(_last_output(model, check_images[i : i + 16]))
            for i in range(0, len(check_images), 16)
        ]
    )
    map_diff = float(np.abs(onnx_maps - keras_maps).max())
    if not np.isfinite(map_diff) or map_diff > MAP_TOLERANCE * max(
        1.0, float(np.abs(keras_maps).max())
    ):
        raise ExportError(
            f"the converted network's maps differ from Keras by {map_diff:.2g}; the file was not "
            "written. This is a bug in dpk's exporter: please report it with the spec"
        )
    stride, sigma = spec.targets.stride, spec.targets.sigma
    in_graph = find_peaks(onnx_maps, stride, sigma, spec.n_keypoints)
    graph_diff = float(np.abs(onnx_keypoints - in_graph).max())
    reference = find_peaks(keras_maps, stride, sigma, spec.n_keypoints)
    confident = reference[..., 2] >= CONFIDENT
    xy = np.abs(onnx_keypoints[..., :2] - reference[..., :2]).max(axis=-1)
    xy_diff = float(xy[confident].max()) if confident.any() else 0.0
    conf_diff = float(np.abs(onnx_keypoints[..., 2] - reference[..., 2]).max())
    worst = max(graph_diff, xy_diff)
    if not np.isfinite(worst) or worst > tolerance_px:
        raise ExportError(
            f"onnxruntime and Keras disagree by {worst:.4f} px (allowed {tolerance_px} px); "
            "the file was not written. This is a bug in dpk's exporter: please report it "
            "with the spec"
        )
    if not include_maps:
        kept = [o for o in proto.graph.output if o.name != "maps"]
        del proto.graph.output[:]
        proto.graph.output.extend(kept)
    outputs = [o.name for o in proto.graph.output]
    _metadata(
        proto,
        {
            "dpk.format": MODEL_FORMAT,
            "dpk.spec": spec.model_dump_json(),
            "dpk.version": __version__,
            "dpk.card": card.model_dump_json(),
            "dpk.flops": str(int(flops)) if flops else "",
            "dpk.outputs": json.dumps(outputs),
        },
    )
    data = proto.SerializeToString()
    write_bytes_atomic(path, data)
    return ExportReport(
        path=path,
        size_bytes=len(data),
        max_keypoint_difference_px=worst,
        max_confidence_difference=conf_diff,
        n_confident_keypoints=int(confident.sum()),
        max_map_difference=map_diff,
        n_check_images=len(check_images),
        seconds=time.perf_counter() - start,
        flops=flops,
        outputs=outputs,
    )
