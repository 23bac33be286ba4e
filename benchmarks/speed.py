"""Inference speed: the paper's four architectures and dpk's U-Net in onnxruntime vs Keras/TensorFlow, and the cost
of the in-graph peak finder.

For each architecture (the paper's default settings, the Stacked DenseNet also with
``activation: leaky_relu``, with and without ``channel_multiple: 16``, and dpk's CPU U-Net
at the fly setting ``filters: 24, max_filters: 96``, at a 160x160x1 input with the fly13
skeleton and posture graph: 28 maps), the model is exported to ONNX with the subpixel peak
finder and timed against TensorFlow's fastest path for the same Keras model: a compiled
``tf.function`` (XLA off, the default; ``--xla`` adds XLA), not ``model.predict``.

Each framework runs in its own process, one architecture at a time, and the rounds
alternate which goes first (``--rounds``, default 2): two frameworks in one process share
the cores with each other's idle worker threads (TensorFlow's pool and onnxruntime's
spin after a call), which measured both of them slower than either runs alone (2-3x for
onnxruntime on this CPU). Threads: ``--threads N`` (default 2) for onnxruntime's intra-op
pool and TensorFlow's intra-op pool, TensorFlow's inter-op pool 1 (like onnxruntime's
sequential executor). onnxruntime runs as ``dpk.runtime.Predictor`` opens it (idle
threads do not spin).

Batch 1, 32 and 100 (``--quick``: 1 and 8): per batch size, the median of timed calls on
that many frames (10 at batch 1, 4 at 32, 3 at 100) after two warm-up calls; per
framework, the median over rounds; frames per second. Also: FLOPs, parameters, the peak finder's
share of the onnxruntime time (the file with vs without the peak-finder nodes, batch 1 and
32), and ``Predictor.run`` on the 100 frames at the runtime's default batch size and
call size (what ``dpk predict`` does with them).

Weights are random: speed does not depend on them. Prints tables, writes
``benchmarks/results/speed.json``.

Usage: python benchmarks/speed.py [--quick] [--arch stacked_densenet ...] [--threads N]
       [--rounds R] [--xla]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import ROOT, median_time, print_table, save_json, worker_answer
from dpk.specs import (
    LEAP,
    Augmentation,
    DeepLabCut,
    ModelSpec,
    Preprocessing,
    StackedDenseNet,
    StackedHourglass,
    Targets,
    UNet,
    load_spec,
)

REPEATS = {1: 10, 8: 5, 32: 4, 100: 3}
"""Timed calls per batch size (the large batches of the heavy models take seconds each)."""
WARMUP = 2
"""Untimed calls first: onnxruntime's first one or two calls at a new batch size plan its
memory and run up to 2x slower than the rest (measured on the U-Net)."""

ARCHITECTURES = {
    "stacked_densenet": (StackedDenseNet(n_stacks=2, activation="selu"), 2),  # the paper's
    "stacked_densenet_leaky_relu": (StackedDenseNet(n_stacks=2, activation="leaky_relu"), 2),
    "stacked_densenet_leaky_relu_c16": (
        StackedDenseNet(n_stacks=2, activation="leaky_relu", channel_multiple=16),
        2,
    ),
    "stacked_hourglass": (StackedHourglass(n_stacks=2), 2),
    "deeplabcut_resnet50": (DeepLabCut(backbone="resnet50"), 3),
    "deeplabcut_mobilenetv2": (DeepLabCut(backbone="mobilenetv2"), 3),
    "leap": (LEAP(), 0),
    "unet": (UNet(filters=24, max_filters=96), 2),
}


def make_spec(arch: str, side: int) -> ModelSpec:
    skeleton = load_spec(ROOT / "examples" / "fly13.yaml").skeleton
    architecture, downsample = ARCHITECTURES[arch]
    return ModelSpec(
        name=arch,
        skeleton=skeleton,
        preprocessing=Preprocessing(height=side, width=side, channels=1),
        architecture=architecture,
        targets=Targets(sigma=5.0, downsample_factor=downsample, graph=True),
        augmentation=Augmentation(test_time="off"),  # the network's own speed
    )


def network_only_bytes(path: Path) -> bytes:
    """The exported file without the peak finder (image -> maps)."""
    import onnx

    from dpk.trainer.export.variants import _network_only

    network, _ = _network_only(onnx.load(str(path)))
    return network.SerializeToString()


def build(arch: str, side: int):
    """The Keras model of ``arch`` with the seeded random weights (the same in every process)."""
    import keras

    from dpk.trainer.models import build_model

    spec = make_spec(arch, side)
    keras.utils.set_random_seed(0)
    return spec, build_model(spec)


def frames(batch: int, side: int) -> np.ndarray:
    return np.random.default_rng(batch).integers(0, 255, (batch, side, side, 1), dtype=np.uint8)


def export(arch: str, side: int, workdir: Path) -> dict:
    """Worker: export ``arch`` with and without the peak finder; FLOPs and parameters."""
    from dpk.trainer.export import export_onnx
    from dpk.trainer.models import count_flops, count_params

    spec, model = build(arch, side)
    flops, params = count_flops(model), count_params(model)
    path = workdir / f"{arch}.onnx"
    export_onnx(
        model,
        spec,
        path,
        check_images=frames(4, side),
        include_maps=False,
        flops=flops,
        tolerance_px=1e9,
    )
    (workdir / f"{arch}.network.onnx").write_bytes(network_only_bytes(path))
    return {"maps": spec.n_output_maps, "gflops": flops / 1e9, "params_m": params / 1e6}


def time_tensorflow(
    arch: str, side: int, batches: list[int], repeats: int, threads: int, xla: bool
) -> dict:
    """Worker: the compiled Keras model, frames per second per batch size."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _, model = build(arch, side)

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def forward(images):
        outputs = model(images, training=False)
        return outputs[-1] if isinstance(outputs, list | tuple) else outputs

    result = {}
    for batch in batches:
        tensor = tf.constant(frames(batch, side))
        n = min(repeats, REPEATS.get(batch, repeats))
        result[f"fps@{batch}"] = batch / median_time(
            lambda t=tensor: forward(t).numpy(), repeats=n, warmup=WARMUP
        )
    return result


def time_onnxruntime(
    arch: str, side: int, batches: list[int], repeats: int, threads: int, workdir: Path
) -> dict:
    """Worker: the exported file as dpk's runtime opens it (and without its peak finder)."""
    from dpk.runtime import Predictor
    from dpk.runtime.providers import create_session

    full = Predictor(workdir / f"{arch}.onnx", device="cpu", threads=threads)
    bare, _ = create_session(workdir / f"{arch}.network.onnx", "cpu", threads, spinning=False)
    result = {}
    for batch in batches:
        feed = {"image": frames(batch, side)}
        n = min(repeats, REPEATS.get(batch, repeats))
        t = median_time(lambda f=feed: full.session.run(["keypoints"], f), repeats=n, warmup=WARMUP)
        result[f"fps@{batch}"] = batch / t
        if batch <= 32:
            t_bare = median_time(lambda f=feed: bare.run(None, f), repeats=n, warmup=WARMUP)
            result[f"peaks_share@{batch}"] = max(0.0, (t - t_bare) / t)
    largest = frames(max(batches), side)
    result["predictor_batch_size"] = full.batch_size
    result["predictor_fps"] = len(largest) / median_time(
        lambda: full.run(largest), repeats=REPEATS[100], warmup=WARMUP
    )
    return result


def worker(*args: str) -> dict:
    """Run this script's ``--worker`` in a fresh process; its last stdout line is the answer."""
    return worker_answer(
        Path(sys.executable), __file__, *args, failure=f"worker {' '.join(args[:2])} failed"
    )


def measure(
    arch: str, side: int, batches: list[int], repeats: int, threads: int, xla: bool, rounds: int
) -> dict:
    """One architecture: export once, then alternate the two frameworks' processes."""
    common = [arch, "--side", str(side), "--threads", str(threads), "--repeats", str(repeats)]
    common += ["--batches", *map(str, batches), *(["--xla"] if xla else [])]
    with tempfile.TemporaryDirectory() as tmp:
        row: dict = {"architecture": arch, "input": f"{side}x{side}x1"}
        row.update(worker("export", *common, "--workdir", tmp))
        runs: dict[str, list[dict]] = {"tf": [], "onnx": []}
        for r in range(rounds):
            for side_name in ["tf", "onnx"] if r % 2 == 0 else ["onnx", "tf"]:
                runs[side_name].append(worker(side_name, *common, "--workdir", tmp))
            print(
                f"{arch} round {r + 1}/{rounds}: "
                + ", ".join(
                    f"{k} {name} {v:.1f}"
                    for name in runs
                    for k, v in runs[name][-1].items()
                    if k.startswith("fps@")
                ),
                flush=True,
            )

    def med(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    for batch in batches:
        t_tf, t_ort = med("tf", f"fps@{batch}"), med("onnx", f"fps@{batch}")
        row[f"tf_fps@{batch}"] = t_tf
        row[f"onnx_fps@{batch}"] = t_ort
        row[f"speedup@{batch}"] = t_ort / t_tf
        row[f"gflops_per_s@{batch}"] = row["gflops"] * t_ort
        if batch <= 32:
            row[f"peaks_share@{batch}"] = med("onnx", f"peaks_share@{batch}")
    row["predictor_batch_size"] = runs["onnx"][0]["predictor_batch_size"]
    row["predictor_fps"] = med("onnx", "predictor_fps")
    row["runs"] = runs
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="batch 1 and 8, fewer repeats")
    parser.add_argument(
        "--arch", action="append", choices=sorted(ARCHITECTURES), help="repeatable (default: all)"
    )
    parser.add_argument(
        "--side", type=int, default=160, help="input side (default 160, the fly crops)"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="intra-op threads, both frameworks (default 2)"
    )
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 2, quick 1)")
    parser.add_argument(
        "--xla", action="store_true", help="compile the TensorFlow function with XLA"
    )
    parser.add_argument("--worker", choices=["export", "tf", "onnx"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("worker_arch", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        arch, workdir = args.worker_arch, Path(args.workdir)
        if args.worker == "export":
            answer = export(arch, args.side, workdir)
        elif args.worker == "tf":
            answer = time_tensorflow(
                arch, args.side, args.batches, args.repeats, args.threads, args.xla
            )
        else:
            answer = time_onnxruntime(
                arch, args.side, args.batches, args.repeats, args.threads, workdir
            )
        print(json.dumps(answer))
        return

    batches = [1, 8] if args.quick else [1, 32, 100]
    repeats = 3 if args.quick else 10
    rounds = args.rounds or (1 if args.quick else 2)
    load_before = os.getloadavg()
    rows = [
        measure(a, args.side, batches, repeats, args.threads, args.xla, rounds)
        for a in (args.arch or list(ARCHITECTURES))
    ]
    headers = ["architecture", "GFLOPs", "params (M)"]
    table = []
    for r in rows:
        line = [r["architecture"], r["gflops"], r["params_m"]]
        for b in batches:
            line += [
                r[f"tf_fps@{b}"],
                r[f"onnx_fps@{b}"],
                r[f"speedup@{b}"],
                r.get(f"peaks_share@{b}", "-"),
            ]
        line += [r["predictor_fps"]]
        table.append(line)
    for b in batches:
        headers += [f"TF fps @{b}", f"ONNX fps @{b}", f"ONNX/TF @{b}", f"peaks share @{b}"]
    headers += [f"Predictor.run, {batches[-1]} frames (fps)"]
    print_table(
        headers,
        table,
        f"CPU inference, {args.side}x{args.side}x1, frames per second, {args.threads} threads, "
        f"each framework in its own process, median of {rounds} round(s)",
    )
    save_json(
        "speed" + ("_quick" if args.quick else ""),
        {
            "batches": batches,
            "xla": args.xla,
            "threads": args.threads,
            "rounds": rounds,
            "tf_inter_op_threads": 1,
            "load_average_1_5_15_before": [round(x, 2) for x in load_before],
            "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
