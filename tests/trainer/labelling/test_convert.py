"""DeepPoseKit HDF5 into a label project and back, pixel- and point-exact."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dpk.trainer.labelling.project import LABELLED, PREDICTED, Project

pytestmark = pytest.mark.realdata
pytest.importorskip("sleap_io")


def test_dpk_h5_round_trip(tmp_path, shared_data, run_cli):
    source = shared_data / "dpk-fly-example" / "example_annotation_set.h5"
    csv = shared_data / "dpk-fly-example" / "skeleton.csv"
    project = tmp_path / "fly.slp"
    code, _out, err = run_cli("project", "import", source, "-o", project, "--skeleton", csv)
    assert code == 2 and "asymmetric swap" in err and not project.exists()
    args = ("-o", project, "--skeleton", csv, "--repair-swaps", "-q")
    with pytest.warns(UserWarning, match="repaired asymmetric swaps"):
        code, out, err = run_cli("project", "import", source, *args)
    assert code == 0, err
    assert "100 frames" in out and (tmp_path / "fly.frames.avi").is_file()
    loaded = Project.load(project)
    # annotated is all False in this file: model-placed points, unreviewed
    assert all((f.state == PREDICTED).all() and not f.done for f in loaded.frames.values())
    first = next(iter(loaded.frames.values()))
    first.state[:3] = LABELLED
    loaded.save()
    code, _out, err = run_cli("project", "export", project, "-o", tmp_path / "out.h5", "-q")
    assert code == 0, err
    with h5py.File(source) as a, h5py.File(tmp_path / "out.h5") as b:
        np.testing.assert_array_equal(a["images"][:], b["images"][:])
        np.testing.assert_allclose(a["annotations"][:], b["annotations"][:], atol=1e-4)
        annotated = b["annotated"][:]
        assert annotated[0, :3].all() and annotated.sum() == 3
    code, _out, err = run_cli("project", "import", source, *args)
    assert code == 2 and "exists" in err


def test_project_show_names_a_missing_video(tmp_path, shared_data, run_cli):
    source = shared_data / "dpk-fly-example" / "example_annotation_set.h5"
    project = tmp_path / "fly.slp"
    csv = shared_data / "dpk-fly-example" / "skeleton.csv"
    with pytest.warns(UserWarning):
        code, _out, err = run_cli(
            "project", "import", source, "-o", project, "--skeleton", csv, "--repair-swaps", "-q"
        )
    assert code == 0, err
    (tmp_path / "fly.frames.avi").unlink()
    code, out, _err = run_cli("project", "show", project)
    assert code == 0 and "NOT FOUND: --relink" in out and "100 predicted" in out
