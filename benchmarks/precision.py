"""Precision variants: float32, float16 and int8 copies of the zoo models, speed and accuracy.

For each shipped float zoo model (``zoo/src/dpk/zoo/models/*.onnx`` but the quantised copies
such as ``unet.fly13_int8``; ``--model`` names other
files instead, ``--model zoo`` the shipped ones, e.g. ``--model zoo --model
unet.fly13.onnx`` after ``dpk export RUN -o unet.fly13.onnx``) the float16 and int8 copies are made with the trainer's own functions
(``dpk.trainer.export.variants.to_float16`` and ``to_int8``: int8 is static QDQ
quantisation calibrated on TRAINING frames, 32 of them chosen at random as ``dpk export
--quantize int8`` does with a run's check images; never on the held-out frames). Then,
in one process:

- accuracy on the held-out frames against their labels. The frames come from the
  trainer's ``load_training_data`` with the spec stored in the model file, so the crops
  and the split are those of training: the fly models get frames 1200-1499 of the SLEAP
  fly clip (160x160 crops centred on each fly's labelled thorax), the mouse model the
  mirror-mouse validation split. Error: Euclidean distance to the label in the labelled
  frames' pixels (the mouse's full-resolution frames, not its half-size input); missing
  keypoints are not counted.
- throughput in frames per second through ``Predictor.run`` on held-out model inputs at
  batch 1 and 32, one onnxruntime thread unless ``--threads`` says otherwise, in
  alternating rounds (fp32, fp16, int8, fp32, ...); the median of the rounds' medians.
- what onnxruntime made of the int8 file: its optimised graph's quantised convolutions
  (QLinearConv / ConvInteger) against float ones, and the QuantizeLinear /
  DequantizeLinear pairs left around float operators; whether the CPU has VNNI.

Prints a Markdown table; writes ``benchmarks/results/precision.json``.

Usage: .venv/bin/python benchmarks/precision.py [--model zoo|FILE.onnx ...] [--rounds 5]
[--threads 1] [--calibration 32] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from _common import ROOT, SHARED_DATA, median_time, print_table, save_json

ZOO_MODELS = ROOT / "zoo" / "src" / "dpk" / "zoo" / "models"
PRECISIONS = ("fp32", "fp16", "int8")
BATCHES = (1, 32)
REPEATS = {1: 15, 32: 3}
"""Timed calls per round at each batch size."""


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux), for the VNNI question."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def locate_data(spec, given: Path | None):
    """``spec`` with its labels file found: in ``--data-dir``; where the spec says (an
    exported run keeps its absolute path); else in the shared data folder that holds a file
    of that name (the zoo's files keep only the name)."""
    data = spec.data
    path = Path(data.path)
    if given is None:
        base = Path(data.relative_to) if data.relative_to else None
        if (path.is_absolute() or base is not None) and ((base or Path("/")) / path).exists():
            return spec
        folders = sorted(f for f in SHARED_DATA.iterdir() if (f / path.name).exists())
        if not folders:
            raise SystemExit(f"no folder of the shared data holds {path.name}: give --data-dir")
        given = folders[0]
    located = data.model_copy(update={"path": str(given / path.name), "relative_to": None})
    return spec.model_copy(update={"data": located})


def load_split(spec, cache: dict):
    """(train, validation) through the trainer's loader, cached per data section."""
    from dpk.trainer.data.loading import load_training_data

    key = (spec.data.model_dump_json(), spec.preprocessing.model_dump_json())
    if key not in cache:
        cache[key] = load_training_data(spec, Path(spec.data.path).parent)
    return cache[key]


def errors_px(predicted: np.ndarray, labels, n: int) -> np.ndarray:
    """(n, K) Euclidean errors of the first ``n`` examples of ``labels``, in the labelled
    frames' pixels; NaN where the keypoint is not labelled."""
    from dpk.trainer.evaluate import frame_pixels
    from dpk.trainer.metrics import euclidean_errors

    points, truth = frame_pixels(
        predicted[..., :2], labels.keypoints[:n, :, :2], labels.frame_transform
    )
    return euclidean_errors(points, truth)


def added_median_ci(error: np.ndarray, reference: np.ndarray, n: int = 1000) -> list[float]:
    """95% interval of the added median error (``error`` vs ``reference``, both (N, K)),
    by a paired bootstrap over the examples."""
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(error), (n, len(error)))
    added = [np.nanmedian(error[i]) - np.nanmedian(reference[i]) for i in picks]
    return [float(v) for v in np.percentile(added, [2.5, 97.5])]


OP_GROUPS = {
    "convolutions": {"Conv", "FusedConv", "NhwcFusedConv", "QLinearConv", "ConvInteger"},
    "float activations": {"Selu", "Elu", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh"},
    "(de)quantize": {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"},
    "concat + layout": {"Concat", "QLinearConcat", "ReorderInput", "ReorderOutput", "Transpose"},
}
"""Operator types grouped for the table of where the time goes; the rest is ``other``."""
COUNTED_OPS = ("Conv", "FusedConv", "QLinearConv", "ConvInteger", "QuantizeLinear",
               "DequantizeLinear", "Cast", "Selu", "Clip", "Concat", "QLinearConcat")  # fmt: skip


def op_profile(path: Path, threads: int, batch: np.ndarray, calls: int = 3) -> dict:
    """What onnxruntime runs for ``path`` and where its time goes on ``batch``: operator
    counts of the optimised graph (:data:`COUNTED_OPS`), and milliseconds per call of each
    operator type (its profiler, ``calls`` calls after one warm-up)."""
    import json

    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        counts = Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)
        session.run(["keypoints"], {"image": batch})
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session.run(["keypoints"], {"image": batch})  # warm-up (profiled too: skipped below)
        for _ in range(calls):
            session.run(["keypoints"], {"image": batch})
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    first_end = runs[0]["ts"] + runs[0]["dur"] if runs else 0
    ms: Counter[str] = Counter()
    for event in events:
        kernel = event.get("cat") == "Node" and event["name"].endswith("_kernel_time")
        if kernel and event["ts"] >= first_end:
            ms[event["args"]["op_name"]] += event["dur"] / 1e3 / calls
    return {
        "ops": {op: counts[op] for op in COUNTED_OPS if counts[op]},
        "ms_per_op_type": {op: round(v, 2) for op, v in ms.most_common()},
    }


def grouped_ms(ms_per_op_type: dict[str, float]) -> dict[str, float]:
    """Milliseconds per call in each of :data:`OP_GROUPS`, ``other`` and ``total``."""
    groups = {name: 0.0 for name in [*OP_GROUPS, "other"]}
    for op, value in ms_per_op_type.items():
        name = next((g for g, ops in OP_GROUPS.items() if op in ops), "other")
        groups[name] += value
    groups["total"] = sum(ms_per_op_type.values())
    return groups


def is_quantised(path: Path) -> bool:
    """Whether a model file is already a quantised copy (``unet.fly13_int8``): it has no
    float32 copy of its own to compare."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type == "QuantizeLinear" for node in graph.node)


def measure_model(path: Path, args, cache: dict) -> list[dict]:
    from dpk.runtime import Predictor
    from dpk.runtime.model_file import ModelFile
    from dpk.trainer.export.variants import to_float16, to_int8

    spec = ModelFile.load(path).spec
    if spec.data is None:
        raise SystemExit(f"{path.name}: its spec has no data section, so no held-out frames")
    train, validation = load_split(locate_data(spec, args.data_dir), cache)
    if len(validation.images) == 0:
        raise SystemExit(f"{path.name}: the spec's data has no held-out frames")
    held_out = validation.images
    if args.frames and len(held_out) > args.frames:
        held_out = held_out[: args.frames]
    seed = spec.training.seed if spec.training is not None else 0
    rng = np.random.default_rng(seed)
    n_cal = min(args.calibration, len(train.images))
    calibration = train.images[np.sort(rng.choice(len(train.images), n_cal, replace=False))]
    name = path.name.removesuffix(".onnx")
    print(
        f"{name}: {len(train.images)} training / {len(validation.images)} held-out examples "
        f"({len(held_out)} used), calibrating int8 on {n_cal} training frames",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="dpk-precision-") as tmp:
        files = {
            "fp32": path,
            "fp16": to_float16(path, Path(tmp) / f"{name}.fp16.onnx"),
            "int8": to_int8(path, Path(tmp) / f"{name}.int8.onnx", calibration),
        }
        predictors = {
            p: Predictor(f, device="cpu", batch_size=32, threads=args.threads, name=name)
            for p, f in files.items()
        }
        keypoints = {p: predictors[p].run(held_out) for p in PRECISIONS}
        inputs = {b: held_out[np.arange(b) % len(held_out)] for b in BATCHES}
        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.rounds):
            for p in PRECISIONS:
                for b in BATCHES:
                    call = functools.partial(predictors[p].run, inputs[b])
                    t = median_time(call, repeats=REPEATS[b], warmup=1)
                    times.setdefault((p, b), []).append(t)
        reference = errors_px(keypoints["fp32"], validation, len(held_out))
        for p in PRECISIONS:
            errors = errors_px(keypoints[p], validation, len(held_out))
            error = errors[np.isfinite(errors)]
            diff = np.sqrt(((keypoints[p][..., :2] - keypoints["fp32"][..., :2]) ** 2).sum(-1))
            row: dict[str, Any] = {
                "model": name,
                "precision": p,
                "size_mb": Path(files[p]).stat().st_size / 1e6,
                "held_out": len(held_out),
                "keypoints_counted": int(error.size),
                "median_error_px": float(np.median(error)),
                "mean_error_px": float(np.mean(error)),
                "p95_error_px": float(np.percentile(error, 95)),
                "added_median_error_px": float(np.median(error) - np.nanmedian(reference)),
                "added_median_ci95_px": added_median_ci(errors, reference),
                "median_shift_vs_fp32_px": float(np.nanmedian(diff)),
            }
            for b in BATCHES:
                row[f"fps@{b}"] = b / statistics.median(times[(p, b)])
                row[f"fps_rounds@{b}"] = [b / t for t in times[(p, b)]]
            row.update(op_profile(Path(files[p]), args.threads, inputs[32]))
            rows.append(row)
    for row in rows:
        for b in BATCHES:
            row[f"speed_vs_fp32@{b}"] = row[f"fps@{b}"] / rows[0][f"fps@{b}"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        action="append",
        help="a dpk .onnx file, or zoo: the shipped models (repeatable; default: zoo)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating speed rounds")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    parser.add_argument(
        "--calibration", type=int, default=32, help="training frames for int8 (default 32)"
    )
    parser.add_argument("--frames", type=int, default=0, help="held-out examples used (0: all)")
    parser.add_argument("--data-dir", type=Path, help="the folder of the model's labels file")
    parser.add_argument(
        "--quick", action="store_true", help="one round, 64 held-out examples (a smoke run)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.frames = 1, args.frames or 64
    zoo = [path for path in sorted(ZOO_MODELS.glob("*.onnx")) if not is_quantised(path)]
    models = [m for name in args.model or ["zoo"] for m in (zoo if name == "zoo" else [name])]
    cache: dict = {}
    rows = [row for path in models for row in measure_model(Path(path), args, cache)]
    headers = ["model", "precision", "MB", "median err px", "mean err px", "added median px (95% CI)",
               "fps @1", "fps @32", "speed vs fp32 @1", "speed vs fp32 @32"]  # fmt: skip
    keys = ["model", "precision", "size_mb", "median_error_px", "mean_error_px",
            "added_median_error_px", "fps@1", "fps@32", "speed_vs_fp32@1", "speed_vs_fp32@32"]  # fmt: skip
    table = [[r[k] for k in keys] for r in rows]
    for line, r in zip(table, rows, strict=True):
        low, high = r["added_median_ci95_px"]
        line[5] = f"{r['added_median_error_px']:+.3f} ({low:+.3f} to {high:+.3f})"
    flags = cpu_flags()
    print_table(
        headers,
        table,
        f"Precision variants, CPU, {args.threads} onnxruntime thread(s), held-out frames "
        f"(median of {args.rounds} alternating rounds)",
    )
    groups = [[r["model"], r["precision"], *grouped_ms(r["ms_per_op_type"]).values()] for r in rows]
    print_table(
        ["model", "precision", *OP_GROUPS, "other", "total"],
        groups,
        "Where the time goes at batch 32: onnxruntime's profile, ms per call by operator type",
    )
    print(
        "int8 graph as run: "
        + "; ".join(f"{r['model']}: {r['ops']}" for r in rows if r["precision"] == "int8")
    )
    print(f"CPU VNNI: {', '.join(f for f in sorted(flags) if 'vnni' in f) or 'no'}\n")
    save_json(
        "precision" + ("_quick" if args.quick else ""),
        {
            "threads": args.threads,
            "rounds": args.rounds,
            "calibration_frames": args.calibration,
            "cpu_vnni": sorted(f for f in flags if "vnni" in f),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
