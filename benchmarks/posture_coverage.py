"""How well the training postures cover the held-out postures (issue 9's fly tail).

The fly example trains on frames 0-1199 of the SLEAP clip and holds out 1200-1499. The
flies barely move before about frame 1000, so 2,400 training instances may hold far
fewer distinct postures than their count says. This script measures that from the
labels alone (no model):

- Postures are egocentric: each instance's keypoints minus its anchor (the crop's
  anchor, the thorax), rotated so that the first keypoint (the head) points along +x.
- Distinct postures: a greedy cover with radius ``r`` (mean distance over the keypoints
  both label): an instance farther than ``r`` from every kept posture becomes a new one.
- Coverage: the share of held-out instances farther than ``r`` from every training
  instance (nothing like them was trained on).
- Coincident labels: pairs of keypoints of one instance labelled within 3 px of each
  other, per pair (two leg tips on one spot is a labelling convention or a slip, and
  teaches the model to put them there).

Usage: python benchmarks/posture_coverage.py [--dataset fly] [--radii 3,5,10]
Prints the tables and writes ``benchmarks/results/posture_coverage.json``.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from _common import ROOT, print_table, save_json
from train_real import make_spec

COINCIDENT_PX = 3.0


def egocentric(keypoints: np.ndarray, anchor: int, heading: int) -> np.ndarray:
    """(N, K, 2) keypoints relative to ``anchor``, rotated so ``heading`` lies on +x."""
    centred = keypoints - keypoints[:, anchor : anchor + 1]
    angle = np.arctan2(centred[:, heading, 1], centred[:, heading, 0])
    cos, sin = np.cos(-angle), np.sin(-angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    return np.einsum("nij,nkj->nki", rotation, centred)


def mean_distances(postures: np.ndarray, posture: np.ndarray) -> np.ndarray:
    """Mean over jointly labelled keypoints of the distance from ``posture`` to each row."""
    return np.nanmean(np.linalg.norm(postures - posture, axis=-1), axis=1)


def distinct_postures(postures: np.ndarray, radius: float) -> int:
    """Size of a greedy cover of ``postures`` with balls of ``radius``."""
    kept: list[np.ndarray] = []
    for posture in postures:
        if not kept or mean_distances(np.asarray(kept), posture).min() > radius:
            kept.append(posture)
    return len(kept)


def coincident_pairs(keypoints: np.ndarray, names: list[str]) -> Counter:
    """Count, per keypoint pair, the instances that label both within 3 px."""
    counts: Counter = Counter()
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            d = np.linalg.norm(keypoints[:, a] - keypoints[:, b], axis=-1)
            n = int(np.sum(d < COINCIDENT_PX))
            if n:
                counts[f"{names[a]} + {names[b]}"] = n
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fly", choices=["fly"])
    parser.add_argument("--radii", default="3,5,10", help="cover radii in px, comma-separated")
    args = parser.parse_args()
    radii = [float(r) for r in args.radii.split(",")]

    from dpk.trainer.data import load_training_data

    spec = make_spec(args.dataset, "unet", 30.0)
    train, held_out = load_training_data(spec, ROOT)
    names = list(spec.skeleton.names)
    anchor = names.index(spec.data.crop.anchor)
    train_ego = egocentric(train.keypoints, anchor, 0)
    held_ego = egocentric(held_out.keypoints, anchor, 0)
    nearest = np.array([np.nanmin(mean_distances(train_ego, p)) for p in held_ego])

    rows, table = [], []
    for r in radii:
        row = {
            "radius_px": r,
            "train_instances": len(train_ego),
            "train_distinct": distinct_postures(train_ego, r),
            "held_out_instances": len(held_ego),
            "held_out_distinct": distinct_postures(held_ego, r),
            "held_out_farther_than_r_from_all_training": float(np.mean(nearest > r)),
        }
        rows.append(row)
        table.append(
            [
                r,
                f"{row['train_distinct']} of {row['train_instances']}",
                f"{row['held_out_distinct']} of {row['held_out_instances']}",
                f"{row['held_out_farther_than_r_from_all_training']:.0%}",
            ]
        )
    print_table(
        ["radius (px)", "distinct training postures", "distinct held-out postures",
         "held-out instances farther than r from every training one"],
        table,
        f"{args.dataset}: egocentric postures (anchor {spec.data.crop.anchor}, heading "
        f"{names[0]}), greedy cover by mean keypoint distance",
    )  # fmt: skip
    pairs = {
        "train": coincident_pairs(train.keypoints, names),
        "held_out": coincident_pairs(held_out.keypoints, names),
    }
    table = []
    for split, counts in pairs.items():
        n = len(train.keypoints) if split == "train" else len(held_out.keypoints)
        for pair, count in counts.most_common(4):
            table.append([split, pair, count, f"{count / n:.1%}"])
    print_table(
        ["split", "keypoint pair", "instances", "share"],
        table,
        f"Keypoint pairs labelled within {COINCIDENT_PX:g} px of each other (top 4 per split)",
    )
    save_json(
        "posture_coverage",
        {
            "dataset": args.dataset,
            "nearest_training_posture_px": {
                "median": float(np.median(nearest)),
                "p90": float(np.percentile(nearest, 90)),
            },
            "rows": rows,
            "coincident_pairs": {k: dict(v) for k, v in pairs.items()},
        },
    )


if __name__ == "__main__":
    main()
