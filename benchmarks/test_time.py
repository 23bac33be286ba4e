"""Test-time augmentation measured on a model file's maps: quarter turns and flips.

For each model (a zoo name or an ``.onnx`` file exported WITH its maps and WITHOUT
test-time averaging), the held-out frames of the dataset's example spec are run as they
are, turned by 90, 180 and 270 degrees, and mirrored left-right (maps mirrored back with
the skeleton's left/right swaps); the maps turned back are averaged per variant and the
peaks found with dpk's subpixel peak finder. Errors in the labelled frames' pixels, as
``dpk evaluate``. This is the measurement behind ``augmentation.test_time``.

Usage: python benchmarks/test_time.py [--dataset fly] [--model NAME_OR_PATH ...]
Prints a table, writes ``benchmarks/results/test_time.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from _common import ROOT, print_table, save_json

DEFAULT_MODELS = {
    "fly": ["unet.fly13", "stacked_densenet.fly13", "deeplabcut.fly13"],
}


def maps_of(session, images: np.ndarray, n_keypoints: int) -> np.ndarray:
    out = [
        session.run(["maps"], {"image": np.ascontiguousarray(images[i : i + 32])})[0]
        for i in range(0, len(images), 32)
    ]
    return np.concatenate(out)[..., :n_keypoints]


def variants(session, images: np.ndarray, swaps: np.ndarray) -> dict[str, np.ndarray]:
    """Averaged maps per test-time variant."""
    k = len(swaps)

    def turned(t: int, mirror: bool) -> np.ndarray:
        x = images[:, :, ::-1] if mirror else images
        m = np.rot90(maps_of(session, np.rot90(x, t, (1, 2)), k), -t, (1, 2))
        return m[:, :, ::-1][..., swaps] if mirror else m

    plain = [turned(t, False) for t in range(4)]
    mirrored = [turned(t, True) for t in range(4)]
    return {
        "none": plain[0],
        "left-right flip": (plain[0] + mirrored[0]) / 2,
        "quarter turns": sum(plain) / 4,
        "quarter turns and flips": (sum(plain) + sum(mirrored)) / 8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="fly", choices=sorted(DEFAULT_MODELS))
    parser.add_argument("--model", action="append", help="zoo name or .onnx (repeatable)")
    args = parser.parse_args()
    import onnxruntime as ort

    from dpk.runtime.predictor import resolve_model
    from dpk.trainer.data.context import load_training_data_with_context
    from dpk.trainer.evaluate import evaluate_arrays
    from dpk.trainer.peaks import find_peaks
    from train_real import make_spec

    spec = make_spec(args.dataset, "unet", 30.0)
    _, held_out, _ = load_training_data_with_context(spec, ROOT)
    swaps = np.array(spec.skeleton.swap_indices)
    rows, table = [], []
    for name in args.model or DEFAULT_MODELS[args.dataset]:
        path, label = resolve_model(name)  # a file's label is its name: no local paths
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        model_spec = json.loads(meta["dpk.spec"])
        if model_spec["augmentation"].get("test_time") == "quarter_turns":
            raise SystemExit(f"{name}: the file already averages over quarter turns")
        targets = model_spec["targets"]
        stride, sigma = 2 ** targets["downsample_factor"], targets["sigma"]
        for variant, maps in variants(session, held_out.images, swaps).items():
            predicted = find_peaks(maps, stride, sigma, len(swaps))
            with tempfile.TemporaryDirectory() as tmp:
                overall = evaluate_arrays(
                    spec,
                    held_out.images,
                    predicted,
                    held_out.keypoints,
                    Path(tmp),
                    frame_transform=held_out.frame_transform,
                ).report["overall"]
            row = {
                "model": label,
                "variant": variant,
                "median_px": overall["median"],
                "mean_px": overall["mean"],
                "p95_px": overall["p95"],
                "share_over_20px": overall["share_over_20px"],
            }
            rows.append(row)
            table.append([row["model"], variant, *list(row.values())[2:]])
            print(table[-1], flush=True)
    print_table(
        ["model", "test-time variant", "median px", "mean px", "p95 px", "share > 20 px"],
        table,
        f"{args.dataset}: {len(held_out.images)} held-out frames, errors in labelled-frame pixels",
    )
    save_json("test_time", {"dataset": args.dataset, "rows": rows})


if __name__ == "__main__":
    main()
