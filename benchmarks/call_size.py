"""Frames per onnxruntime call on the CPU: the measurement behind ``CPU_CALL_FRAMES``.

For each architecture of ``benchmarks/speed.py`` (same specs, random weights, exported
in a separate process), 100 frames are run through ``dpk.runtime.Predictor.run`` with
``call_frames`` set to each call size (100 = one call), in a process that has never
loaded TensorFlow. Frames per second: per call size the median of 3 timed passes after 2
warm-up passes, the best of ``--rounds`` rounds (default 2; the order of call sizes is
reversed every other round).

Usage: python benchmarks/call_size.py [--arch NAME ...] [--threads N] [--rounds R]
Prints a table, writes ``benchmarks/results/call_size.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _common import median_time, print_table, save_json, worker_answer
from speed import ARCHITECTURES, frames, worker

CALL_SIZES = [100, 50, 32, 16, 8, 4]
N_FRAMES = 100


def time_calls(arch: str, side: int, threads: int, rounds: int, workdir: Path) -> dict:
    """Worker: Predictor.run on N_FRAMES frames at each call size."""
    from dpk.runtime import Predictor

    predictor = Predictor(workdir / f"{arch}.onnx", device="cpu", threads=threads)
    images = frames(N_FRAMES, side)
    best: dict[str, float] = {}
    for r in range(rounds):
        for size in CALL_SIZES if r % 2 == 0 else CALL_SIZES[::-1]:
            predictor.call_frames = size
            fps = N_FRAMES / median_time(lambda: predictor.run(images), repeats=3, warmup=2)
            best[str(size)] = max(best.get(str(size), 0.0), fps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", action="append", choices=sorted(ARCHITECTURES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--side", type=int, default=160)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        answer = time_calls(args.worker, args.side, args.threads, args.rounds, Path(args.workdir))
        print(json.dumps(answer))
        return
    rows, table = [], []
    for arch in args.arch or list(ARCHITECTURES):
        with tempfile.TemporaryDirectory() as tmp:
            common = ["--side", str(args.side), "--threads", str(args.threads)]
            timing = [*common, "--workdir", tmp, "--rounds", str(args.rounds)]
            worker("export", arch, *common, "--repeats", "1", "--batches", "1", "--workdir", tmp)
            fps = worker_answer(
                Path(sys.executable), __file__, arch, *timing, failure=f"timing {arch} failed"
            )
        best = max(fps.values())
        rows.append({"architecture": arch, "fps": fps})
        table.append([arch, *(f"{fps[str(s)]:.1f} ({fps[str(s)] / best:.2f})" for s in CALL_SIZES)])
        print(table[-1], flush=True)
    print_table(
        ["architecture", *(f"calls of {s}" for s in CALL_SIZES)],
        table,
        f"Predictor.run on {N_FRAMES} frames, {args.threads} threads: frames/s (share of the best)",
    )
    save_json(
        "call_size",
        {"threads": args.threads, "rounds": args.rounds, "frames": N_FRAMES, "rows": rows},
    )


if __name__ == "__main__":
    main()
