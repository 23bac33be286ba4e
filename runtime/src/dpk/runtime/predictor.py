"""The Predictor: a dpk model file in, keypoints in the pixels of your frames out.

Everything the model needs (input size, channels, colour order, how to fit frames of
another size, the skeleton) comes from the file itself, so a user passes a model and
frames, nothing else::

    from dpk.runtime import Predictor
    predictor = Predictor("model.onnx", device="auto")
    keypoints = predictor.predict(frames)            # (N, K, 3): x, y, confidence
    predictions = predictor.predict_video("video.mp4", progress=True)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpk.runtime.crop_guard import check_frame_size
from dpk.runtime.model_file import (
    INPUT_NAME,
    KEYPOINTS_NAME,
    META_SPEC,
    ModelFile,
    ModelFileError,
    ModelSource,
    open_model_session,
)
from dpk.runtime.predictions import Predictions
from dpk.runtime.preprocess import (
    FrameFitter,
    FrameOrder,
    FrameTransform,
    fit_frames,
    to_frame_coordinates,
)
from dpk.runtime.providers import Device
from dpk.runtime.video import (
    FrameRead,
    ImageFolderSource,
    SourceError,
    VideoSource,
    open_source,
    prefetch,
)
from dpk.specs.card import ZOO_NAME_PATTERN
from dpk.specs.errors import DpkError
from dpk.specs.model import ModelSpec
from dpk.specs.preprocessing import Preprocessing
from dpk.specs.skeleton import Skeleton

__all__ = [
    "CPU_CALL_FRAMES",
    "DEFAULT_BATCH_SIZE",
    "PredictionError",
    "Predictor",
    "resolve_model",
]

DEFAULT_BATCH_SIZE = 16
"""Frames read, fitted and predicted together unless told otherwise."""

CPU_CALL_FRAMES = 8
"""On the CPU, the most frames one onnxruntime call runs: a larger batch is run in calls
of this many. A call's activations then stay in the CPU's caches; onnxruntime's CPU
kernels slow down on large calls where TensorFlow's do not. Measured on every architecture
of ``benchmarks/speed.py`` (100 frames per batch, 2 threads, docs/benchmarks.md): calls
of 8 are within 5% of the best call size for each, and up to 17% faster than one call of
100 (the Stacked DenseNet)."""


class PredictionError(DpkError):
    """onnxruntime failed while running the model (for example out of memory)."""


def resolve_model(value: str | os.PathLike) -> tuple[Path, str]:
    """Turn a ``--model`` value into a model file: an existing file, else a zoo name.

    Args:
        value: A path to a ``.onnx`` file, or a zoo name such as ``stacked_densenet.fly13``.

    Returns:
        ``(path, name)``: the local file and a name for it (the zoo name or the file name).

    Raises:
        ModelFileError: Neither an existing file nor a zoo name.
        ZooError: The zoo does not know the name or cannot download it.
    """
    text = os.fspath(value)
    path = Path(text).expanduser()
    if path.is_file():
        return path, path.name
    looks_like_path = (
        os.sep in text or "/" in text or path.suffix.lower() == ".onnx" or path.is_dir()
    )
    if not looks_like_path and re.match(ZOO_NAME_PATTERN, text):
        from dpk.zoo import model_path

        return Path(model_path(text, download=True)), text
    if path.is_dir():
        raise ModelFileError(f"{text}: is a folder; give the .onnx model file inside it")
    raise ModelFileError(
        f"{text}: no such model file, and not a zoo name (architecture.dataset, see "
        "`dpk zoo list`); give the path of a .onnx file made by `dpk export RUN -o model.onnx`"
    )


@dataclass
class _Batch:
    """Frames read and fitted by the background thread."""

    indices: np.ndarray
    images: np.ndarray
    transforms: list[FrameTransform]
    readable: np.ndarray
    errors: dict[int, str]


class Predictor:
    """Runs a dpk model file on images, image folders and videos.

    Args:
        model: Path or bytes of a ``.onnx`` model file exported by dpk.
        device: ``auto`` (CUDA when it works, else CPU; :attr:`provider` says which),
            ``cpu``, ``cuda`` or ``tensorrt`` (an error when not really active, never a
            silent fall-back).
        batch_size: Frames read, fitted and predicted together (on the CPU, onnxruntime
            runs them in calls of at most :data:`CPU_CALL_FRAMES`: :attr:`call_frames`).
        threads: CPU threads for onnxruntime (None = its default).
        name: A name for the model in messages and outputs (default: the file name).
        cropped: The frames given are already crops around the anchor keypoint. Without
            it, a model trained on crops (``data.crop`` in its spec) refuses frames of
            another size than its crops (:class:`~dpk.runtime.crop_guard.CropMismatchError`).

    Raises:
        ModelFileError: Missing file, not ONNX, not a dpk model.
        ProviderError: The requested device is not active.
        SpecError: The spec stored in the file does not validate.
    """

    def __init__(
        self,
        model: ModelSource,
        device: Device = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int | None = None,
        name: str | None = None,
        cropped: bool = False,
    ):
        if int(batch_size) < 1:
            raise DpkError(f"batch_size must be 1 or more, not {batch_size}")
        if isinstance(model, bytes | bytearray):
            label = name or "<model bytes>"
        else:
            label = os.fspath(model)
            name = name or Path(model).name
        # No spinning: idle onnxruntime threads must leave the CPU to the video decoder.
        self.session, self.provider = open_model_session(
            model, device, threads, label, spinning=False
        )
        self.model_file = ModelFile.from_session(self.session, label)
        self.name = name
        self.device = device
        self.batch_size = int(batch_size)
        self.cropped = bool(cropped)
        self.call_frames: int | None = (
            CPU_CALL_FRAMES if self.provider == "CPUExecutionProvider" else None
        )
        """The most frames one onnxruntime call runs (None: the whole batch)."""

    @classmethod
    def from_pretrained(cls, name: str, device: Device = "auto", **kwargs) -> Predictor:
        """A predictor for a zoo model, downloaded (and checked) once, then cached.

        Args:
            name: Zoo name, ``architecture.dataset`` with an optional ``:tag``.
            device: See :class:`Predictor`.
            **kwargs: ``batch_size``, ``threads``.

        Raises:
            ZooError: Unknown name, or the download failed.
        """
        from dpk.zoo import model_path

        path = model_path(name, download=True)
        return cls(path, device=device, name=name, **kwargs)

    # ------------------------------------------------------------------ facts
    @property
    def spec(self) -> ModelSpec:
        """The model spec stored in the file."""
        return self.model_file.spec

    @property
    def skeleton(self) -> Skeleton:
        """Keypoint names, parents and swaps."""
        return self.model_file.skeleton

    @property
    def preprocessing(self) -> Preprocessing:
        """The model input and how frames are fitted to it."""
        return self.model_file.preprocessing

    def check_frame_size(self, height: int, width: int) -> None:
        """Refuse frames of another size than the crops a crop-trained model learnt on."""
        check_frame_size(self.spec, height, width, self.name, cropped=self.cropped)

    # ------------------------------------------------------------------ running
    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on frames already fitted to its input.

        Args:
            batch: uint8 (N, height, width, channels), exactly the model input.

        Returns:
            float32 (N, K, 3) keypoints in model-input pixels.
        """
        batch = np.asarray(batch)
        expected = self.preprocessing.shape
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != expected:
            raise DpkError(
                f"run() takes uint8 (N, {', '.join(map(str, expected))}) model input, got "
                f"{batch.dtype} {batch.shape}; use predict() for frames of any size"
            )
        results = [
            self._run(batch[i : i + self.batch_size]) for i in range(0, len(batch), self.batch_size)
        ]
        if not results:
            return np.empty((0, self.model_file.n_keypoints, 3), np.float32)
        return np.concatenate(results)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        step = self.call_frames
        if step and len(batch) > step:
            return np.concatenate(
                [self._call(batch[i : i + step]) for i in range(0, len(batch), step)]
            )
        return self._call(batch)

    def _call(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run([KEYPOINTS_NAME], {INPUT_NAME: batch})[0]
        except Exception as error:  # onnxruntime's own exception types
            raise PredictionError(
                f"onnxruntime failed on a batch of {len(batch)} frames with "
                f"{self.provider} ({str(error).strip().splitlines()[-1][:200]}); try a smaller "
                "--batch-size"
            ) from None
        return np.asarray(out, dtype=np.float32)

    def predict(self, images, frame_order: FrameOrder = "bgr") -> np.ndarray:
        """Keypoints for frames of any size, in the pixels of each frame.

        Args:
            images: One frame, uint8 (H, W) or (H, W, C) with C = 1 or 3; or a batch:
                uint8 (N, H, W, C) or (N, H, W) array, or a list of (H, W[, C]) frames
                (sizes may differ). A 3-D array whose last axis is 1 or 3 is one frame.
            frame_order: Channel order of 3-channel frames: ``bgr`` (OpenCV) or ``rgb``.

        Returns:
            float32 (N, K, 3): x, y, confidence per keypoint; (K, 3) for one frame.

        Raises:
            FrameError: Frames that cannot be converted to the model input.
        """
        if isinstance(images, np.ndarray) and (
            images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3))
        ):
            return self.predict(images[None], frame_order=frame_order)[0]
        if not isinstance(images, np.ndarray):
            images = list(images)
        results = []
        for chunk in _split(images, self.batch_size):
            batch, transforms = fit_frames(chunk, self.preprocessing, frame_order=frame_order)
            for size in {t.frame_size for t in transforms}:
                self.check_frame_size(*size)
            results.append(to_frame_coordinates(self._run(batch), transforms))
        if not results:
            return np.empty((0, self.model_file.n_keypoints, 3), np.float32)
        return np.concatenate(results)

    # ------------------------------------------------------------------ sources
    def _batches(self, reads: Iterator[FrameRead]) -> Iterator[_Batch]:
        """Fit frames as they are decoded and group them in batches (background thread)."""
        pre = self.preprocessing
        fitter = FrameFitter(pre)
        size = self.batch_size
        indices = np.empty(size, np.int64)
        readable = np.zeros(size, bool)
        images = np.empty((size, *pre.shape), np.uint8)
        transforms: list[FrameTransform] = []
        errors: dict[int, str] = {}
        n = 0
        for read in reads:
            indices[n] = read.index
            if read.frame is None:
                readable[n] = False
                errors[read.index] = read.error or "unreadable"
            else:
                self.check_frame_size(*read.frame.shape[:2])
                readable[n] = True
                images[len(transforms)], transform = fitter(read.frame)
                transforms.append(transform)
            n += 1
            if n == size:
                yield _Batch(indices, images[: len(transforms)], transforms, readable, errors)
                indices = np.empty(size, np.int64)
                readable = np.zeros(size, bool)
                images = np.empty((size, *pre.shape), np.uint8)
                transforms, errors, n = [], {}, 0
        if n:
            yield _Batch(indices[:n], images[: len(transforms)], transforms, readable[:n], errors)

    def _predict_source(
        self, source: VideoSource | ImageFolderSource, progress: bool, queue_size: int
    ) -> Predictions:
        from tqdm.auto import tqdm

        indices = source.indices
        total = len(indices) if indices is not None else None
        if total == 0:
            n = source.info.get("n_frames")
            raise SourceError(
                f"{source.path}: the frame range start={source.start} stop={source.stop} is "
                f"empty (the source has {n if n is not None else 'an unknown number of'} frames)"
            )
        if source.info.get("height") and source.info.get("width"):
            self.check_frame_size(source.info["height"], source.info["width"])
        k = self.model_file.n_keypoints
        all_indices: list[np.ndarray] = []
        all_keypoints: list[np.ndarray] = []
        errors: dict[int, str] = {}
        with tqdm(
            total=total,
            unit="frame",
            desc=source.path.name,
            disable=not progress,
            dynamic_ncols=True,
            smoothing=0.1,
        ) as bar:
            for batch in prefetch(self._batches(iter(source)), maxsize=queue_size):
                keypoints = np.full((len(batch.indices), k, 3), np.nan, np.float32)
                if len(batch.images):
                    found = self._run(batch.images)
                    keypoints[batch.readable] = to_frame_coordinates(found, batch.transforms)
                all_indices.append(batch.indices)
                all_keypoints.append(keypoints)
                errors.update(batch.errors)
                bar.update(len(batch.indices))
        frame_indices = np.concatenate(all_indices) if all_indices else np.empty(0, np.int64)
        if len(errors) == len(frame_indices):
            reason = next(iter(errors.values()), "no frames")
            raise SourceError(
                f"{source.path}: none of its frames could be read ({reason}); check the file, "
                "or re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4"
            )
        keypoints = (
            np.concatenate(all_keypoints) if all_keypoints else np.empty((0, k, 3), np.float32)
        )
        names = None
        if isinstance(source, ImageFolderSource):
            names = [source.files[i].name for i in frame_indices]
        return Predictions(
            keypoints=keypoints,
            frame_indices=frame_indices,
            skeleton=self.skeleton,
            source=str(source.path),
            source_info=dict(source.info),
            image_names=names,
            model_spec=self.model_file.metadata.get(META_SPEC),
            model_name=self.name,
            errors=errors,
        )

    def predict_video(
        self,
        path: str | os.PathLike,
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        *,
        progress: bool = False,
        queue_size: int = 4,
    ) -> Predictions:
        """Keypoints for frames ``start, start + step, ...`` below ``stop`` of a video.

        Frames are decoded and fitted in a background thread (at most ``queue_size``
        batches ahead, so memory stays flat) while the model runs. A frame that cannot be
        decoded gets a NaN row and an entry in ``errors``; the run goes on.

        Args:
            path: The video file.
            start: First frame index.
            stop: Stop before this frame (None = the end).
            step: Every ``step``-th frame.
            progress: Show a progress bar (frames, frames per second, time left).
            queue_size: Batches decoded ahead of the model.

        Returns:
            :class:`Predictions` with ``source_info`` (fps, width, height, n_frames, codec).

        Raises:
            SourceError: The video is missing, cannot be opened, or no frame decodes.
        """
        return self._predict_source(
            VideoSource(Path(path), start, stop, step), progress, queue_size
        )

    def predict_folder(
        self,
        path: str | os.PathLike,
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        *,
        progress: bool = False,
        queue_size: int = 4,
    ) -> Predictions:
        """Keypoints for the image files of a folder, in natural file-name order.

        An image that cannot be read gets a NaN row and an entry in ``errors``.
        ``frame_indices`` are positions in the sorted file list; ``image_names`` the files.
        """
        source = ImageFolderSource(Path(path), start, stop, step)
        return self._predict_source(source, progress, queue_size)

    def predict_path(
        self,
        path: str | os.PathLike,
        start: int = 0,
        stop: int | None = None,
        step: int = 1,
        *,
        progress: bool = False,
        queue_size: int = 4,
    ) -> Predictions:
        """:meth:`predict_folder` for a folder, :meth:`predict_video` for a file."""
        return self._predict_source(open_source(path, start, stop, step), progress, queue_size)

    def __repr__(self) -> str:
        pre = self.preprocessing
        return (
            f"Predictor({self.name or '<bytes>'!s}, provider={self.provider}, "
            f"input={pre.height}x{pre.width}x{pre.channels} {pre.color_order}, "
            f"keypoints={self.model_file.n_keypoints}, batch_size={self.batch_size})"
        )


def _split(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
