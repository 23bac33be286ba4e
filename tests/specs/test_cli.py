"""``dpk spec``, ``dpk --help`` and ``dpk --version``."""

from __future__ import annotations

import json

from tests.conftest import ROOT


def test_help_lists_every_verb_with_a_line(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for verb in ("spec", "doctor"):
        assert f"    {verb}" in out
    from dpk.runtime.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for choice in sub._choices_actions:
        assert choice.help, f"verb {choice.dest} has no help line"


def test_version_lists_all_parts(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0
    for part in ("dpk-specs", "dpk-zoo", "dpk-runtime", "dpk-trainer"):
        assert part in out
    assert "dpk-specs 0.1.0" in out


def test_spec_schema_to_file(run_cli, tmp_path):
    target = tmp_path / "schema.json"
    code, out, _ = run_cli("spec", "schema", "-o", target)
    assert code == 0 and "wrote" in out
    assert (
        "stacked_densenet"
        in json.loads(target.read_text())["$defs"]["StackedDenseNet"]["properties"]["type"]["const"]
    )
    code, out, _ = run_cli("spec", "schema", "--kind", "zoo-entry")
    assert code == 0 and "sha256" in json.loads(out)["properties"]


def test_spec_check_ok_and_errors(run_cli, tmp_path):
    code, out, _ = run_cli("spec", "check", ROOT / "examples" / "fly13.yaml")
    assert code == 0 and "ok (unet, 13 keypoints, input 160x160x1, 13 maps at stride 4)" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "skeleton: {names: [a, a]}\n"
        "preprocessing: {height: 64, width: 64, channels: 5}\n"
        "architecture: {type: leap, growth_rate: 3}\n"
    )
    code, out, err = run_cli("spec", "check", bad)
    assert code == 1
    assert "bad.yaml" in err
    assert "duplicate keypoint name 'a'" in err
    assert "preprocessing.channels" in err
    assert "architecture.growth_rate" in err and "unknown field" in err
    assert "Traceback" not in err


def test_missing_spec_file_one_line(run_cli, tmp_path):
    code, _, err = run_cli("spec", "check", tmp_path / "none.yaml")
    assert code == 1 and "none.yaml: file not found" in err
