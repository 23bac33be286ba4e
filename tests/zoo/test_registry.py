"""Registries: validation at load, user registries, shadowing, names, writing entries."""

from __future__ import annotations

import hashlib
import os
import re
import warnings

import pytest
import yaml

from dpk.specs import Preprocessing, ZooEntry
from dpk.zoo import (
    Registry,
    RegistryError,
    ZooError,
    ZooWarning,
    add_entry,
    get_entry,
    list_models,
    load_catalog,
    make_entry,
    packaged_models_dir,
)
from dpk.zoo.registry import SHIPPED_REGISTRY, registry_copy_path
from tests.zoo.helpers import entry_data, make_model, write_registry

DATA = b"a small model" * 100


@pytest.mark.real_registry
def test_shipped_registry_is_valid_yaml_list():
    text = SHIPPED_REGISTRY.read_text()
    assert text.lstrip().startswith("#")
    assert isinstance(yaml.safe_load(text), list)
    registry = Registry.shipped_registry()
    assert registry.shipped and registry.models_dir == SHIPPED_REGISTRY.parent / "models"
    assert registry.models_dir.is_dir()


def test_valid_registry_loads_with_its_entries(tmp_path):
    entries = [
        entry_data("leap.fly", DATA, ["https://example.org/x"]),
        entry_data("dlc.mouse:v2", DATA, ["file:///models/m.onnx"]),
    ]
    registry = Registry.from_file(write_registry(tmp_path / "r.yaml", entries))
    assert registry.names == ["leap.fly", "dlc.mouse:v2"]
    assert isinstance(registry.get("leap.fly"), ZooEntry)
    assert "dlc.mouse:v2" in registry and len(registry) == 2
    assert registry.get("dlc.mouse") is None  # exact names only; the catalog resolves tags
    assert registry.packaged_path(registry.get("leap.fly")) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sha256": None}, "sha256"),
        ({"sha256": "abc123"}, "sha256 must be 64 hexadecimal digits"),
        ({"sha256": "g" * 64}, "sha256 must be 64 hexadecimal digits"),
        ({"size": 0}, "size"),
        ({"urls": ["ftp://x/y"]}, "is not an http(s):// or file:// address"),
        ({"colour": "red"}, "unknown field"),
        ({"file": "../escape.onnx"}, "plain file name"),
    ],
)
def test_registry_with_a_bad_entry_is_refused_naming_file_and_entry(tmp_path, change, expected):
    good = entry_data("leap.fly", DATA, ["https://example.org/a.onnx"])
    bad = entry_data("dlc.mouse", DATA, ["https://example.org/b.onnx"])
    for key, value in change.items():
        if value is None:
            del bad[key]
        else:
            bad[key] = value
    path = write_registry(tmp_path / "lab.yaml", [good, bad])
    with pytest.raises(RegistryError) as caught:
        Registry.from_file(path)
    message = str(caught.value)
    assert str(path) in message
    assert "entry 2 (dlc.mouse)" in message
    assert expected in message
    key = next(iter(change))
    if key in yaml.safe_dump(bad):  # the line of the offending field is given
        line = yaml.safe_dump([good, bad], sort_keys=False).splitlines()
        number = [i + 1 for i, text in enumerate(line) if text.strip().startswith(f"{key}:")][-1]
        assert f"line {number}" in message


def test_missing_sha256_refuses_the_whole_registry_when_it_loads(tmp_path, monkeypatch):
    good = entry_data("leap.fly", DATA, ["https://example.org/a.onnx"])
    bad = entry_data("dlc.mouse", DATA, ["https://example.org/b.onnx"])
    del bad["sha256"]
    path = write_registry(tmp_path / "lab.yaml", [good, bad])
    monkeypatch.setenv("DPK_REGISTRIES", str(path))
    for action in (list_models, lambda: get_entry("leap.fly")):
        with pytest.raises(RegistryError, match=r"entry 2 \(dlc\.mouse\): sha256: Field required"):
            action()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: leap.fly\n", "a registry is a YAML list of entries"),
        ("- [1, 2\n", "not valid YAML"),
        ("- just a string\n", "entry 1: must be a mapping"),
    ],
)
def test_registry_that_is_not_a_list_of_entries_is_refused(tmp_path, text, expected):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=expected):
        Registry.from_file(path)


def test_duplicate_names_in_one_registry_are_refused(tmp_path):
    entry = entry_data("leap.fly", DATA, ["https://example.org/a.onnx"])
    path = write_registry(tmp_path / "r.yaml", [entry, entry])
    with pytest.raises(RegistryError, match=r"entry 2 \(leap\.fly\): name 'leap\.fly' is already"):
        Registry.from_file(path)


def test_missing_registry_file_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DPK_REGISTRIES", str(tmp_path / "nowhere.yaml"))
    with pytest.raises(RegistryError, match=re.escape("nowhere.yaml: registry file not found")):
        list_models()


def test_user_registries_from_environment_and_config(tmp_path, monkeypatch, zoo_home):
    first = write_registry(
        tmp_path / "a" / "r.yaml", [entry_data("leap.fly", DATA, ["https://a/1"])]
    )
    second = write_registry(
        tmp_path / "b" / "r.yaml", [entry_data("dlc.mouse", DATA, ["https://b/1"])]
    )
    third = write_registry(
        zoo_home / "mine" / "r.yaml", [entry_data("sdn.ant", DATA, ["https://c"])]
    )
    monkeypatch.setenv("DPK_REGISTRIES", f"{first}:{second}".replace(":", os.pathsep))
    (zoo_home / "config.yaml").write_text("registries: [mine/r.yaml]\nother_part: kept\n")
    assert [e.name for e in list_models()] == ["dlc.mouse", "leap.fly", "sdn.ant"]
    catalog = load_catalog()
    assert catalog.registry_of("sdn.ant").source == str(third)


def test_bad_config_file_is_reported(zoo_home):
    zoo_home.mkdir()
    (zoo_home / "config.yaml").write_text("registries: lab.yaml\n")
    with pytest.raises(ZooError, match="'registries' must be a list"):
        list_models()


def test_first_registry_wins_and_shadowing_warns(tmp_path, monkeypatch, shipped):
    shipped_path, _ = shipped
    write_registry(shipped_path, [entry_data("leap.fly", DATA, ["https://shipped/x"])])
    other = b"lab version" * 10
    lab = write_registry(tmp_path / "lab.yaml", [entry_data("leap.fly", other, ["https://lab/x"])])
    monkeypatch.setenv("DPK_REGISTRIES", str(lab))
    with pytest.warns(
        ZooWarning, match=r"'leap\.fly' from .*lab\.yaml shadows the one in the registry shipped"
    ):
        entry = get_entry("leap.fly")
    assert entry.sha256 == hashlib.sha256(other).hexdigest()
    monkeypatch.delenv("DPK_REGISTRIES")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZooWarning)
        assert get_entry("leap.fly").sha256 == hashlib.sha256(DATA).hexdigest()


def test_name_resolution(tmp_path, monkeypatch):
    entries = [
        entry_data("stacked_densenet.fly:v1", DATA, ["https://a/1"]),
        entry_data("stacked_densenet.fly:v2", DATA, ["https://a/2"]),
        entry_data("leap.locust:2024", DATA, ["https://a/3"]),
        entry_data("leap.mouse", DATA, ["https://a/4"]),
    ]
    monkeypatch.setenv("DPK_REGISTRIES", str(write_registry(tmp_path / "r.yaml", entries)))
    assert get_entry("stacked_densenet.fly:v2").name == "stacked_densenet.fly:v2"
    assert get_entry("leap.locust").name == "leap.locust:2024"  # one entry has that base name
    assert get_entry("leap.mouse").name == "leap.mouse"
    with pytest.raises(
        ZooError,
        match=re.escape("ambiguous: give one of stacked_densenet.fly:v1, stacked_densenet.fly:v2"),
    ):
        get_entry("stacked_densenet.fly")
    with pytest.raises(ZooError, match=r"unknown model 'leap\.mose'; did you mean leap\.mouse"):
        get_entry("leap.mose")
    with pytest.raises(ZooError, match=r"unknown model 'hourglass\.zebra' \(`dpk zoo list`"):
        get_entry("hourglass.zebra")


def test_make_entry_computes_size_and_sha256(tmp_path):
    model = make_model(tmp_path, "sdn_fly.onnx", size=12_345)
    entry = make_entry(
        model,
        "stacked_densenet.fly:v1",
        ["https://example.org/sdn_fly.onnx"],
        license="Apache-2.0",
        training_data="fly32 (Graving et al. 2019)",
        data_license="CC-BY-4.0",
        input=Preprocessing(height=192, width=192),
        keypoints=["head", "thorax"],
        metrics={"error_median_px": 1.1},
        speed={"cpu@1": 120.0},
        description="test",
    )
    assert entry.size == 12_345 and entry.file == "sdn_fly.onnx"
    assert entry.sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
    assert entry.input.height == 192 and entry.speed == {"cpu@1": 120.0}
    with pytest.raises(RegistryError, match=r"zoo entry 'Bad Name'.*name"):
        make_entry(
            model,
            "Bad Name",
            ["https://x/y"],
            license="MIT",
            training_data="d",
            data_license="d",
            input={"height": 64, "width": 64},
            keypoints=["a"],
        )
    with pytest.raises(ZooError, match="cannot read the model file"):
        make_entry(
            tmp_path / "missing.onnx",
            "a.b",
            ["https://x/y"],
            license="MIT",
            training_data="d",
            data_license="d",
            input={"height": 64, "width": 64},
            keypoints=["a"],
        )


def _entry(model, name, urls=("https://example.org/m",), packaged=False):
    return make_entry(
        model,
        name,
        list(urls),
        packaged,
        license="MIT",
        training_data="d",
        data_license="CC0-1.0",
        input={"height": 64, "width": 64},
        keypoints=["a"],
    )


def test_add_entry_creates_updates_and_keeps_the_header(tmp_path):
    path = tmp_path / "reg" / "registry.yaml"
    first = _entry(make_model(tmp_path, "a.onnx"), "leap.fly")
    add_entry(path, first)
    assert Registry.from_file(path).names == ["leap.fly"]
    path.write_text("# my lab's models\n\n" + path.read_text().split("\n", 2)[2])
    second = _entry(make_model(tmp_path, "b.onnx"), "leap.ant")
    add_entry(path, second)
    replaced = _entry(make_model(tmp_path, "a.onnx", seed=1), "leap.fly")
    registry = add_entry(path, replaced)
    assert registry.names == ["leap.fly", "leap.ant"]
    reread = Registry.from_file(path)
    assert reread.names == ["leap.fly", "leap.ant"]
    assert reread.get("leap.fly") == replaced and reread.get("leap.ant") == second
    assert path.read_text().startswith("# my lab's models\n")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files


def test_add_entry_refuses_to_touch_an_invalid_registry(tmp_path):
    path = tmp_path / "registry.yaml"
    path.write_text("- name: leap.fly\n")
    before = path.read_text()
    with pytest.raises(RegistryError):
        add_entry(path, _entry(make_model(tmp_path, "a.onnx"), "leap.ant"))
    assert path.read_text() == before


def test_add_packaged_entry_copies_the_model_beside_the_registry(tmp_path):
    path = tmp_path / "pkg" / "registry.yaml"
    model = make_model(tmp_path / "build", "tiny.onnx")
    entry = _entry(model, "leap.tiny", urls=(), packaged=True)
    with pytest.raises(ZooError, match=re.escape("packaged file of 'leap.tiny' is not in place")):
        add_entry(path, entry)
    add_entry(path, entry, model_file=model)
    copied = packaged_models_dir(path) / "tiny.onnx"
    assert copied.read_bytes() == model.read_bytes()
    assert Registry.from_file(path).packaged_path(entry) == copied
    other = make_model(tmp_path / "other", "tiny.onnx", seed=5)
    with pytest.raises(ZooError, match="does not match entry"):
        add_entry(
            path,
            _entry(other, "leap.tiny2", urls=(), packaged=True).model_copy(
                update={"sha256": entry.sha256, "size": entry.size}
            ),
            model_file=other,
        )
    with pytest.raises(ZooError, match=re.escape("already used by 'leap.tiny' with other content")):
        add_entry(path, _entry(other, "leap.tiny2", urls=(), packaged=True), model_file=other)


def test_registry_at_a_url_is_fetched_once_and_kept(tmp_path, monkeypatch, server):
    text = yaml.safe_dump([entry_data("leap.fly", DATA, [server.url("/m.onnx")])])
    url = server.add("/registry.yaml", text.encode())
    monkeypatch.setenv("DPK_REGISTRIES", url)
    assert [e.name for e in list_models()] == ["leap.fly"]
    assert registry_copy_path(url).read_text() == text
    assert [e.name for e in list_models()] == ["leap.fly"]
    assert server.requests == ["/registry.yaml"]
    list_models(refresh=True)
    assert server.requests == ["/registry.yaml", "/registry.yaml"]
    monkeypatch.setenv("DPK_OFFLINE", "1")
    assert [e.name for e in list_models(refresh=True)] == ["leap.fly"]
    assert len(server.requests) == 2


def test_invalid_registry_at_a_url_is_refused_and_not_kept(monkeypatch, server):
    bad = entry_data("leap.fly", DATA, [server.url("/m.onnx")], sha256="0" * 10)
    url = server.add("/registry.yaml", yaml.safe_dump([bad]).encode())
    monkeypatch.setenv("DPK_REGISTRIES", url)
    with pytest.raises(RegistryError, match=rf"{url}: .*entry 1 \(leap\.fly\): sha256"):
        list_models()
    assert not registry_copy_path(url).exists()


def test_unreachable_registry_url_is_skipped_with_a_warning(monkeypatch, server):
    monkeypatch.setenv("DPK_REGISTRIES", server.url("/missing.yaml"))
    with pytest.warns(ZooWarning, match="registry skipped: .*missing.yaml: HTTP 404"):
        assert list_models() == []


def test_remote_registry_cannot_use_packaged_only_entries(monkeypatch, server):
    entry = entry_data("leap.fly", DATA, [], packaged=True)
    url = server.add("/registry.yaml", yaml.safe_dump([entry]).encode())
    monkeypatch.setenv("DPK_REGISTRIES", url)
    with pytest.raises(RegistryError, match="packaged: true needs a local registry file"):
        list_models()


def test_registry_list_splits_on_pathsep_but_keeps_urls_whole(monkeypatch):
    from dpk.zoo.settings import split_registry_list

    if os.pathsep != ":":
        pytest.skip("URL colons only clash with ':' as the path separator")
    value = "http://127.0.0.1:8000/r.yaml:/lab/a.yaml:https://x.org/r.yaml:file:///t/x.yaml::~/b"
    assert split_registry_list(value) == [
        "http://127.0.0.1:8000/r.yaml",
        "/lab/a.yaml",
        "https://x.org/r.yaml",
        "file:///t/x.yaml",
        "~/b",
    ]


def test_duplicate_key_in_a_registry_entry_is_refused_with_both_lines(tmp_path):
    path = write_registry(
        tmp_path / "r.yaml", [entry_data("leap.fly", DATA, ["https://example.org/a.onnx"])]
    )
    lines = path.read_text().splitlines()
    license_line = next(i for i, line in enumerate(lines) if line.strip().startswith("license:"))
    lines.append(lines[license_line])  # the last key of the last entry, repeated
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RegistryError) as info:
        Registry.from_file(path)
    message = str(info.value)
    assert "'license'" in message
    assert f"line {license_line + 1}" in message and f"line {len(lines)}" in message
