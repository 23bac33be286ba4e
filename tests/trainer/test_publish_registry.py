"""dpk publish writes the user's registry unless told to write the packaged one."""

from __future__ import annotations

from pathlib import Path

from dpk.trainer.publish import target_registry
from dpk.zoo import SHIPPED_REGISTRY


def test_publish_writes_the_users_registry_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("DPK_HOME", str(tmp_path / "home"))
    own = target_registry(None, packaged=False)
    assert own == tmp_path / "home" / "registry" / "registry.yaml"
    assert not own.is_relative_to(Path(SHIPPED_REGISTRY).parent)
    assert target_registry(None, packaged=True) == SHIPPED_REGISTRY
    assert target_registry(tmp_path / "lab.yaml", packaged=True) == tmp_path / "lab.yaml"


def test_the_users_registry_is_read_by_the_zoo(tmp_path, monkeypatch):
    from dpk.zoo.settings import registry_locations, user_registry_path

    monkeypatch.setenv("DPK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DPK_REGISTRIES", raising=False)
    assert registry_locations() == []
    user_registry_path().parent.mkdir(parents=True)
    user_registry_path().write_text("[]\n")
    assert registry_locations() == [str(user_registry_path())]


def test_publish_help_says_where_it_writes(run_cli):
    code, out, _ = run_cli("publish", "--help")
    assert code == 0 and "$DPK_HOME/registry/registry.yaml" in " ".join(out.split())
