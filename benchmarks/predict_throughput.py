"""End-to-end prediction speed against the bare onnxruntime session (issue 4's goal:
``dpk predict`` on a real video at >= 85% of the model-only throughput).

Run from the repository root::

    .venv/bin/python benchmarks/predict_throughput.py [--model NAME_OR_FILE ...] [--video PATH]

For each model (by default the zoo's real models that are installed, and fake models: the
trivial brightest-pixel model and the same with extra 3x3 convolutions), it prints:

- ``model only``: a bare onnxruntime session (default options, all graph optimisations)
  running frames already fitted to the model input, same batch size (``dpk benchmark``);
- ``decode only``: reading and fitting the frames, without the model;
- ``predict_video``: the whole pipeline (decode and fit in the background thread,
  inference, mapping back), and its ratio to ``model only``;
- ``dpk predict``: the command, writing CSV and HDF5, and its ratio to ``model only``.

Each number is the best of ``--repeats`` interleaved runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import ROOT, SHARED_DATA, print_table, save_json
from dpk.runtime.predictor import Predictor
from dpk.runtime.preprocess import FrameFitter
from dpk.runtime.video import VideoSource

sys.path.insert(0, str(ROOT))
from tests.runtime.conftest import make_model_bytes, make_spec

DEFAULT_VIDEO = SHARED_DATA / "lp-mirror-mouse" / "videos" / "test_vid.mp4"


def measure(
    model: bytes, video: Path, frames: int, batch_size: int, repeats: int, device: str
) -> dict:
    """Best frames per second of the three ways, interleaved so that load drifts hit all."""
    predictor = Predictor(model, device=device, batch_size=batch_size)
    n = len(VideoSource(video, 0, frames))
    fitter = FrameFitter(predictor.preprocessing)
    fitted = np.stack([fitter(read.frame)[0] for read in VideoSource(video, 0, frames)])

    import onnxruntime

    options = onnxruntime.SessionOptions()  # a bare session, as dpk benchmark uses
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    bare = onnxruntime.InferenceSession(model, options, providers=[predictor.provider])

    def model_only():
        for i in range(0, n, batch_size):
            bare.run(["keypoints"], {"image": fitted[i : i + batch_size]})

    def decode_only():
        for read in VideoSource(video, 0, frames):
            fitter(read.frame)

    def pipeline():
        predictor.predict_video(video, 0, frames)

    from dpk.runtime.cli import main as dpk

    model_path = Path(tempfile.mkdtemp()) / "model.onnx"
    model_path.write_bytes(model)

    def command():
        out = model_path.parent
        code = dpk(
            [
                "predict",
                str(video),
                "--model",
                str(model_path),
                "--stop",
                str(frames),
                "--quiet",
                "--batch-size",
                str(batch_size),
                "--device",
                device,
                "-o",
                str(out / "p.csv"),
                "-o",
                str(out / "p.h5"),
            ]
        )
        assert code == 0

    model_only()  # warm-up
    runs = {
        "model only": model_only,
        "decode only": decode_only,
        "predict_video": pipeline,
        "dpk predict": command,
    }
    best = dict.fromkeys(runs, 0.0)
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = max(best[name], n / (time.perf_counter() - start))
    return {"provider": predictor.provider, "frames": n, **best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--model", action="append", help="a model file or zoo name (repeatable)")
    parser.add_argument("--frames", type=int, default=300, help="frames of the video to use")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=192, help="fake models' input side (square)")
    parser.add_argument("--no-fake", action="store_true", help="only the models given")
    args = parser.parse_args()
    models: dict[str, bytes] = {}
    for name in args.model or []:
        path = Path(name)
        if not path.is_file():
            from dpk.zoo import model_path

            path = model_path(name)
        models[name] = path.read_bytes()
    if not args.no_fake:
        spec = make_spec(height=args.size, width=args.size)
        models[f"fake {args.size}px argmax"] = make_model_bytes(spec)
        models[f"fake {args.size}px + 3 convs"] = make_model_bytes(spec, heavy=3)
        models[f"fake {args.size}px + 6 convs"] = make_model_bytes(spec, heavy=6)
    rows = []
    for name, model in models.items():
        r = measure(model, args.video, args.frames, args.batch_size, args.repeats, args.device)
        r["model"] = name
        r["predict_video_ratio"] = r["predict_video"] / r["model only"]
        r["dpk_predict_ratio"] = r["dpk predict"] / r["model only"]
        rows.append(r)
    print_table(
        [
            "model",
            "provider",
            "model only",
            "decode+fit only",
            "predict_video",
            "ratio",
            "dpk predict (CSV+HDF5)",
            "ratio",
        ],
        [
            [
                r["model"],
                r["provider"],
                r["model only"],
                r["decode only"],
                r["predict_video"],
                f"{r['predict_video_ratio']:.0%}",
                r["dpk predict"],
                f"{r['dpk_predict_ratio']:.0%}",
            ]
            for r in rows
        ],
        f"{args.video.name}, first {args.frames} frames, batch {args.batch_size}: frames per second (best of {args.repeats})",
    )
    save_json("predict_throughput", {"video": args.video.name, "frames": args.frames, "rows": rows})


if __name__ == "__main__":
    main()
