"""Keypoint error statistics shared by training logs, evaluation and benchmarks."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PCK_THRESHOLDS", "PERCENTILES", "error_summary", "euclidean_errors", "keypoint_report"]

PERCENTILES = (0, 5, 25, 50, 75, 95, 100)
"""Percentiles logged every epoch and reported by evaluation."""
PCK_THRESHOLDS = (2.0, 5.0, 10.0)
"""Distances (pixels) for the percentage of correct keypoints."""
LARGE_ERROR_PX = 20.0
"""Errors above this are counted as gross failures (swaps, another animal)."""


def euclidean_errors(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Distance between predicted and true keypoints; NaN where the truth is missing.

    Args:
        predicted: (N, K, 2 or 3) predictions (x, y[, confidence]).
        true: (N, K, 2) ground truth with NaN for missing keypoints.

    Returns:
        float64 (N, K) errors in pixels.
    """
    predicted = np.asarray(predicted, dtype=np.float64)[..., :2]
    true = np.asarray(true, dtype=np.float64)[..., :2]
    return np.sqrt(((predicted - true) ** 2).sum(axis=-1))


def error_summary(errors: np.ndarray) -> dict[str, float]:
    """Summary of a set of errors (NaN ignored): mean, percentiles, PCK, mean accuracy.

    Mean accuracy is the paper's ``mean((1 + error) ** -1)``.
    """
    values = np.asarray(errors, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"count": 0}
    out: dict[str, float] = {"count": int(values.size), "mean": float(values.mean())}
    for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        out[f"p{p}"] = float(v)
    out["median"] = out["p50"]
    for t in PCK_THRESHOLDS:
        out[f"pck_{t:g}px"] = float((values <= t).mean())
    out["mean_accuracy"] = float((1.0 / (1.0 + values)).mean())
    out[f"share_over_{LARGE_ERROR_PX:g}px"] = float((values > LARGE_ERROR_PX).mean())
    return out


def keypoint_report(predicted: np.ndarray, true: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Overall and per-keypoint summaries, plus confidence statistics."""
    errors = euclidean_errors(predicted, true)
    report: dict[str, Any] = {"overall": error_summary(errors), "keypoints": {}}
    for k, name in enumerate(names):
        report["keypoints"][name] = error_summary(errors[:, k])
    predicted = np.asarray(predicted)
    if predicted.shape[-1] >= 3:
        conf = predicted[..., 2][np.isfinite(true[..., 0])]
        if conf.size:
            report["confidence"] = {
                "mean": float(conf.mean()),
                "median": float(np.median(conf)),
                "p5": float(np.percentile(conf, 5)),
            }
    return report
