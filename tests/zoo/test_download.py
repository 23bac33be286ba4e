"""Pulling models over HTTP: mirrors, checksums, broken servers, timeouts, concurrent pulls."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time

import pytest

from dpk.specs.errors import DpkError
from dpk.zoo import ChecksumError, DownloadError, cached_path, get_entry, pull
from tests.zoo.helpers import entry_data, write_registry

DATA = hashlib.shake_256(b"model").digest(60_000)


def use_registry(tmp_path, monkeypatch, entries) -> None:
    path = write_registry(tmp_path / "lab" / "registry.yaml", entries)
    monkeypatch.setenv("DPK_REGISTRIES", str(path))


def cache_files(home) -> list[str]:
    """Every file under the cache's models folder (temporary files included)."""
    root = home / "models"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_pull_downloads_verifies_and_reuses(tmp_path, monkeypatch, server, zoo_home):
    url = server.add("/m.onnx", DATA)
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [url])])
    path = pull("leap.fly")
    assert path == cached_path(get_entry("leap.fly"))
    assert path.is_relative_to(zoo_home)
    assert path.read_bytes() == DATA
    assert cache_files(zoo_home) == [f"{hashlib.sha256(DATA).hexdigest()}/leap_fly.onnx"]
    assert pull("leap.fly") == path
    assert server.requests == ["/m.onnx"]  # the second pull used the cache
    pull("leap.fly", force=True)
    assert server.requests == ["/m.onnx", "/m.onnx"]
    assert path.read_bytes() == DATA


def test_second_mirror_is_used_when_first_is_404(tmp_path, monkeypatch, server, zoo_home):
    missing = server.url("/gone.onnx")
    good = server.add("/m.onnx", DATA)
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [missing, good])])
    assert pull("leap.fly").read_bytes() == DATA
    assert server.requests == ["/gone.onnx", "/m.onnx"]


def assert_nothing_cached(home) -> None:
    assert cache_files(home) == [], "a failed pull left files in the cache"


def test_checksum_mismatch_is_refused_and_nothing_is_cached(
    tmp_path, monkeypatch, server, zoo_home
):
    wrong = bytearray(DATA)
    wrong[1000] ^= 0xFF
    url = server.add("/m.onnx", bytes(wrong))
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [url])])
    with pytest.raises(ChecksumError) as caught:
        pull("leap.fly")
    message = str(caught.value)
    assert "leap.fly" in message and url in message and "sha256" in message
    assert hashlib.sha256(DATA).hexdigest() in message
    assert "\n" not in message
    assert_nothing_cached(zoo_home)


def test_announced_size_differing_from_registry_is_refused(tmp_path, monkeypatch, server, zoo_home):
    url = server.add("/m.onnx", DATA + b"extra")
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [url])])
    with pytest.raises(ChecksumError, match=f"{len(DATA) + 5} bytes"):
        pull("leap.fly")
    assert_nothing_cached(zoo_home)


def test_truncated_body_is_refused(tmp_path, monkeypatch, server, zoo_home):
    url = server.add("/m.onnx", DATA, mode="truncate")
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [url])])
    with pytest.raises(DownloadError) as caught:
        pull("leap.fly")
    assert not isinstance(caught.value, ChecksumError)
    assert f"of {len(DATA)} bytes" in str(caught.value) and url in str(caught.value)
    assert_nothing_cached(zoo_home)


def test_connection_dropped_mid_transfer(tmp_path, monkeypatch, server, zoo_home):
    url = server.add("/m.onnx", DATA, mode="drop")
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [url])])
    with pytest.raises(DownloadError) as caught:
        pull("leap.fly")
    assert "leap.fly" in str(caught.value) and url in str(caught.value)
    assert_nothing_cached(zoo_home)


def test_slow_server_times_out_then_next_mirror_works(tmp_path, monkeypatch, server, zoo_home):
    stall = 10
    slow = server.add("/slow.onnx", DATA, mode="stall", delay=stall)
    good = server.add("/m.onnx", DATA)
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [slow])])
    monkeypatch.setenv("DPK_TIMEOUT", "0.5")
    start = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        pull("leap.fly")
    assert time.monotonic() - start < stall - 1  # gave up before the server answered
    assert_nothing_cached(zoo_home)
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [slow, good])])
    assert pull("leap.fly", timeout=0.5).read_bytes() == DATA


def test_every_failed_mirror_is_named(tmp_path, monkeypatch, server, zoo_home):
    urls = [server.url("/a.onnx"), server.url("/b.onnx")]
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, urls)])
    with pytest.raises(DownloadError) as caught:
        pull("leap.fly")
    message = str(caught.value)
    assert all(f"{u}: HTTP 404" in message for u in urls)
    assert isinstance(caught.value, DpkError) and "\n" not in message


def test_bad_cached_file_is_replaced_by_a_good_download(tmp_path, monkeypatch, server, zoo_home):
    url = server.add("/m.onnx", DATA)
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [url])])
    target = cached_path(get_entry("leap.fly"))
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * len(DATA))  # right size, wrong content
    (target.parent / ".leap_fly.onnx.abc.part").write_bytes(b"half")  # an interrupted pull
    assert pull("leap.fly").read_bytes() == DATA
    assert cache_files(zoo_home) == [f"{hashlib.sha256(DATA).hexdigest()}/leap_fly.onnx"]
    quarantined = list((zoo_home / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == b"x" * len(DATA)


def test_file_url_mirror(tmp_path, monkeypatch, zoo_home):
    source = tmp_path / "share" / "m.onnx"
    source.parent.mkdir()
    source.write_bytes(DATA)
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", DATA, [source.as_uri()])])
    path = pull("leap.fly")
    assert path.read_bytes() == DATA and path != source


PULL_SCRIPT = "import sys; from dpk.zoo import pull; print(pull(sys.argv[1], progress=False))"


def test_two_processes_pulling_at_once_get_one_good_file(tmp_path, monkeypatch, server, zoo_home):
    big = hashlib.shake_256(b"big").digest(400_000)
    url = server.add("/big.onnx", big, mode="trickle", delay=1.0)
    use_registry(tmp_path, monkeypatch, [entry_data("leap.fly", big, [url])])
    pullers = [
        subprocess.Popen(
            [sys.executable, "-c", PULL_SCRIPT, "leap.fly"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=60) for p in pullers]
    for puller, (_, err) in zip(pullers, results):
        assert puller.returncode == 0, err
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1
    (path,) = paths
    with open(path, "rb") as handle:
        assert handle.read() == big
    assert cache_files(zoo_home) == [f"{hashlib.sha256(big).hexdigest()}/leap_fly.onnx"]
    assert server.requests == ["/big.onnx"]  # the second process waited for the first
