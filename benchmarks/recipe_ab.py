"""Training recipes side by side, step for step, in one process.

Each variant is a set of spec overrides (loss normalisation, foreground weight, schedule,
architecture, sigma...). All variants train in the SAME process, alternating one
optimiser step each on the SAME augmented batches, so a busy or shared machine slows
them all alike: the comparison is per step, and each variant's step time is measured on
the way (median over the run) to turn it into a comparison per minute. After the given
number of steps, each variant's held-out error is measured in the labelled frames'
pixels. Prints a Markdown table and writes ``benchmarks/results/recipe_ab_<dataset>.json``.

The learning-rate schedule of every variant is laid over ``--steps`` (the cosine decays
to zero at the last step), so a short comparison still ends annealed.

Usage: python benchmarks/recipe_ab.py --dataset fly --steps 600 [--variants old,keypoints_fg10]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np

from _common import RESULTS, ROOT, print_table, save_json
from train_real import make_spec

OLD_HEAD = "old_head"
"""Pseudo-override (recipe_ab only, not a spec field): re-draw the output heads as Keras'
Conv2D default did before the trainer's heads started near zero (kernel Glorot-uniform,
bias 0; :func:`dpk.trainer.models.layers.head_initializer`). Every variant recorded before
that change carries it, so rerunning them reproduces the recorded rows' conditions."""
OLD = {
    "training.loss_normalization": "pixels",
    "training.foreground_weight": 10.0,
    "training.schedule.type": "constant",
    OLD_HEAD: True,
}
# Named by what differs: "old" is the recipe before issue 9 (the paper's plain mean over
# every map pixel, with dpk's foreground weight, at a constant rate: the plateau schedule
# does not act within a short comparison); the others differ from the new defaults
# (keypoint normalisation, foreground weight 10, warm-up + cosine) in one setting.
UNET: dict[str, object] = {
    "architecture": {"type": "unet", "filters": 24, "max_filters": 96},
    "training.schedule.type": "cosine",
}
LIGHT_AUGMENTATION: dict[str, object] = {
    # rotation, scale, translation, contrast and brightness stay; these go:
    "augmentation.flip_lr": 0.0,
    "augmentation.shear": 0.0,
    "augmentation.noise": 0.0,
    "augmentation.dropout": 0.0,
    "augmentation.blur": 0.0,
}
PLAIN: dict[str, object] = {  # the baseline's loss, targets and augmentation
    **LIGHT_AUGMENTATION,
    "targets.graph": False,
    "targets.sigma": 4.0,
    "training.foreground_weight": 0.0,
}
VARIANTS: dict[str, dict[str, object]] = {
    "old": OLD,
    "pixels_cosine": {**OLD, "training.schedule.type": "cosine"},
    "keypoints_fg10": {
        "training.foreground_weight": 10.0,
        "training.loss_normalization": "keypoints",
        OLD_HEAD: True,
    },
    "keypoints_fg0": {
        "training.foreground_weight": 0.0,
        "training.loss_normalization": "keypoints",
        OLD_HEAD: True,
    },
    "no_graph": {"training.foreground_weight": 10.0, "targets.graph": False, OLD_HEAD: True},
    "n_stacks2": {"training.foreground_weight": 10.0, "architecture.n_stacks": 2, OLD_HEAD: True},
    "input_256x250": {
        "training.foreground_weight": 10.0,
        "preprocessing.height": 256,
        "preprocessing.width": 250,
        OLD_HEAD: True,
    },
    # The CPU-efficient U-Net (issue 9) with the old heads, then one change each from it;
    # the *_head_small variants use the trainer's heads (near zero), the fix.
    "unet": {**UNET, OLD_HEAD: True},
    "unet_no_graph": {**UNET, "targets.graph": False, OLD_HEAD: True},
    "unet_sigma4": {**UNET, "targets.sigma": 4.0, OLD_HEAD: True},
    "unet_light_aug": {**UNET, **LIGHT_AUGMENTATION, OLD_HEAD: True},
    "unet_fg0": {**UNET, "training.foreground_weight": 0.0, OLD_HEAD: True},
    "unet_all_four": {**UNET, **PLAIN, OLD_HEAD: True},
    "unet_head_small": UNET,
    "unet_all_four_head_small": {**UNET, **PLAIN},
}


def _rate(schedule: str, peak: float, warmup: int, step: int, total: int) -> float:
    if schedule == "constant":
        return peak
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return peak * warm * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))


def run(dataset: str, steps: int, names: list[str], seed: int = 0) -> list[dict]:
    """Train every variant for ``steps`` alternating steps; return one row per variant."""
    import keras

    from dpk.trainer.data import load_training_data
    from dpk.trainer.evaluate import frame_pixels
    from dpk.trainer.metrics import error_summary, euclidean_errors
    from dpk.trainer.models import build_model
    from dpk.trainer.training.callbacks import predict_keypoints
    from dpk.trainer.training.dataset import MapDataset
    from dpk.trainer.training.losses import MaskedMSE

    variants = []
    loaded: dict[tuple[int, int], tuple] = {}
    for name in names:
        overrides = dict(VARIANTS[name])
        old_head = bool(overrides.pop(OLD_HEAD, False))
        spec = make_spec(dataset, "stacked_densenet", 30.0, overrides=overrides)
        size = (spec.preprocessing.height, spec.preprocessing.width)
        if size not in loaded:
            loaded[size] = load_training_data(spec, ROOT)
        train, validation = loaded[size]
        keras.utils.set_random_seed(seed)
        model = build_model(spec)
        if old_head:
            glorot = keras.initializers.GlorotUniform(seed=seed)
            for layer in model.layers:
                if layer.name.startswith("head_"):
                    kernel, bias = layer.get_weights()
                    layer.set_weights([np.asarray(glorot(kernel.shape)), np.zeros_like(bias)])
        t = spec.training
        model.compile(
            optimizer=keras.optimizers.Adam(t.learning_rate),
            loss=MaskedMSE(t.foreground_weight, t.loss_normalization, spec.n_keypoints),
            jit_compile=False,
        )
        shape = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
        data = MapDataset(
            train.images,
            train.keypoints,
            spec,
            (int(shape[-1][1]), int(shape[-1][2])),
            len(model.outputs),
            batch_size=t.batch_size,
            augment=True,
            shuffle=True,
            seed=seed,
        )
        variants.append(
            {
                "name": name,
                "spec": spec,
                "model": model,
                "data": data,
                "validation": validation,
                "times": [],
            }
        )
    per_epoch = len(variants[0]["data"])
    for step in range(steps):
        index = step % per_epoch
        for v in variants:
            if index == 0 and step:
                v["data"].on_epoch_end()
            images, targets = v["data"][index]
            t = v["spec"].training
            rate = _rate(t.schedule.type, t.learning_rate, t.schedule.warmup_steps, step, steps)
            v["model"].optimizer.learning_rate.assign(rate)
            start = time.perf_counter()
            v["model"].train_on_batch(images, targets)
            v["times"].append(time.perf_counter() - start)
        if (step + 1) % 100 == 0:
            print(f"{step + 1}/{steps} steps", flush=True)
    rows = []
    for v in variants:
        spec, validation = v["spec"], v["validation"]
        predicted = predict_keypoints(v["model"], spec, validation.images)
        predicted, true = frame_pixels(predicted, validation.keypoints, validation.frame_transform)
        summary = error_summary(euclidean_errors(predicted, true))
        step_s = statistics.median(v["times"][5:] or v["times"])
        rows.append(
            {
                "dataset": dataset,
                "variant": v["name"],
                "overrides": VARIANTS[v["name"]],
                "steps": steps,
                "batch": spec.training.batch_size,
                "architecture": spec.architecture.type,
                "n_stacks": getattr(spec.architecture, "n_stacks", 1),
                "median_px": summary["p50"],
                "mean_px": summary["mean"],
                "p95_px": summary["p95"],
                "step_s": step_s,
                "frames_per_s": spec.training.batch_size / step_s,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["fly", "mouse"], required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument(
        "--variants",
        help="comma-separated variant names (default: all): " + "; ".join(VARIANTS),
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.variants.split(",")] if args.variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    rows = run(args.dataset, args.steps, names)
    print_table(
        ["variant", "steps", "median px", "mean px", "p95 px", "step s", "frames/s"],
        [
            [
                r["variant"],
                r["steps"],
                r["median_px"],
                r["mean_px"],
                r["p95_px"],
                r["step_s"],
                r["frames_per_s"],
            ]
            for r in rows
        ],
        f"{args.dataset}: recipes side by side, same batches, same steps (held-out, labelled-frame px)",
    )
    # Merge: earlier variants' rows stay, a variant measured again replaces its row.
    path = RESULTS / f"recipe_ab_{args.dataset}.json"
    kept = json.loads(path.read_text())["rows"] if path.exists() else []
    new = {r["variant"] for r in rows}
    save_json(
        f"recipe_ab_{args.dataset}", {"rows": [r for r in kept if r["variant"] not in new] + rows}
    )


if __name__ == "__main__":
    main()
