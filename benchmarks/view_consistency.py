"""How consistent the mirror mouse's labels are with themselves, and the model with them.

The mirror-mouse rig films one mouse twice in one frame: from the side (the keypoints
named ``*_top``) and from below through a mirror (``*_bot``). Seven body parts are
labelled in both views, and the position along the running direction (the image's x) of
one body part is nearly the same in both: the two views differ by perspective, which a
straight-line fit ``x_bot = a * x_top + b`` per part takes up. What the fit leaves over
is label noise in the two views plus what a straight line cannot model (a paw's depth).
So the leftover spread is an upper bound on how precisely a person placed these points,
and a model whose side-view x agrees with the bottom-view label better than the side-view
label does is closer to the truth there than the label it is scored against.

For a model (default: the zoo's ``unet.mirror_mouse``) on its held-out frames (the split
stored in its spec), per body part: the fit on the TRAINING frames' labels; on the
held-out frames, the spread (root mean square) of the leftover of (a) the labels of both
views, (b) the model's side-view x against the bottom-view label, (c) the model's
bottom-view x against the side-view label; and the model's median error in each view.
Prints a table; writes ``benchmarks/results/view_consistency.json``.

Usage: .venv/bin/python benchmarks/view_consistency.py [--model FILE_OR_ZOO_NAME]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from _common import print_table, save_json
from precision import ZOO_MODELS, errors_px, load_split, locate_data


def line_fit(x_top: np.ndarray, x_bot: np.ndarray) -> tuple[float, float]:
    """Least-squares ``x_bot = a * x_top + b`` over the pairs labelled in both views."""
    both = np.isfinite(x_top) & np.isfinite(x_bot)
    a, b = np.polyfit(x_top[both], x_bot[both], 1)
    return float(a), float(b)


def leftover_rms(x_top: np.ndarray, x_bot: np.ndarray, fit: tuple[float, float]) -> float:
    """Root mean square of ``x_bot - (a * x_top + b)`` where both are known."""
    a, b = fit
    left = x_bot - (a * x_top + b)
    return float(np.sqrt(np.nanmean(left**2)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="unet.mirror_mouse", help="file or zoo name")
    args = parser.parse_args()
    from dpk.runtime import Predictor
    from dpk.runtime.model_file import ModelFile
    from dpk.trainer.evaluate import frame_pixels

    path = Path(args.model)
    if not path.exists():
        path = ZOO_MODELS / f"{args.model}.onnx"
    spec = locate_data(ModelFile.load(path).spec, None)
    train, held_out = load_split(spec, {})
    predicted = Predictor(path, device="cpu").run(held_out.images)
    points, labels = frame_pixels(
        predicted[..., :2], held_out.keypoints[..., :2], held_out.frame_transform
    )
    _, train_labels = frame_pixels(
        train.keypoints[..., :2], train.keypoints[..., :2], train.frame_transform
    )
    error = errors_px(predicted, held_out, len(held_out.images))
    names = list(spec.skeleton.names)
    parts = [n.removesuffix("_top") for n in names if n.endswith("_top")]
    parts = [p for p in parts if f"{p}_bot" in names]
    rows, table = [], []
    for part in parts:
        top, bot = names.index(f"{part}_top"), names.index(f"{part}_bot")
        fit = line_fit(train_labels[:, top, 0], train_labels[:, bot, 0])
        labelled = np.isfinite(labels[:, top, 0]) & np.isfinite(labels[:, bot, 0])
        lt, lb = labels[labelled, top, 0], labels[labelled, bot, 0]
        pt, pb = points[labelled, top, 0], points[labelled, bot, 0]
        row = {
            "part": part,
            "slope": fit[0],
            "pairs": int(labelled.sum()),
            "labels_rms_px": leftover_rms(lt, lb, fit),
            "model_top_vs_label_bot_rms_px": leftover_rms(pt, lb, fit),
            "label_top_vs_model_bot_rms_px": leftover_rms(lt, pb, fit),
            "median_error_top_px": float(np.nanmedian(error[:, top])),
            "median_error_bot_px": float(np.nanmedian(error[:, bot])),
        }
        rows.append(row)
        table.append([row[k] for k in row])
    print(
        f"{path.name} on {len(held_out.images)} held-out frames; straight-line fits on "
        f"{len(train.images)} training frames' labels"
    )
    headers = [
        "part",
        "slope a",
        "held-out pairs",
        "labels: leftover rms px",
        "model side x vs label bottom x",
        "label side x vs model bottom x",
        "model median error, side px",
        "bottom px",
    ]
    print_table(headers, table)
    save_json("view_consistency", {"model": path.name, "rows": rows})


if __name__ == "__main__":
    main()
