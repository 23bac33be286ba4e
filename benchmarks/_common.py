"""Helpers shared by the benchmark scripts: tables, JSON results, machine description."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before any benchmark imports TensorFlow
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DPK_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"

__all__ = [
    "RESULTS",
    "ROOT",
    "SHARED_DATA",
    "machine",
    "median_time",
    "minutes_to_reach",
    "plot_error_boxes",
    "print_table",
    "save_json",
    "worker_answer",
]


def machine() -> dict[str, str]:
    """A short description of the machine the numbers come from."""
    from dpk.runtime.benchmark import machine_description

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": machine_description(),
        "python": platform.python_version(),
        "date": date.today().isoformat(),
        "commit": commit,
    }


def worker_answer(python: Path, script: Path | str, *args: str, failure: str) -> dict:
    """Run ``script --worker ARGS`` in a fresh ``python`` process, from the repository root,
    and return the JSON of its last stdout line (benchmarks time each side in a process of
    its own). On failure the worker's stderr tail is shown and ``failure`` ends the run."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [str(python), str(Path(script).resolve()), "--worker", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        import sys

        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(failure)
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> str:
    """Print (and return) a Markdown table."""

    def fmt(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        return str(value)

    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    text = "\n".join(lines)
    print(text + "\n")
    return text


def save_json(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/NAME.json`` with the machine description added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def plot_error_boxes(labels: Sequence[str], errors: Sequence, path: Path, title: str) -> None:
    """Box plots (log scale) of error distributions side by side, the paper's way of comparing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data = [np.asarray(e, dtype=float).ravel() for e in errors]
    data = [np.maximum(d[np.isfinite(d)], 1e-3) for d in data]
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(data) + 2), 4.5))
    ax.boxplot(data, whis=(5, 95), showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("Euclidean error (px, log)")
    for i, d in enumerate(data, start=1):
        ax.plot(i, d.mean(), "k^", ms=6)
    ax.set_title(
        title + "\n(box: quartiles, whiskers: 5th-95th percentile, triangle: mean)", fontsize=9
    )
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def minutes_to_reach(run_dir: Path, threshold_px: float) -> float | None:
    """Training minutes until the per-epoch validation error first fell to ``threshold_px``."""
    import csv

    log = Path(run_dir) / "log.csv"
    if not log.is_file():
        return None
    with log.open() as handle:
        for row in csv.DictReader(handle):
            try:
                if float(row["val_error"]) <= threshold_px:
                    return float(row["minutes"])
            except (KeyError, ValueError):
                return None
    return None
