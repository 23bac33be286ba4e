"""Train and evaluate on the real datasets within a CPU time budget.

(a) ``fly``: examples/fly13.yaml: thorax-centred 160x160 crops of the SLEAP fly clip,
    frames 0-1199 for training and 1200-1499 held out.
(b) ``mouse``: examples/mirror_mouse.yaml: the lightning-pose mirror mouse, full
    406x396 frames, a seeded 80/20 split.

Each run trains for at most ``--minutes`` of wall-clock time, then the best weights are
evaluated on all held-out frames. ``--arch`` swaps the architecture (same data, budget
and seed), ``--graph`` switches the posture graph, ``--fraction`` trains on a seeded
subset of the training frames. Prints a table and merges the row into
``benchmarks/results/train_real.json``; the run folder keeps the checkpoints, logs and
evaluation plots. The comparison scripts (architectures.py, posture_graph.py,
sample_efficiency.py) call :func:`train_and_evaluate`.

Usage: python benchmarks/train_real.py --dataset fly [--minutes 30] [--arch leap] [--quick]
       python benchmarks/train_real.py --table | --reevaluate mouse/NAME
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

import numpy as np

from _common import RESULTS, ROOT, print_table, save_json
from dpk.specs import LEAP, DeepLabCut, StackedDenseNet, StackedHourglass, load_spec, save_spec

DEFAULT_MINUTES = 30.0
"""The budget of the recorded reference runs (issue 3); other budgets get their own rows."""
SPECS = {"fly": ROOT / "examples" / "fly13.yaml", "mouse": ROOT / "examples" / "mirror_mouse.yaml"}
ARCHITECTURES = {
    "unet": None,  # the example specs' own architecture
    "stacked_densenet": StackedDenseNet(n_stacks=2, growth_rate=24),
    "stacked_hourglass": StackedHourglass(n_stacks=2, filters=64),
    "leap": LEAP(filters=32),
    "deeplabcut": DeepLabCut(backbone="mobilenetv2", alpha=0.5),
}


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``section.field=value`` pairs (values in YAML syntax) as a dict of dotted keys."""
    import yaml

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {pair!r}: write it as section.field=value")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def apply_overrides(data: dict, overrides: dict[str, object]) -> None:
    """Set dotted keys (``training.schedule.type``) in a spec dictionary."""
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value


def make_spec(
    dataset: str,
    arch: str,
    minutes: float,
    graph: bool | None = None,
    seed: int | None = None,
    overrides: dict[str, object] | None = None,
    variant: str | None = None,
):
    """The example spec for ``dataset`` with the benchmark's overrides.

    ``overrides`` (dotted keys) make a variant; its rows are named ``<spec>_<variant>``.
    """
    spec = load_spec(SPECS[dataset])
    data = spec.model_dump()
    data["training"].update(max_minutes=minutes, epochs=10000)
    if ARCHITECTURES[arch] is not None:
        data["architecture"] = ARCHITECTURES[arch].model_dump()
        data["name"] = f"{spec.name}_{arch}"
        if arch == "leap":
            data["targets"]["downsample_factor"] = 0
    if overrides:
        apply_overrides(data, overrides)
    if variant:
        data["name"] += f"_{variant}"
    if seed is not None:
        data["training"]["seed"] = seed
    if graph is not None:
        data["targets"]["graph"] = graph
        data["name"] += "_graph" if graph else "_nograph"
    if minutes != DEFAULT_MINUTES:  # comparison runs never replace the 30-minute rows
        data["name"] += f"_{minutes:g}min"
    data["data"]["path"] = str((SPECS[dataset].parent / spec.data.path).resolve())
    return type(spec).model_validate(data)


def train_and_evaluate(
    dataset: str,
    arch: str = "unet",
    minutes: float = 30.0,
    *,
    graph: bool | None = None,
    fraction: float = 1.0,
    seed: int | None = None,
    runs_dir: Path = ROOT / "runs",
    overrides: dict[str, object] | None = None,
    variant: str | None = None,
) -> tuple[dict, np.ndarray]:
    """Train one configuration and evaluate it; returns the result row and the errors."""
    import keras

    from dpk.trainer.data.context import load_training_data_with_context
    from dpk.trainer.evaluate import evaluate_arrays
    from dpk.trainer.models import build_model, count_flops, count_params
    from dpk.trainer.models.test_time import inference_model
    from dpk.trainer.training import train_arrays
    from dpk.trainer.training.callbacks import predict_keypoints
    from dpk.trainer.training.run import _save_check_images

    spec = make_spec(dataset, arch, minutes, graph, seed, overrides, variant)
    train, validation, context = load_training_data_with_context(spec, ROOT)
    if fraction < 1.0:
        rng = np.random.default_rng(spec.training.seed)
        keep = np.sort(
            rng.choice(
                len(train.images), max(1, round(fraction * len(train.images))), replace=False
            )
        )
        train = train.subset(keep)
        context = None if context is None else context[keep]
    name = spec.name + (f"_{round(fraction * 100)}pct" if fraction < 1.0 else "")
    run_dir = Path(runs_dir) / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"
    run_dir.mkdir(parents=True)
    save_spec(spec, run_dir / "spec.yaml")
    _save_check_images(run_dir, train, validation, spec.training.seed)
    keras.utils.set_random_seed(spec.training.seed)
    model = build_model(spec)
    flops, params = count_flops(model), count_params(model)
    print(
        f"{name}: {len(train.images)} training and {len(validation.images)} held-out frames, {minutes:g} min"
    )
    result = train_arrays(
        spec,
        train.images,
        train.keypoints,
        validation.images,
        validation.keypoints,
        run_dir,
        model=model,
        verbose=2,
        frame_transform=validation.frame_transform,
        train_context=context,
    )
    best = keras.saving.load_model(run_dir / "best.keras", compile=False)
    predicted = predict_keypoints(inference_model(best, spec), spec, validation.images)
    evaluation = evaluate_arrays(
        spec,
        validation.images,
        predicted,
        validation.keypoints,
        run_dir / "evaluation",
        frame_transform=validation.frame_transform,
    )
    overall = evaluation.report["overall"]
    errors = evaluation.errors
    row = {
        "dataset": dataset,
        "name": name,
        "architecture": spec.architecture.type,
        "graph": spec.targets.graph,
        "foreground_weight": spec.training.foreground_weight,
        "loss_normalization": spec.training.loss_normalization,
        "schedule": spec.training.schedule.type,
        "overrides": overrides or {},
        "context_crop": None if context is None else int(context.shape[1]),
        "fraction": fraction,
        "seed": spec.training.seed,
        "run": str(run_dir.relative_to(ROOT)) if run_dir.is_relative_to(ROOT) else run_dir.name,
        "budget_min": minutes,
        "minutes": round(result.minutes, 1),
        "epochs": result.epochs_done,
        "stopped": result.stopped,
        "n_train": len(train.images),
        "params": params,
        "gflops": flops / 1e9,
        "n_validation_keypoints": overall["count"],
        "error_median_px": overall["median"],
        "error_mean_px": overall["mean"],
        "error_std_px": float(np.nanstd(errors)),
        "error_p95_px": overall["p95"],
        "share_over_20px": overall["share_over_20px"],
        "pck_5px": overall["pck_5px"],
        "mean_accuracy": overall["mean_accuracy"],
        "best_epoch": result.best_epoch,
        "train_frames_per_s": training_throughput(run_dir),
        "curve": learning_curve(run_dir),
    }
    print(evaluation.summary())
    return row, errors


def learning_curve(run_dir: Path) -> dict[str, list[float]]:
    """Per-epoch minutes and validation error (mean, median) from a run's log.csv."""
    import csv

    curve: dict[str, list[float]] = {"minutes": [], "mean_px": [], "median_px": []}
    log = Path(run_dir) / "log.csv"
    if not log.is_file():
        return curve
    with log.open() as handle:
        for row in csv.DictReader(handle):
            try:
                values = float(row["minutes"]), float(row["val_error"]), float(row["val_error_p50"])
            except (KeyError, ValueError):
                continue
            for key, value in zip(curve, values, strict=True):
                curve[key].append(round(value, 3))
    return curve


def training_throughput(run_dir: Path) -> float | None:
    """Median training frames per second over the epochs of a run's log.csv."""
    import csv

    log = Path(run_dir) / "log.csv"
    if not log.is_file():
        return None
    with log.open() as handle:
        rates = [
            float(r["train_frames_per_s"])
            for r in csv.DictReader(handle)
            if r.get("train_frames_per_s")
        ]
    return float(np.median(rates)) if rates else None


def plot_curves(rows: list[dict], path: Path, title: str) -> None:
    """Validation error (median, mean) against training minutes, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for row in rows:
        curve = row.get("curve") or {}
        if not curve.get("minutes"):
            continue
        for ax, key in zip(axes, ("median_px", "mean_px"), strict=True):
            ax.plot(curve["minutes"], curve[key], label=row["name"], lw=1.2)
    for ax, what in zip(axes, ("median", "mean"), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel("training minutes")
        ax.set_ylabel(f"validation error, {what} (px, labelled frames)")
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def print_rows(rows: list[dict], title: str) -> str:
    """Print result rows as a Markdown table."""
    return print_table(
        [
            "dataset",
            "run",
            "arch",
            "graph",
            "loss norm",
            "schedule",
            "fg weight",
            "train",
            "min",
            "epochs",
            "median px",
            "mean px",
            "p95 px",
            ">20 px",
            "PCK@5",
            "train fps",
        ],
        [
            [
                r["dataset"],
                r["name"],
                r["architecture"],
                r["graph"],
                r.get("loss_normalization", "pixels"),
                r.get("schedule", "plateau"),
                r.get("foreground_weight", 0.0),
                r.get("n_train", ""),
                r["minutes"],
                r["epochs"],
                r["error_median_px"],
                r["error_mean_px"],
                r["error_p95_px"],
                r["share_over_20px"],
                r["pck_5px"],
                r.get("train_frames_per_s") or "",
            ]
            for r in rows
        ],
        title,
    )


def stored_runs() -> dict[str, dict]:
    """The rows recorded in results/train_real.json, by ``dataset/name``."""
    path = RESULTS / "train_real.json"
    return json.loads(path.read_text()).get("runs", {}) if path.is_file() else {}


def record(rows: list[dict], quick: bool) -> None:
    """Merge rows into results/train_real.json and print them."""
    print_rows(rows, "held-out error after training on this CPU")
    if quick:
        return
    import fcntl

    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / ".train_real.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # side-by-side runs finish together
        previous = stored_runs()
        for r in rows:
            previous[f"{r['dataset']}/{r['name']}"] = r
        save_json("train_real", {"runs": previous})
    for dataset in sorted({r["dataset"] for r in rows}):
        plot_curves(
            [r for r in previous.values() if r["dataset"] == dataset],
            RESULTS / f"learning_curves_{dataset}.png",
            f"{dataset}: held-out error while training (this CPU)",
        )


def reevaluate(key: str) -> dict:
    """Evaluate a recorded run again (``dpk evaluate``'s way) and update its row.

    Runs recorded before evaluation mapped keypoints back to the labelled frames were
    measured in model-input pixels; this brings them to the labelled frames' pixels.
    """
    from dpk.trainer.evaluation_run import evaluate_run

    runs = stored_runs()
    if key not in runs:
        raise SystemExit(f"no recorded run {key!r}; recorded: {', '.join(runs)}")
    row = runs[key]
    overall = evaluate_run(ROOT / row["run"]).report["overall"]
    row.update(
        error_median_px=overall["median"],
        error_mean_px=overall["mean"],
        error_p95_px=overall["p95"],
        share_over_20px=overall["share_over_20px"],
        pck_5px=overall["pck_5px"],
        mean_accuracy=overall["mean_accuracy"],
        n_validation_keypoints=overall["count"],
    )
    row.pop("error_std_px", None)
    record([row], quick=False)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=sorted(SPECS))
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="unet")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget (default 30)")
    parser.add_argument("--quick", action="store_true", help="a 2-minute run to check the pipeline")
    parser.add_argument("--graph", choices=["on", "off"], help="override targets.graph")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the training frames")
    parser.add_argument("--seed", type=int, help="override training.seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec field, e.g. training.loss_normalization=pixels (needs --variant)",
    )
    parser.add_argument("--variant", help="name of the variant made by --set (suffix of the row)")
    parser.add_argument(
        "--threads", type=int, help="TensorFlow threads (default: all cores), for side-by-side runs"
    )
    parser.add_argument(
        "--table", action="store_true", help="print the recorded runs and exit (no training)"
    )
    parser.add_argument(
        "--reevaluate", metavar="DATASET/NAME", help="evaluate a recorded run again and update it"
    )
    args = parser.parse_args()
    if args.table:
        print_rows(list(stored_runs().values()), "recorded runs (results/train_real.json)")
        return
    if args.reevaluate:
        reevaluate(args.reevaluate)
        return
    if args.dataset is None:
        parser.error("--dataset is required (or --table / --reevaluate)")
    if args.set and not args.variant:
        parser.error("--set needs --variant NAME (the row's name)")
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    row, _ = train_and_evaluate(
        args.dataset,
        args.arch,
        2.0 if args.quick else args.minutes,
        graph=None if args.graph is None else args.graph == "on",
        fraction=args.fraction,
        seed=args.seed,
        overrides=parse_overrides(args.set),
        variant=args.variant,
    )
    record([row], args.quick)


if __name__ == "__main__":
    main()
