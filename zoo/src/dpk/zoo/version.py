"""Version of the dpk-zoo distribution."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("dpk-zoo")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"
