"""Accuracy of the four architectures trained with the same budget on the same data
(issue 6, comparison 2; the paper's Figure 3 and Appendix 1).

Each architecture trains for ``--minutes`` on the same split and seed, then its best
weights are evaluated on every held-out frame: error mean, median, 95th percentile, the
paper's mean accuracy (1 + error)^-1, and the training minutes until the per-epoch
validation error first reached ``--threshold`` pixels. Prints a table, writes
``results/architectures_<dataset>.json`` and a box plot of the error distributions.

Usage: python benchmarks/architectures.py --dataset fly [--minutes 30] [--quick]
"""

from __future__ import annotations

import argparse

from _common import RESULTS, minutes_to_reach, plot_error_boxes, print_table, save_json
from train_real import ARCHITECTURES, ROOT, record, train_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["fly", "mouse"], default="fly")
    parser.add_argument("--minutes", type=float, default=30.0, help="budget per architecture")
    parser.add_argument(
        "--threshold", type=float, default=5.0, help="error (px) for the time-to-reach column"
    )
    parser.add_argument(
        "--arch", action="append", choices=sorted(ARCHITECTURES), help="repeatable (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="1.5 minutes per architecture")
    args = parser.parse_args()
    minutes = 1.5 if args.quick else args.minutes
    rows, errors = [], []
    for arch in args.arch or list(ARCHITECTURES):
        row, err = train_and_evaluate(args.dataset, arch, minutes)
        row["minutes_to_threshold"] = minutes_to_reach(ROOT / row["run"], args.threshold)
        rows.append(row)
        errors.append(err)
    record(rows, args.quick)
    print_table(
        [
            "architecture",
            "GFLOPs",
            "params",
            "epochs",
            "mean px",
            "median px",
            "p95 px",
            "mean accuracy",
            f"min to {args.threshold:g} px",
        ],
        [
            [
                r["architecture"],
                r["gflops"],
                r["params"],
                r["epochs"],
                r["error_mean_px"],
                r["error_median_px"],
                r["error_p95_px"],
                r["mean_accuracy"],
                r["minutes_to_threshold"] or "not reached",
            ]
            for r in rows
        ],
        f"{args.dataset}: {minutes:g} min per architecture, same split and seed",
    )
    suffix = f"{args.dataset}" + ("_quick" if args.quick else "")
    save_json(
        f"architectures_{suffix}",
        {"minutes": minutes, "threshold_px": args.threshold, "rows": rows},
    )
    plot_error_boxes(
        [r["architecture"] for r in rows],
        errors,
        RESULTS / f"architectures_{suffix}.png",
        f"{args.dataset}: held-out error by architecture ({minutes:g} min each)",
    )


if __name__ == "__main__":
    main()
