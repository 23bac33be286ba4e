"""End-to-end ``predict_video`` speed against the bare onnxruntime session (not a test).

Run from the repository root::

    .venv/bin/python -m tests.runtime.throughput [--video PATH] [--repeats 3] [--device cpu]

For each fake model (the trivial brightest-pixel model, and the same model with extra 3x3
convolutions so that inference costs about as much as a small real network), it prints:

- ``model only``: a bare onnxruntime session (default options, all graph optimisations)
  running frames already fitted to the model input, same batch size (``dpk benchmark``);
- ``decode only``: reading and fitting the frames, without the model;
- ``predict_video``: the whole pipeline (decode and fit in the background thread,
  inference, mapping back), and its ratio to ``model only``.

Each number is the best of ``--repeats`` interleaved runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dpk.runtime.predictor import Predictor
from dpk.runtime.preprocess import FrameFitter
from dpk.runtime.video import VideoSource
from tests.conftest import SHARED_DATA
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

    model_only()  # warm-up
    runs = {"model only": model_only, "decode only": decode_only, "predict_video": pipeline}
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
    parser.add_argument("--frames", type=int, default=300, help="frames of the video to use")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=192, help="model input side (square)")
    args = parser.parse_args()
    spec = make_spec(height=args.size, width=args.size)
    models = {
        "trivial (argmax)": make_model_bytes(spec),
        "argmax + 3 convs": make_model_bytes(spec, heavy=3),
        "argmax + 6 convs": make_model_bytes(spec, heavy=6),
    }
    print(
        f"video {args.video.name} (first {args.frames} frames), model input "
        f"{args.size}x{args.size}x1, batch {args.batch_size}"
    )
    print(
        f"{'model':20s} {'model only':>11s} {'decode only':>12s} {'predict_video':>14s} {'ratio':>6s}"
    )
    for name, model in models.items():
        r = measure(model, args.video, args.frames, args.batch_size, args.repeats, args.device)
        ratio = r["predict_video"] / r["model only"]
        print(
            f"{name:20s} {r['model only']:11.1f} {r['decode only']:12.1f} "
            f"{r['predict_video']:14.1f} {ratio:6.0%}   ({r['provider']}, frames/s)"
        )


if __name__ == "__main__":
    main()
