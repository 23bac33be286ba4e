"""Model speed on every working provider (``dpk benchmark``).

For each provider and batch size: a warm-up run, then ``repeats`` timed runs of
``session.run`` on random frames of the model's input size; frames per second is the batch
size over the median time. With the model's FLOPs (metadata ``dpk.flops``) it also gives
the achieved GFLOP/s.

Several files of one model (float32 and its int8 or float16 copy, say) are compared side
by side (:func:`compare_models`): the files take turns in rounds, so that a machine
getting busier or quieter touches them alike, and each file's speed is the median over
the rounds; the table gives each file's speed relative to the first.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dpk.runtime.model_file import INPUT_NAME, KEYPOINTS_NAME, ModelFile, ModelSource
from dpk.runtime.providers import ProviderError, working_providers
from dpk.specs.errors import DpkError

__all__ = [
    "BenchmarkResult",
    "benchmark_model",
    "compare_models",
    "format_benchmark",
    "format_comparison",
    "machine_description",
]

_DEVICE_OF = {
    "CPUExecutionProvider": "cpu",
    "CUDAExecutionProvider": "cuda",
    "TensorrtExecutionProvider": "tensorrt",
}


@dataclass(frozen=True)
class BenchmarkResult:
    """Speed of one provider at one batch size.

    Attributes:
        provider: onnxruntime execution provider.
        batch_size: Frames per call.
        seconds: Median seconds per call.
        fps: Frames per second (batch size / median seconds).
        gflops: Achieved GFLOP/s, None when the model's FLOPs are unknown.
        repeats: Timed calls.
    """

    provider: str
    batch_size: int
    seconds: float
    fps: float
    gflops: float | None
    repeats: int


def benchmark_model(
    model: ModelSource,
    batch_sizes: Sequence[int] = (1, 100),
    devices: Sequence[str] | None = None,
    repeats: int = 5,
    warmup: int = 1,
    threads: int | None = None,
    name: str | None = None,
) -> tuple[ModelFile, list[BenchmarkResult], dict[str, str]]:
    """Time a model file on each working provider.

    Args:
        model: Path or bytes of the model file.
        batch_sizes: Batch sizes to time.
        devices: ``cpu``, ``cuda``, ``tensorrt`` (default: every provider that works here).
        repeats: Timed runs per batch size (the median is reported).
        warmup: Untimed runs first (session initialisation, memory allocation).
        threads: CPU threads (None = onnxruntime's default).
        name: The model's name for messages.

    Returns:
        ``(model_file, results, skipped)``: the model's metadata, one result per provider and
        batch size, and the providers that were not timed with the reason.

    Raises:
        ModelFileError: Not a dpk model file.
        ProviderError: An explicitly requested device does not work.
    """
    from dpk.runtime.model_file import open_model_session

    if repeats < 1 or warmup < 0 or not batch_sizes or min(batch_sizes) < 1:
        raise DpkError("repeats and batch sizes must be 1 or more, warmup 0 or more")
    model_file = ModelFile.load(model, name)
    skipped: dict[str, str] = {}
    if devices is None:
        devices = []
        for provider, problem in working_providers().items():
            if problem is None:
                devices.append(_DEVICE_OF[provider])
            else:
                skipped[provider] = problem
    rng = np.random.default_rng(0)
    results: list[BenchmarkResult] = []
    for device in devices:
        try:
            session, provider = open_model_session(model, device, threads, name)
        except ProviderError as error:
            if len(devices) == 1:
                raise
            skipped[device] = str(error)
            continue
        for batch_size in batch_sizes:
            frames = rng.integers(0, 256, (batch_size, *model_file.input_shape), dtype=np.uint8)
            feed = {INPUT_NAME: frames}
            for _ in range(warmup):
                session.run([KEYPOINTS_NAME], feed)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                session.run([KEYPOINTS_NAME], feed)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            fps = batch_size / seconds
            gflops = model_file.flops * fps / 1e9 if model_file.flops else None
            results.append(BenchmarkResult(provider, batch_size, seconds, fps, gflops, repeats))
    return model_file, results, skipped


def compare_models(
    models: Sequence[tuple[ModelSource, str | None]],
    rounds: int = 3,
    **options,
) -> list[tuple[ModelFile, list[BenchmarkResult], dict[str, str]]]:
    """Time several model files side by side, in alternating rounds.

    Each round times every file once with :func:`benchmark_model` (``options``: its batch
    sizes, devices, repeats, warm-up and threads), the files in turn, the first file first
    in odd rounds and last in even ones. A file's result per provider and batch size is the
    median of its rounds' medians.

    Args:
        models: ``(source, name)`` of each file (``name`` for messages, or None).
        rounds: Rounds (1 or more).
        **options: Passed to :func:`benchmark_model`.

    Returns:
        Per file, in the given order: ``(model_file, results, skipped)``.

    Raises:
        DpkError: No model or rounds below 1; see also :func:`benchmark_model`.
    """
    if not models or rounds < 1:
        raise DpkError("give one model or more, and rounds of 1 or more")
    timed: list[list[list[BenchmarkResult]]] = [[] for _ in models]
    files: dict[int, tuple[ModelFile, dict[str, str]]] = {}
    for round_ in range(rounds):
        order = range(len(models)) if round_ % 2 == 0 else reversed(range(len(models)))
        for i in order:
            source, name = models[i]
            model_file, results, skipped = benchmark_model(source, name=name, **options)
            files[i] = (model_file, skipped)
            timed[i].append(results)
    compared = []
    for i, per_round in enumerate(timed):
        model_file, skipped = files[i]
        merged = []
        for cells in zip(*per_round, strict=True):
            seconds = statistics.median(r.seconds for r in cells)
            first = cells[0]
            fps = first.batch_size / seconds
            gflops = model_file.flops * fps / 1e9 if model_file.flops else None
            merged.append(
                BenchmarkResult(
                    first.provider, first.batch_size, seconds, fps, gflops, first.repeats
                )
            )
        compared.append((model_file, merged, skipped))
    return compared


def format_comparison(
    compared: Sequence[tuple[ModelFile, list[BenchmarkResult], dict[str, str]]], rounds: int
) -> str:
    """The tables ``dpk benchmark`` prints for several files: each file's own table, then
    every file's frames per second relative to the first file's."""
    parts = [format_benchmark(*entry) for entry in compared]
    reference_file, reference, _ = compared[0]
    base = {(r.provider, r.batch_size): r.fps for r in reference}
    lines = [
        f"side by side: {rounds} alternating round(s), the median of the rounds; frames/s "
        f"relative to {reference_file.source}",
        f"{'model':40s} {'provider':28s} {'batch':>6s} {'frames/s':>10s} {'ratio':>7s}",
    ]
    for model_file, results, _ in compared:
        for r in results:
            ratio = (
                r.fps / base[(r.provider, r.batch_size)]
                if (r.provider, r.batch_size) in base
                else None
            )
            ratio_text = f"{ratio:6.2f}x" if ratio is not None else f"{'-':>7s}"
            lines.append(
                f"{str(model_file.source)[:40]:40s} {r.provider:28s} {r.batch_size:6d} "
                f"{r.fps:10.1f} {ratio_text}"
            )
    return "\n\n".join(parts) + "\n\n" + "\n".join(lines)


def machine_description() -> str:
    """The CPU model and core count, for speed reports and model cards."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def _flops_text(flops: int | None) -> str:
    if not flops:
        return "unknown"
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.2f} {unit}"
    return f"{flops} FLOP"


def format_benchmark(
    model_file: ModelFile, results: Sequence[BenchmarkResult], skipped: dict[str, str]
) -> str:
    """The table ``dpk benchmark`` prints."""
    pre = model_file.preprocessing
    lines = [
        f"model: {model_file.source} ({model_file.spec.architecture.type}, input "
        f"{pre.height}x{pre.width}x{pre.channels}, {model_file.n_keypoints} keypoints)",
        f"FLOPs per frame: {_flops_text(model_file.flops)}",
        "",
        f"{'provider':28s} {'batch':>6s} {'ms/batch':>10s} {'frames/s':>10s} {'GFLOP/s':>9s}",
    ]
    for r in results:
        gflops = f"{r.gflops:9.1f}" if r.gflops is not None else f"{'unknown':>9s}"
        lines.append(
            f"{r.provider:28s} {r.batch_size:6d} {r.seconds * 1e3:10.2f} {r.fps:10.1f} {gflops}"
        )
    if results:
        lines.append(f"(median of {results[0].repeats} runs after warm-up)")
    for provider, reason in skipped.items():
        lines.append(f"skipped {provider}: {reason}")
    return "\n".join(lines)
