"""Specs and cards that leave the machine carry no path of it (dpk.specs.portable)."""

from __future__ import annotations

import pytest

from dpk.specs import DataSpec, ModelCard, ModelSpec, Preprocessing, Skeleton
from dpk.specs.portable import file_name, portable_card, portable_spec, strip_machine_paths

SPEC = ModelSpec(
    name="m",
    skeleton=Skeleton(names=["/head", "a/b", "c"], parents=[None, "/head", "/head"]),
    preprocessing=Preprocessing(height=32, width=32, channels=1),
)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("/srv/lab/data/clip.slp", "clip.slp"),
        ("trained on /srv/lab/b.h5, then tuned", "trained on b.h5, then tuned"),
        ("see (/srv/x.csv)", "see (x.csv)"),
        ("~/data/x.slp", "x.slp"),
        ("$HOME/data/y.slp", "y.slp"),
        ("${DATA}/z.slp", "z.slp"),
        ("C:\\Users\\me\\x.slp", "x.slp"),
        ("D:/lab/y.slp", "y.slp"),
        ("\\\\server\\share\\z.h5", "z.h5"),
        # kept: URLs, relative paths, fractions, a lone slash
        ("https://github.com/talmolab/sleap", "https://github.com/talmolab/sleap"),
        ("file:///srv/a.onnx", "file:///srv/a.onnx"),
        ("data/x.slp", "data/x.slp"),
        ("../x/y.slp", "../x/y.slp"),
        ("frame_index / 30.0 s", "frame_index / 30.0 s"),
        ("N/A and 1/2", "N/A and 1/2"),
        ("seeded 80%/20% split", "seeded 80%/20% split"),
        ("size 160/2=80 px", "size 160/2=80 px"),
        ("dir=/srv/x/y.slp", "dir=y.slp"),
        ("/", "/"),
    ],
)
def test_absolute_paths_become_file_names(text: str, want: str) -> None:
    assert strip_machine_paths(text) == want


def test_containers_are_walked_and_other_values_kept() -> None:
    value = {"/srv/key": ["/srv/a/b.txt", ("~/c.txt", 3)], "n": 1.5, "none": None}
    assert strip_machine_paths(value) == {
        "/srv/key": ["b.txt", ("c.txt", 3)],
        "n": 1.5,
        "none": None,
    }


def test_file_name() -> None:
    assert file_name("/srv/lab/folder/") == "folder"
    assert file_name("C:\\lab\\x.slp") == "x.slp"
    assert file_name("x.slp") == "x.slp"


def test_portable_spec_keeps_the_data_names_and_the_keypoints() -> None:
    data = DataSpec(path="/srv/lab/project/", video="~/v/clip.mp4", relative_to="/srv/lab")
    spec = SPEC.model_copy(update={"data": data})
    out = portable_spec(spec)
    assert out.data is not None
    assert (out.data.path, out.data.video, out.data.relative_to) == ("project", "clip.mp4", None)
    assert out.skeleton == SPEC.skeleton  # keypoint names with slashes are names, not paths
    assert spec.data is data  # the input is not changed
    relative = portable_spec(SPEC.model_copy(update={"data": DataSpec(path="labels/x.h5")}))
    assert relative.data is not None and relative.data.path == "x.h5"


def test_portable_spec_without_data_is_the_same_spec() -> None:
    assert portable_spec(SPEC) == SPEC


def test_portable_card() -> None:
    card = ModelCard(description="from /srv/lab/x.slp", training={"run": "/srv/runs/r"})
    out = portable_card(card)
    assert out.description == "from x.slp" and out.training == {"run": "r"}
