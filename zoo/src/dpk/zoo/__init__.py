"""dpk.zoo: pretrained pose models by name, verified downloads and an offline cache."""

from dpk.zoo.version import __version__

__all__ = ["__version__"]
