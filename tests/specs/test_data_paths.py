"""The data section: malformed paths, training checks and the one path-resolution rule."""

from __future__ import annotations

import os

import pytest

from dpk.specs import DataSpec, DpkError, SpecError, load_spec, resolve_path, training_issues

SPEC = "skeleton: {names: [a]}\npreprocessing: {height: 64, width: 64}\n"


@pytest.mark.parametrize("path", ["", "   ", " labels.h5", "labels.h5 "])
def test_malformed_data_path_is_refused(tmp_path, path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC + f"data: {{path: {path!r}}}\n")
    with pytest.raises(SpecError, match=r"line 3: data.path") as info:
        load_spec(spec)
    assert "\n" not in str(info.value)


def test_resolve_path_expands_now_and_refuses_unset_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("DPK_TEST_DATA", str(tmp_path / "data"))
    assert resolve_path("$DPK_TEST_DATA/x.h5", "/elsewhere") == tmp_path / "data" / "x.h5"
    assert resolve_path("${DPK_TEST_DATA}/../y.h5", "/x") == tmp_path / "y.h5"
    assert resolve_path("sub/z.h5", tmp_path) == tmp_path / "sub" / "z.h5"
    assert resolve_path("~/z.h5", tmp_path) == tmp_path.home() / "z.h5"
    monkeypatch.delenv("DPK_TEST_DATA")
    with pytest.raises(DpkError, match="DPK_TEST_DATA is not set"):
        resolve_path("$DPK_TEST_DATA/x.h5", tmp_path)


def test_train_resume_and_evaluate_resolve_the_same_files(tmp_path, monkeypatch):
    """dpk train resolves from the spec's folder; the run folder's copy keeps the paths as
    written plus that folder, and resolving it from the run folder gives the same files."""
    spec_dir, run_dir, elsewhere = tmp_path / "specs", tmp_path / "runs" / "r1", tmp_path / "cwd"
    for folder in (spec_dir, run_dir, elsewhere):
        folder.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("DPK_TEST_ROOT", str(tmp_path))
    data = DataSpec(path="$DPK_TEST_ROOT/labels/l.slp", video="clips/c.mp4")
    at_train = data.resolved(spec_dir)
    assert at_train.path == str(tmp_path / "labels" / "l.slp")
    assert at_train.video == str(spec_dir / "clips" / "c.mp4")  # not the current folder
    stored = DataSpec.model_validate(data.for_run(spec_dir).model_dump())
    assert (stored.path, stored.video) == (data.path, data.video)  # as written
    assert stored.resolved(run_dir) == at_train  # --resume and evaluate: the run folder
    assert stored.resolved(elsewhere) == at_train


def test_training_issues(tmp_path):
    (tmp_path / "labels.h5").write_bytes(b"")
    assert training_issues(DataSpec(path="labels.h5"), tmp_path) == []
    (missing,) = training_issues(None, tmp_path)
    assert missing.location == "data" and "data.path" in missing.message
    (absent,) = training_issues(DataSpec(path="nope.h5", video="labels.h5"), tmp_path)
    assert absent.location == "data.path" and str(tmp_path / "nope.h5") in absent.message
    os.environ.pop("DPK_TEST_UNSET", None)
    (unset,) = training_issues(DataSpec(path="$DPK_TEST_UNSET/x.h5"), tmp_path)
    assert "DPK_TEST_UNSET is not set" in unset.message


def test_spec_check_for_training(run_cli, tmp_path):
    exported = tmp_path / "model.yaml"
    exported.write_text(SPEC)
    code, out, _ = run_cli("spec", "check", exported)
    assert code == 0 and "ok" in out  # an exported model's spec has no data section
    code, _, err = run_cli("spec", "check", "--for", "training", exported)
    assert code == 1
    assert (
        err.strip() == f"{exported}: data: missing: training needs a data section with "
        "data.path (the labels file or folder, relative to the spec file's folder)"
    )
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(SPEC + "data: {path: labels/none.h5}\n")
    code, _, err = run_cli("spec", "check", "--for", "training", wrong)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"{tmp_path / 'labels' / 'none.h5'} does not exist" in err
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "none.h5").write_bytes(b"")
    code, out, _ = run_cli("spec", "check", "--for", "training", wrong)
    assert code == 0 and "ok" in out
