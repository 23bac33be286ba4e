"""When the exported model averages over quarter turns (``augmentation.test_time``)."""

from __future__ import annotations

import json

import pytest

from dpk.specs import (
    Augmentation,
    ModelSpec,
    Preprocessing,
    Skeleton,
    SpecError,
    Targets,
    parse_spec,
)

SKELETON = Skeleton(names=["a", "b"], parents=[None, "a"])


def spec(height=160, width=160, downsample=2, **augmentation) -> ModelSpec:
    return ModelSpec(
        skeleton=SKELETON,
        preprocessing=Preprocessing(height=height, width=width),
        targets=Targets(downsample_factor=downsample),
        augmentation=Augmentation(**augmentation),
    )


def test_auto_turns_where_training_rotates_all_the_way_round():
    assert spec().augmentation.test_time == "auto"
    assert spec().quarter_turns_at_test_time  # square, 160 = 40 x stride 4, rotation 180


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rotation=15.0),  # the mouse: quarter turns were never seen in training
        dict(affine=0.0),  # no rotation at all
        dict(enabled=False),
        dict(height=256, width=250),  # not square
        dict(height=162, width=162),  # the map grid would not turn onto itself
        dict(test_time="off"),
    ],
)
def test_auto_stays_off_otherwise(kwargs):
    assert not spec(**kwargs).quarter_turns_at_test_time


def test_explicit_quarter_turns():
    assert spec(rotation=15.0, test_time="quarter_turns").quarter_turns_at_test_time


def test_explicit_quarter_turns_need_a_square_grid():
    data = spec(height=256, width=250).model_dump(mode="json")
    data["augmentation"]["test_time"] = "quarter_turns"
    with pytest.raises(SpecError) as info:
        parse_spec(json.dumps(data), fmt="json")
    found = {i.location: i.message for i in info.value.issues}
    assert "256x250" in found["augmentation.test_time"]
