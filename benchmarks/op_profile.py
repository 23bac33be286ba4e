"""Where onnxruntime's CPU time goes: the share of kernel time per operator type for the
networks of ``benchmarks/speed.py`` (random weights, without the peak finder), and what
onnxruntime's optimiser made of the graph (blocked NCHWc convolutions, layout reorders).

Each architecture is exported once (as ``speed.py`` does), then run in a session like the
runtime's (``create_session``: optimisation level all, idle threads not spinning) with
onnxruntime's profiler on: two warm-up calls, then ``--calls`` timed calls at
``--batch`` frames. Per operator type: its share of the summed kernel time, and how many
nodes of that type the optimised graph has. Read the shares, not the absolute times (the
profiler adds its own cost to every node).

Prints one table per architecture; writes ``benchmarks/results/op_profile.json``.

Usage: python benchmarks/op_profile.py [--arch stacked_densenet_leaky_relu_c16 ...]
       [--batch 32] [--calls 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from _common import print_table, save_json
from speed import ARCHITECTURES, export, frames

DEFAULT_ARCHITECTURES = ("stacked_densenet_leaky_relu", "stacked_densenet_leaky_relu_c16", "unet")


def profile(network: Path, batch: int, side: int, calls: int, threads: int, workdir: Path) -> dict:
    """Operator-type shares of the kernel time and node counts of the optimised graph."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(workdir / "optimised.onnx")
    options.log_severity_level = 3  # the optimised file's "hardware specific" notice
    options.enable_profiling = True
    options.profile_file_prefix = str(workdir / "profile")
    session = ort.InferenceSession(str(network), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: frames(batch, side)}
    for _ in range(2 + calls):  # two warm-up calls, left out below
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    timed_from = runs[2]
    events = [e for e in events if e.get("ts", 0) >= timed_from]
    times: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            times[event["args"]["op_name"]] += event["dur"]
    nodes = Counter(n.op_type for n in onnx.load(str(workdir / "optimised.onnx")).graph.node)
    total = sum(times.values())
    return {
        "shares": {op: t / total for op, t in times.most_common()},
        "nodes": dict(nodes),
        "kernel_ms_per_call": total / 1000 / calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", action="append", choices=sorted(ARCHITECTURES))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--side", type=int, default=160)
    args = parser.parse_args()
    results = {}
    for arch in args.arch or DEFAULT_ARCHITECTURES:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            export(arch, args.side, workdir)
            result = profile(
                workdir / f"{arch}.network.onnx",
                args.batch,
                args.side,
                args.calls,
                args.threads,
                workdir,
            )
        results[arch] = result
        rows = [
            [op, f"{100 * share:.1f}%", result["nodes"].get(op, 0)]
            for op, share in result["shares"].items()
            if share >= 0.001
        ]
        print_table(
            ["operator", "share of kernel time", "nodes"],
            rows,
            f"{arch}: batch {args.batch}, {args.threads} threads, "
            f"{result['kernel_ms_per_call']:.0f} ms of kernels per call",
        )
    save_json(
        "op_profile",
        {"batch": args.batch, "threads": args.threads, "side": args.side, "results": results},
    )


if __name__ == "__main__":
    main()
