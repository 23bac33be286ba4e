"""The local Dask cluster of ``dpk predict --workers``: how its workers share the machine.

- **GPUs.** When the batch runs on CUDA or TensorRT (``--device cuda``/``tensorrt``, or
  ``auto`` with onnxruntime's CUDA provider and a visible GPU), worker ``i`` sees only
  GPU ``devices[i % len(devices)]``: its nanny puts ``CUDA_VISIBLE_DEVICES`` in the
  worker process's environment first thing (before the worker starts, and again when it
  is restarted), so onnxruntime and the CUDA driver never see the other devices. ``--workers`` without a number starts one
  worker per GPU (one per core without GPUs).
- **CPU threads.** Each worker's onnxruntime session gets ``cores // workers`` intra-op
  threads (at least 1): N workers never run more inference threads than there are cores.
- **Dask's own upkeep.** A local batch is a few long tasks, so the statistical profiler
  (a stack sample every 10 ms in every worker), the event-loop tick (20 ms), the system
  monitor (0.5 s) and the memory monitor (0.1 s) are turned off or slowed down
  (:data:`DASK_CONFIG`): with Dask's defaults a 2-worker cluster used 0.14 cores while
  idle on a 2-core machine (7% of it), and 0.26 CPU-seconds per wall-clock second under
  load; quietened, 0.015 while idle.
- **One video per worker at a time, queued on the scheduler** (``worker-saturation``
  1.0): a worker gets its next video when it finishes one, never a second one to hold
  in reserve, so at the end of a batch no worker idles while another still has a video
  waiting.
- **glibc's malloc as in one process.** Dask starts its workers with
  ``MALLOC_TRIM_THRESHOLD_=65536``, which also turns off glibc's adaptive mmap threshold:
  every large array (a decoded frame, a batch, the model's outputs) is then mapped and
  unmapped afresh, twice the page faults of a plain ``dpk predict`` process and about 2%
  more CPU time per frame (measured on the mirror-mouse model). The local cluster's
  workers start without it.

The decisions are pure functions (:func:`gpus_from`, :func:`pins_gpus`,
:func:`worker_env`, :func:`default_workers`, :func:`session_threads`), testable without
a GPU; :func:`start_local_cluster` applies them.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DASK_CONFIG",
    "GPU_DEVICES",
    "default_workers",
    "gpu_devices",
    "gpus_from",
    "pins_gpus",
    "session_threads",
    "start_local_cluster",
    "usable_cores",
    "visible_gpus",
    "worker_env",
]

GPU_DEVICES: tuple[str, ...] = ("cuda", "tensorrt")
"""``--device`` values that run on a GPU."""

DASK_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}
"""Dask settings of the local cluster: less upkeep for a few long tasks, glibc's default
malloc (module docstring)."""


def gpus_from(cuda_visible_devices: str | None, smi_lines: Sequence[str] = ()) -> list[str]:
    """The GPUs a process may use, as ``CUDA_VISIBLE_DEVICES`` entries.

    Args:
        cuda_visible_devices: This process's ``CUDA_VISIBLE_DEVICES`` (None: not set).
            When set, it decides: its entries (indices or ``GPU-...`` UUIDs) in order; an
            empty value or ``-1`` hides every GPU.
        smi_lines: The output lines of ``nvidia-smi -L`` (used when the variable is not
            set): ``GPU 0: ...`` lines give ``"0"``, ``"1"``, ...

    Returns:
        Device ids to hand out, in order (empty: no GPU).
    """
    if cuda_visible_devices is not None:
        ids = [v.strip() for v in cuda_visible_devices.split(",")]
        ids = [v for v in ids if v]
        return [] if not ids or ids[0] == "-1" else ids
    count = sum(line.startswith("GPU ") for line in smi_lines)
    return [str(i) for i in range(count)]


def visible_gpus() -> list[str]:
    """The GPUs this process may use (``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return gpus_from(visible)
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return gpus_from(None, done.stdout.splitlines())


def pins_gpus(device: str, gpus: Sequence[str], providers: Sequence[str] = ()) -> bool:
    """Whether the workers are pinned one to a GPU.

    Args:
        device: ``--device``: ``cpu``, ``auto``, ``cuda`` or ``tensorrt``.
        gpus: Visible GPUs (:func:`visible_gpus`).
        providers: onnxruntime's available providers (matters for ``auto`` only: it runs
            on CUDA when ``CUDAExecutionProvider`` is there).
    """
    if not gpus or device == "cpu":
        return False
    if device in GPU_DEVICES:
        return True
    return device == "auto" and "CUDAExecutionProvider" in providers


def gpu_devices(device: str) -> list[str]:
    """The GPUs to pin local workers to for ``--device``; empty when the batch runs on CPU."""
    if device == "cpu":
        return []
    gpus = visible_gpus()
    providers: list[str] = []
    if gpus and device == "auto":
        import onnxruntime

        providers = onnxruntime.get_available_providers()
    return gpus if pins_gpus(device, gpus, providers) else []


def worker_env(devices: Sequence[str], index: int) -> dict[str, str]:
    """Environment variables of worker ``index``: its GPU, round-robin over ``devices``.

    Args:
        devices: GPU ids to share out (empty: no pinning, an empty environment).
        index: The worker's number (0, 1, ...).

    Returns:
        ``{"CUDA_VISIBLE_DEVICES": devices[index % len(devices)]}``, or ``{}``.
    """
    if not devices:
        return {}
    return {"CUDA_VISIBLE_DEVICES": str(devices[index % len(devices)])}


def default_workers(gpus: Sequence[str], cores: int) -> int:
    """Workers for ``--workers`` without a number: one per GPU, else one per core."""
    return len(gpus) if gpus else max(1, cores)


def session_threads(cores: int, workers: int) -> int:
    """onnxruntime intra-op threads per worker: the worker's share of the cores, at least 1."""
    return max(1, cores // max(1, workers))


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)  # pragma: no cover - macOS, Windows


def start_local_cluster(n_workers: int, devices: Sequence[str] = ()) -> Any:
    """Start ``n_workers`` worker processes (one task at a time each) on 127.0.0.1 only.

    Args:
        n_workers: Worker processes.
        devices: GPU ids; worker ``i`` gets :func:`worker_env` ``(devices, i)``.

    Returns:
        The running :class:`distributed.SpecCluster` (close it when done).
    """
    import dask
    import distributed
    from distributed.system import MEMORY_LIMIT

    def nanny(env: Mapping[str, str]) -> dict[str, Any]:
        options = {
            "host": "127.0.0.1",
            "nthreads": 1,
            "dashboard": False,
            "dashboard_address": None,
            "memory_limit": int(MEMORY_LIMIT / max(1, n_workers)),
            "silence_logs": logging.ERROR,
            "env": dict(env),
        }
        return {"cls": distributed.Nanny, "options": options}

    scheduler = {
        "cls": distributed.Scheduler,
        "options": {"host": "127.0.0.1", "dashboard": False, "dashboard_address": None},
    }
    workers = {i: nanny(worker_env(devices, i)) for i in range(n_workers)}
    # Set while the scheduler and the nannies are made: they read these intervals then,
    # and each nanny hands its copy to its worker process (restarts included).
    with dask.config.set(DASK_CONFIG):
        return distributed.SpecCluster(
            workers=workers,
            scheduler=scheduler,
            worker=nanny({}),
            silence_logs=logging.ERROR,
            name="dpk-local",
        )
