"""Plotting predicted trajectories and confidence over time (``dpk plot``).

One PNG with three panels sharing the time axis: x, y and confidence of every keypoint.
Uses matplotlib's Agg canvas directly (never pyplot), so it works without a display and
does not change the caller's matplotlib backend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dpk.runtime.atomic import atomic_output
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError

__all__ = ["plot_predictions"]


def plot_predictions(
    predictions: Predictions,
    output: str | os.PathLike,
    *,
    keypoints: Sequence[str] | None = None,
    min_confidence: float | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Write a PNG of x, y and confidence over time for each keypoint.

    With several animals (an instance axis), one colour per track (named in the legend)
    and one line style per keypoint; animals without a track are left out.

    Args:
        predictions: What to plot.
        output: The ``.png`` file.
        keypoints: Names of the keypoints to plot (default: all).
        min_confidence: Leave out x and y where confidence is below this.
        title: Figure title (default: the source and model).
        dpi: Resolution.

    Returns:
        The path written.

    Raises:
        DpkError: Unknown keypoint names, no frames, or not a .png output.
        OutputError: The output folder is missing or not writable.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dpk.runtime.render import keypoint_colors

    output = Path(output)
    if output.suffix.lower() != ".png":
        raise DpkError(f"{output}: plots are written as PNG; name the output *.png")
    if predictions.n_frames == 0:
        raise DpkError("the predictions hold no frames to plot")
    names = predictions.names
    chosen = list(keypoints) if keypoints else names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise DpkError(f"unknown keypoints {unknown}; known: {', '.join(names)}")
    index = [names.index(n) for n in chosen]
    colors = keypoint_colors(len(names)) / 255.0
    fps = predictions.source_info.get("fps")
    frames = predictions.frame_indices.astype(np.float64)
    if predictions.image_names is None and fps:
        time, time_label = frames / fps, "time (s)"
    else:
        time, time_label = frames, "frame" if predictions.image_names is None else "image"
    order = np.argsort(frames, kind="stable")
    time = time[order]
    tracks: list[str] = []
    if predictions.has_instances:
        tracked = _tracked_only(predictions)
        tracks = list(tracked.track_names or [])
        data = tracked.keypoints[order]
    else:
        data = predictions.keypoints[order][:, None]
    x, y, conf = data[..., 0].copy(), data[..., 1].copy(), data[..., 2]
    if min_confidence is not None:
        low = ~(conf >= min_confidence)
        x[low] = np.nan
        y[low] = np.nan
    figure = Figure(figsize=(12, 8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(3, 1, sharex=True)
    panels = [(x, "x (px)"), (y, "y (px)"), (conf, "confidence")]
    marker = "." if len(time) < 200 else None
    track_colors = keypoint_colors(max(len(tracks), 1)) / 255.0
    styles = ["-", "--", ":", "-."]
    for ax, (values, label) in zip(axes, panels):
        for t in range(data.shape[1]):
            for n, k in enumerate(index):
                if tracks:
                    color, text = track_colors[t], f"{tracks[t]} {names[k]}"
                    line = styles[n % len(styles)]
                else:
                    color, text, line = colors[k], names[k], "-"
                ax.plot(
                    time,
                    values[:, t, k],
                    color=color,
                    ls=line,
                    lw=0.8,
                    marker=marker,
                    ms=3,
                    label=text,
                )
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].invert_yaxis()  # image y points down
    axes[2].set_xlabel(time_label)
    axes[0].legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        ncols=max(1, len(index) * max(len(tracks), 1) // 20 + 1),
        frameon=False,
    )
    default_title = " - ".join(
        str(Path(p).name) for p in (predictions.source, predictions.model_name) if p
    )
    figure.suptitle(title or default_title or "predictions")
    with atomic_output(output) as tmp:
        figure.savefig(tmp, format="png")
    return output


def _tracked_only(predictions: Predictions) -> Predictions:
    """One row per track (animals without a track left out)."""
    import dataclasses

    ids = predictions.track_ids
    if ids is None:
        return predictions.by_track()
    keypoints = predictions.keypoints.copy()
    keypoints[ids < 0] = np.nan
    return dataclasses.replace(predictions, keypoints=keypoints).by_track()
