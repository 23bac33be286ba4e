"""GPU inference speed of dpk's model files: CUDA and TensorRT (float32 and float16).

Issue 15's GPU part, ready to run in one call on a machine with an NVIDIA GPU and
``onnxruntime-gpu`` (``dpk-runtime[cuda]``; TensorRT rows need TensorRT's libraries):

    python benchmarks/gpu_speed.py

For each model (zoo names or ``.onnx`` files; default: the zoo's fly and mouse models)
and each provider setting, the model file as shipped (uint8 frames in, keypoints out,
the subpixel peak finder inside) is timed on random frames of its input size:

- ``cuda``: onnxruntime's CUDA provider, float32;
- ``tensorrt``: the TensorRT provider, float32 (engines cached in a temporary folder, so
  the engine build is the warm-up, not the timing);
- ``tensorrt_fp16``: the TensorRT provider with ``trt_fp16_enable``;
- ``cpu``: onnxruntime's CPU provider, for the same table (and to try the script without
  a GPU: ``--providers cpu --quick``).

Batch 1: latency in ms (median of ``--repeats`` calls after the warm-up) and its rate;
batch 100: frames per second. A setting that cannot run here is a row saying why (it
never falls back to the CPU in silence: the provider that really ran is checked). The
paper's figures for comparison: DeepPoseKit's Stacked DenseNet on a GPU, 30-110 Hz at
batch 1 and more than 1000 Hz at batch 100 (Graving et al. 2019, Fig. 1); sleap-nn's
TensorRT export, 0.31 ms per frame.

Usage: python benchmarks/gpu_speed.py [--models NAME_OR_FILE ...] [--providers cuda,...]
       [--batches 1,100] [--repeats N] [--quick]
Prints a table, writes ``benchmarks/results/gpu_speed.json`` (``gpu_speed_quick.json``
with ``--quick``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import print_table, save_json

DEFAULT_MODELS = [
    "unet.fly13",
    "stacked_densenet.fly13",
    "unet.mirror_mouse",
    "stacked_densenet.mirror_mouse",
]
SETTINGS = ("cuda", "tensorrt", "tensorrt_fp16", "cpu")
PAPER = "paper (Stacked DenseNet, GPU): 30-110 Hz at batch 1, > 1000 Hz at batch 100"
SLEAP_NN = "sleap-nn TensorRT: 0.31 ms per frame"


def open_session(path: Path, setting: str, cache: Path):
    """An onnxruntime session for ``setting``; raises with the reason when it cannot run."""
    import onnxruntime as ort

    from dpk.runtime.providers import ProviderError, create_session, working_providers

    if setting in ("cpu", "cuda"):
        session, _ = create_session(path, setting)  # type: ignore[arg-type]
        return session
    # TensorRT: dpk's probe on a one-node model says why it cannot run (libraries, driver)
    # without building an engine for the real model twice; then the provider options.
    problem = working_providers().get(
        "TensorrtExecutionProvider", "this onnxruntime has no TensorRT provider"
    )
    if problem:
        raise ProviderError(problem)
    options = {
        "trt_fp16_enable": setting == "tensorrt_fp16",
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
    }
    session = ort.InferenceSession(
        str(path),
        providers=[("TensorrtExecutionProvider", options), "CUDAExecutionProvider"],
    )
    if session.get_providers()[0] != "TensorrtExecutionProvider":
        raise ProviderError(f"TensorRT is not active for {path.name}")
    return session


def frames_for(session, batch: int) -> dict[str, np.ndarray]:
    """Random frames of the model's input size and type, ``batch`` of them."""
    first = session.get_inputs()[0]
    shape = [batch, *(int(d) for d in first.shape[1:])]
    rng = np.random.default_rng(0)
    if "uint8" in first.type:
        return {first.name: rng.integers(0, 256, shape, dtype=np.uint8)}
    return {first.name: rng.random(shape, dtype=np.float32)}


def time_calls(session, feed: dict[str, np.ndarray], repeats: int, warmup: int) -> float:
    """Median seconds per ``session.run`` on ``feed``."""
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    parser.add_argument("--providers", default=",".join(SETTINGS))
    parser.add_argument("--batches", default="1,100")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="batch 1 and 8, 5 repeats")
    args = parser.parse_args()
    settings = [s.strip() for s in args.providers.split(",") if s.strip()]
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise SystemExit(f"unknown provider setting(s) {unknown}: use {', '.join(SETTINGS)}")
    batches = [1, 8] if args.quick else [int(b) for b in args.batches.split(",")]
    repeats = 5 if args.quick else args.repeats

    from dpk.runtime.predictor import resolve_model

    rows, table = [], []
    with tempfile.TemporaryDirectory() as cache:
        for model in args.models:
            path, name = resolve_model(model)
            for setting in settings:
                row: dict = {"model": name, "setting": setting}
                try:
                    session = open_session(path, setting, Path(cache))
                    row["provider"] = session.get_providers()[0]
                    for batch in batches:
                        feed = frames_for(session, batch)
                        calls = repeats if batch == 1 else max(3, repeats // 10)
                        seconds = time_calls(session, feed, calls, warmup=3)
                        row[f"ms@{batch}"] = 1000 * seconds
                        row[f"fps@{batch}"] = batch / seconds
                except Exception as error:  # every reason a setting cannot run is a row
                    row["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
                rows.append(row)
                cells = [name, setting]
                for batch in batches:
                    if "error" in row:
                        cells += ["-", "-"]
                    else:
                        cells += [f"{row[f'ms@{batch}']:.2f}", f"{row[f'fps@{batch}']:.0f}"]
                table.append([*cells, row.get("error", "")[:80]])
    headers = ["model", "provider"]
    for batch in batches:
        headers += [f"ms per call @{batch}", f"frames/s @{batch}"]
    print_table([*headers, "not run because"], table, f"GPU inference; {PAPER}; {SLEAP_NN}")
    save_json(
        "gpu_speed" + ("_quick" if args.quick else ""),
        {
            "batches": batches,
            "repeats": repeats,
            "paper": PAPER,
            "sleap_nn": SLEAP_NN,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
