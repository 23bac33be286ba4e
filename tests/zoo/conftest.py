"""Fixtures of the zoo tests: a private DPK_HOME, a local model server, a fake package."""

from __future__ import annotations

import pytest

from tests.zoo.helpers import ModelServer


@pytest.fixture(autouse=True)
def zoo_home(tmp_path, monkeypatch, request):
    """Every zoo test gets its own DPK_HOME and no registries, offline mode or timeout.

    The registry shipped with dpk-zoo is replaced by an empty stand-in (see ``shipped``)
    unless the test is marked ``real_registry``, so the tests do not depend on which
    models the package ships.
    """
    from dpk.zoo.hashing import forget_verified

    if request.node.get_closest_marker("real_registry") is None:
        request.getfixturevalue("shipped")
    home = tmp_path / "home"
    monkeypatch.setenv("DPK_HOME", str(home))
    for name in ("DPK_REGISTRIES", "DPK_OFFLINE", "DPK_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    forget_verified()
    yield home
    forget_verified()


@pytest.fixture
def server():
    """A model server on 127.0.0.1; the tests add routes and read ``server.requests``."""
    with ModelServer() as running:
        yield running


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """Stand-in for the registry shipped with dpk-zoo: ``(registry file, models folder)``."""
    import dpk.zoo.registry as registry_module

    package = tmp_path / "package"
    (package / "models").mkdir(parents=True)
    path = package / "registry.yaml"
    path.write_text("[]\n")
    monkeypatch.setattr(registry_module, "SHIPPED_REGISTRY", path)
    return path, package / "models"
