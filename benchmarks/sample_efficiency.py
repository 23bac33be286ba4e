"""Error against the number of training frames, without transfer learning (issue 6,
comparison 5; the paper's Appendix 1 figure on sample efficiency).

Trains the Stacked DenseNet on 10, 25, 50 and 100 percent of the training frames (a
seeded subset; the same held-out frames for all), each with the same budget. Prints a
table, writes ``results/sample_efficiency_<dataset>.json`` and a box plot.

Usage: python benchmarks/sample_efficiency.py --dataset mouse [--minutes 15] [--quick]
"""

from __future__ import annotations

import argparse

from _common import RESULTS, plot_error_boxes, print_table, save_json
from train_real import record, train_and_evaluate

FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["fly", "mouse"], default="mouse")
    parser.add_argument("--minutes", type=float, default=15.0, help="budget per run")
    parser.add_argument("--quick", action="store_true", help="1 minute per run")
    args = parser.parse_args()
    minutes = 1.0 if args.quick else args.minutes
    rows, errors = [], []
    for fraction in FRACTIONS:
        row, err = train_and_evaluate(args.dataset, "stacked_densenet", minutes, fraction=fraction)
        rows.append(row)
        errors.append(err)
    record(rows, args.quick)
    print_table(
        ["fraction", "training frames", "epochs", "mean px", "median px", "p95 px", "PCK@5"],
        [
            [
                f"{r['fraction']:.0%}",
                r["n_train"],
                r["epochs"],
                r["error_mean_px"],
                r["error_median_px"],
                r["error_p95_px"],
                r["pck_5px"],
            ]
            for r in rows
        ],
        f"{args.dataset}: Stacked DenseNet, {minutes:g} min per run, same held-out frames",
    )
    suffix = f"{args.dataset}" + ("_quick" if args.quick else "")
    save_json(f"sample_efficiency_{suffix}", {"minutes": minutes, "rows": rows})
    plot_error_boxes(
        [f"{r['fraction']:.0%} ({r['n_train']})" for r in rows],
        errors,
        RESULTS / f"sample_efficiency_{suffix}.png",
        f"{args.dataset}: error by training-set size ({minutes:g} min each)",
    )


if __name__ == "__main__":
    main()
