"""Export a trained Keras model to one self-describing ONNX file (docs/model-file.md).

The network is converted with tf2onnx (opset 17), the subpixel peak finder is appended as
ONNX nodes, the spec and card go into ``metadata_props`` (without the paths of this
machine: :mod:`dpk.specs.portable`), and the file is reloaded in onnxruntime and checked
on real frames before it is moved into place, in two separate parts: the converted
network's maps against Keras's maps (a float tolerance), and the in-graph peaks against
the numpy peak finder on those same ONNX maps (within ``PEAK_PARITY_MAP_PX``). Keypoints
are never compared across two different sets of maps: where a map has two nearly equal
maxima (an untrained or unsure network), float rounding picks either, and that says
nothing about the export. A mismatch fails the export and leaves no file behind.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from dpk.runtime.model_file import (
    INPUT_NAME,
    KEYPOINTS_NAME,
    MAPS_NAME,
    META_CARD,
    META_FLOPS,
    META_FORMAT,
    META_OUTPUTS,
    META_SPEC,
    META_VERSION,
    MODEL_FORMAT,
)
from dpk.specs import DpkError, ModelCard, ModelSpec
from dpk.specs.files import check_writable, write_bytes_atomic
from dpk.specs.portable import portable_card, portable_spec
from dpk.trainer.export.peaks_onnx import PEAK_OPSET, append_peak_finder
from dpk.trainer.models.test_time import inference_model
from dpk.trainer.peaks import PEAK_PARITY_MAP_PX, find_peaks
from dpk.trainer.version import __version__

__all__ = [
    "MAP_TOLERANCE",
    "ExportError",
    "ExportReport",
    "convert_network",
    "export_onnx",
]

MAP_TOLERANCE = 1e-3
"""Largest map difference allowed, relative to the largest map value (at least 1)."""
CHECK_BATCH = 16
"""Frames per onnxruntime and Keras call in the export check."""


class ExportError(DpkError):
    """The export failed; nothing was written."""


@dataclass
class ExportReport:
    """What an export produced and how it was checked."""

    path: Path
    size_bytes: int
    max_keypoint_difference_px: float
    """In-graph vs numpy peaks of the same ONNX maps, input pixels."""
    max_confidence_difference: float
    """In-graph confidence vs the maximum of Keras's maps."""
    n_check_images: int
    seconds: float
    flops: int | None = None
    outputs: list[str] = field(default_factory=list)
    max_map_difference: float = 0.0
    """ONNX vs Keras maps, largest absolute difference."""

    def summary(self) -> str:
        """One paragraph for the terminal."""
        return (
            f"wrote {self.path} ({self.size_bytes / 1e6:.1f} MB, outputs: {', '.join(self.outputs)}); "
            f"on {self.n_check_images} frames: onnxruntime's maps equal Keras's within "
            f"{self.max_map_difference:.1e}, the in-graph peaks equal the numpy peak finder's "
            f"within {self.max_keypoint_difference_px:.5f} px, confidence within "
            f"{self.max_confidence_difference:.5f}"
        )


def _last_output(model, images):
    outputs = model(images, training=False)
    return outputs[-1] if isinstance(outputs, list | tuple) else outputs


def convert_network(model, spec: ModelSpec, opset: int = PEAK_OPSET) -> onnx.ModelProto:
    """Convert the Keras network (uint8 image -> last maps) with tf2onnx."""
    import tensorflow as tf
    import tf2onnx

    pre = spec.preprocessing
    signature = [
        tf.TensorSpec([None, pre.height, pre.width, pre.channels], tf.uint8, name=INPUT_NAME)
    ]

    @tf.function(input_signature=signature)
    def network(image):
        return {MAPS_NAME: _last_output(model, image)}

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
    tolerance_px: float | None = None,
) -> ExportReport:
    """Write ``model`` as one self-describing ONNX file and prove it matches Keras.

    Args:
        model: The trained Keras model (uint8 input ``image``, maps outputs). When the
            spec asks for test-time quarter turns (``augmentation.test_time``) the file
            averages its maps over them (:mod:`dpk.trainer.models.test_time`).
        spec: Its model spec (stored in the file, ``augmentation.test_time`` resolved).
        path: Destination ``.onnx`` file.
        check_images: uint8 (N, H, W, C) real frames for the comparison.
        card: Model card to store (default: ``spec.card``).
        include_maps: Keep the confidence maps as a second output.
        flops: FLOPs of one forward pass of ``model``, stored for speed reports (times
            four with quarter turns).
        tolerance_px: Largest difference (input pixels) allowed between the in-graph
            peaks and the numpy peaks of the same maps (default: ``PEAK_PARITY_MAP_PX`` map
            pixels).

    Returns:
        What was written and how well it matched.

    Raises:
        ExportError: The conversion failed, onnxruntime's maps differ from Keras's, or the
            in-graph peaks differ from the numpy ones; no file is left at ``path``.
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
    turns = spec.quarter_turns_at_test_time
    model = inference_model(model, spec)
    if flops and turns:
        flops *= 4
    stored = spec.model_copy(
        update={
            "augmentation": spec.augmentation.model_copy(
                update={"test_time": "quarter_turns" if turns else "off"}
            )
        }
    )
    try:
        proto = convert_network(model, spec)
    except Exception as error:  # tf2onnx raises many types
        raise ExportError(f"tf2onnx could not convert the network: {error}") from error
    append_peak_finder(
        proto,
        MAPS_NAME,
        n_keypoints=spec.n_keypoints,
        stride=spec.targets.stride,
        sigma=spec.targets.sigma,
        keypoints_output=KEYPOINTS_NAME,
        keep_maps=True,
    )
    if spec.targets.anchor is not None:
        _append_anchors(proto, spec)
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
        session.run([KEYPOINTS_NAME, MAPS_NAME], {INPUT_NAME: check_images[i : i + CHECK_BATCH]})
        for i in range(0, len(check_images), CHECK_BATCH)
    ]
    onnx_keypoints = np.concatenate([b[0] for b in batches])
    onnx_maps = np.concatenate([b[1] for b in batches])
    keras_maps = np.concatenate(
        [
            np.asarray(_last_output(model, check_images[i : i + CHECK_BATCH]))
            for i in range(0, len(check_images), CHECK_BATCH)
        ]
    )
    # 1. the network: ONNX maps vs Keras maps, every pixel
    map_diff = float(np.abs(onnx_maps - keras_maps).max())
    if not np.isfinite(map_diff) or map_diff > MAP_TOLERANCE * max(
        1.0, float(np.abs(keras_maps).max())
    ):
        raise ExportError(
            f"the converted network's maps differ from Keras by {map_diff:.2g}; the file was not "
            "written. This is a bug in dpk's exporter: please report it with the spec"
        )
    # 2. the peak finder: in-graph vs numpy on the same (ONNX) maps, every keypoint
    k, stride = spec.n_keypoints, spec.targets.stride
    allowed = PEAK_PARITY_MAP_PX * stride if tolerance_px is None else tolerance_px
    reference = find_peaks(onnx_maps, stride, spec.targets.sigma, k)
    peak_diff = float(np.abs(onnx_keypoints[..., :2] - reference[..., :2]).max())
    if not np.isfinite(peak_diff) or peak_diff > allowed:
        raise ExportError(
            f"the in-graph peak finder and the numpy one disagree by {peak_diff:.2g} px on the "
            f"same maps (allowed {allowed:.2g} px); the file was not written. This is a bug in "
            "dpk's peak finder: please report it with the spec"
        )
    if spec.targets.anchor is not None:
        _check_anchors(session, spec, check_images, onnx_maps, allowed)
    keras_peak = keras_maps[..., :k].max(axis=(1, 2))
    conf_diff = float(np.abs(onnx_keypoints[..., 2] - keras_peak).max())
    if not include_maps:
        kept = [o for o in proto.graph.output if o.name != MAPS_NAME]
        del proto.graph.output[:]
        proto.graph.output.extend(kept)
    outputs = [o.name for o in proto.graph.output]
    _metadata(
        proto,
        {
            META_FORMAT: MODEL_FORMAT,
            META_SPEC: portable_spec(stored).model_dump_json(),
            META_VERSION: __version__,
            META_CARD: portable_card(card).model_dump_json(),
            META_FLOPS: str(int(flops)) if flops else "",
            META_OUTPUTS: json.dumps(outputs),
        },
    )
    data = proto.SerializeToString()
    write_bytes_atomic(path, data)
    return ExportReport(
        path=path,
        size_bytes=len(data),
        max_keypoint_difference_px=peak_diff,
        max_confidence_difference=conf_diff,
        max_map_difference=map_diff,
        n_check_images=len(check_images),
        seconds=time.perf_counter() - start,
        flops=flops,
        outputs=outputs,
    )


def _append_anchors(proto, spec: ModelSpec) -> None:
    """An anchor model also outputs ``anchors`` (N, max_animals, 3), after ``keypoints``
    (its strongest anchor, so that it stays an ordinary one-keypoint dpk model file)."""
    from dpk.trainer.export.anchors_onnx import append_anchor_finder

    anchor = spec.targets.anchor
    assert anchor is not None
    keypoints = [o for o in proto.graph.output if o.name == KEYPOINTS_NAME]
    append_anchor_finder(
        proto,
        MAPS_NAME,
        stride=spec.targets.stride,
        sigma=spec.targets.sigma,
        max_animals=anchor.max_animals,
        threshold=anchor.threshold,
        radius=anchor.nms_radius(spec.targets.stride),
        keep_maps=True,
    )
    outputs = keypoints + list(proto.graph.output)
    del proto.graph.output[:]
    proto.graph.output.extend(outputs)


def _check_anchors(session, spec: ModelSpec, images: np.ndarray, maps: np.ndarray, allowed):
    """The in-graph anchors equal :func:`dpk.trainer.anchors.find_anchors` on the same maps."""
    from dpk.trainer.anchors import find_anchors
    from dpk.trainer.export.anchors_onnx import ANCHORS_OUTPUT

    anchor = spec.targets.anchor
    assert anchor is not None
    stride = spec.targets.stride
    found = np.concatenate(
        [
            session.run([ANCHORS_OUTPUT], {INPUT_NAME: images[i : i + CHECK_BATCH]})[0]
            for i in range(0, len(images), CHECK_BATCH)
        ]
    )
    reference = find_anchors(
        maps,
        stride,
        spec.targets.sigma,
        max_animals=anchor.max_animals,
        threshold=anchor.threshold,
        radius=anchor.nms_radius(stride),
    )
    same_rows = np.array_equal(np.isnan(found[..., 0]), np.isnan(reference[..., 0]))
    both = ~np.isnan(reference[..., 0])
    diff = float(np.abs(found[both][:, :2] - reference[both][:, :2]).max(initial=0.0))
    if not same_rows or diff > allowed:
        raise ExportError(
            f"the in-graph anchor finder and the numpy one disagree (same animals: {same_rows}, "
            f"largest difference {diff:.2g} px, allowed {allowed:.2g} px); the file was not "
            "written. This is a bug in dpk's anchor finder: please report it with the spec"
        )
