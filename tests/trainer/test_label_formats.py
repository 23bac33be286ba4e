"""The one registry of training-label formats drives detection and data.format."""

from __future__ import annotations

import pytest

from dpk.specs import DpkError
from dpk.specs.data import LabelFormat
from dpk.trainer.data import detect_format
from dpk.trainer.labels.formats import LABEL_FORMATS, label_format


def test_registry_matches_the_spec_names_and_has_every_function():
    assert set(LabelFormat.__args__) == {"auto", *LABEL_FORMATS}
    for entry in LABEL_FORMATS.values():
        assert callable(entry.function("detect")) and callable(entry.function("load"))


def test_real_files_are_told_by_the_registry(shared_data, tmp_path):
    assert detect_format(shared_data / "sleap-fly-clip" / "clip.slp") == "slp"
    assert detect_format(shared_data / "dpk-fly-example" / "example_annotation_set.h5") == "dpk_h5"
    assert detect_format(shared_data / "lp-mirror-mouse" / "CollectedData.csv") == "dlc"
    other = tmp_path / "notes.json"
    other.write_text("{}")
    with pytest.raises(DpkError, match=r"cannot tell the labels format.*COCO keypoints"):
        detect_format(other)
    with pytest.raises(DpkError, match=r"unknown data\.format 'yolo'"):
        label_format(other, "yolo")
    assert label_format(other, "coco").name == "coco"
