"""Batch prediction throughput: one process against a local Dask cluster (issue 14's goal:
``--workers 2`` gives >= 90% of one ``dpk predict`` process's throughput per core used).

Run from the repository root::

    .venv/bin/python benchmarks/batch_throughput.py [--copies 20] [--stop 200] [--repeats 1]

``--copies`` real copies of the mirror-mouse demo video (``--stop`` frames of each; 0 for
all 994) are predicted with ``stacked_densenet.mirror_mouse`` on the CPU by:

- ``1 process``: ``dpk predict COPIES/ -O OUT --threads 1`` (one core);
- ``--workers 2``: ``dpk predict COPIES/ -O OUT --workers 2`` (two worker processes of one
  onnxruntime thread each: two cores), cluster start-up included.

Both run side by side in one session (interleaved when ``--repeats`` > 1; the best of each
is kept). Per core: frames per wall-clock second divided by the cores used; per CPU
second: frames divided by the CPU time of the command and all its processes. Then the
``--workers 2`` run is repeated on its finished folder: every video must be skipped.
Prints a Markdown table; writes ``benchmarks/results/batch_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, print_table, save_json

VIDEO = SHARED_DATA / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
MODEL = "stacked_densenet.mirror_mouse"


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(label: str, folder: Path, out: Path, extra: list[str], stop: int, model: str) -> dict:
    command = [sys.executable, "-m", "dpk.runtime.cli", "predict", str(folder), "-m", model,
               "-O", str(out), "--device", "cpu", "-q", *extra]  # fmt: skip
    if stop:
        command += ["--stop", str(stop)]
    load = os.getloadavg()[0]  # > 0.5 before a run: something else was using the machine
    cpu0, wall0 = _cpu_children(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - wall0, _cpu_children() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    manifest = json.loads((out / "dpk-manifest.json").read_text())
    frames = sum(v["frames"] for v in manifest["videos"])
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "frames": frames,
        "load_1min_before": round(load, 2),
        "stdout": done.stdout,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--stop", type=int, default=200, help="frames per video (0: all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--model", default=MODEL, help=f"zoo name or .onnx file (default {MODEL})")
    args = parser.parse_args()
    configs = {"1 process": (["--threads", "1"], 1), "--workers 2": (["--workers", "2"], 2)}
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="dpk-batch-bench-") as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        for i in range(args.copies):
            shutil.copyfile(VIDEO, folder / f"mouse_{i:02d}.mp4")
        for repeat in range(args.repeats):
            for label, (extra, cores) in configs.items():
                out = Path(tmp) / f"out-{label.strip('-').replace(' ', '_')}-{repeat}"
                result = run(label, folder, out, extra, args.stop, args.model)
                result["cores"] = cores
                result["out"] = out
                print(f"{label}: {result['frames']} frames in {result['wall_s']:.1f} s", flush=True)
                if label not in best or result["wall_s"] < best[label]["wall_s"]:
                    best[label] = result
        rerun = run(
            "rerun", folder, best["--workers 2"]["out"], ["--workers", "2"], args.stop, args.model
        )
        all_skipped = f"{args.copies} videos: {args.copies} skipped" in rerun["stdout"]
    base = best["1 process"]
    base_core = base["frames"] / base["wall_s"] / base["cores"]
    base_cpu = base["frames"] / base["cpu_s"]
    rows, payload = [], {"copies": args.copies, "frames_per_video": args.stop or 994}
    for label, r in best.items():
        fps = r["frames"] / r["wall_s"]
        per_core = fps / r["cores"]
        per_cpu = r["frames"] / r["cpu_s"]
        rows.append((label, r["cores"], r["frames"], f"{r['wall_s']:.1f}", f"{fps:.1f}",
                     f"{per_core:.1f}", f"{per_core / base_core:.2f}", f"{per_cpu:.1f}",
                     f"{per_cpu / base_cpu:.2f}"))  # fmt: skip
        payload[label] = {k: v for k, v in r.items() if k not in ("stdout", "out")}
        payload[label].update(per_core_ratio=per_core / base_core, per_cpu_ratio=per_cpu / base_cpu)
    payload["rerun_all_skipped"] = all_skipped
    print_table(
        ("run", "cores", "frames", "wall s", "frames/s", "frames/s per core",
         "per core vs 1 process", "frames per CPU s", "per CPU s vs 1 process"),
        rows,
        title=f"{args.copies} copies of the mirror-mouse video, {args.stop or 994} frames each, "
        f"{Path(args.model).name} on CPU (rerun on the finished folder: "
        f"{'every video skipped' if all_skipped else 'NOT all skipped'})",
    )  # fmt: skip
    save_json("batch_throughput", payload)


if __name__ == "__main__":
    main()
