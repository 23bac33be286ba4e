"""``dpk train`` checks the data section before any work; run folders resolve data paths
as the training did."""

from __future__ import annotations

import sys

from dpk.specs import load_spec
from dpk.trainer.data import load_training_data
from tests.trainer.test_data_loading import make_spec, write_dlc

SPEC = "skeleton: {names: [a]}\npreprocessing: {height: 64, width: 64}\n"


def test_dpk_train_refuses_a_spec_without_data_before_any_work(run_cli, tmp_path, monkeypatch):

    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "model.yaml"
    spec.write_text(SPEC)
    had_tf = "tensorflow" in sys.modules
    code, _, err = run_cli("train", spec)
    assert code == 2
    assert err.startswith(f"dpk train: error: {spec}: data: missing") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()
    if not had_tf:
        assert "tensorflow" not in sys.modules


def test_a_run_folder_loads_the_labels_the_training_loaded(tmp_path, monkeypatch):
    """dpk train (spec folder), --resume and evaluate (run folder) read the same frames,
    whatever the current folder."""
    from dpk.specs import save_spec
    from dpk.trainer.cli import _with_base

    spec_dir = tmp_path / "project"
    write_dlc(spec_dir / "proj")
    spec_file = spec_dir / "spec.yaml"
    save_spec(make_spec(["nose"], 48, 64, {"path": "proj/CollectedData_me.csv"}), spec_file)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_spec(spec_file)
    train, validation = load_training_data(spec, spec_file.parent)
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    save_spec(_with_base(spec, spec_file), run / "spec.yaml")
    stored = load_spec(run / "spec.yaml")
    assert stored.data.relative_to == str(spec_dir)
    again, held_out = load_training_data(stored, run)
    assert again.sources == train.sources and held_out.sources == validation.sources


def test_train_stores_data_paths_as_written(tmp_path, monkeypatch):
    """The run folder's spec keeps ``data.path`` as the user wrote it ($VARS included) plus
    the folder it is relative to; nothing is made absolute from the current folder."""
    import dpk.trainer.training.run as run_module
    from dpk.specs import save_spec

    spec_dir = tmp_path / "project"
    write_dlc(spec_dir / "proj")
    monkeypatch.setenv("DPK_TEST_LABELS", "proj")
    spec_file = spec_dir / "spec.yaml"
    written = "$DPK_TEST_LABELS/CollectedData_me.csv"
    save_spec(make_spec(["nose"], 48, 64, {"path": written}), spec_file)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_module, "train_arrays", lambda *args, **kwargs: None)
    run = tmp_path / "runs" / "r"
    run_module.train(spec_file, run_dir=run)
    stored = load_spec(run / "spec.yaml")
    assert stored.data.path == written
    assert stored.data.relative_to == str(spec_dir)
    again, _ = load_training_data(stored, run)
    assert len(again.images) > 0
