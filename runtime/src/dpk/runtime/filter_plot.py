"""The before/after plot of ``dpk filter``: raw and cleaned x and y over time.

One PNG, two panels per keypoint shown (x, y): the raw track in grey, the cleaned one in
colour, dropped observations as red crosses and filled-in frames shaded. The keypoints
that changed most are shown (at most ``max_keypoints``). Matplotlib's Agg canvas, never
pyplot.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dpk.runtime.filtering import FLAG_INTERPOLATED, FLAG_LOW_CONFIDENCE, FLAG_OUTLIER
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.files import atomic_output

__all__ = ["plot_before_after"]


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How much each keypoint changed (mean absolute difference, NaN as large)."""
    diff = np.abs(np.nan_to_num(before[..., :2], nan=1e3) - np.nan_to_num(after[..., :2], nan=1e3))
    return diff.mean(axis=(0, 2))


def plot_before_after(
    before: Predictions,
    after: Predictions,
    output: str | os.PathLike,
    *,
    max_keypoints: int = 4,
    dpi: int = 90,
) -> Path:
    """Write the before/after PNG.

    Args:
        before: Raw predictions.
        after: Filtered predictions (with ``flags``).
        output: The ``.png`` file.
        max_keypoints: Keypoints shown (those that changed most).
        dpi: Resolution.

    Returns:
        The path written.

    Raises:
        DpkError: Not a .png output.
        OutputError: The output cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    output = Path(output)
    if output.suffix.lower() != ".png":
        raise DpkError(f"{output}: the plot is written as PNG; name it *.png")
    order = np.argsort(-_changed(before.keypoints, after.keypoints))[:max_keypoints]
    t = before.frame_indices
    flags = (
        after.flags if after.flags is not None else np.zeros(after.keypoints.shape[:2], np.uint8)
    )
    figure = Figure(figsize=(12, 2.2 * len(order) + 0.6), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(order), 2, squeeze=False, sharex=True)
    for row, j in enumerate(order):
        name = before.names[j]
        dropped = (flags[:, j] & (FLAG_OUTLIER | FLAG_LOW_CONFIDENCE)) > 0
        filled = (flags[:, j] & FLAG_INTERPOLATED) > 0
        for col, label in enumerate("xy"):
            ax = axes[row, col]
            ax.plot(t, before.keypoints[:, j, col], color="0.6", lw=0.8, label="raw")
            ax.plot(t, after.keypoints[:, j, col], color=f"C{row}", lw=1.2, label="filtered")
            ax.plot(
                t[dropped],
                before.keypoints[dropped, j, col],
                "x",
                color="red",
                ms=3,
                label="dropped",
            )
            for start in np.flatnonzero(np.diff(np.concatenate([[0], filled.astype(int)])) == 1):
                stop = int(start + np.argmin(np.concatenate([filled[start:], [False]])))
                ax.axvspan(
                    t[start] - 0.5, t[min(stop, len(t)) - 1] + 0.5, color="orange", alpha=0.25, lw=0
                )
            ax.set_ylabel(f"{name} {label} (px)")
            if label == "y":
                ax.invert_yaxis()
    axes[0, 0].legend(loc="upper right", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("frame")
    figure.suptitle(f"{before.source or 'predictions'}: raw (grey) and filtered; shaded: filled in")
    figure.tight_layout()
    with atomic_output(output) as tmp:
        figure.savefig(tmp, format="png")
    return output
