"""dpk.runtime: TensorFlow-free pose inference with onnxruntime.

Runs one self-describing ``.onnx`` file exported by ``dpk export`` (or pulled from the
zoo) on images and video, on CUDA when it works and on the CPU otherwise.
"""

from dpk.runtime.providers import DEVICES, Device, ProviderError, create_session, working_providers
from dpk.runtime.version import __version__

__all__ = [
    "DEVICES",
    "Device",
    "ProviderError",
    "__version__",
    "create_session",
    "working_providers",
]
