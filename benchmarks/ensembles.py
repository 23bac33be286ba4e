"""Do independently trained models make the same errors? Agreement and ensembles.

If several models trained on the same labels put a keypoint in the same wrong place, the
error is in what they all learnt (label conventions, label noise, postures missing from
training), and more training, other seeds or averaging models cannot remove it; if they
scatter around the label, averaging them helps. For model files that share held-out
frames (the split stored in their specs must be the same):

- each model's median and mean error on the held-out frames (labelled frames' pixels);
- how far the models' keypoints lie from each other (median over keypoints, per pair);
- ensembles of all of them: the mean of their keypoints, and the per-coordinate median
  (robust to one model's gross error), and the mean of every pair.

Prints tables; writes ``benchmarks/results/ensembles_<name>.json``.

Usage: .venv/bin/python benchmarks/ensembles.py --model A.onnx --model B.onnx [...]
       [--name mouse] [--threads 2]
(e.g. the runs of ``train_real.py`` exported with ``dpk export RUN -o NAME.onnx``, or zoo
files: ``--model zoo/src/dpk/zoo/models/unet.fly13.onnx ...``)
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from _common import print_table, save_json
from precision import errors_px, load_split, locate_data


def error_stats(predicted: np.ndarray, held_out) -> dict[str, float]:
    """Median and mean error (labelled frames' pixels) of (N, K, 2+) model-input keypoints."""
    errors = errors_px(predicted, held_out, len(held_out.images))
    errors = errors[np.isfinite(errors)]
    return {"median_px": float(np.median(errors)), "mean_px": float(np.mean(errors))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", required=True, help="a dpk .onnx file")
    parser.add_argument("--name", default="models", help="results/ensembles_NAME.json")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    args = parser.parse_args()
    if len(args.model) < 2:
        raise SystemExit("give two or more --model files")
    from dpk.runtime import Predictor
    from dpk.runtime.model_file import ModelFile
    from dpk.trainer.evaluate import frame_pixels

    cache: dict = {}
    names, keypoints, splits = [], [], []
    for file in args.model:
        spec = locate_data(ModelFile.load(file).spec, None)
        _, held_out = load_split(spec, cache)
        predicted = Predictor(file, device="cpu", threads=args.threads).run(held_out.images)
        names.append(Path(file).name.removesuffix(".onnx"))
        keypoints.append(predicted)
        splits.append(held_out)
    held_out = splits[0]
    if any(s.keypoints.shape != held_out.keypoints.shape for s in splits):
        raise SystemExit("the models' specs hold different held-out frames: compare like with like")
    labelled = np.isfinite(held_out.keypoints[..., 0])
    stacked = np.stack([k[..., :2] for k in keypoints])
    points = frame_pixels(stacked, held_out.keypoints[None], held_out.frame_transform)[0]
    rows = [{"models": n, **error_stats(k, held_out)} for n, k in zip(names, stacked, strict=True)]
    for label, combined in (
        ("mean of all", stacked.mean(0)),
        ("per-coordinate median of all", np.median(stacked, 0)),
    ):
        rows.append({"models": label, **error_stats(combined, held_out)})
    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        apart = np.linalg.norm(points[i] - points[j], axis=-1)
        pair = error_stats((stacked[i] + stacked[j]) / 2, held_out)
        pairs.append(
            {
                "pair": f"{a} + {b}",
                "apart_median_px": float(np.median(apart[labelled])),
                "mean_of_pair_median_px": pair["median_px"],
                "mean_of_pair_mean_px": pair["mean_px"],
            }
        )
    print(f"{len(held_out.images)} held-out examples; errors in the labelled frames' pixels")
    print_table(["models", "median px", "mean px"], [list(r.values()) for r in rows])
    print_table(
        ["pair", "keypoints apart, median px", "mean of the pair: median px", "mean px"],
        [[p[k] for k in p] for p in pairs],
    )
    save_json(f"ensembles_{args.name}", {"models": names, "rows": rows, "pairs": pairs})


if __name__ == "__main__":
    main()
