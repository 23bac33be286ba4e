"""Opening a dpk model file and reading what it says about itself (docs/model-file.md).

A dpk model is one ``.onnx`` file: input ``image`` uint8 (N, H, W, C), output ``keypoints``
float32 (N, K, 3), and ``metadata_props`` holding the model spec, the model card, the dpk
version and the FLOPs. :class:`ModelFile` reads and checks all of it, so that a file that
is not ONNX, or an ONNX file that dpk did not export, is refused with a message that says
what to do instead of failing later with onnxruntime's internals.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpk.specs.card import ModelCard
from dpk.specs.errors import DpkError
from dpk.specs.io import parse_model, parse_spec
from dpk.specs.model import ModelSpec
from dpk.specs.preprocessing import Preprocessing
from dpk.specs.skeleton import Skeleton

__all__ = [
    "INPUT_NAME",
    "KEYPOINTS_NAME",
    "MAPS_NAME",
    "META_CARD",
    "META_FLOPS",
    "META_FORMAT",
    "META_OUTPUTS",
    "META_PRECISION",
    "META_SPEC",
    "META_VERSION",
    "MODEL_FORMAT",
    "ModelFile",
    "ModelFileError",
    "ModelSource",
    "open_model_session",
    "read_model_source",
]

MODEL_FORMAT = "1"
"""The version of the model-file contract this runtime reads (and the exporter writes)."""
INPUT_NAME = "image"
"""The graph input: uint8 images (N, H, W, C)."""
KEYPOINTS_NAME = "keypoints"
"""The graph output: float32 keypoints (N, K, 3)."""
MAPS_NAME = "maps"
"""The optional graph output: the confidence maps (N, h, w, M)."""
META_FORMAT = "dpk.format"
"""``metadata_props`` key of the format version (``MODEL_FORMAT``)."""
META_SPEC = "dpk.spec"
"""``metadata_props`` key of the model spec (JSON)."""
META_VERSION = "dpk.version"
"""``metadata_props`` key of the dpk version that exported the file."""
META_CARD = "dpk.card"
"""``metadata_props`` key of the model card (JSON)."""
META_FLOPS = "dpk.flops"
"""``metadata_props`` key of the FLOPs of one image (text, empty when unknown)."""
META_OUTPUTS = "dpk.outputs"
"""``metadata_props`` key of the output names (JSON list)."""
META_PRECISION = "dpk.precision"
"""``metadata_props`` key of a variant's precision (``fp16`` or ``int8``; absent: float32)."""
EXPORT_HINT = "export a trained run with `dpk export RUN -o model.onnx`"

ModelSource = str | os.PathLike | bytes
"""A model file path, or the bytes of one."""


class ModelFileError(DpkError):
    """A model file is missing, is not ONNX, or is not a dpk model; the message says why."""


def _describe(model: ModelSource, name: str | None) -> str:
    if name:
        return name
    if isinstance(model, bytes | bytearray):
        return "<model bytes>"
    return os.fspath(model)


def read_model_source(model: ModelSource, name: str | None = None) -> bytes | str:
    """Check that a model path exists (or pass bytes through) before onnxruntime sees it.

    Returns:
        The bytes, or the path as text (onnxruntime reads paths itself, external data too).

    Raises:
        ModelFileError: The path is missing, a folder, or empty.
    """
    if isinstance(model, bytes | bytearray):
        if not model:
            raise ModelFileError(f"{_describe(model, name)}: empty model bytes")
        return bytes(model)
    path = Path(model)
    label = name or str(path)
    if not path.exists():
        raise ModelFileError(f"{label}: model file not found; check the path ({EXPORT_HINT})")
    if path.is_dir():
        raise ModelFileError(f"{label}: is a folder, not a .onnx model file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{label}: the file is empty; {EXPORT_HINT}")
    return str(path)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[-1] if text else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def open_model_session(
    model: ModelSource,
    device: str = "auto",
    threads: int | None = None,
    name: str | None = None,
    spinning: bool = True,
):
    """Create an onnxruntime session for a model file, with dpk's errors.

    Args:
        model: Path or bytes of the ``.onnx`` file.
        device: ``auto``, ``cpu``, ``cuda`` or ``tensorrt`` (see :mod:`dpk.runtime.providers`).
        threads: CPU threads (None = onnxruntime's default).
        name: How to name the model in messages (default: the path).
        spinning: Let idle CPU worker threads spin (see :func:`create_session`).

    Returns:
        ``(session, provider)``.

    Raises:
        ModelFileError: The file is missing or onnxruntime cannot load it.
        ProviderError: The requested device is not active.
    """
    from dpk.runtime.providers import ProviderError, create_session

    source = read_model_source(model, name)
    try:
        return create_session(source, device, threads, spinning)  # type: ignore[arg-type]
    except ProviderError:
        raise
    except Exception as error:  # onnxruntime raises its own pybind11 exception types
        raise ModelFileError(
            f"{_describe(model, name)}: not an ONNX model onnxruntime can load "
            f"({_first_line(error)}); {EXPORT_HINT}"
        ) from None


def _shape(value) -> tuple[Any, ...]:
    return tuple(d if isinstance(d, int) else None for d in (value.shape or []))


@dataclass(frozen=True)
class ModelFile:
    """What a dpk model file says about itself, checked against the model-file contract.

    Attributes:
        spec: The full model spec (skeleton, preprocessing, architecture, targets...).
        card: The model card (training data, licence, accuracy, speed); defaults when empty.
        source: The file (or zoo name) the model came from, for messages.
        format_version: ``dpk.format`` of the file.
        dpk_version: The dpk version that exported it, if recorded.
        flops: Multiply-adds x 2 for one image, None when unknown.
        outputs: Output names of the graph (``keypoints`` and optionally ``maps``).
        metadata: Every ``metadata_props`` entry, as text.
    """

    spec: ModelSpec
    card: ModelCard
    source: str
    format_version: str = MODEL_FORMAT
    dpk_version: str | None = None
    flops: int | None = None
    outputs: tuple[str, ...] = (KEYPOINTS_NAME,)
    metadata: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def skeleton(self) -> Skeleton:
        """Keypoint names, parents and swaps."""
        return self.spec.skeleton

    @property
    def preprocessing(self) -> Preprocessing:
        """The model input and how frames are fitted to it."""
        return self.spec.preprocessing

    @property
    def n_keypoints(self) -> int:
        """Number of keypoints K."""
        return self.spec.n_keypoints

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(height, width, channels)`` of the model input."""
        return self.spec.preprocessing.shape

    @property
    def has_maps(self) -> bool:
        """The file also outputs the confidence maps."""
        return MAPS_NAME in self.outputs

    @classmethod
    def load(cls, model: ModelSource, name: str | None = None) -> ModelFile:
        """Open a model file on the CPU and read its metadata.

        Args:
            model: Path or bytes of the ``.onnx`` file.
            name: How to name the model in messages (default: the path).

        Raises:
            ModelFileError: Missing, not ONNX, not a dpk model, or inconsistent.
            SpecError: The stored spec or card does not validate.
        """
        session, _ = open_model_session(model, "cpu", threads=1, name=name)
        return cls.from_session(session, _describe(model, name))

    @classmethod
    def from_session(cls, session, source: str) -> ModelFile:
        """Read and check the metadata and the graph signature of an open session.

        Args:
            session: An ``onnxruntime.InferenceSession`` of the model file.
            source: The file or name, for messages.

        Raises:
            ModelFileError: Not a dpk model, a newer format, or a graph that does not
                match its spec.
            SpecError: The stored spec or card does not validate.
        """
        meta = dict(session.get_modelmeta().custom_metadata_map)
        if META_SPEC not in meta:
            raise ModelFileError(
                f"{source}: an ONNX file without dpk metadata (no 'dpk.spec'), so not a dpk "
                f"model; {EXPORT_HINT}"
            )
        version = meta.get(META_FORMAT, MODEL_FORMAT).strip() or MODEL_FORMAT
        if version != MODEL_FORMAT:
            raise ModelFileError(
                f"{source}: model file format {version!r}, but this dpk-runtime reads format "
                f"{MODEL_FORMAT!r}; upgrade dpk-runtime (pip install -U dpk-runtime)"
            )
        spec = parse_spec(meta[META_SPEC], source=f"{source} (metadata {META_SPEC})", fmt="json")
        card_text = meta.get(META_CARD, "").strip()
        card = (
            parse_model(ModelCard, card_text, source=f"{source} (metadata {META_CARD})", fmt="json")
            if card_text and card_text != "{}"
            else (spec.card or ModelCard())
        )
        flops_text = meta.get(META_FLOPS, "").strip()
        try:
            flops = int(flops_text) if flops_text else None
        except ValueError:
            flops = None
        outputs = tuple(o.name for o in session.get_outputs())
        model = cls(
            spec=spec,
            card=card,
            source=source,
            format_version=version,
            dpk_version=meta.get(META_VERSION) or None,
            flops=flops if flops and flops > 0 else None,
            outputs=outputs,
            metadata=meta,
        )
        model._check_signature(session)
        return model

    def _check_signature(self, session) -> None:
        src = self.source
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            names = ", ".join(i.name for i in inputs)
            raise ModelFileError(
                f"{src}: inputs are [{names}], a dpk model has one input {INPUT_NAME!r}; "
                f"{EXPORT_HINT}"
            )
        image = inputs[0]
        if image.type != "tensor(uint8)":
            raise ModelFileError(
                f"{src}: input {INPUT_NAME!r} is {image.type}, a dpk model takes uint8 images; "
                f"{EXPORT_HINT}"
            )
        shape = _shape(image)
        expected = (None, *self.input_shape)
        if len(shape) != 4 or any(
            s is not None and s != e for s, e in zip(shape[1:], expected[1:])
        ):
            raise ModelFileError(
                f"{src}: input {INPUT_NAME!r} has shape {list(image.shape)}, but its spec "
                f"says (N, {', '.join(map(str, self.input_shape))}); the file is inconsistent, "
                "export it again"
            )
        if KEYPOINTS_NAME not in self.outputs:
            raise ModelFileError(
                f"{src}: no output {KEYPOINTS_NAME!r} (outputs: {', '.join(self.outputs)}); "
                f"{EXPORT_HINT}"
            )
        keypoints = next(o for o in session.get_outputs() if o.name == KEYPOINTS_NAME)
        shape = _shape(keypoints)
        k = self.n_keypoints
        if keypoints.type != "tensor(float)" or (
            len(shape) != 3 or shape[1] not in (None, k) or shape[2] not in (None, 3)
        ):
            raise ModelFileError(
                f"{src}: output {KEYPOINTS_NAME!r} is {keypoints.type} {list(keypoints.shape)}, "
                f"expected float (N, {k}, 3) for the {k} keypoints of its spec; export it again"
            )

    def summary(self) -> dict[str, Any]:
        """The facts ``dpk info`` prints, as a JSON-friendly dictionary."""
        pre = self.preprocessing
        return {
            "source": self.source,
            "name": self.spec.name,
            "format": self.format_version,
            "dpk_version": self.dpk_version,
            "architecture": self.spec.architecture.type,
            "input": {
                "height": pre.height,
                "width": pre.width,
                "channels": pre.channels,
                "color_order": pre.color_order,
                "fit": pre.fit,
                "normalization": pre.normalization,
            },
            "keypoints": list(self.skeleton.names),
            "output_stride": self.spec.targets.stride,
            "outputs": list(self.outputs),
            "flops": self.flops,
            "card": json.loads(self.card.model_dump_json()),
        }
