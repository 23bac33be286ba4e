"""The before/after plot of ``dpk filter``: raw and cleaned x and y over time.

One PNG, two panels per keypoint shown (x, y): the raw track in grey, the cleaned one in
colour, dropped observations as red crosses and filled-in frames shaded. The keypoints
that changed most are shown (at most ``max_keypoints``).

Several tracked animals: one group of rows per track, named by its track name and drawn
in its own colour. The tracks that changed most are shown (at most ``max_tracks``, in
track order), each with its most changed keypoints (``max_keypoints`` shared among them,
at least one each), so the figure stays at most ``max(max_keypoints, max_tracks)`` rows
tall. Untracked animals are not drawn (``dpk filter`` leaves them as they are).
Matplotlib's Agg canvas, never pyplot.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dpk.runtime.filtering import (
    FLAG_INTERPOLATED,
    FLAG_LOW_CONFIDENCE,
    FLAG_OUTLIER,
    by_track_array,
)
from dpk.runtime.predictions import Predictions
from dpk.specs.errors import DpkError
from dpk.specs.files import atomic_output

__all__ = ["plot_before_after"]


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How much each keypoint changed (mean absolute difference, NaN as large): (..., K)."""
    diff = np.abs(np.nan_to_num(before[..., :2], nan=1e3) - np.nan_to_num(after[..., :2], nan=1e3))
    return diff.mean(axis=(0, -1))


def _panels(
    before: Predictions, after: Predictions, max_keypoints: int, max_tracks: int
) -> tuple[list[tuple[str, int, np.ndarray, np.ndarray, np.ndarray]], str]:
    """Rows to draw: (label, colour, raw (N, 3), filtered (N, 3), flags (N,)) and a note."""
    flags = (
        after.flags if after.flags is not None else np.zeros(after.keypoints.shape[:-1], np.uint8)
    )
    if not before.has_instances:
        order = np.argsort(-_changed(before.keypoints, after.keypoints))[:max_keypoints]
        rows = [
            (before.names[j], row, before.keypoints[:, j], after.keypoints[:, j], flags[:, j])
            for row, j in enumerate(order)
        ]
        return rows, ""
    names = list(after.track_names or [])
    ids = after.track_ids
    if ids is None or not (ids >= 0).any():
        raise DpkError("no tracked animal to plot; track the animals first")
    # change per track, summed over its instance rows (no (N, T, ...) array of all tracks)
    r, c = np.nonzero(ids >= 0)
    change = np.zeros((len(names), before.keypoints.shape[2]))
    np.add.at(
        change, ids[r, c], _changed(before.keypoints[None, r, c], after.keypoints[None, r, c])
    )
    seen = np.unique(ids[ids >= 0])
    order = np.argsort(-change[seen].sum(axis=1), kind="stable")[:max_tracks]
    shown: list[int] = np.sort(seen[order]).tolist()
    raw = by_track_array(before.keypoints, ids, shown)
    clean = by_track_array(after.keypoints, ids, shown)
    track_flags = by_track_array(flags, ids, shown, fill=0)
    per_track = max(1, max_keypoints // len(shown))
    rows = []
    for column, t in enumerate(shown):
        for j in np.argsort(-change[t])[:per_track]:
            label = f"{names[t]} {before.names[j]}"
            series = (raw[:, column, j], clean[:, column, j], track_flags[:, column, j])
            rows.append((label, column, *series))
    note = f"; tracks {', '.join(names[t] for t in shown)}"
    if len(shown) < len(seen):
        note += f" ({len(shown)} of {len(seen)}, most changed)"
    return rows, note


def _draw(
    ax: Any,
    t: np.ndarray,
    raw: np.ndarray,
    clean: np.ndarray,
    flags: np.ndarray,
    col: int,
    colour: int,
) -> None:
    """One panel: coordinate ``col`` raw, filtered, dropped points and filled-in spans."""
    dropped = (flags & (FLAG_OUTLIER | FLAG_LOW_CONFIDENCE)) > 0
    filled = (flags & FLAG_INTERPOLATED) > 0
    ax.plot(t, raw[:, col], color="0.6", lw=0.8, label="raw")
    ax.plot(t, clean[:, col], color=f"C{colour}", lw=1.2, label="filtered")
    ax.plot(t[dropped], raw[dropped, col], "x", color="red", ms=3, label="dropped")
    for start in np.flatnonzero(np.diff(np.concatenate([[0], filled.astype(int)])) == 1):
        stop = int(start + np.argmin(np.concatenate([filled[start:], [False]])))
        ax.axvspan(t[start] - 0.5, t[min(stop, len(t)) - 1] + 0.5, color="orange", alpha=0.25, lw=0)


def plot_before_after(
    before: Predictions,
    after: Predictions,
    output: str | os.PathLike,
    *,
    max_keypoints: int = 4,
    max_tracks: int = 4,
    dpi: int = 90,
) -> Path:
    """Write the before/after PNG.

    Args:
        before: Raw predictions.
        after: Filtered predictions (with ``flags``), of the same layout; with several
            animals, its ``track_ids`` and ``track_names`` say which row is which track.
        output: The ``.png`` file.
        max_keypoints: Keypoints shown (those that changed most); with tracks, shared
            among the tracks shown (at least one each).
        max_tracks: Tracks shown, for several animals (those that changed most).
        dpi: Resolution.

    Returns:
        The path written.

    Raises:
        DpkError: Not a .png output, or several animals of which none is tracked.
        OutputError: The output cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    output = Path(output)
    if output.suffix.lower() != ".png":
        raise DpkError(f"{output}: the plot is written as PNG; name it *.png")
    try:
        rows, note = _panels(before, after, max_keypoints, max_tracks)
    except DpkError as error:
        raise DpkError(f"{before.source or output}: {error}") from None
    t = before.frame_indices
    figure = Figure(figsize=(12, 2.2 * len(rows) + 0.6), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(rows), 2, squeeze=False, sharex=True)
    for row, (label, colour, raw, clean, flags) in enumerate(rows):
        for col, axis_name in enumerate("xy"):
            ax = axes[row, col]
            _draw(ax, t, raw, clean, flags, col, colour if before.has_instances else row)
            ax.set_ylabel(f"{label} {axis_name} (px)")
            if axis_name == "y":
                ax.invert_yaxis()
    axes[0, 0].legend(loc="upper right", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("frame")
    figure.suptitle(
        f"{before.source or 'predictions'}: raw (grey) and filtered; shaded: filled in{note}"
    )
    figure.tight_layout()
    with atomic_output(output) as tmp:
        figure.savefig(tmp, format="png")
    return output
