"""Model cards and zoo entries."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dpk.specs import ModelCard, Preprocessing, SpeedMeasurement, ZooEntry

SHA = "ab" * 32


def entry(**kwargs):
    base = dict(
        name="stacked_densenet.mirror_mouse",
        file="mirror_mouse.onnx",
        size=1234,
        sha256=SHA,
        urls=["https://example.org/m.onnx"],
        license="MIT",
        training_data="lightning-pose mirror-mouse",
        data_license="MIT",
        input=Preprocessing(height=406, width=396),
        keypoints=["nose"],
    )
    base.update(kwargs)
    return ZooEntry(**base)


def test_entry_valid_and_tagged():
    e = entry(name="leap.fly13:v2", sha256=SHA.upper())
    assert e.sha256 == SHA and e.base_name == "leap.fly13"
    assert ZooEntry.model_validate(e.model_dump(mode="json")) == e


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        (dict(sha256="abc"), "64 hexadecimal"),
        (dict(sha256=None), "64 hexadecimal"),
        (dict(name="MirrorMouse"), "pattern"),
        (dict(urls=["ftp://x/y"]), "http"),
        (dict(urls=[]), "at least one URL"),
        (dict(file="sub/model.onnx"), "plain file name"),
        (dict(size=0), "greater than 0"),
        (dict(keypoints=[]), "at least 1"),
    ],
)
def test_entry_rules(kwargs, fragment):
    with pytest.raises(ValidationError, match=fragment):
        entry(**kwargs)


def test_entry_requires_sha():
    data = entry().model_dump()
    del data["sha256"]
    with pytest.raises(ValidationError, match="sha256"):
        ZooEntry.model_validate(data)


def test_packaged_entry_needs_no_url():
    assert entry(urls=[], packaged=True).packaged


def test_card():
    card = ModelCard(
        metrics={"error_median_px": 1.1},
        speed=[SpeedMeasurement(provider="CPUExecutionProvider", batch_size=1, fps=120.0)],
    )
    assert ModelCard.model_validate_json(card.model_dump_json()) == card
    with pytest.raises(ValidationError):
        SpeedMeasurement(provider="x", batch_size=0, fps=1)


def test_metrics_are_documented_in_the_labelled_frames_pixels():
    from dpk.specs import ModelCard, ZooEntry

    for model in (ZooEntry, ModelCard):
        text = " ".join((model.model_fields["metrics"].description or "").split())
        assert "labelled frames' pixels" in text, model.__name__
        assert "input's resolution" not in text, model.__name__
