"""The pretrained models shipped inside dpk-zoo: complete cards, intact files, listed offline."""

from __future__ import annotations

import pytest

from dpk.zoo import Registry
from dpk.zoo.hashing import sha256_file

pytestmark = pytest.mark.real_registry

EXPECTED = {
    "stacked_densenet.mirror_mouse",
    "stacked_densenet.fly13",
    "deeplabcut.fly13",
    "unet.fly13",
    "unet.fly13:int8",
    "unet.mirror_mouse",
    "unet.fly_anchor",
}
ANCHOR_MODELS = {"unet.fly_anchor"}
"""Anchor models find one point per animal: their skeleton is that point."""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.shipped_registry()


def test_the_real_models_ship_with_measured_cards(registry):
    packaged = {entry.name: entry for entry in registry.entries if entry.packaged}
    assert set(packaged) >= EXPECTED
    for entry in packaged.values():
        assert entry.metrics["error_median_px"] > 0 and entry.metrics["error_mean_px"] > 0
        assert entry.speed["cpu@1"] > 0 and entry.speed["cpu@100"] > 0
        assert entry.license and entry.training_data and entry.data_license
        assert (
            len(entry.keypoints) == 1 if entry.name in ANCHOR_MODELS else len(entry.keypoints) >= 13
        )


def test_the_fly_pipeline_pairs_the_shipped_models(registry):
    pairs = {p.name: (p.pipeline.anchor, p.pipeline.pose) for p in registry.pipelines}
    assert pairs["topdown.fly13"] == ("unet.fly_anchor", "unet.fly13")
    assert pairs["topdown.fly13:int8"] == ("unet.fly_anchor", "unet.fly13:int8")


def test_packaged_files_match_their_size_and_checksum(registry):
    for entry in registry.entries:
        if not entry.packaged:
            continue
        path = registry.packaged_path(entry)
        assert path.is_file(), f"{entry.name}: {path} missing from the package"
        assert path.stat().st_size == entry.size, entry.name
        assert sha256_file(path) == entry.sha256, entry.name


def test_zoo_list_shows_them_offline(run_cli, monkeypatch):
    monkeypatch.setenv("DPK_OFFLINE", "1")
    code, stdout, _ = run_cli("zoo", "list")
    assert code == 0
    for name in EXPECTED:
        line = next(row for row in stdout.splitlines() if row.startswith(name + " "))
        assert "px median" in line and "packaged" in line
