"""Where training time goes: input pipeline (augmentation, target maps) against the model step.

For each dataset's example spec (and variants of its architecture), builds real batches
from the labelled frames and times, side by side in one process and alternating rounds:

- ``augment``: the spec's augmentation of one batch (OpenCV warps, intensity changes);
- ``targets``: drawing the confidence maps (keypoints + posture graph) of one batch;
- ``step``: one optimiser step of the model on one batch (forward, loss, backward).

The input pipeline runs in worker threads beside the step (``training.workers``), so it
starves training only when ``augment + targets`` per batch exceeds ``step``. Prints a
Markdown table and writes ``benchmarks/results/train_throughput.json``.

Usage: python benchmarks/train_throughput.py [--dataset fly|mouse] [--threads N] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _common import ROOT, print_table, save_json
from train_real import make_spec

VARIANTS = {
    "example spec": {},
    "n_stacks 1": {"architecture.n_stacks": 1},
    "n_stacks 1, no graph": {"architecture.n_stacks": 1, "targets.graph": False},
    "unet 24-96": {"architecture": {"type": "unet", "filters": 24, "max_filters": 96}},
    "unet 32-128": {"architecture": {"type": "unet", "filters": 32, "max_filters": 128}},
}


def _timed(fn, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(dataset: str, rounds: int, repeats: int = 4) -> list[dict]:
    """Seconds per batch of each stage for each variant (median over ``rounds``)."""
    import keras

    from dpk.trainer.augment import Augmenter
    from dpk.trainer.data import load_training_data
    from dpk.trainer.models import build_model, count_flops
    from dpk.trainer.targets import TargetLayout, draw_targets
    from dpk.trainer.training.losses import MaskedMSE

    prepared = []
    train = None
    for name, overrides in VARIANTS.items():
        spec = make_spec(dataset, "stacked_densenet", 30.0, overrides=overrides)
        if train is None:
            train, _ = load_training_data(spec, ROOT)
        keras.utils.set_random_seed(0)
        model = build_model(spec)
        t = spec.training
        model.compile(
            optimizer=keras.optimizers.Adam(t.learning_rate),
            loss=MaskedMSE(t.foreground_weight, t.loss_normalization, spec.n_keypoints),
            jit_compile=False,
        )
        batch = min(t.batch_size, len(train.images))
        images, keypoints = train.images[:batch], train.keypoints[:batch]
        shape = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
        map_shape = (int(shape[-1][1]), int(shape[-1][2]))
        layout = TargetLayout.from_skeleton(spec.skeleton, spec.targets.graph)
        maps = np.stack([draw_targets(k, layout, spec.targets, map_shape) for k in keypoints])
        targets = tuple([maps] * len(model.outputs))
        model.train_on_batch(images, targets)  # build and trace
        augmenter = Augmenter(spec.augmentation, spec.skeleton)
        rng = np.random.default_rng(0)

        def augment(images=images, keypoints=keypoints, augmenter=augmenter, rng=rng):
            for image, points in zip(images, keypoints, strict=True):
                augmenter(image.copy(), points.copy(), rng)

        def targets_fn(keypoints=keypoints, layout=layout, spec=spec, map_shape=map_shape):
            for points in keypoints:
                draw_targets(points, layout, spec.targets, map_shape)

        def step(model=model, images=images, targets=targets):
            model.train_on_batch(images, targets)

        prepared.append(
            (
                name,
                spec,
                batch,
                count_flops(model),
                {"augment": augment, "targets": targets_fn, "step": step},
            )
        )
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name, _, _, _, stages in prepared:
            for stage, fn in stages.items():
                times.setdefault((name, stage), []).append(_timed(fn, repeats))
    rows = []
    for name, spec, batch, flops, stages in prepared:
        seconds = {stage: statistics.median(times[(name, stage)]) for stage in stages}
        pipeline = seconds["augment"] + seconds["targets"]
        rows.append(
            {
                "dataset": dataset,
                "variant": name,
                "input": f"{spec.preprocessing.width}x{spec.preprocessing.height}",
                "n_stacks": getattr(spec.architecture, "n_stacks", 1),
                "graph": spec.targets.graph,
                "batch": batch,
                "gflops_per_frame": flops / 1e9,
                "augment_ms_per_batch": 1000 * seconds["augment"],
                "targets_ms_per_batch": 1000 * seconds["targets"],
                "step_ms_per_batch": 1000 * seconds["step"],
                "pipeline_share_of_step": pipeline / seconds["step"],
                "step_frames_per_s": batch / seconds["step"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["fly", "mouse"], action="append")
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    rows = []
    for dataset in args.dataset or ["fly", "mouse"]:
        rows += measure(dataset, args.rounds)
    print_table(
        [
            "dataset",
            "variant",
            "input",
            "GFLOPs/frame",
            "augment ms/batch",
            "targets ms/batch",
            "step ms/batch",
            "pipeline / step",
            "step frames/s",
        ],
        [
            [
                r["dataset"],
                r["variant"],
                r["input"],
                r["gflops_per_frame"],
                r["augment_ms_per_batch"],
                r["targets_ms_per_batch"],
                r["step_ms_per_batch"],
                r["pipeline_share_of_step"],
                r["step_frames_per_s"],
            ]
            for r in rows
        ],
        "training: input pipeline vs model step (median of alternating rounds)",
    )
    save_json("train_throughput", {"threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
