"""dpk against the original DeepPoseKit 0.3.9: the paper's Stacked DenseNet, same frames, same CPU.

Issue 15's first goal. The paper's network (Stacked DenseNet, n_stacks 2, growth rate 32,
192x192x1 input, 32 keypoints, downsample_factor 2 = output stride 4, posture graph on;
the skeleton is a 32-keypoint chain) with random weights, on both sides:

- original: DeepPoseKit 0.3.9 (PyPI) builds the network from its own ``TrainingGenerator``
  (graph maps from the skeleton's parents) and its own ``predict_model`` (network +
  ``SubpixelMaxima2D``), run on TensorFlow 2.21 through tf-keras in the benchmark-only
  environment ``.venv-dpk039`` (``scripts/original_dpk_env.sh``). Timed as a compiled
  ``tf.function`` (XLA off), uint8 frames cast to float32 inside it: the predict model
  ("with subpixel"), and the network alone (the last stack's maps, no peak finding).
- dpk: the equivalent spec exported by dpk's exporter (subpixel peaks in the ONNX graph),
  timed through ``dpk.runtime.Predictor.predict`` (uint8 frames, preprocessing included)
  in the project's ``.venv``, once per ``--activations`` entry: ``selu`` (the paper's,
  as in the original) and ``leaky_relu`` (``architecture.activation``, which
  onnxruntime's CPU provider fuses into the convolutions), each with DeepPoseKit's channel
  counts; an entry ``ACTIVATION:N`` sets ``architecture.channel_multiple`` (``leaky_relu:16``:
  compressions rounded to 16 channels so that onnxruntime keeps the blocks in NCHWc).

The same 100 random uint8 frames (a ``.npy`` file shared by both processes); batch 1 and
100 (``--quick``: 1 and 8 on 16 frames, one round). Each measurement is a subprocess
timing one side (all batch sizes) and answering in JSON on stdout; three rounds alternate
which side goes first. Per batch size: the median of repeats (after a warm-up) of the time
to run all frames in chunks of that size; per side, the median over rounds. Threads:
``--threads N`` (default 2) for onnxruntime's intra-op pool and TensorFlow's intra-op pool
(TensorFlow's inter-op pool: 1, like onnxruntime's sequential executor).

Run-time shims, applied inside the original's timing process only (site-packages are not
edited), each the least 0.3.9 needs to import and build its model on today's stack:

- ``TF_USE_LEGACY_KERAS=1``: 0.3.9 is written for ``tf.keras`` 2.x; TensorFlow 2.21's
  ``tf.keras`` is Keras 3 unless this routes it to tf-keras. (Its imports of
  ``tensorflow.python.keras`` still resolve: TensorFlow 2.21 ships that legacy copy.)
- ``h5py.Dataset.value`` = ``dataset[()]``: removed in h5py 3; 0.3.9's ``DataGenerator``
  reads its annotations file with it.
- numpy 2 in imgaug 0.4.0 (imported by 0.3.9's generators): ``np.sctypes`` (removed in
  numpy 2) restored with numpy 1's value for the names imgaug reads.

Usage: python benchmarks/vs_original.py [--quick] [--threads N] [--rounds R] [--activations A,B]
       [--int8]
(first: scripts/original_dpk_env.sh). Prints a Markdown table, writes
``benchmarks/results/vs_original.json`` (``vs_original_quick.json`` with ``--quick``).
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

SIDE = 192
N_KEYPOINTS = 32
N_FRAMES = 100
SIGMA = 5.0
ORIGINAL_VENV = ROOT / ".venv-dpk039"
REPEATS = {1: 3, 8: 5, 100: 3}
"""Timed passes over all frames per batch size (one pass at batch 1 is 100 calls)."""


# ---------------------------------------------------------------------- the original's side
def apply_original_shims() -> None:
    """Let DeepPoseKit 0.3.9 import and build on TF 2.21 + tf-keras, numpy 2, h5py 3.

    Must run before TensorFlow is imported. See the module docstring for why each exists.
    """
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if not hasattr(np, "sctypes"):  # numpy 2 removed it; imgaug 0.4.0 reads it
        np.sctypes = {
            "int": [np.int8, np.int16, np.int32, np.int64],
            "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
            "float": [np.float16, np.float32, np.float64],
            "complex": [np.complex64, np.complex128],
            "others": [bool, object, bytes, str, np.void],
        }
    import h5py

    if not hasattr(h5py.Dataset, "value"):  # h5py 3 removed it; DataGenerator reads with it
        h5py.Dataset.value = property(lambda self: self[()])


def chain_parents(n: int) -> list[int]:
    """Parent index per keypoint of a chain: keypoint 0 is the root (-1)."""
    return [-1, *range(n - 1)]


def build_original(workdir: Path):
    """The paper's Stacked DenseNet in DeepPoseKit 0.3.9, built from its own generators."""
    import h5py

    n = 64  # its TrainingGenerator draws one batch of 32 at construction
    rng = np.random.default_rng(0)
    path = workdir / "annotations.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=rng.integers(0, 255, (n, SIDE, SIDE, 1), dtype=np.uint8))
        points = rng.uniform(20, SIDE - 20, (n, N_KEYPOINTS, 2)).astype(np.float64)
        h5.create_dataset("annotations", data=points)
        h5.create_dataset("annotated", data=np.ones((n, N_KEYPOINTS), dtype=bool))
        skeleton = np.stack([chain_parents(N_KEYPOINTS), [-1] * N_KEYPOINTS], axis=1)
        h5.create_dataset("skeleton", data=skeleton.astype(np.int64))

    from deepposekit.io import DataGenerator, TrainingGenerator
    from deepposekit.models import StackedDenseNet

    data = DataGenerator(str(path))
    train = TrainingGenerator(
        data, downsample_factor=2, use_graph=True, sigma=SIGMA, validation_split=0.0
    )
    model = StackedDenseNet(train, n_stacks=2, growth_rate=32, subpixel=True)
    return model, train.get_config()["n_output_channels"]


def time_original(frames_path: Path, batches: list[int], threads: int) -> dict:
    """Time the original's predict model and its network alone (runs in .venv-dpk039)."""
    apply_original_shims()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import deepposekit

    frames = np.load(frames_path)
    with tempfile.TemporaryDirectory() as tmp:
        model, n_maps = build_original(Path(tmp))
    predict_model, network = model.predict_model, model.train_model

    @tf.function(reduce_retracing=True)
    def with_subpixel(images):
        return predict_model(tf.cast(images, tf.float32), training=False)

    @tf.function(reduce_retracing=True)
    def network_alone(images):
        outputs = network(tf.cast(images, tf.float32), training=False)
        return outputs[-1] if isinstance(outputs, list | tuple) else outputs

    def run_all(fn, batch: int) -> None:
        for i in range(0, len(frames), batch):
            fn(tf.constant(frames[i : i + batch])).numpy()

    result: dict = {
        "deepposekit": deepposekit.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "output_maps": int(n_maps),
        "params_m": predict_model.count_params() / 1e6,
        "keypoints_shape": list(with_subpixel(tf.constant(frames[:1])).shape),
    }
    for batch in batches:
        n = REPEATS.get(batch, 3)
        t_sub = median_time(lambda b=batch: run_all(with_subpixel, b), repeats=n, warmup=1)
        t_net = median_time(lambda b=batch: run_all(network_alone, b), repeats=n, warmup=1)
        result[f"subpixel_fps@{batch}"] = len(frames) / t_sub
        result[f"network_fps@{batch}"] = len(frames) / t_net
    return result


# ------------------------------------------------------------------------------ dpk's side
def parse_variant(variant: str) -> tuple[str, int | None]:
    """``ACTIVATION[:CHANNEL_MULTIPLE]`` -> (activation, multiple or None for the default)."""
    activation, _, multiple = variant.partition(":")
    return activation, int(multiple) if multiple else None


def dpk_spec(variant: str = "selu"):
    """dpk's spec of the same network: 2 stacks, growth 32, 192x192x1, 32 keypoints, graph
    (``variant``: :func:`parse_variant`)."""
    from dpk.specs import (
        Augmentation,
        ModelSpec,
        Preprocessing,
        Skeleton,
        StackedDenseNet,
        Targets,
    )

    activation, multiple = parse_variant(variant)
    architecture: dict = {"activation": activation}
    if multiple is not None:
        architecture["channel_multiple"] = multiple
    names = [f"k{i:02d}" for i in range(N_KEYPOINTS)]
    parents = [None if p < 0 else names[p] for p in chain_parents(N_KEYPOINTS)]
    return ModelSpec(
        name="stacked_densenet_paper",
        skeleton=Skeleton(names=names, parents=parents),
        preprocessing=Preprocessing(height=SIDE, width=SIDE, channels=1),
        architecture=StackedDenseNet(n_stacks=2, growth_rate=32, **architecture),
        targets=Targets(sigma=SIGMA, downsample_factor=2, graph=True),
        augmentation=Augmentation(test_time="off"),  # the network alone, as the original
    )


def int8_path(model: Path) -> Path:
    """Where the int8 copy of an exported model goes."""
    return model.with_name(model.stem + ".int8.onnx")


def export_dpk(frames_path: Path, model_path: Path, variant: str = "selu") -> dict:
    """Export the spec with random weights (dpk's exporter, checked against Keras)."""
    import keras

    from dpk.trainer.export import export_onnx
    from dpk.trainer.models import build_model, count_flops, count_params

    spec = dpk_spec(variant)
    keras.utils.set_random_seed(0)
    model = build_model(spec)
    flops = count_flops(model)
    check = np.load(frames_path)[:4]
    export_onnx(
        model,
        spec,
        model_path,
        check_images=check,
        include_maps=False,
        flops=flops,
        tolerance_px=1e9,
    )
    return {
        "output_maps": spec.n_output_maps,
        "gflops": flops / 1e9,
        "params_m": count_params(model) / 1e6,
    }


def time_dpk(frames_path: Path, model_path: Path, batches: list[int], threads: int) -> dict:
    """Time ``Predictor.predict`` on all frames at each batch size (runs in .venv)."""
    import onnxruntime

    from dpk.runtime import Predictor

    frames = np.load(frames_path)
    result: dict = {"onnxruntime": onnxruntime.__version__, "numpy": np.__version__}
    for batch in batches:
        predictor = Predictor(model_path, device="cpu", batch_size=batch, threads=threads)
        n = REPEATS.get(batch, 3)
        t = median_time(lambda p=predictor: p.predict(frames), repeats=n, warmup=1)
        result[f"fps@{batch}"] = len(frames) / t
    return result


# ---------------------------------------------------------------------------- the harness
def worker(python: Path, *args: str) -> dict:
    """Run this script's ``--worker`` in ``python``; its last stdout line is the JSON answer."""
    return worker_answer(
        python, __file__, *args, failure=f"worker {args[0]} failed in {python.parent.parent.name}"
    )


def run_worker(args: argparse.Namespace) -> None:
    """The subprocess side: one job, one JSON line on stdout."""
    kind, frames, batches = args.worker, Path(args.frames), args.batches
    if kind == "original":
        answer = time_original(frames, batches, args.threads)
    elif kind == "export":
        answer = export_dpk(frames, Path(args.model), args.activation)
        if args.int8:
            from dpk.trainer.export.variants import to_int8

            model = Path(args.model)
            to_int8(model, int8_path(model), np.load(frames)[:16])
    else:
        answer = time_dpk(frames, Path(args.model), batches, args.threads)
    print(json.dumps(answer))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="batch 1 and 8, 16 frames, 1 round")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads, both sides")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 3, quick 1)")
    parser.add_argument("--worker", choices=["original", "export", "dpk"], help=argparse.SUPPRESS)
    parser.add_argument("--frames", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, nargs="*", help=argparse.SUPPRESS)
    parser.add_argument(
        "--activations",
        default="selu,leaky_relu,leaky_relu:16",
        help="dpk's Stacked DenseNet variants to time, comma-separated ACTIVATION[:N] with N "
        "the channel multiple (default selu,leaky_relu,leaky_relu:16: the paper's, the one "
        "onnxruntime fuses, and that one with compressions rounded to 16 channels)",
    )
    parser.add_argument("--activation", default="selu", help=argparse.SUPPRESS)
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also time dpk's int8 variant of each (static QDQ, calibrated on 16 of the "
        "frames: speed only, the weights are random)",
    )
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return

    original_python = ORIGINAL_VENV / "bin" / "python"
    if not original_python.is_file():
        raise SystemExit("no .venv-dpk039: run scripts/original_dpk_env.sh first")
    here = Path(sys.executable)
    batches = [1, 8] if args.quick else [1, 100]
    n_frames = 16 if args.quick else N_FRAMES
    rounds = args.rounds or (1 if args.quick else 3)
    common = ["--threads", str(args.threads), "--batches", *map(str, batches)]

    activations = [a.strip() for a in args.activations.split(",") if a.strip()]
    variants = activations + ([f"{a}_int8" for a in activations] if args.int8 else [])
    sides = ["original"] + [f"dpk_{v}" for v in variants]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        frames_path = Path(tmp) / "frames.npy"
        models = {f"dpk_{a}": Path(tmp) / f"paper_{a.replace(':', '_c')}.onnx" for a in activations}
        if args.int8:
            models.update({f"{k}_int8": int8_path(v) for k, v in list(models.items())})
        rng = np.random.default_rng(0)
        np.save(frames_path, rng.integers(0, 256, (n_frames, SIDE, SIDE, 1), dtype=np.uint8))
        exported = {}
        for activation in activations:
            print(f"exporting dpk's model ({activation}) ...", flush=True)
            model = str(models[f"dpk_{activation}"])
            exported[activation] = worker(
                here, "export", "--frames", str(frames_path), "--model", model,
                "--activation", activation, *(["--int8"] if args.int8 else []),
            )  # fmt: skip
        runs: dict[str, list[dict]] = {side: [] for side in sides}
        for r in range(rounds):
            order = sides[r % len(sides) :] + sides[: r % len(sides)]
            for side in order:
                python = original_python if side == "original" else here
                kind = "original" if side == "original" else "dpk"
                extra = ["--model", str(models[side])] if side in models else []
                answer = worker(python, kind, "--frames", str(frames_path), *extra, *common)
                runs[side].append(answer)
                fps = {k: round(v, 1) for k, v in answer.items() if "fps@" in k}
                print(f"round {r + 1}/{rounds} {side}: {fps}", flush=True)

    def med(side: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[side])

    rows, table = [], []
    for b in batches:
        sub = med("original", f"subpixel_fps@{b}")
        net = med("original", f"network_fps@{b}")
        for activation in variants:
            ours = med(f"dpk_{activation}", f"fps@{b}")
            rows.append(
                {
                    "batch": b,
                    "activation": activation,
                    "original_subpixel_fps": sub,
                    "original_network_fps": net,
                    "dpk_fps": ours,
                    "dpk_over_original_subpixel": ours / sub,
                    "dpk_over_original_network": ours / net,
                }
            )
            table.append(
                [b, sub, net, activation, ours, f"{ours / sub:.2f}x", f"{ours / net:.2f}x"]
            )
    print_table(
        [
            "batch",
            "original DPK 0.3.9, with subpixel (fps)",
            "original, network alone (fps)",
            "dpk activation",
            "dpk Predictor.predict (fps)",
            "dpk / original",
            "dpk / original network",
        ],
        table,
        f"Stacked DenseNet (2 stacks, growth 32), {SIDE}x{SIDE}x1, {N_KEYPOINTS} keypoints, "
        f"{n_frames} frames, {args.threads} threads, median of {rounds} round(s); the "
        "original uses SELU",
    )
    original_info = {k: v for k, v in runs["original"][0].items() if "fps@" not in k}
    save_json(
        "vs_original" + ("_quick" if args.quick else ""),
        {
            "network": {
                "architecture": "stacked_densenet",
                "n_stacks": 2,
                "growth_rate": 32,
                "input": f"{SIDE}x{SIDE}x1",
                "keypoints": N_KEYPOINTS,
                "downsample_factor": 2,
                "graph": True,
                "skeleton": "chain",
            },
            "frames": n_frames,
            "threads": args.threads,
            "rounds": rounds,
            "batches": batches,
            "load_average_1_5_15_before": [round(x, 2) for x in load_before],
            "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
            "tf_inter_op_threads": 1,
            "original": original_info,
            "dpk": exported,
            "rows": rows,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
