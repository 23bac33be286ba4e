"""The starter spec's settings that follow from the labels (issue 9: rules that derive from
the data, not per-dataset tuning), on the real datasets and on made-up keypoints."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from dpk.specs.io import load_spec
from dpk.trainer.labelling.starter import (
    MIN_SPACING,
    keypoint_spacing,
    sigma_for_spacing,
    starter_spec_from_labels,
)
from tests.conftest import ROOT

NAN = math.nan


def test_spacing_is_the_median_nearest_neighbour_distance():
    frames = np.array(
        [
            [[0, 0], [3, 4], [100, 0]],  # nearest: 5, 5, 97
            [[0, 0], [0, 6], [NAN, NAN]],  # 6, 6; the missing keypoint has no distance
        ],
        float,
    )
    assert keypoint_spacing(frames) == pytest.approx(6.0)  # median of 5, 5, 97, 6, 6
    # two names on one spot, a frame with one labelled keypoint: no evidence of size
    assert keypoint_spacing(np.array([[[1, 1], [1, 1], [NAN, NAN]]], float)) is None
    assert keypoint_spacing(np.zeros((4, 1, 2))) is None


def test_sigma_rule_gives_the_example_specs_values_and_stays_in_range():
    # the fly crops' spacing (14.1 input px) and the mirror mouse's (32.2) give the
    # example specs' sigmas
    assert sigma_for_spacing(14.1) == 4.0
    assert sigma_for_spacing(32.2) == 5.0
    assert sigma_for_spacing(3.0) == 2.0 and sigma_for_spacing(None) == 5.0
    assert sigma_for_spacing(10.0) == 3.0  # 2.86 to the nearest half pixel


def test_deeplabcut_table_gives_the_mirror_mouse_recipe(tmp_path, shared_data, run_cli):
    table = shared_data / "lp-mirror-mouse" / "CollectedData.csv"
    out = tmp_path / "specs" / "mouse.yaml"
    out.parent.mkdir()
    code, stdout, err = run_cli("project", "spec", table, "-o", out, "--minutes", "10")
    assert code == 0, err
    assert "warning" not in err and f"next: dpk train {out}" in stdout
    spec = load_spec(out)
    example = load_spec(ROOT / "examples" / "mirror_mouse.yaml")
    assert spec.name == "lp-mirror-mouse"  # the project's folder, not "CollectedData"
    assert (out.parent / spec.data.path).resolve() == table.resolve()
    assert spec.preprocessing == example.preprocessing  # 406x396 grey fitted to 256x250
    assert spec.targets == example.targets  # sigma 5 from a 32 px keypoint spacing
    assert spec.skeleton.names == example.skeleton.names
    assert spec.training.max_minutes == 10
    code, _, err = run_cli("spec", "check", out, "--for", "training")
    assert code == 0, err


def test_small_animals_get_a_warning_with_the_scale_that_would_do(tmp_path, shared_data, run_cli):
    # two 60 px flies in 1024x1024 frames: at 256x256 their keypoints are 3.6 px apart
    out = tmp_path / "fly.yaml"
    code, _, err = run_cli(
        "project", "spec", shared_data / "sleap-fly-clip" / "clip.slp", "-o", out
    )
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dpk project: warning: ")
    assert "3.6 px apart at the 256x256 input" in lines[0] and "--scale 0.5 " in lines[0]
    assert "examples/fly_anchor.yaml" in lines[0]
    assert load_spec(out).targets.sigma == 2.0
    # the scale it proposes clears the warning
    code, _, err = run_cli(
        "project", "spec", shared_data / "sleap-fly-clip" / "clip.slp", "-o", out, "--scale", "0.5"
    )
    assert code == 0 and "warning" not in err, err
    assert load_spec(out).preprocessing.height == 512


def test_starter_from_labels_refuses_labels_without_points(tmp_path):
    from dpk.specs.skeleton import Skeleton
    from dpk.trainer.labelling.project import ProjectError
    from dpk.trainer.labels import Labels

    labels = Labels(
        images=np.zeros((2, 32, 32, 1), np.uint8),
        keypoints=np.full((2, 2, 2), np.nan, np.float32),
        skeleton=Skeleton(names=["a", "b"]),
        sources=["x", "y"],
    )
    with pytest.raises(ProjectError, match="no labelled keypoints"):
        starter_spec_from_labels(labels, tmp_path / "CollectedData.csv", tmp_path / "s.yaml")
    labels.keypoints[0] = [[2, 2], [10, 10]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 11.3 px apart at full size: no warning
        spec = starter_spec_from_labels(labels, tmp_path / "CollectedData.csv", tmp_path / "s.yaml")
    assert spec.targets.sigma == 3.0 and MIN_SPACING < 11.3
    with pytest.raises(ProjectError, match="--scale -1"):
        starter_spec_from_labels(labels, tmp_path / "c.csv", tmp_path / "s.yaml", scale=-1)


def test_bad_sources_are_one_line_errors(tmp_path, run_cli):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\n")
    code, _, err = run_cli("project", "spec", tmp_path / "missing.csv", "-o", tmp_path / "o.yaml")
    assert code == 2 and "missing.csv: not found" in err
    code, _, err = run_cli("project", "spec", spec, "-o", tmp_path / "o.yaml")
    assert code == 2 and "not a label project (.slp) or DeepLabCut labels" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o.yaml").exists()
