"""Choosing onnxruntime execution providers, and proving that the chosen one is active.

``device="cuda"`` or ``"tensorrt"`` that cannot really run is an error that says why
(onnxruntime without CUDA support, missing CUDA or cuDNN libraries, no driver); it never
falls back to the CPU in silence. ``device="auto"`` takes the best working provider and
says which one it got.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
from collections.abc import Sequence
from typing import Literal

from dpk.specs.errors import DpkError

__all__ = [
    "DEVICES",
    "Device",
    "ProviderError",
    "create_session",
    "provider_report",
    "working_providers",
]

Device = Literal["auto", "cpu", "cuda", "tensorrt"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "tensorrt")

_PROVIDER = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
# A one-node ONNX model (Identity on a float[1]) used to probe providers.
_PROBE_MODEL = base64.b64decode(
    "CAg6OwoQCgF4EgF5IghJZGVudGl0eRIFcHJvYmVaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAN"
)
_CUDA_LIBRARIES = {
    "NVIDIA driver": ["libcuda.so.1"],
    "CUDA runtime": ["libcudart.so.13", "libcudart.so.12"],
    "cuBLAS": ["libcublas.so.13", "libcublas.so.12"],
    "cuFFT": ["libcufft.so.12", "libcufft.so.11"],
    "cuRAND": ["libcurand.so.10"],
    "cuDNN 9": ["libcudnn.so.9"],
}


class ProviderError(DpkError):
    """The requested device cannot run models here; the message says why and what to do."""


def _ort():
    import onnxruntime

    return onnxruntime


def _preload_cuda() -> None:
    """Load CUDA/cuDNN from the nvidia-* wheels when they are installed (dpk-runtime[cuda])."""
    ort = _ort()
    if hasattr(ort, "preload_dlls"):
        # Best effort: when it fails, _why_inactive() says which library is missing.
        with contextlib.suppress(Exception):
            ort.preload_dlls(directory="")


def _missing_cuda_libraries() -> list[str]:
    if os.name == "nt":  # pragma: no cover - library names differ; onnxruntime's log says
        return []
    missing = []
    for what, names in _CUDA_LIBRARIES.items():
        for name in names:
            try:
                ctypes.CDLL(name)
                break
            except OSError:
                continue
        else:
            missing.append(f"{what} ({' or '.join(names)})")
    return missing


def _has_driver() -> bool:
    """The NVIDIA driver library loads (without it no CUDA provider can work)."""
    if os.name == "nt":  # pragma: no cover
        return True
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _why_inactive(device: str) -> str:
    ort = _ort()
    provider = _PROVIDER[device]
    if provider not in ort.get_available_providers():
        return (
            f"this onnxruntime build ({ort.__version__}, package "
            f"{'onnxruntime-gpu' if 'CUDAExecutionProvider' in ort.get_available_providers() else 'onnxruntime'})"
            f" has no {provider}; install dpk-runtime with onnxruntime-gpu "
            "(`pip install 'dpk-runtime[cuda]'`)"
        )
    if not _has_driver():
        return (
            "no NVIDIA driver (libcuda.so.1) could be loaded: this machine has no usable "
            "NVIDIA GPU, or its driver is not installed; use --device cpu (or auto)"
        )
    missing = _missing_cuda_libraries()
    if missing:
        return (
            "onnxruntime could not load " + ", ".join(missing) + "; install the CUDA 13 and "
            "cuDNN 9 wheels with `pip install 'dpk-runtime[cuda]'`, or add the system CUDA "
            "libraries to LD_LIBRARY_PATH"
        )
    if device == "tensorrt":
        return "TensorRT libraries (libnvinfer) could not be loaded; install TensorRT 10"
    return "onnxruntime could not start the provider (see the messages above)"


def _session(
    model: bytes | str | os.PathLike, providers: Sequence, threads: int | None, spinning: bool
):
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(source, sess_options=options, providers=list(providers))


def create_session(
    model: bytes | str | os.PathLike,
    device: Device = "auto",
    threads: int | None = None,
    spinning: bool = True,
):
    """Create an onnxruntime session on the requested device.

    Args:
        model: ONNX model bytes or path.
        device: ``auto`` (the best provider that works), ``cpu``, ``cuda`` or ``tensorrt``.
        threads: CPU threads for the CPU provider (None = onnxruntime's default).
        spinning: Let idle CPU worker threads spin (onnxruntime's default: lowest latency).
            Turn it off when other threads work between runs (video decoding): spinning
            threads would take their CPU.

    Returns:
        ``(session, provider)``: the session and the provider that really runs it.

    Raises:
        ProviderError: The requested device is not active here; the message says why.
    """
    if device not in DEVICES:
        raise ProviderError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    ort = _ort()
    available = ort.get_available_providers()
    if device == "cpu":
        session = _session(model, ["CPUExecutionProvider"], threads, spinning)
        return session, "CPUExecutionProvider"
    if "CUDAExecutionProvider" in available and _has_driver():
        _preload_cuda()  # without a GPU driver nothing CUDA can work: skip it and its noise
    if device == "auto":
        for candidate in ("cuda", "cpu"):
            provider = _PROVIDER[candidate]
            if provider not in available:
                continue
            if candidate == "cuda" and _missing_cuda_libraries():
                continue
            fallback = ["CPUExecutionProvider"] if candidate != "cpu" else []
            session = _session(model, [provider, *fallback], threads, spinning)
            if session.get_providers()[0] == provider:
                return session, provider
        raise ProviderError("onnxruntime has no working execution provider")  # pragma: no cover
    provider = _PROVIDER[device]
    if provider not in available:
        raise ProviderError(f"device {device!r} is not available: {_why_inactive(device)}")
    if _missing_cuda_libraries():  # known to fail: say why without onnxruntime's noise
        raise ProviderError(f"device {device!r} is not active: {_why_inactive(device)}")
    session = _session(model, [provider, "CPUExecutionProvider"], threads, spinning)
    if session.get_providers()[0] != provider:
        raise ProviderError(f"device {device!r} is not active: {_why_inactive(device)}")
    return session, provider


def working_providers() -> dict[str, str | None]:
    """Each available provider mapped to None when it works, or the reason it does not."""
    ort = _ort()
    result: dict[str, str | None] = {}
    for device, provider in _PROVIDER.items():
        if provider not in ort.get_available_providers():
            continue
        try:
            create_session(_PROBE_MODEL, device)  # type: ignore[arg-type]
            result[provider] = None
        except ProviderError as error:
            result[provider] = str(error)
    return result


def provider_report() -> list[str]:
    """Lines for ``dpk doctor``: the onnxruntime package and each provider's state."""
    ort = _ort()
    lines = [f"onnxruntime   {ort.__version__} ({os.path.dirname(ort.__file__)})"]
    lines.append(f"available     {', '.join(ort.get_available_providers())}")
    for provider, problem in working_providers().items():
        state = "works" if problem is None else f"NOT working: {problem}"
        lines.append(f"  {provider:28s} {state}")
    return lines
