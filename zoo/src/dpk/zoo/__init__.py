"""dpk.zoo: pretrained pose models by name, verified downloads and an offline cache.

>>> from dpk.zoo import list_models, model_path
>>> path = model_path("stacked_densenet.fly13")  # downloads once, checks sha256  # doctest: +SKIP

Registries (YAML lists of :class:`dpk.specs.ZooEntry`) come from the package and from
``DPK_REGISTRIES`` / ``$DPK_HOME/config.yaml``; models are cached in ``DPK_HOME``;
``DPK_OFFLINE=1`` forbids the network. See :mod:`dpk.zoo.settings`.
"""

from dpk.zoo.cache import (
    BadFile,
    CacheReport,
    cache_dir,
    cached_path,
    get_entry,
    list_models,
    model_path,
    pipeline_models,
    pull,
    verify_cache,
)
from dpk.zoo.catalog import Catalog, load_catalog
from dpk.zoo.errors import (
    ChecksumError,
    DownloadError,
    NotCachedError,
    OfflineError,
    RegistryError,
    ZooError,
    ZooWarning,
)
from dpk.zoo.hashing import sha256_file
from dpk.zoo.registry import (
    SHIPPED_REGISTRY,
    Registry,
    add_entry,
    make_entry,
    packaged_models_dir,
)
from dpk.zoo.settings import dpk_home, is_offline
from dpk.zoo.version import __version__

__all__ = [
    "SHIPPED_REGISTRY",
    "BadFile",
    "CacheReport",
    "Catalog",
    "ChecksumError",
    "DownloadError",
    "NotCachedError",
    "OfflineError",
    "Registry",
    "RegistryError",
    "ZooError",
    "ZooWarning",
    "__version__",
    "add_entry",
    "cache_dir",
    "cached_path",
    "dpk_home",
    "get_entry",
    "is_offline",
    "list_models",
    "load_catalog",
    "make_entry",
    "model_path",
    "packaged_models_dir",
    "pipeline_models",
    "pull",
    "sha256_file",
    "verify_cache",
]
