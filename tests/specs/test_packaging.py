"""The four distributions: one shared version, sibling pins, one-way dependencies."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT

PARTS = ["specs", "zoo", "runtime", "trainer"]


def project(part: str) -> dict:
    return tomllib.loads((ROOT / part / "pyproject.toml").read_text())["project"]


def test_one_shared_version_and_sibling_pins():
    versions = {part: project(part)["version"] for part in PARTS}
    assert len(set(versions.values())) == 1, versions
    version = versions["specs"]
    expected_siblings = {"zoo": ["specs"], "runtime": ["specs", "zoo"], "trainer": ["runtime"]}
    for part, siblings in expected_siblings.items():
        deps = project(part)["dependencies"]
        for sibling in siblings:
            assert f"dpk-{sibling}=={version}" in deps, (part, deps)


def test_dependencies_point_one_way():
    order = {f"dpk-{part}": i for i, part in enumerate(PARTS)}
    for i, part in enumerate(PARTS):
        for dep in project(part)["dependencies"]:
            name = re.split(r"[<>=!~; \[]", dep, maxsplit=1)[0]
            if name in order:
                assert order[name] < i, f"dpk-{part} must not depend on {name}"


def test_namespace_package_has_no_init():
    for part in PARTS:
        assert not (ROOT / part / "src" / "dpk" / "__init__.py").exists()
        assert (ROOT / part / "src" / "dpk" / part / "__init__.py").exists()


def test_runtime_never_installs_both_onnxruntimes():
    deps = project("runtime")["dependencies"]
    gpu = [d for d in deps if d.startswith("onnxruntime-gpu")]
    cpu = [d for d in deps if d.startswith("onnxruntime>") or d.startswith("onnxruntime ")]
    assert len(gpu) == 1 and len(cpu) == 1
    from packaging.markers import Marker

    marker_gpu = Marker(gpu[0].split(";", 1)[1])
    marker_cpu = Marker(cpu[0].split(";", 1)[1])
    for platform in ("linux", "win32", "darwin"):
        for machine in ("x86_64", "AMD64", "aarch64", "arm64"):
            env = {"sys_platform": platform, "platform_machine": machine}
            assert marker_gpu.evaluate(env) != marker_cpu.evaluate(env), env


def test_public_modules_declare_all():
    for part in PARTS:
        for path in (ROOT / part / "src" / "dpk" / part).rglob("*.py"):
            if path.name.startswith("_") and path.name != "__init__.py":
                continue
            assert "__all__" in path.read_text(), f"{path} has no __all__"
