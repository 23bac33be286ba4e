"""``dpk zoo``: list, info, pull, verify, path, and one-line errors (exit status 2)."""

from __future__ import annotations

import hashlib
import os

import pytest

from dpk.zoo import cached_path, get_entry
from tests.zoo.helpers import entry_data, write_registry

FLY = hashlib.shake_256(b"fly").digest(150_000)
ANT = hashlib.shake_256(b"ant").digest(20_000)


@pytest.fixture
def lab(tmp_path, monkeypatch, server):
    """Two models on the local server, one with a full card."""
    entries = [
        entry_data(
            "stacked_densenet.fly:v1",
            FLY,
            [server.add("/fly.onnx", FLY)],
            keypoints=["head", "eyeL", "eyeR"],
            input={"height": 192, "width": 160, "channels": 1},
            metrics={"error_median_px": 1.234, "pck_5px": 0.97},
            speed={"cpu@1": 150.0},
            license="Apache-2.0",
            training_data="fly32 (Graving et al. 2019)",
            data_license="CC-BY-4.0",
            description="Fruit fly, 32 keypoints",
        ),
        entry_data("leap.ant", ANT, [server.add("/ant.onnx", ANT)]),
    ]
    path = write_registry(tmp_path / "lab.yaml", entries)
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    return path


def test_zoo_help_lists_every_action(run_cli):
    code, out, _ = run_cli("zoo", "--help")
    assert code == 0
    for action in ("list", "info", "pull", "verify", "path"):
        assert f"    {action} " in out


def test_list_shows_a_table_and_local_state(lab, run_cli):
    code, out, err = run_cli("zoo", "list")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "KEYPOINTS", "INPUT", "ACCURACY", "SIZE", "LICENCE", "LOCAL"]
    expected = ["leap.ant", "2", "64x48x1", "1.25", "px", "median", "20.0", "kB", "MIT", "-"]
    assert rows[0].split() == expected
    assert rows[1].split()[:4] == ["stacked_densenet.fly:v1", "3", "192x160x1", "1.23"]
    assert rows[1].split()[-3:] == ["MB", "Apache-2.0", "-"]
    assert run_cli("zoo", "pull", "stacked_densenet.fly")[0] == 0
    _, out, _ = run_cli("zoo", "list")
    assert out.splitlines()[2].endswith("cached")


def test_list_of_an_empty_zoo_says_how_to_add_models(run_cli):
    code, out, _ = run_cli("zoo", "list")
    assert code == 0 and "DPK_REGISTRIES" in out


def test_info_prints_the_whole_card(lab, run_cli):
    code, out, err = run_cli("zoo", "info", "stacked_densenet.fly")
    assert code == 0, err
    entry = get_entry("stacked_densenet.fly:v1")
    for text in (
        "name:          stacked_densenet.fly:v1",
        "Fruit fly, 32 keypoints",
        entry.sha256,
        "fly_v1.onnx (0.1 MB, 150000 bytes)",
        entry.urls[0],
        "licence:       Apache-2.0",
        "training data: fly32 (Graving et al. 2019)",
        "data licence:  CC-BY-4.0",
        "192x160x1 gray, fit letterbox",
        "keypoints:     3: head, eyeL, eyeR",
        "error_median_px: 1.234",
        "pck_5px: 0.97",
        "cpu@1: 150 fps",
        f"registry:      {lab}",
        f"not downloaded (would be {cached_path(entry)})",
    ):
        assert text in out, text


def test_pull_path_and_verify(lab, server, run_cli):
    code, out, err = run_cli("zoo", "pull", "leap.ant", "--no-progress")
    assert code == 0, err
    path = cached_path(get_entry("leap.ant"))
    assert out.strip() == f"leap.ant: {path}" and path.read_bytes() == ANT
    assert run_cli("zoo", "path", "leap.ant")[1].strip() == str(path)
    code, out, err = run_cli("zoo", "path", "stacked_densenet.fly:v1")  # pulls when needed
    assert code == 0, err
    assert out.strip() == str(cached_path(get_entry("stacked_densenet.fly:v1")))
    code, out, _ = run_cli("zoo", "verify")
    assert code == 0 and "2 good, 0 bad" in out
    path.write_bytes(b"0" * len(ANT))
    code, out, _ = run_cli("zoo", "verify")
    assert code == 1 and f"BAD      {path}" in out and "quarantine" in out
    assert not path.exists()


def test_pull_all(lab, server, run_cli):
    code, out, err = run_cli("zoo", "pull", "--all")
    assert code == 0, err
    assert sorted(server.requests) == ["/ant.onnx", "/fly.onnx"]
    assert len(out.splitlines()) == 2
    server.routes.pop("/ant.onnx")
    code, out, err = run_cli("zoo", "pull", "--all", "--force")
    assert code == 1
    assert "leap.ant" in err and "HTTP 404" in err and "stacked_densenet.fly:v1:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("zoo", "info", "leap.aunt"), "unknown model 'leap.aunt'; did you mean leap.ant?"),
        (("zoo", "pull"), "give model names or --all"),
        (("zoo", "path", "leap.ant", "--no-download"), "dpk zoo pull leap.ant"),
    ],
)
def test_user_errors_are_one_line_with_exit_status_2(lab, run_cli, argv, message):
    code, out, err = run_cli(*argv)
    assert code == 2 and out == ""
    assert err.startswith("dpk zoo: error: ") and message in err
    assert err.count("\n") == 1


def test_offline_path_of_a_missing_model(lab, server, monkeypatch, run_cli):
    monkeypatch.setenv("DPK_OFFLINE", "1")
    code, _, err = run_cli("zoo", "path", "leap.ant")
    assert code == 2 and "DPK_OFFLINE" in err and "dpk zoo pull leap.ant" in err
    assert server.requests == []


def test_bad_registry_is_reported_by_the_cli(tmp_path, monkeypatch, run_cli):
    bad = entry_data("leap.ant", ANT, ["https://example.org/a"], sha256="123")
    path = write_registry(tmp_path / "bad.yaml", [bad])
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    code, _, err = run_cli("zoo", "list")
    assert code == 2 and str(path) in err and "entry 1 (leap.ant)" in err and "sha256" in err


def test_shadowing_is_printed_as_a_warning(tmp_path, monkeypatch, run_cli):
    one = write_registry(tmp_path / "one.yaml", [entry_data("leap.ant", ANT, ["https://a/1"])])
    two = write_registry(tmp_path / "two.yaml", [entry_data("leap.ant", FLY, ["https://b/1"])])
    monkeypatch.setenv("DPK_REGISTRIES", f"{one}{os.pathsep}{two}")
    code, out, err = run_cli("zoo", "list")
    assert code == 0 and "20.0 kB" in out
    assert err.strip() == (
        f"dpk zoo: warning: model 'leap.ant' from {one} shadows the one in {two}; "
        "rename it there to use both"
    )
