"""The same model with and without posture-graph targets (issue 6, comparison 4).

DeepPoseKit found that predicting the hierarchical posture graph lowers both the mean and
the variance of the error. Trains the Stacked DenseNet twice with the same budget, split
and seed, graph on and off, and compares the held-out error mean, standard deviation,
median, 95th percentile and share over 20 px. Prints a table, writes
``results/posture_graph_<dataset>.json`` and a box plot.

Usage: python benchmarks/posture_graph.py --dataset fly [--minutes 30] [--quick]
"""

from __future__ import annotations

import argparse

from _common import RESULTS, plot_error_boxes, print_table, save_json
from train_real import record, train_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["fly", "mouse"], default="fly")
    parser.add_argument("--minutes", type=float, default=30.0, help="budget per run")
    parser.add_argument("--quick", action="store_true", help="1.5 minutes per run")
    args = parser.parse_args()
    minutes = 1.5 if args.quick else args.minutes
    rows, errors = [], []
    for graph in (False, True):
        row, err = train_and_evaluate(args.dataset, "stacked_densenet", minutes, graph=graph)
        rows.append(row)
        errors.append(err)
    record(rows, args.quick)
    print_table(
        ["graph", "epochs", "mean px", "std px", "median px", "p95 px", ">20 px"],
        [
            [
                r["graph"],
                r["epochs"],
                r["error_mean_px"],
                r["error_std_px"],
                r["error_median_px"],
                r["error_p95_px"],
                r["share_over_20px"],
            ]
            for r in rows
        ],
        f"{args.dataset}: Stacked DenseNet with and without the posture graph ({minutes:g} min each)",
    )
    suffix = f"{args.dataset}" + ("_quick" if args.quick else "")
    save_json(f"posture_graph_{suffix}", {"minutes": minutes, "rows": rows})
    plot_error_boxes(
        ["keypoints only", "with posture graph"],
        errors,
        RESULTS / f"posture_graph_{suffix}.png",
        f"{args.dataset}: posture graph on/off ({minutes:g} min each)",
    )


if __name__ == "__main__":
    main()
