"""Evaluation of a trained run: errors per keypoint, PCK, the paper's mean accuracy, and
plots a person reads at a glance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dpk.runtime.preprocess import FrameTransform
from dpk.specs import ModelSpec, write_text_atomic
from dpk.trainer.metrics import euclidean_errors, keypoint_report

__all__ = [
    "EvaluationResult",
    "evaluate_arrays",
    "frame_pixels",
    "plot_confidence",
    "plot_errors",
    "plot_frames",
]


@dataclass
class EvaluationResult:
    """Where the evaluation went and what it found."""

    out_dir: Path
    report: dict[str, Any]
    files: list[Path]
    errors: np.ndarray | None = None
    """(N, K) Euclidean errors in the report's pixels (NaN where a label is missing)."""

    def summary(self) -> str:
        """Lines for the terminal: overall numbers and the worst keypoints."""
        o = self.report["overall"]
        lines = [
            f"{o['count']} keypoints: error mean {o['mean']:.2f} px, median {o['median']:.2f} px, "
            f"p95 {o['p95']:.2f} px; PCK@5px {o['pck_5px']:.1%}; mean accuracy {o['mean_accuracy']:.3f}; "
            f"over 20 px {o['share_over_20px']:.1%}"
            + (
                "; maps averaged over four quarter turns"
                if self.report.get("test_time") == "quarter_turns"
                else ""
            )
        ]
        per = self.report["keypoints"]
        worst = sorted((v.get("mean", 0.0), k) for k, v in per.items() if v.get("count"))[-3:]
        lines.append(
            "worst keypoints: " + ", ".join(f"{k} ({m:.1f} px)" for m, k in reversed(worst))
        )
        lines += [f"wrote {path}" for path in self.files]
        return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_errors(errors: np.ndarray, names: list[str], path: Path) -> None:
    """Box plot of the error distribution of each keypoint (log scale), with the median."""
    plt = _pyplot()
    data = [errors[:, k][np.isfinite(errors[:, k])] for k in range(len(names))]
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names) + 2), 4.5))
    ax.boxplot(
        [d if d.size else np.array([np.nan]) for d in data],
        whis=(5, 95),
        showfliers=True,
        flierprops={"markersize": 2, "alpha": 0.4},
    )
    ax.set_xticks(range(1, len(names) + 1), names, rotation=60, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("Euclidean error (px, log scale)")
    ax.set_title("Error per keypoint (box: quartiles, whiskers: 5th-95th percentile)")
    for threshold in (2, 5, 10):
        ax.axhline(threshold, color="grey", lw=0.6, ls=":")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confidence(confidence: np.ndarray, errors: np.ndarray, path: Path) -> None:
    """Histogram of confidence, and confidence against error."""
    plt = _pyplot()
    visible = np.isfinite(errors)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.hist(confidence[visible].ravel(), bins=40, color="tab:blue")
    left.set_xlabel("confidence (peak value)")
    left.set_ylabel("keypoints")
    left.set_title("Confidence of labelled keypoints")
    right.scatter(confidence[visible], errors[visible], s=3, alpha=0.3)
    right.set_yscale("log")
    right.set_xlabel("confidence")
    right.set_ylabel("error (px)")
    right.set_title("Low confidence flags large errors")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_frames(
    images: np.ndarray,
    predicted: np.ndarray,
    true: np.ndarray,
    errors: np.ndarray,
    spec: ModelSpec,
    path: Path,
    n: int = 12,
) -> None:
    """A grid of frames with true (green) and predicted (red) keypoints, worst frames first."""
    plt = _pyplot()
    frame_error = np.nanmean(np.where(np.isfinite(errors), errors, np.nan), axis=1)
    order = np.argsort(-np.nan_to_num(frame_error, nan=-1))
    chosen = np.concatenate([order[: n // 2], order[-(n - n // 2) :]])[: min(n, len(images))]
    cols = 4
    rows = int(np.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    edges = spec.skeleton.edges
    for ax, i in zip(axes.ravel(), chosen, strict=False):
        image = images[i]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        for child, parent in edges:
            ax.plot(*true[i, [child, parent], :2].T, color="lime", lw=0.8)
            ax.plot(*predicted[i, [child, parent], :2].T, color="red", lw=0.8)
        ax.scatter(true[i, :, 0], true[i, :, 1], s=10, c="lime", label="labelled")
        ax.scatter(
            predicted[i, :, 0], predicted[i, :, 1], s=10, c="red", marker="x", label="predicted"
        )
        ax.set_title(f"frame {i}: mean error {np.nan_to_num(frame_error[i]):.1f} px", fontsize=8)
        ax.axis("off")
    for ax in axes.ravel()[len(chosen) :]:
        ax.axis("off")
    axes.ravel()[0].legend(loc="lower left", fontsize=7)
    fig.suptitle("Worst and best frames (green: labelled, red: predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_arrays(
    spec: ModelSpec,
    images: np.ndarray,
    predicted: np.ndarray,
    true: np.ndarray,
    out_dir: Path,
    *,
    frame_transform: FrameTransform | None = None,
) -> EvaluationResult:
    """Write ``metrics.json`` and the three plots for predictions against labels.

    Args:
        spec: The run's spec (skeleton names, preprocessing).
        images: The frames as the model saw them (N, H, W, C).
        predicted: (N, K, 3) x, y, confidence in model-input pixels.
        true: (N, K, 2) labels in model-input pixels, NaN for missing.
        out_dir: Where the files go (created).
        frame_transform: When the labelled frames were fitted to a model input of another
            size (``Labels.frame_transform``), errors are measured in the labelled frames'
            pixels, the unit users label in, not in model-input pixels.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    predicted_px, true_px = frame_pixels(predicted, true, frame_transform)
    report = keypoint_report(predicted_px, true_px, spec.skeleton.names)
    report["n_frames"] = len(images)
    report["pixels"] = "labelled frame" if frame_transform is not None else "model input"
    # how the keypoints were found, as the exported file finds them (augmentation.test_time)
    report["test_time"] = "quarter_turns" if spec.quarter_turns_at_test_time else "off"
    errors = euclidean_errors(predicted_px, true_px)
    files = [
        out_dir / "metrics.json",
        out_dir / "errors.png",
        out_dir / "confidence.png",
        out_dir / "frames.png",
    ]
    write_text_atomic(files[0], json.dumps(report, indent=2) + "\n")
    plot_errors(errors, spec.skeleton.names, files[1])
    plot_confidence(predicted[..., 2], errors, files[2])
    plot_frames(images, predicted, true, errors, spec, files[3])
    return EvaluationResult(out_dir, report, files, errors)


def frame_pixels(
    predicted: np.ndarray, true: np.ndarray, frame_transform: FrameTransform | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true keypoints in the labelled frames' pixels.

    Args:
        predicted: (N, K, D) with x, y first, in model-input pixels.
        true: (N, K, 2) in model-input pixels.
        frame_transform: A ``FrameTransform`` from model input back to the labelled
            frames, or None when they are the same.

    Returns:
        The two arrays mapped back (unchanged when there is no transform).
    """
    if frame_transform is None:
        return predicted, true
    return frame_transform.to_frame(predicted), frame_transform.to_frame(true)
