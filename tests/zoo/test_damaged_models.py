"""Damaged models: offline, from user registries, in dpk zoo verify; clean warning lines."""

from __future__ import annotations

import hashlib
import warnings

import pytest

from dpk.zoo import (
    ChecksumError,
    NotCachedError,
    ZooError,
    ZooWarning,
    model_path,
    pull,
    verify_cache,
)
from dpk.zoo.errors import warnings_as_lines
from tests.zoo.helpers import entry_data, write_registry

DATA = hashlib.shake_256(b"damaged model").digest(20_000)


@pytest.fixture
def lab(tmp_path, monkeypatch, server):
    url = server.add("/m.onnx", DATA)
    path = write_registry(tmp_path / "lab.yaml", [entry_data("leap.fly", DATA, [url])])
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    return path


def test_offline_a_damaged_cached_model_is_called_damaged(lab, monkeypatch):
    from dpk.zoo.hashing import forget_verified

    path = pull("leap.fly")
    path.write_bytes(b"q" * len(DATA))
    forget_verified()
    monkeypatch.setenv("DPK_OFFLINE", "1")
    for call in (lambda: model_path("leap.fly"), lambda: model_path("leap.fly", download=False)):
        with pytest.raises(NotCachedError) as info:
            call()
        message = str(info.value)
        assert "is damaged" in message and "not cached" not in message, message
        assert "dpk zoo pull leap.fly --force" in message and str(path) in message


@pytest.fixture
def user_packaged(tmp_path, monkeypatch):
    """A user registry whose model ships beside it (packaged: true), damaged."""
    registry = tmp_path / "lab" / "registry.yaml"
    (tmp_path / "lab" / "models").mkdir(parents=True)
    (tmp_path / "lab" / "models" / "tiny.onnx").write_bytes(b"y" * len(DATA))
    write_registry(registry, [entry_data("leap.tiny", DATA, [], file="tiny.onnx", packaged=True)])
    monkeypatch.setenv("DPK_REGISTRIES", str(registry))
    return registry


def test_a_damaged_model_of_a_user_registry_names_that_registry(user_packaged):
    with pytest.raises(ChecksumError) as info:
        model_path("leap.tiny")
    message = str(info.value)
    assert "reinstall dpk-zoo" not in message
    assert str(user_packaged) in message and "tiny.onnx" in message
    (user_packaged.parent / "models" / "tiny.onnx").unlink()
    with pytest.raises(ZooError) as info:
        model_path("leap.tiny")
    assert "reinstall dpk-zoo" not in str(info.value) and str(user_packaged) in str(info.value)


def test_verify_checks_user_registries_too(user_packaged):
    report = verify_cache()
    assert not report.clean
    (bad,) = report.bad
    assert bad.path == user_packaged.parent / "models" / "tiny.onnx"
    line = next(line for line in report.lines() if line.startswith("BAD"))
    assert "reinstall dpk-zoo" not in line and str(user_packaged) in line


def test_zoo_warnings_become_one_clean_line(capsys):
    with warnings_as_lines():
        warnings.warn("registry skipped: no network", ZooWarning, stacklevel=1)
        warnings.warn("registry skipped: no network", ZooWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err == "dpk: warning: registry skipped: no network\n"
