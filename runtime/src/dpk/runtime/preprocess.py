"""Bringing frames of any size and channel count to the model input, and keypoints back.

Implements "Frames of another size" of docs/model-file.md exactly:

- ``letterbox``: scale by ``r = min(H / h0, W / w0)``, place at the top-left corner, pad
  the rest with ``pad_value``; a frame point (x0, y0) lands at
  ``((x0 + 0.5) * r - 0.5, (y0 + 0.5) * r - 0.5)``.
- ``resize``: stretch to H x W with ``rx = W / w0`` and ``ry = H / h0``, same pixel-centre rule.
- ``pad_crop``: no scaling; pad a smaller frame at the bottom/right, centre-crop a larger
  one; points shift by the crop offset.

Channels: a ``gray`` model gets colour frames converted with OpenCV's BT.601 weights; a
colour model gets gray frames repeated, and channels swapped when the frame order (OpenCV
decodes BGR) differs from the model's. The trainer uses the same functions, so training
and inference see identical pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from dpk.specs.errors import DpkError
from dpk.specs.preprocessing import Preprocessing

__all__ = [
    "FrameError",
    "FrameFitter",
    "FrameOrder",
    "FrameTransform",
    "convert_channels",
    "fit_frames",
    "to_frame_coordinates",
]

FrameOrder = Literal["bgr", "rgb"]
"""Channel order of 3-channel frames given to the runtime (OpenCV decodes BGR)."""


class FrameError(DpkError):
    """Frames that cannot be converted to the model input; the message says how to fix them."""


@dataclass(frozen=True)
class FrameTransform:
    """How one frame size maps onto the model input, and back.

    A frame point ``p`` (pixel centres at integers) maps to the model input as
    ``(p + 0.5) * scale - 0.5 - crop``; :meth:`to_frame` is the exact inverse.

    Attributes:
        frame_size: ``(height, width)`` of the frame.
        model_size: ``(height, width)`` of the model input.
        scale: ``(sx, sy)`` scale factors from frame to model pixels.
        scaled_size: ``(height, width)`` of the frame after scaling, before padding or cropping.
        crop: ``(cx, cy)`` pixels cut from the left and top of the scaled frame (``pad_crop``).
    """

    frame_size: tuple[int, int]
    model_size: tuple[int, int]
    scale: tuple[float, float]
    scaled_size: tuple[int, int]
    crop: tuple[int, int] = (0, 0)

    @classmethod
    def for_frame(cls, height: int, width: int, preprocessing: Preprocessing) -> FrameTransform:
        """The transform of a ``height x width`` frame for a model's preprocessing."""
        if height < 1 or width < 1:
            raise FrameError(f"a frame of {height}x{width} pixels is empty")
        big_h, big_w = preprocessing.height, preprocessing.width
        fit = preprocessing.fit
        if fit == "letterbox":
            r = min(big_h / height, big_w / width)
            # The size OpenCV gives for fx = fy = r (it rounds to nearest).
            scaled = (min(big_h, round(height * r)), min(big_w, round(width * r)))
            scale = (r, r)
            if scaled == (height, width):
                scale = (1.0, 1.0)
            return cls((height, width), (big_h, big_w), scale, scaled)
        if fit == "resize":
            return cls(
                (height, width), (big_h, big_w), (big_w / width, big_h / height), (big_h, big_w)
            )
        crop = (max(0, (width - big_w) // 2), max(0, (height - big_h) // 2))
        return cls((height, width), (big_h, big_w), (1.0, 1.0), (height, width), crop)

    @property
    def is_identity(self) -> bool:
        """The frame already is the model input size: nothing to do."""
        return (
            self.frame_size == self.model_size and self.scale == (1.0, 1.0) and self.crop == (0, 0)
        )

    def to_model(self, points: np.ndarray) -> np.ndarray:
        """Map frame points to model-input points.

        Args:
            points: Array (..., D) with D >= 2: x, y, then any other columns (kept as they are).

        Returns:
            A new float32 array of the same shape.
        """
        out = np.array(points, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] + 0.5) * self.scale[0] - 0.5 - self.crop[0]
        out[..., 1] = (out[..., 1] + 0.5) * self.scale[1] - 0.5 - self.crop[1]
        return out

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Map model-input points back to frame points (the exact inverse of :meth:`to_model`).

        Args:
            points: Array (..., D) with D >= 2: x, y, then any other columns (kept as they are).

        Returns:
            A new float32 array of the same shape.
        """
        out = np.array(points, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] + self.crop[0] + 0.5) / self.scale[0] - 0.5
        out[..., 1] = (out[..., 1] + self.crop[1] + 0.5) / self.scale[1] - 0.5
        return out


def _as_batch(frames: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) uint8 -> (N, H, W, C)."""
    if frames.dtype != np.uint8:
        raise FrameError(
            f"frames must be uint8 (0..255), got {frames.dtype}; convert them first, e.g. "
            "np.clip(frames, 0, 255).astype(np.uint8)"
        )
    if frames.ndim == 3:
        if frames.shape[-1] in (1, 3, 4):  # (H, W, C): one frame, not N gray frames
            raise FrameError(
                f"got an array of shape {frames.shape}: for one frame pass a list "
                "[frame] or frame[None]; a batch is (N, H, W, C), or (N, H, W) for gray"
            )
        frames = frames[..., None]
    if frames.ndim != 4:
        raise FrameError(
            f"frames must be (N, H, W) or (N, H, W, C), got an array of shape {frames.shape}"
        )
    return frames


def _check_channels(frames: np.ndarray, color_order: str) -> None:
    channels = frames.shape[-1]
    if channels not in (1, 3):
        raise FrameError(
            f"frames have {channels} channels; dpk converts 1 (gray) or 3 (colour) channels "
            f"to the model's {color_order!r} input: drop or merge channels first "
            "(e.g. frames[..., :3] drops an alpha channel)"
        )


def convert_channels(
    frames: np.ndarray, color_order: str, frame_order: FrameOrder = "bgr"
) -> np.ndarray:
    """Convert (N, H, W, C) uint8 frames to the model's channels.

    Args:
        frames: uint8 (N, H, W, C) with C = 1 or 3.
        color_order: The model's ``preprocessing.color_order`` (``gray``, ``rgb``, ``bgr``).
        frame_order: Channel order of 3-channel ``frames`` (``bgr`` as OpenCV decodes).

    Returns:
        uint8 (N, H, W, 1) for ``gray``, (N, H, W, 3) otherwise (the input itself when
        nothing changes); an empty batch gives an empty batch of that shape.

    Raises:
        FrameError: The frames have a channel count other than 1 or 3.
    """
    frames = _as_batch(frames)
    _check_channels(frames, color_order)
    channels = frames.shape[-1]
    if frame_order not in ("bgr", "rgb"):
        raise FrameError(f"frame_order must be 'bgr' or 'rgb', not {frame_order!r}")
    if color_order == "gray":
        if channels == 1:
            return frames
        n, h, w, _ = frames.shape
        if frames.size == 0:  # OpenCV refuses empty images
            return np.zeros((n, h, w, 1), np.uint8)
        code = cv2.COLOR_BGR2GRAY if frame_order == "bgr" else cv2.COLOR_RGB2GRAY
        flat = np.ascontiguousarray(frames).reshape(n * h, w, 3)
        return cv2.cvtColor(flat, code).reshape(n, h, w, 1)
    if channels == 1:
        return np.repeat(frames, 3, axis=-1)
    if frame_order != color_order:
        return np.ascontiguousarray(frames[..., ::-1])
    return frames


def _scale_frame(frame: np.ndarray, sx: float, sy: float, size: tuple[int, int]) -> np.ndarray:
    """Scale one (h, w, C) frame by exactly (sx, sy) about pixel centres, to ``size`` (h, w).

    Shrinking by 2 or more first averages whole blocks (OpenCV's fast integer INTER_AREA),
    then bilinear interpolation does the rest: the same anti-aliasing as INTER_AREA at a
    fraction of its cost, and both steps keep the pixel-centre rule, so the composite maps
    a frame point x to ``(x + 0.5) * sx - 0.5`` exactly. A one-pixel rounding difference at
    the bottom/right edge is cropped or filled by repeating the edge.
    """
    channels = frame.shape[-1]
    fx, fy = max(1, int(1.0 / sx + 1e-9)), max(1, int(1.0 / sy + 1e-9))
    if fx > 1 or fy > 1:
        frame = cv2.resize(frame, None, fx=1.0 / fx, fy=1.0 / fy, interpolation=cv2.INTER_AREA)
        sx, sy = sx * fx, sy * fy
    if abs(sx - 1.0) > 1e-12 or abs(sy - 1.0) > 1e-12:
        frame = cv2.resize(frame, None, fx=sx, fy=sy, interpolation=cv2.INTER_LINEAR)
    frame = frame.reshape(frame.shape[0], frame.shape[1], channels)
    th, tw = size
    frame = frame[:th, :tw]
    if frame.shape[0] < th or frame.shape[1] < tw:
        frame = cv2.copyMakeBorder(
            frame, 0, th - frame.shape[0], 0, tw - frame.shape[1], cv2.BORDER_REPLICATE
        ).reshape(th, tw, channels)
    return frame


def _fit_same_size(frames: np.ndarray, transform: FrameTransform, pad_value: int) -> np.ndarray:
    """Scale, then pad or crop, a (N, h, w, C) batch of frames of one size."""
    if transform.is_identity:
        return np.ascontiguousarray(frames)
    n, c = frames.shape[0], frames.shape[-1]
    big_h, big_w = transform.model_size
    sh, sw = transform.scaled_size
    if transform.scale != (1.0, 1.0):
        sx, sy = transform.scale
        shape = (n, big_h, big_w, c)
        exact = (sh, sw) == (big_h, big_w)
        out = np.empty(shape, np.uint8) if exact else np.full(shape, pad_value, np.uint8)
        for i in range(n):
            out[i, :sh, :sw] = _scale_frame(frames[i], sx, sy, (sh, sw))
        return out
    cx, cy = transform.crop
    region = frames[:, cy : cy + big_h, cx : cx + big_w]
    if region.shape[1:3] == (big_h, big_w):
        return np.ascontiguousarray(region)
    out = np.full((n, big_h, big_w, c), pad_value, np.uint8)
    out[:, : region.shape[1], : region.shape[2]] = region
    return out


class FrameFitter:
    """Fits frames one at a time, right after decoding (cache-friendly), for one model.

    Args:
        preprocessing: The model's preprocessing (from its spec).
        frame_order: Channel order of 3-channel frames (``bgr`` as OpenCV decodes).
    """

    def __init__(self, preprocessing: Preprocessing, frame_order: FrameOrder = "bgr"):
        if frame_order not in ("bgr", "rgb"):
            raise FrameError(f"frame_order must be 'bgr' or 'rgb', not {frame_order!r}")
        self.preprocessing = preprocessing
        self.frame_order = frame_order
        self._transforms: dict[tuple[int, int], FrameTransform] = {}

    def transform(self, height: int, width: int) -> FrameTransform:
        """The (cached) transform for frames of this size."""
        key = (height, width)
        found = self._transforms.get(key)
        if found is None:
            found = self._transforms[key] = FrameTransform.for_frame(
                height, width, self.preprocessing
            )
        return found

    def fit_batch(self, frames: np.ndarray) -> tuple[np.ndarray, FrameTransform]:
        """Fit a uint8 (N, H, W[, C]) batch of frames of one size."""
        pre = self.preprocessing
        batch = _as_batch(frames)
        _check_channels(batch, pre.color_order)
        transform = self.transform(batch.shape[1], batch.shape[2])
        if pre.channels == 1:  # to one channel first: less to resize
            gray = convert_channels(batch, "gray", self.frame_order)
            return _fit_same_size(gray, transform, pre.pad_value), transform
        # Resize first: fewer pixels to repeat or swap.
        fitted = _fit_same_size(batch, transform, pre.pad_value)
        return convert_channels(fitted, pre.color_order, self.frame_order), transform

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, FrameTransform]:
        """Fit one uint8 (H, W) or (H, W, C) frame; returns (model image (h, w, c), transform)."""
        frame = np.asarray(frame)
        if frame.ndim not in (2, 3):
            raise FrameError(f"a frame must be (H, W) or (H, W, C), got shape {frame.shape}")
        fitted, transform = self.fit_batch(frame[None])
        return fitted[0], transform


def fit_frames(
    frames: np.ndarray | Sequence[np.ndarray],
    preprocessing: Preprocessing,
    *,
    frame_order: FrameOrder = "bgr",
) -> tuple[np.ndarray, list[FrameTransform]]:
    """Bring frames to the model input: channels, then size (as ``preprocessing.fit`` says).

    Args:
        frames: uint8 (N, H, W, C) or (N, H, W) array, or a sequence of (H, W[, C]) frames
            that may differ in size.
        preprocessing: The model's preprocessing (from its spec).
        frame_order: Channel order of 3-channel frames (``bgr`` as OpenCV decodes).

    Returns:
        ``(batch, transforms)``: uint8 (N, height, width, channels) ready for the model, and
        one :class:`FrameTransform` per frame (frames of one size share one object) to map
        keypoints back with :func:`to_frame_coordinates`.

    Raises:
        FrameError: Not uint8, wrong dimensions, or a channel count that cannot be converted.
    """
    pre = preprocessing
    fitter = FrameFitter(pre, frame_order)
    if isinstance(frames, np.ndarray):
        batch, transform = fitter.fit_batch(frames)
        return batch, [transform] * len(batch)
    frames = [np.asarray(f) for f in frames]
    out = np.empty((len(frames), pre.height, pre.width, pre.channels), np.uint8)
    transforms = []
    for i, frame in enumerate(frames):
        if frame.ndim not in (2, 3):
            raise FrameError(
                f"frame {i} has shape {frame.shape}; each frame must be (H, W) or (H, W, C)"
            )
        out[i], transform = fitter(frame)
        transforms.append(transform)
    return out, transforms


def to_frame_coordinates(keypoints: np.ndarray, transforms: Sequence[FrameTransform]) -> np.ndarray:
    """Map model-input keypoints (N, K, D) back to the pixels of each frame.

    Args:
        keypoints: (N, K, D) with x, y first (confidence and other columns are kept).
        transforms: One transform per row, from :func:`fit_frames`.

    Returns:
        A new float32 (N, K, D) array.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if len(transforms) != len(keypoints):
        raise ValueError(f"{len(transforms)} transforms for {len(keypoints)} rows")
    if not len(transforms):
        return keypoints.copy()
    first = transforms[0]
    if all(t is first or t == first for t in transforms):
        return first.to_frame(keypoints)
    out = np.empty_like(keypoints)
    for i, transform in enumerate(transforms):
        out[i] = transform.to_frame(keypoints[i])
    return out
