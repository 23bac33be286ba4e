"""ModelSpec: defaults, cross-section checks with field paths, YAML/JSON round trips."""

from __future__ import annotations

import json

import pytest

from dpk.specs import (
    LEAP,
    Augmentation,
    DataSpec,
    DeepLabCut,
    FrameRange,
    ModelSpec,
    Preprocessing,
    Skeleton,
    SpecError,
    StackedDenseNet,
    StackedHourglass,
    Targets,
    Training,
    UNet,
    dump_spec,
    load_spec,
    migrate_spec_data,
    n_output_maps,
    parse_spec,
    resolve_transitions,
    save_spec,
    spec_json_schema,
)
from tests.conftest import ROOT

FLY = Skeleton.from_edges(
    ["head", "thorax", "abdomen", "wingL", "wingR", "eyeL", "eyeR"],
    edges=[
        ("thorax", "head"),
        ("thorax", "abdomen"),
        ("thorax", "wingL"),
        ("thorax", "wingR"),
        ("head", "eyeL"),
        ("head", "eyeR"),
    ],
    symmetries=[("wingL", "wingR"), ("eyeL", "eyeR")],
)


def spec(**kwargs) -> ModelSpec:
    base = dict(skeleton=FLY, preprocessing=Preprocessing(height=160, width=160))
    base.update(kwargs)
    return ModelSpec(**base)


def issues_of(text: str) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="spec.yaml")
    return {issue.location: issue.message for issue in info.value.issues}


def test_defaults_are_the_measured_recipe():
    # docs/benchmarks.md, issue 9: a U-Net at stride 4, keypoint maps only, the squared
    # error per labelled keypoint without extra foreground weight, a cosine schedule
    # without early stopping, light augmentation (no flips, shear, noise, dropout, blur).
    s = spec()
    assert s.architecture == UNet(filters=24, max_filters=96)
    assert s.targets.sigma == 5.0 and s.targets.downsample_factor == 2 and s.targets.stride == 4
    assert not s.targets.graph and s.training.optimizer == "adam" and s.training.loss == "mse"
    t = s.training
    assert t.loss_normalization == "keypoints" and t.foreground_weight == 0
    assert t.schedule.type == "cosine" and not t.early_stopping.enabled
    a = s.augmentation
    assert a.rotation == 180 and a.scale == (0.9, 1.1)
    assert (a.flip_lr, a.shear, a.noise, a.dropout, a.blur) == (0, 0, 0, 0, 0)


def test_the_papers_stacked_densenet_keeps_deepposekit_defaults():
    arch = StackedDenseNet()
    assert (arch.growth_rate, arch.compression_factor, arch.n_stacks) == (48, 0.5, 1)


def test_output_maps_count():
    # 7 keypoints, 1 root with edges, 6 edges, all-edges map, global map
    assert n_output_maps(FLY, graph=True) == 7 + 1 + 6 + 1 + 1
    assert n_output_maps(FLY, graph=False) == 7
    bare = Skeleton.from_names(["a", "b", "c"])
    assert n_output_maps(bare, graph=True) == 3 + 1
    # two limb groups: a tree per root
    two = Skeleton(names=["a", "b", "c", "d"], parents=[None, "a", None, "c"])
    assert n_output_maps(two, graph=True) == 4 + 2 + 2 + 1 + 1


@pytest.mark.parametrize(
    "arch",
    [
        StackedDenseNet(),
        StackedHourglass(),
        DeepLabCut(),
        DeepLabCut(backbone="mobilenetv2", alpha=0.5),
        UNet(filters=16, max_filters=64, n_transitions=3, convs_per_level=1),
    ],
)
def test_architectures_round_trip(arch):
    s = spec(architecture=arch)
    for fmt in ("yaml", "json"):
        text = dump_spec(s, fmt)
        assert parse_spec(text, fmt=fmt) == s


def test_leap_round_trip_and_needs_full_resolution():
    s = spec(architecture=LEAP(), targets=Targets(downsample_factor=0))
    assert parse_spec(dump_spec(s)) == s
    text = dump_spec(spec(architecture=StackedDenseNet())).replace(
        "type: stacked_densenet", "type: leap"
    )
    text = "\n".join(
        line
        for line in text.splitlines()
        if not any(
            k in line
            for k in (
                "n_stacks",
                "n_transitions",
                "growth_rate",
                "bottleneck",
                "compression",
                "layers_per_block",
                "channel_multiple",
                "activation",
            )
        )
    )
    problems = issues_of(text)
    assert "set it to 0" in problems["targets.downsample_factor"]


def test_unknown_fields_are_named_with_their_path():
    text = dump_spec(spec(architecture=StackedDenseNet())).replace(
        "  growth_rate: 48", "  growth_rate: 48\n  growth: 3"
    )
    text = text.replace("  sigma: 5.0", "  sigma: 5.0\n  sigmaa: 2")
    problems = issues_of(text)
    assert "unknown field" in problems["architecture.growth"]
    assert "unknown field" in problems["targets.sigmaa"]


def test_every_error_at_once_with_lines():
    text = dump_spec(spec(architecture=StackedDenseNet()))
    text = text.replace("growth_rate: 48", "growth_rate: 1").replace("epochs: 200", "epochs: 0")
    text = text.replace("channels: 1", "channels: 2")
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="spec.yaml")
    by_location = {i.location: i for i in info.value.issues}
    assert set(by_location) >= {
        "architecture.growth_rate",
        "training.epochs",
        "preprocessing.channels",
    }
    line = by_location["training.epochs"].line
    assert text.splitlines()[line - 1].strip() == "epochs: 0"
    assert "spec.yaml" in str(info.value)


@pytest.mark.parametrize(
    "kwargs,location,fragment",
    [
        (
            dict(targets=Targets(downsample_factor=0)),
            "targets.downsample_factor",
            "needs 1 or more",
        ),
        (
            dict(architecture=StackedDenseNet(n_transitions=9)),
            "architecture.n_transitions",
            "out of range",
        ),
        (
            dict(architecture=StackedDenseNet(n_transitions=2)),
            "architecture.n_transitions",
            "greater than",
        ),
        (
            dict(architecture=StackedHourglass(n_transitions=0)),
            "architecture.n_transitions",
            "out of range",
        ),
        (
            dict(architecture=DeepLabCut(), targets=Targets(downsample_factor=5)),
            "targets.downsample_factor",
            "0..4",
        ),
        (dict(architecture=DeepLabCut(alpha=0.5)), "architecture.alpha", "mobilenetv2 only"),
        (
            dict(architecture=UNet(), targets=Targets(downsample_factor=0)),
            "targets.downsample_factor",
            "needs 1 or more",
        ),
        (
            dict(architecture=UNet(n_transitions=1)),
            "architecture.n_transitions",
            "at least targets.downsample_factor",
        ),
        (
            dict(architecture=UNet(filters=64, max_filters=32)),
            "architecture.max_filters",
            "at least filters",
        ),
        (
            dict(architecture=DeepLabCut(backbone="mobilenetv2", alpha=0.6)),
            "architecture.alpha",
            "one of",
        ),
        (
            dict(preprocessing=Preprocessing(height=16, width=16), architecture=DeepLabCut()),
            "preprocessing",
            "32x32",
        ),
        (
            dict(data=DataSpec(path="x.slp", crop={"anchor": "tail", "size": 64})),
            "data.crop.anchor",
            "not a keypoint",
        ),
        (dict(data=DataSpec(path="x", keypoints=["head"])), "data.keypoints", "same order"),
    ],
)
def test_impossible_combinations(kwargs, location, fragment):
    base = spec().model_dump(mode="json")
    for key, value in kwargs.items():
        base[key] = value.model_dump(mode="json")
    with pytest.raises(SpecError) as info:
        parse_spec(json.dumps(base), fmt="json")
    found = {i.location: i.message for i in info.value.issues}
    assert location in found, info.value
    assert fragment in found[location]


@pytest.mark.parametrize(
    "make,fragment",
    [
        (
            lambda: Preprocessing(height=64, width=64, channels=1, color_order="rgb"),
            "needs channels: 3",
        ),
        (
            lambda: Preprocessing(height=64, width=64, channels=3, color_order="gray"),
            "needs channels: 1",
        ),
        (lambda: Preprocessing(height=64, width=64, normalization="standardize"), "needs mean"),
        (lambda: Preprocessing(height=64, width=64, mean=[0.5]), "only used with"),
        (lambda: Augmentation(scale=(1.2, 0.8)), "above the upper bound"),
        (lambda: Training(weight_decay=0.1), "needs optimizer 'adamw'"),
        (lambda: FrameRange(start=10, stop=5), "greater than start"),
        (
            lambda: DataSpec(
                path="x",
                train_frames={"start": 0, "stop": 100},
                validation_frames={"start": 50, "stop": 150},
            ),
            "overlap",
        ),
    ],
)
def test_section_rules(make, fragment):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=fragment):
        make()


def test_resolve_transitions():
    assert resolve_transitions(-1, 192, 192) == 6
    assert resolve_transitions(-2, 192, 192) == 5
    assert resolve_transitions(3, 406, 396) == 3
    with pytest.raises(ValueError):
        resolve_transitions(0, 192, 192)


def test_file_round_trip(tmp_path):
    s = spec(data=DataSpec(path="labels.slp", crop={"anchor": "thorax", "size": 128}))
    for name in ("s.yaml", "s.json"):
        save_spec(s, tmp_path / name)
        assert load_spec(tmp_path / name) == s
    assert not list(tmp_path.glob(".*tmp"))


def test_file_errors(tmp_path):
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("skeleton: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML") as info:
        load_spec(bad)
    assert "bad.yaml" in str(info.value)
    bad.write_text("- a list\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(bad_json)


def test_missing_required_sections():
    problems = issues_of("spec_version: 1\nname: x\n")
    assert "skeleton" in problems and "preprocessing" in problems
    problems = issues_of(
        "spec_version: 3\nskeleton: {names: [a]}\npreprocessing: {height: 64, width: 64}\n"
    )
    (message,) = problems.values()
    assert "spec_version 3" in message and "(1, 2)" in message


SDN_SPEC = "skeleton: {names: [a]}\npreprocessing: {height: 64, width: 64}\n"


@pytest.mark.parametrize(
    ("header", "architecture", "activation"),
    [
        ("spec_version: 1\n", "{type: stacked_densenet}", "selu"),  # version 1's default
        ("spec_version: 1\n", "{type: stacked_densenet, activation: leaky_relu}", "leaky_relu"),
        ("spec_version: 2\n", "{type: stacked_densenet}", "leaky_relu"),
        ("", "{type: stacked_densenet}", "leaky_relu"),  # no version: the current one
        ("spec_version: 2\n", "{type: stacked_densenet, activation: selu}", "selu"),
    ],
)
def test_version_1_specs_keep_the_paper_activation(header, architecture, activation):
    """Weights trained from a version-1 spec (SELU by default) must load into the same
    network: the migration writes the old default out; version 2's default is leaky ReLU."""
    loaded = parse_spec(f"{header}{SDN_SPEC}architecture: {architecture}\n")
    assert loaded.spec_version == 2
    assert isinstance(loaded.architecture, StackedDenseNet)
    assert loaded.architecture.activation == activation
    assert parse_spec(dump_spec(loaded)) == loaded  # written as version 2, read back the same


def test_migration_leaves_other_architectures_and_the_input_alone():
    data = {"spec_version": 1, "architecture": {"type": "unet"}}
    assert migrate_spec_data(data) == {"spec_version": 2, "architecture": {"type": "unet"}}
    assert data == {"spec_version": 1, "architecture": {"type": "unet"}}  # not changed in place
    assert migrate_spec_data({"spec_version": 2}) == {"spec_version": 2}
    assert migrate_spec_data([1]) == [1]


def test_json_schema_covers_the_union():
    schema = spec_json_schema()
    text = json.dumps(schema)
    for tag in ("stacked_densenet", "stacked_hourglass", "deeplabcut", "leap"):
        assert tag in text
    assert schema["properties"]["skeleton"]
    # field docstrings become descriptions
    assert "Gaussian standard deviation" in text


@pytest.mark.parametrize("name", ["fly13.yaml", "mirror_mouse.yaml"])
def test_example_specs_validate(name):
    s = load_spec(ROOT / "examples" / name)
    assert s.data is not None


def test_duplicate_yaml_key_is_refused_with_both_lines(tmp_path):
    text = (
        "skeleton: {names: [a, b]}\n"  # 1
        "preprocessing: {height: 64, width: 64}\n"  # 2
        "training:\n"  # 3
        "  epochs: 5\n"  # 4
        "  batch_size: 4\n"  # 5
        "  epochs: 50\n"  # 6
    )
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert "'epochs'" in message and "line 4" in message and "line 6" in message
    assert "training.epochs" in message
    # At the top level too, and in flow mappings.
    with pytest.raises(SpecError, match=r"'name'.*line 1.*line 3"):
        parse_spec(
            "name: a\nskeleton: {names: [a]}\nname: b\npreprocessing: {height: 64, width: 64}\n"
        )
    with pytest.raises(SpecError, match=r"skeleton.names.*'names'"):
        parse_spec("skeleton: {names: [a], names: [b]}\npreprocessing: {height: 64, width: 64}\n")
    # The same key in different mappings is fine.
    assert (
        parse_spec(
            "skeleton: {names: [a]}\npreprocessing: {height: 64, width: 64}\n"
            "targets: {sigma: 3}\naugmentation: {enabled: false}\n"
        ).targets.sigma
        == 3
    )
