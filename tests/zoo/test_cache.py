"""The cache without the network: offline mode, packaged models, model_path, verify_cache."""

from __future__ import annotations

import hashlib
import socket

import pytest

import dpk.zoo.hashing
from dpk.zoo import (
    ChecksumError,
    NotCachedError,
    OfflineError,
    ZooError,
    cache_dir,
    cached_path,
    get_entry,
    model_path,
    pull,
    verify_cache,
)
from dpk.zoo.hashing import forget_verified
from tests.zoo.helpers import entry_data, write_registry

DATA = hashlib.shake_256(b"cached model").digest(30_000)


@pytest.fixture
def lab(tmp_path, monkeypatch, server):
    """A user registry with one model served by the local server."""
    url = server.add("/m.onnx", DATA)
    path = write_registry(tmp_path / "lab.yaml", [entry_data("leap.fly", DATA, [url])])
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    return url


@pytest.fixture
def no_sockets(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_offline_cached_model_works_without_the_network(tmp_path, monkeypatch, server):
    url = server.add("/m.onnx", DATA)
    path = write_registry(tmp_path / "lab.yaml", [entry_data("leap.fly", DATA, [url])])
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    cached = pull("leap.fly")
    assert server.requests == ["/m.onnx"]
    monkeypatch.setenv("DPK_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    forget_verified()  # as in a new process: the file is hashed again
    assert model_path("leap.fly") == cached
    assert pull("leap.fly") == cached
    assert server.requests == ["/m.onnx"]


def _refuse(*args, **kwargs):
    raise AssertionError("the network was used")


def test_offline_missing_model_says_what_is_missing_and_opens_no_socket(
    lab, server, monkeypatch, no_sockets
):
    monkeypatch.setenv("DPK_OFFLINE", "1")
    expected = cached_path(get_entry("leap.fly"))
    for action in (lambda: model_path("leap.fly"), lambda: pull("leap.fly", force=True)):
        with pytest.raises(OfflineError) as caught:
            action()
        message = str(caught.value)
        assert "leap.fly" in message and str(expected) in message
        assert "DPK_OFFLINE" in message and "dpk zoo pull leap.fly" in message
        assert lab in message and "\n" not in message
    assert server.requests == []
    assert not expected.exists()


def test_offline_still_copies_from_a_file_url(tmp_path, monkeypatch, server, no_sockets):
    share = tmp_path / "share" / "m.onnx"
    share.parent.mkdir()
    share.write_bytes(DATA)
    urls = [server.url("/m.onnx"), share.as_uri()]
    path = write_registry(tmp_path / "lab.yaml", [entry_data("leap.fly", DATA, urls)])
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    monkeypatch.setenv("DPK_OFFLINE", "yes")
    assert pull("leap.fly").read_bytes() == DATA
    assert server.requests == []


def test_bad_offline_value_is_an_error(monkeypatch, lab):
    monkeypatch.setenv("DPK_OFFLINE", "maybe")
    with pytest.raises(ZooError, match="DPK_OFFLINE='maybe'"):
        model_path("leap.fly")


def test_model_path_without_download(lab, server):
    with pytest.raises(NotCachedError, match=r"'leap\.fly' is not cached .*dpk zoo pull leap\.fly"):
        model_path("leap.fly", download=False)
    assert server.requests == []
    assert model_path("leap.fly") == model_path("leap.fly", download=False)
    assert server.requests == ["/m.onnx"]


def test_packaged_model_is_used_in_place_and_hashed_once(shipped, monkeypatch, server):
    registry, models = shipped
    (models / "tiny.onnx").write_bytes(DATA)
    entry = entry_data("leap.tiny", DATA, [], file="tiny.onnx", packaged=True)
    write_registry(registry, [entry])
    hashed = []
    real = dpk.zoo.hashing.sha256_file
    monkeypatch.setattr(dpk.zoo.hashing, "sha256_file", lambda p: hashed.append(p) or real(p))
    monkeypatch.setenv("DPK_OFFLINE", "1")
    assert model_path("leap.tiny") == models / "tiny.onnx"
    assert pull("leap.tiny") == models / "tiny.onnx"
    assert len(hashed) == 1  # verified once per process
    assert not cache_dir().exists()  # never copied into the cache
    pull("leap.tiny", force=True)
    assert len(hashed) == 2


def test_damaged_packaged_model_is_refused(shipped):
    registry, models = shipped
    (models / "tiny.onnx").write_bytes(b"y" * len(DATA))
    write_registry(registry, [entry_data("leap.tiny", DATA, [], file="tiny.onnx", packaged=True)])
    with pytest.raises(ChecksumError, match=r"packaged file .*tiny\.onnx is damaged.*reinstall"):
        model_path("leap.tiny")
    assert "BAD" in "\n".join(verify_cache().lines())


def test_packaged_model_missing_falls_back_to_its_mirrors(shipped, server):
    registry, _ = shipped
    url = server.add("/tiny.onnx", DATA)
    write_registry(registry, [entry_data("leap.tiny", DATA, [url], packaged=True)])
    path = model_path("leap.tiny")
    assert path.is_relative_to(cache_dir()) and path.read_bytes() == DATA
    write_registry(registry, [entry_data("leap.tiny", DATA, [], packaged=True)])
    with pytest.raises(ZooError, match=r"packaged file .* is missing; reinstall dpk-zoo"):
        model_path("leap.tiny")


def test_verify_detects_and_quarantines_a_corrupted_file(lab, server, zoo_home):
    good = pull("leap.fly")
    stale = good.parent / ".leap_fly.onnx.x1y2.part"
    stale.write_bytes(b"partial")
    report = verify_cache()
    assert report.clean and report.ok == [good] and report.stale == [stale]
    assert not stale.exists()
    corrupted = bytearray(DATA)
    corrupted[5] ^= 1
    good.write_bytes(bytes(corrupted))
    report = verify_cache()
    assert not report.clean and [b.path for b in report.bad] == [good]
    assert "expected " + hashlib.sha256(DATA).hexdigest() in report.bad[0].problem
    assert report.bad[0].moved_to.parent == zoo_home / "quarantine"
    assert report.bad[0].moved_to.read_bytes() == bytes(corrupted)
    assert not good.exists()
    assert pull("leap.fly").read_bytes() == DATA  # pulled again
    assert server.requests == ["/m.onnx", "/m.onnx"]


def test_verify_can_delete_and_skips_folders_in_use(lab, zoo_home):
    from filelock import FileLock

    good = pull("leap.fly")
    good.write_bytes(b"z" * len(DATA))
    with FileLock(str(zoo_home / "locks" / f"{good.parent.name}.lock")):
        report = verify_cache()
    assert report.busy == [good.parent] and report.clean and good.exists()
    report = verify_cache(remove=True)
    assert [b.path for b in report.bad] == [good] and report.bad[0].moved_to is None
    assert not good.exists() and not (zoo_home / "quarantine").exists()


def test_corrupted_cached_file_is_never_returned(lab, server):
    path = pull("leap.fly")
    path.write_bytes(b"q" * len(DATA))
    forget_verified()  # a new process knows nothing of earlier checks
    with pytest.raises(NotCachedError, match="is damaged"):
        model_path("leap.fly", download=False)
    assert model_path("leap.fly").read_bytes() == DATA


def test_unwritable_cache_is_a_clear_error(lab, zoo_home, server):
    zoo_home.parent.mkdir(exist_ok=True)
    zoo_home.write_text("not a folder")  # DPK_HOME cannot hold the cache
    with pytest.raises(ZooError, match=r"'leap\.fly': cannot write to the cache .*set DPK_HOME"):
        pull("leap.fly")
    assert server.requests == []
