"""dpk's trainer beside the plain U-Net measuring stick, at the same time, on the same frames.

Starts two processes at once and waits for both: ``train_real.py`` (dpk: the dataset's
example spec, plus ``--set`` overrides) and ``../shared/baseline/baseline.py`` (a plain
heatmap U-Net that is not part of dpk), each with ``--threads N`` TensorFlow threads and
the same ``--minutes`` budget, so the machine's load hits both alike. The baseline holds
out the same frames as dpk: the fly clip's frames 1200-1499 for both by construction, and
for the mouse the images of dpk's seeded validation split (passed by name).

Prints one table (errors in the labelled frames' pixels, training frames per second) with
the ratio dpk / baseline, and merges the pair into ``benchmarks/results/vs_baseline.json``
(dpk's row also lands in ``train_real.json`` as every train_real run does).

Usage: python benchmarks/vs_baseline.py --dataset fly [--minutes 30] [--threads 1]
           [--set 'architecture={type: unet}' --variant NAME]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import RESULTS, ROOT, print_table, save_json
from train_real import make_spec, parse_overrides, stored_runs

BASELINE = ROOT.parent / "shared" / "baseline" / "baseline.py"
"""The measuring stick (read-only, outside the repository)."""
RESULT = RESULTS / "vs_baseline.json"


def held_out_images(dataset: str, overrides: dict[str, object]) -> list[str]:
    """The image names dpk holds out for ``dataset`` (empty for the fly: frames by number)."""
    if dataset != "mouse":
        return []
    from dpk.trainer.data import load_training_data

    spec = make_spec(dataset, "unet", 30.0, overrides=overrides)
    _, validation = load_training_data(spec, ROOT)
    return [Path(source).name for source in validation.sources]


def run_pair(dataset: str, minutes: float, threads: int, sets: list[str], variant: str | None):
    """Train dpk and the baseline side by side; returns ``(dpk_row, baseline_result)``."""
    overrides = parse_overrides(sets)
    # train_real.py's default architecture: the example spec's own (its row's name).
    dpk_name = make_spec(dataset, "unet", minutes, overrides=overrides, variant=variant).name
    dpk_command = [
        sys.executable,
        str(ROOT / "benchmarks" / "train_real.py"),
        "--dataset",
        dataset,
        "--minutes",
        f"{minutes:g}",
        "--threads",
        str(threads),
    ]
    for pair in sets:
        dpk_command += ["--set", pair]
    if variant:
        dpk_command += ["--variant", variant]
    with tempfile.TemporaryDirectory(prefix="dpk-baseline-") as out:
        baseline_command = [
            sys.executable,
            str(BASELINE),
            "--data",
            dataset,
            "--minutes",
            f"{minutes:g}",
            "--threads",
            str(threads),
            "--out",
            out,
        ]
        names = held_out_images(dataset, overrides)
        if names:
            baseline_command += ["--test-images", ",".join(names)]
        print(f"dpk ({dpk_name}) and the baseline, {minutes:g} min each, {threads} thread(s) each")
        dpk = subprocess.Popen(dpk_command, cwd=ROOT / "benchmarks")
        baseline = subprocess.Popen(baseline_command, cwd=out, stdout=subprocess.DEVNULL)
        codes = dpk.wait(), baseline.wait()
        if any(codes):
            raise SystemExit(f"a run failed (exit codes: dpk {codes[0]}, baseline {codes[1]})")
        baseline_result = json.loads((Path(out) / f"{dataset}.json").read_text())
    print(
        f"baseline: {json.dumps(baseline_result)}", flush=True
    )  # kept in the log whatever follows
    return stored_runs()[f"{dataset}/{dpk_name}"], baseline_result


def make_pair(dataset: str, minutes: float, threads: int, dpk: dict, base: dict) -> dict:
    """One comparison: dpk's train_real row and the baseline's result, side by side."""
    test = base["test"]
    return {
        "dataset": dataset,
        "minutes": minutes,
        "threads_each": threads,
        "dpk": {
            "name": dpk["name"],
            "architecture": dpk["architecture"],
            "overrides": dpk["overrides"],
            "params": dpk["params"],
            "train_frames_per_s": dpk["train_frames_per_s"],
            "epochs": dpk["epochs"],
            "n_keypoints": dpk["n_validation_keypoints"],
            "median_px": dpk["error_median_px"],
            "mean_px": dpk["error_mean_px"],
            "p95_px": dpk["error_p95_px"],
        },
        "baseline": {
            "params": base["params"],
            "train_frames_per_s": base["frames_per_s"],
            "steps": base["steps"],
            "n_keypoints": test["n"],
            "median_px": test["median"],
            "mean_px": test["mean"],
            "p95_px": test["p95"],
        },
    }


def record_pair(pair: dict) -> None:
    """Print the pair as a table and merge it into ``results/vs_baseline.json``."""
    rows = [
        [
            who,
            pair[who].get("name", "plain U-Net"),
            pair[who]["params"],
            pair[who]["train_frames_per_s"],
            pair[who]["n_keypoints"],
            pair[who]["median_px"],
            pair[who]["mean_px"],
            pair[who]["p95_px"],
        ]
        for who in ("dpk", "baseline")
    ]
    rows.append(
        ["dpk / baseline", "", "", "", ""]
        + [pair["dpk"][k] / pair["baseline"][k] for k in ("median_px", "mean_px", "p95_px")]
    )
    print_table(
        ["run", "name", "params", "train frames/s", "keypoints", "median px", "mean px", "p95 px"],
        rows,
        f"{pair['dataset']}: dpk beside the baseline, {pair['minutes']:g} min, "
        f"{pair['threads_each']} thread(s) each",
    )
    stored = json.loads(RESULT.read_text())["pairs"] if RESULT.exists() else {}
    stored[f"{pair['dataset']}/{pair['dpk']['name']}"] = pair
    save_json("vs_baseline", {"pairs": stored})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=["fly", "mouse"], required=True)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads of EACH run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variant", help="name of the dpk variant made by --set")
    args = parser.parse_args()
    if args.set and not args.variant:
        parser.error("--set needs --variant NAME")
    if not BASELINE.is_file():
        raise SystemExit(f"{BASELINE.name}: not found beside the repository (../shared/baseline/)")
    dpk, base = run_pair(args.dataset, args.minutes, args.threads, args.set, args.variant)
    record_pair(make_pair(args.dataset, args.minutes, args.threads, dpk, base))


if __name__ == "__main__":
    main()
