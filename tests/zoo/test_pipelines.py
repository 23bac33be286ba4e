"""Zoo entries that name a pair of models (top-down pipelines), with no file of their own."""

from __future__ import annotations

import pytest

from dpk.zoo import RegistryError, ZooError, add_entry, load_catalog, pipeline_models
from dpk.zoo.registry import Registry
from tests.zoo.helpers import entry_data, write_registry

PIPELINE = {
    "name": "topdown.flies",
    "pipeline": {"anchor": "leap.fly_anchor", "pose": "leap.fly"},
    "description": "two flies on whole frames",
}


@pytest.fixture
def registry(tmp_path, monkeypatch):
    entries = [
        entry_data("leap.fly_anchor", b"a" * 10, ["https://example.org/a.onnx"]),
        entry_data("leap.fly", b"p" * 10, ["https://example.org/p.onnx"]),
        PIPELINE,
    ]
    path = write_registry(tmp_path / "reg" / "registry.yaml", entries)
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    return path


def test_pipeline_entries_load_resolve_and_survive_a_rewrite(registry):
    loaded = Registry.from_file(registry)
    assert [p.name for p in loaded.pipelines] == ["topdown.flies"]
    assert loaded.names == ["leap.fly_anchor", "leap.fly"]
    catalog = load_catalog()
    assert catalog.pipeline("topdown.flies").pipeline.pose == "leap.fly"
    assert catalog.pipeline("leap.fly") is None
    assert pipeline_models("topdown.flies") == ("leap.fly_anchor", "leap.fly")
    assert pipeline_models("leap.fly") is None and pipeline_models("some/file.onnx") is None
    with pytest.raises(ZooError, match="top-down pipeline"):
        catalog.resolve("topdown.flies")
    assert "pipeline:\n    anchor: leap.fly_anchor\n    pose: leap.fly\n" in loaded.to_yaml()
    new = Registry.from_file(registry).entries[0].model_copy(update={"name": "leap.other"})
    rewritten = add_entry(registry, new)
    assert [p.name for p in rewritten.pipelines] == ["topdown.flies"]
    assert [p.name for p in Registry.from_file(registry).pipelines] == ["topdown.flies"]


def test_a_pipeline_naming_unknown_models_is_refused(tmp_path, monkeypatch):
    entries = [entry_data("leap.fly", b"p" * 10, ["https://example.org/p.onnx"]), PIPELINE]
    path = write_registry(tmp_path / "registry.yaml", entries)
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    with pytest.raises(RegistryError, match=r"unknown models leap\.fly_anchor") as error:
        load_catalog()
    assert str(path) in str(error.value)


def test_a_pipeline_entry_is_validated(tmp_path):
    bad = dict(PIPELINE, pipeline={"anchor": "not a name", "pose": "leap.fly"}, file="x.onnx")
    with pytest.raises(RegistryError, match=r"topdown\.flies"):
        Registry.from_file(write_registry(tmp_path / "registry.yaml", [bad]))


def test_zoo_list_and_info_show_pipelines(registry, run_cli, monkeypatch):
    code, out, err = run_cli("zoo", "list")
    assert code == 0, err
    assert "top-down pipelines" in out and "topdown.flies" in out and "two flies" in out
    code, out, err = run_cli("zoo", "info", "topdown.flies")
    assert code == 0, err
    assert "anchor model:" in out and "leap.fly_anchor" in out and "keypoints:" in out
    assert "dpk predict VIDEO --model topdown.flies" in out
    monkeypatch.setenv("DPK_OFFLINE", "1")
    code, out, err = run_cli("zoo", "pull", "topdown.flies")
    assert code != 0 and "leap.fly_anchor" in err  # pulls its models (none cached, offline)
