"""Drawing predicted poses on the video they came from (``dpk render``).

Each keypoint gets its own colour; edges follow the skeleton's parent links; keypoints
below ``min_confidence`` are hidden and those below ``fade_below`` are drawn
semi-transparent. With several animals (predictions with an instance axis) each track
gets its own colour for all its keypoints and edges, and its name beside it; animals
without a track are grey. The overlay video is written to a temporary file and renamed when it is
complete.
"""

from __future__ import annotations

import math
import os
from functools import reduce
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dpk.runtime.predictions import Predictions
from dpk.runtime.video import SourceError, VideoSource
from dpk.specs.errors import DpkError
from dpk.specs.files import OutputError, atomic_output, check_writable
from dpk.specs.skeleton import Skeleton

__all__ = ["CODECS", "check_video_written", "draw_instances", "keypoint_colors", "render_video"]

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}
"""Default FourCC per output suffix."""
_SHIFT = 4  # subpixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


def keypoint_colors(n: int) -> np.ndarray:
    """``n`` distinct, saturated colours as uint8 (n, 3) RGB, evenly spaced in hue."""
    hues = (np.arange(n) * 180 / max(n, 1)).astype(np.uint8)
    hsv = np.stack([hues, np.full(n, 230, np.uint8), np.full(n, 255, np.uint8)], axis=-1)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]


def _point(x: float, y: float) -> tuple[int, int]:
    return (round(x * _ONE), round(y * _ONE))


def draw_pose(
    frame: np.ndarray,
    keypoints: np.ndarray,
    edges: list[tuple[int, int]],
    colors_bgr: list[tuple[int, int, int]],
    *,
    min_confidence: float,
    fade_below: float,
    radius: int,
    thickness: int,
) -> None:
    """Draw one pose on a BGR frame in place (hidden below ``min_confidence``)."""
    x, y, conf = keypoints[:, 0], keypoints[:, 1], keypoints[:, 2]
    conf = np.where(np.isnan(conf), 1.0, conf)  # models without confidence
    visible = np.isfinite(x) & np.isfinite(y) & (conf >= min_confidence)
    strong = visible & (conf >= fade_below)
    weak = visible & ~strong
    layers = [(weak, True), (strong, False)] if weak.any() else [(strong, False)]
    for mask, faded in layers:
        canvas = frame.copy() if faded else frame
        for child, parent in edges:
            if visible[child] and visible[parent] and (mask[child] or mask[parent]):
                if faded and strong[child] and strong[parent]:
                    continue
                cv2.line(
                    canvas,
                    _point(x[child], y[child]),
                    _point(x[parent], y[parent]),
                    colors_bgr[child],
                    thickness,
                    cv2.LINE_AA,
                    _SHIFT,
                )
        for k in np.flatnonzero(mask):
            cv2.circle(
                canvas, _point(x[k], y[k]), radius * _ONE, colors_bgr[k], -1, cv2.LINE_AA, _SHIFT
            )
        if faded:
            cv2.addWeighted(canvas, 0.45, frame, 0.55, 0, dst=frame)


def draw_instances(
    frame: np.ndarray,
    predictions: Predictions,
    row: int,
    edges: list[tuple[int, int]],
    *,
    min_confidence: float,
    fade_below: float,
    radius: int,
    thickness: int,
) -> None:
    """Draw every animal of one row in place: one colour and a name label per track."""
    names = predictions.track_names or []
    palette = keypoint_colors(max(len(names), 1))
    k = predictions.skeleton.n_keypoints
    scale = max(1, round(frame.shape[0] / 400))
    for j in range(predictions.n_instances):
        points = predictions.keypoints[row, j]
        track = -1 if predictions.track_ids is None else int(predictions.track_ids[row, j])
        r, g, b = (int(v) for v in palette[track]) if track >= 0 else (160, 160, 160)
        draw_pose(
            frame,
            points,
            edges,
            [(b, g, r)] * k,
            min_confidence=min_confidence,
            fade_below=fade_below,
            radius=radius,
            thickness=thickness,
        )
        shown = np.isfinite(points[:, :2]).all(axis=1) & ~(points[:, 2] < min_confidence)
        if track >= 0 and shown.any():
            x, y = points[shown, :2].min(axis=0)
            (w, h), _ = cv2.getTextSize(names[track], cv2.FONT_HERSHEY_SIMPLEX, 0.35 * scale, 1)
            cv2.putText(
                frame,
                names[track],
                (
                    int(min(max(x, 0), frame.shape[1] - w - 1)),
                    int(max(y - 2 * radius, h + 1)),
                ),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.35 * scale,
                (b, g, r),
                1,
                cv2.LINE_AA,
            )


def render_video(
    video: str | os.PathLike,
    predictions: Predictions,
    output: str | os.PathLike,
    *,
    min_confidence: float = 0.1,
    fade_below: float = 0.5,
    skeleton: Skeleton | None = None,
    radius: int | None = None,
    thickness: int | None = None,
    fps: float | None = None,
    codec: str | None = None,
    label_frames: bool = True,
    progress: bool = False,
    unreadable: dict[int, str] | None = None,
) -> Path:
    """Write a copy of the predicted frames of ``video`` with the poses drawn on them.

    Args:
        video: The video the predictions were made on.
        predictions: Keypoints per frame (``frame_indices`` are video frames).
        output: The overlay video (``.mp4``, ``.avi``, ``.mkv`` or ``.mov``).
        min_confidence: Hide keypoints (and their edges) below this confidence.
        fade_below: Draw keypoints below this confidence semi-transparent.
        skeleton: Edges to draw (default: the predictions' skeleton).
        radius: Keypoint radius in pixels (default: from the frame size).
        thickness: Edge thickness in pixels (default: from the radius).
        fps: Output frame rate (default: the video's, divided by the prediction step).
        codec: FourCC (default: ``mp4v`` for .mp4/.mkv/.mov, ``MJPG`` for .avi).
        label_frames: Write the frame index in the top-left corner.
        progress: Show a progress bar.
        unreadable: A dict to fill with the frames that could not be read (index ->
            reason); they are written black with their frame number.

    Returns:
        The path written.

    Raises:
        SourceError: The video cannot be read.
        DpkError: Predictions that do not fit the video, or an unsupported output suffix.
        OutputError: The output cannot be written (missing folder, read-only, the video
            itself), or OpenCV did not really write it (a full disk); no file is left.
    """
    from tqdm.auto import tqdm

    output = Path(output)
    suffix = output.suffix.lower()
    if codec is None and suffix not in CODECS:
        raise DpkError(f"{output}: unsupported video suffix; use one of {', '.join(CODECS)}")
    check_writable(output, inputs=[video])
    skeleton = skeleton or predictions.skeleton
    if list(skeleton.names) != predictions.names:
        raise DpkError("the skeleton's keypoints differ from the predictions' keypoints")
    if predictions.image_names is not None:
        raise DpkError(
            "these predictions were made on an image folder, not a video: there is no video "
            "to draw them on (use dpk plot, or predict on the video)"
        )
    rows = {int(f): i for i, f in enumerate(predictions.frame_indices.tolist())}
    if not rows:
        raise DpkError("the predictions hold no frames to render")
    frames = sorted(rows)
    step = reduce(math.gcd, np.diff(frames).tolist(), 0) or 1
    source = VideoSource(Path(video), frames[0], frames[-1] + 1, step)
    width, height = source.info["width"], source.info["height"]
    made_on = predictions.source_info
    made_size = (made_on.get("width"), made_on.get("height"))
    if all(made_size) and made_size != (width, height):
        raise DpkError(
            f"{video}: frames are {width}x{height}, but the predictions were made on "
            f"{made_size[0]}x{made_size[1]} frames; render on the same video"
        )
    n_video = source.n_frames
    if n_video is not None and frames[-1] >= n_video:
        raise DpkError(
            f"{video}: has {n_video} frames, but the predictions reach frame {frames[-1]}; "
            "render on the video they were made on"
        )
    base_fps = source.info.get("fps") or 25.0
    fps = fps or base_fps / step
    radius = radius or max(2, round(min(width, height) / 150))
    thickness = thickness or max(1, radius // 2)
    colors = [(int(b), int(g), int(r)) for r, g, b in keypoint_colors(skeleton.n_keypoints)]
    edges = skeleton.edges
    keypoints = predictions.keypoints
    style: dict[str, Any] = dict(
        min_confidence=min_confidence, fade_below=fade_below, radius=radius, thickness=thickness
    )
    if unreadable is None:
        unreadable = {}
    written = 0
    with atomic_output(output, inputs=[video]) as tmp:
        writer = cv2.VideoWriter(
            str(tmp),
            cv2.VideoWriter_fourcc(*(codec or CODECS[suffix])),  # type: ignore[attr-defined]
            fps,
            (width, height),
        )
        if not writer.isOpened():
            raise OutputError(
                f"{output}: OpenCV cannot open a video writer (unsupported format, or the "
                "disk is full); try .avi, or free some space"
            )
        try:
            with tqdm(
                total=len(source), unit="frame", desc=output.name, disable=not progress
            ) as bar:
                for read in source:
                    bar.update(1)
                    if read.index not in rows:
                        continue
                    frame = read.frame
                    if frame is None:
                        unreadable[read.index] = read.error or "unreadable"
                        frame = np.zeros((height, width, 3), np.uint8)
                    elif predictions.has_instances:
                        draw_instances(frame, predictions, rows[read.index], edges, **style)
                    else:
                        draw_pose(frame, keypoints[rows[read.index]], edges, colors, **style)
                    if label_frames:
                        cv2.putText(
                            frame,
                            str(read.index),
                            (4, 4 + 10 * max(1, round(height / 400)) + 4),
                            cv2.FONT_HERSHEY_SIMPLEX,
                            0.4 * max(1, round(height / 400)),
                            (255, 255, 255),
                            1,
                            cv2.LINE_AA,
                        )
                    writer.write(frame)
                    written += 1
        finally:
            writer.release()
        if len(unreadable) == len(frames):
            raise SourceError(f"{video}: none of the frames to render could be decoded")
        check_video_written(tmp, written, output)
    return output


def check_video_written(path: Path, n_frames: int, name: str | os.PathLike) -> None:
    """Check that OpenCV really wrote ``n_frames`` frames to ``path``.

    ``cv2.VideoWriter`` fails without raising (a full disk leaves a truncated or empty
    file), so the written file is opened again: it must hold ``n_frames`` frames and its
    last frame must decode.

    Args:
        path: The file the writer filled.
        n_frames: Frames given to the writer.
        name: The output's name for the message.

    Raises:
        OutputError: The file is missing, empty, or does not hold the frames.
    """
    size = path.stat().st_size if path.exists() else 0
    problem = None
    if size == 0:
        problem = "the video writer wrote nothing"
    else:
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                problem = f"the written file ({size} bytes) cannot be opened again"
            else:
                count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
                if count != n_frames:
                    problem = f"the written file holds {max(count, 0)} of {n_frames} frames"
                else:
                    capture.set(cv2.CAP_PROP_POS_FRAMES, n_frames - 1)
                    ok, _ = capture.read()
                    if not ok:
                        problem = "the last frame of the written file does not decode"
        finally:
            capture.release()
    if problem is not None:
        raise OutputError(
            f"{name}: writing the video failed ({problem}; is the disk full?); free some "
            "space or choose another folder"
        )
