"""Train and evaluate on the real datasets within a CPU time budget (issue 3's measurement).

(a) ``fly``: examples/fly13.yaml: thorax-centred 160x160 crops of the SLEAP fly clip,
    frames 0-1199 for training and 1200-1499 held out.
(b) ``mouse``: examples/mirror_mouse.yaml: the lightning-pose mirror mouse, full
    406x396 frames, a seeded 80/20 split.

Each run trains for at most ``--minutes`` of wall-clock time, then the best weights are
evaluated on the held-out frames. Prints a table and writes
``benchmarks/results/train_real.json`` (merged with earlier runs of other datasets).

Usage: python benchmarks/train_real.py --dataset fly [--minutes 30] [--arch leap] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import RESULTS, ROOT, print_table, save_json
from dpk.specs import LEAP, DeepLabCut, StackedHourglass, Targets, load_spec

SPECS = {"fly": ROOT / "examples" / "fly13.yaml", "mouse": ROOT / "examples" / "mirror_mouse.yaml"}
ARCHITECTURES = {
    "stacked_densenet": None,
    "stacked_hourglass": StackedHourglass(n_stacks=2, filters=64),
    "leap": LEAP(filters=32),
    "deeplabcut": DeepLabCut(backbone="mobilenetv2", alpha=0.5),
}


def make_spec(dataset: str, arch: str, minutes: float, graph: bool | None):
    spec = load_spec(SPECS[dataset])
    updates = {
        "training": spec.training.model_copy(update={"max_minutes": minutes, "epochs": 10000})
    }
    targets = spec.targets
    if ARCHITECTURES[arch] is not None:
        updates["architecture"] = ARCHITECTURES[arch]
        updates["name"] = f"{spec.name}_{arch}"
        if arch == "leap":
            targets = Targets(**{**targets.model_dump(), "downsample_factor": 0})
    if graph is not None:
        targets = Targets(**{**targets.model_dump(), "graph": graph})
        updates["name"] = updates.get("name", spec.name) + ("_graph" if graph else "_nograph")
    updates["targets"] = targets
    data = spec.data.model_copy(
        update={"path": str((SPECS[dataset].parent / spec.data.path).resolve())}
    )
    updates["data"] = data
    return type(spec).model_validate(
        {
            **spec.model_dump(),
            **{k: v.model_dump() if hasattr(v, "model_dump") else v for k, v in updates.items()},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=sorted(SPECS), required=True)
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default="stacked_densenet")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget (default 30)")
    parser.add_argument("--quick", action="store_true", help="a 2-minute run to check the pipeline")
    parser.add_argument("--graph", choices=["on", "off"], help="override targets.graph")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs"), help="where run folders go")
    args = parser.parse_args()
    minutes = 2.0 if args.quick else args.minutes
    graph = None if args.graph is None else args.graph == "on"
    spec = make_spec(args.dataset, args.arch, minutes, graph)

    from dpk.trainer.evaluation_run import evaluate_run
    from dpk.trainer.models import build_model, count_flops, count_params
    from dpk.trainer.training import train

    model = build_model(spec)
    flops, params = count_flops(model), count_params(model)
    del model
    result = train(spec, runs_dir=args.runs_dir, verbose=2)
    evaluation = evaluate_run(result.run_dir)
    overall = evaluation.report["overall"]
    key = f"{args.dataset}/{spec.name}" + ("/quick" if args.quick else "")
    row = {
        "dataset": args.dataset,
        "architecture": spec.architecture.type,
        "graph": spec.targets.graph,
        "run": str(result.run_dir),
        "budget_min": minutes,
        "minutes": round(result.minutes, 1),
        "epochs": result.epochs_done,
        "stopped": result.stopped,
        "params": params,
        "gflops": flops / 1e9,
        "n_validation_keypoints": overall["count"],
        "error_median_px": overall["median"],
        "error_mean_px": overall["mean"],
        "error_p95_px": overall["p95"],
        "share_over_20px": overall["share_over_20px"],
        "pck_5px": overall["pck_5px"],
        "mean_accuracy": overall["mean_accuracy"],
    }
    print(evaluation.summary())
    print_table(
        [*list(row)[:2], "minutes", "epochs", "median px", "mean px", "p95 px", ">20 px", "PCK@5"],
        [
            [
                row["dataset"],
                row["architecture"],
                row["minutes"],
                row["epochs"],
                row["error_median_px"],
                row["error_mean_px"],
                row["error_p95_px"],
                row["share_over_20px"],
                row["pck_5px"],
            ]
        ],
        f"held-out error after {minutes:g} min of training on this CPU",
    )
    previous = {}
    path = RESULTS / "train_real.json"
    if path.is_file():
        previous = json.loads(path.read_text()).get("runs", {})
    previous[key] = row
    save_json("train_real", {"runs": previous})


if __name__ == "__main__":
    main()
