"""Inference speed: the paper's four architectures and dpk's U-Net in onnxruntime vs Keras/TensorFlow, and the cost
of the in-graph peak finder.

For each architecture (the paper's default settings, the Stacked DenseNet also with
``activation: leaky_relu``, with and without ``channel_multiple: 16``, and dpk's CPU U-Net at the fly setting ``filters: 24,
max_filters: 96``, at a 160x160x1 input with the fly13
skeleton and posture graph: 28 maps), the model is exported to ONNX with the subpixel peak
finder and timed side by side, in one process, against TensorFlow's fastest path for the
same Keras model: a compiled ``tf.function`` (XLA off, the default; ``--xla`` adds XLA),
not ``model.predict``. Batch 1, 32 and 100 (``--quick``: 1 and 8), median of repeats
after a warm-up (5 at batch 1, 3 at 32, 2 at 100), frames per second. Also: FLOPs,
parameters, and the peak finder's share of the ONNX time (the model with vs without the
peak-finder nodes, at batch 1 and 32).

Weights are random: speed does not depend on them. Prints tables, writes
``benchmarks/results/speed.json``.

Usage: python benchmarks/speed.py [--quick] [--arch stacked_densenet ...] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from _common import ROOT, median_time, print_table, save_json
from dpk.specs import (
    LEAP,
    DeepLabCut,
    ModelSpec,
    Preprocessing,
    StackedDenseNet,
    StackedHourglass,
    Targets,
    UNet,
    load_spec,
)

REPEATS = {1: 5, 8: 5, 32: 3, 100: 2}
"""Timed calls per batch size (the large batches of the heavy models take seconds each)."""

ARCHITECTURES = {
    "stacked_densenet": (StackedDenseNet(n_stacks=2), 2),
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
    )


def ort_session(path: Path | bytes, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(
        path if isinstance(path, bytes) else str(path), options, providers=["CPUExecutionProvider"]
    )


def network_only_bytes(path: Path) -> bytes:
    """The exported file without the peak finder (image -> maps)."""
    import onnx

    from dpk.trainer.export.variants import _network_only

    network, _ = _network_only(onnx.load(str(path)))
    return network.SerializeToString()


def measure(
    arch: str, side: int, batches: list[int], repeats: int, threads: int | None, xla: bool
) -> dict:
    import keras
    import tensorflow as tf

    from dpk.trainer.export import export_onnx
    from dpk.trainer.models import build_model, count_flops, count_params

    spec = make_spec(arch, side)
    keras.utils.set_random_seed(0)
    model = build_model(spec)
    flops, params = count_flops(model), count_params(model)
    rng = np.random.default_rng(0)
    check = rng.integers(0, 255, (4, side, side, 1), dtype=np.uint8)
    row: dict = {
        "architecture": arch,
        "input": f"{side}x{side}x1",
        "maps": spec.n_output_maps,
        "gflops": flops / 1e9,
        "params_m": params / 1e6,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{arch}.onnx"
        export_onnx(
            model, spec, path, check_images=check, include_maps=False, flops=flops, tolerance_px=1e9
        )
        full = ort_session(path, threads)
        bare = ort_session(network_only_bytes(path), threads)

        @tf.function(jit_compile=xla, reduce_retracing=True)
        def forward(images):
            outputs = model(images, training=False)
            return outputs[-1] if isinstance(outputs, list | tuple) else outputs

        for batch in batches:
            n = min(repeats, REPEATS.get(batch, repeats))
            images = rng.integers(0, 255, (batch, side, side, 1), dtype=np.uint8)
            tensor = tf.constant(images)
            feed = {"image": images}
            t_tf = median_time(lambda t=tensor: forward(t).numpy(), repeats=n, warmup=1)
            t_ort = median_time(lambda f=feed: full.run(["keypoints"], f), repeats=n, warmup=1)
            row[f"tf_fps@{batch}"] = batch / t_tf
            row[f"onnx_fps@{batch}"] = batch / t_ort
            row[f"speedup@{batch}"] = t_tf / t_ort
            row[f"gflops_per_s@{batch}"] = flops * batch / t_ort / 1e9
            if batch <= 32:
                t_bare = median_time(lambda f=feed: bare.run(None, f), repeats=n, warmup=1)
                row[f"peaks_share@{batch}"] = max(0.0, (t_ort - t_bare) / t_ort)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="batch 1 and 32, fewer repeats")
    parser.add_argument(
        "--arch", action="append", choices=sorted(ARCHITECTURES), help="repeatable (default: all)"
    )
    parser.add_argument(
        "--side", type=int, default=160, help="input side (default 160, the fly crops)"
    )
    parser.add_argument(
        "--threads", type=int, help="onnxruntime intra-op threads (default: all cores)"
    )
    parser.add_argument(
        "--xla", action="store_true", help="compile the TensorFlow function with XLA"
    )
    args = parser.parse_args()
    batches = [1, 8] if args.quick else [1, 32, 100]
    repeats = 3 if args.quick else 5
    rows = [
        measure(a, args.side, batches, repeats, args.threads, args.xla)
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
        table.append(line)
    for b in batches:
        headers += [f"TF fps @{b}", f"ONNX fps @{b}", f"ONNX/TF @{b}", f"peaks share @{b}"]
    print_table(
        headers,
        table,
        f"CPU inference, {args.side}x{args.side}x1, frames per second (median of {repeats})",
    )
    save_json(
        "speed" + ("_quick" if args.quick else ""),
        {"batches": batches, "xla": args.xla, "rows": rows},
    )


if __name__ == "__main__":
    main()
