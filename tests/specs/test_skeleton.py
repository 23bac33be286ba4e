"""Skeleton construction and every validation rule, with messages that name the row."""

from __future__ import annotations

import warnings

import pytest

from dpk.specs import Skeleton, SpecError

CSV_OK = """name,parent,swap
head,,
eyeL,head,eyeR
eyeR,head,eyeL
thorax,head,
"""


def test_csv_round_trip(tmp_path):
    skeleton = Skeleton.from_csv_text(CSV_OK)
    assert skeleton.names == ["head", "eyeL", "eyeR", "thorax"]
    assert skeleton.parent_indices == [-1, 0, 0, 0]
    assert skeleton.swap_indices == [-1, 2, 1, -1]
    assert skeleton.flip_permutation == [0, 2, 1, 3]
    assert skeleton.edges == [(1, 0), (2, 0), (3, 0)]
    path = tmp_path / "s.csv"
    skeleton.to_csv(path)
    assert Skeleton.from_csv(path) == skeleton


@pytest.mark.realdata
@pytest.mark.parametrize("name,count", [("locust", 35), ("zebra", 9)])
def test_shipped_skeletons_load(shared_data, name, count):
    skeleton = Skeleton.from_csv(shared_data / "dpk-skeletons" / f"{name}.csv")
    assert skeleton.n_keypoints == count
    # every swap is mutual
    perm = skeleton.flip_permutation
    assert [perm[p] for p in perm] == list(range(count))


@pytest.mark.realdata
def test_fly_csv_reports_exactly_the_asymmetric_swap(shared_data):
    path = shared_data / "dpk-skeletons" / "fly.csv"
    with pytest.raises(SpecError) as info:
        Skeleton.from_csv(path)
    error = info.value
    assert len(error.issues) == 1, error
    issue = error.issues[0]
    assert issue.location == "line 14 (midlegR3)"
    assert "'midlegL2'" in issue.message and "'midlegL3'" in issue.message
    assert str(path) in str(error)


@pytest.mark.realdata
def test_fly_csv_repair_and_accept(shared_data):
    path = shared_data / "dpk-skeletons" / "fly.csv"
    with pytest.warns(UserWarning, match="midlegR3: midlegL2 -> midlegL3"):
        repaired = Skeleton.from_csv(path, on_asymmetric_swap="repair")
    i = repaired.index("midlegR3")
    assert repaired.swaps[i] == "midlegL3"
    perm = repaired.flip_permutation
    assert [perm[p] for p in perm] == list(range(repaired.n_keypoints))
    with pytest.warns(UserWarning, match="asymmetric"):
        accepted = Skeleton.from_csv(path, on_asymmetric_swap="accept")
    assert accepted.allow_asymmetric_swaps
    assert accepted.swaps[i] == "midlegL2"
    # the accepted skeleton survives a round trip through the model
    assert Skeleton.model_validate(accepted.model_dump()) == accepted


@pytest.mark.parametrize(
    "text,location,fragment",
    [
        ("name,parent,swap\na,,\na,,\n", "line 3 (a)", "duplicate keypoint name 'a'"),
        ("name,parent,swap\na,,\nb,zz,\n", "line 3 (b)", "unknown parent 'zz'"),
        ("name,parent,swap\na,,\nb,,yy\n", "line 3 (b)", "unknown swap partner 'yy'"),
        ("name,parent,swap\na,b,\nb,a,\n", "line 2 (a)", "cycle: a -> b -> a"),
        ("name,parent,swap\na,a,\n", "line 2 (a)", "its own parent"),
        ("name,parent,swap\na,,b\nb,,\n", "line 2 (a)", "'b' names none"),
        ("name,parent,swap\na,,a\n", "line 2 (a)", "names itself"),
        ("name,parent,swap\na,,\n,a,\n", "line 3 ()", "empty keypoint name"),
        ("name,parent,swap\na,,,extra\n", "line 2", "4 cells but the header has 3"),
    ],
)
def test_csv_validation_names_the_line(text, location, fragment):
    with pytest.raises(SpecError) as info:
        Skeleton.from_csv_text(text, source="s.csv")
    locations = [issue.location for issue in info.value.issues]
    assert location in locations, info.value
    assert fragment in str(info.value)
    assert str(info.value).startswith("s.csv")


def test_all_problems_reported_at_once():
    text = "name,parent,swap\na,,\na,,\nb,nope,\nc,,zz\n"
    with pytest.raises(SpecError) as info:
        Skeleton.from_csv_text(text)
    assert len(info.value.issues) == 3


def test_bad_header_and_empty_file():
    with pytest.raises(SpecError, match="no 'name' column"):
        Skeleton.from_csv_text("a,b,c\n1,2,3\n")
    with pytest.raises(SpecError, match="empty"):
        Skeleton.from_csv_text("")


def test_missing_file_names_it(tmp_path):
    with pytest.raises(SpecError, match=r"nothing\.csv"):
        Skeleton.from_csv(tmp_path / "nothing.csv")


def test_from_edges_sleap_style():
    skeleton = Skeleton.from_edges(
        ["head", "thorax", "wingL", "wingR"],
        edges=[("thorax", "head"), ("thorax", "wingL"), ("thorax", "wingR")],
        symmetries=[("wingL", "wingR")],
    )
    assert skeleton.parents == ["thorax", None, "thorax", "thorax"]
    assert skeleton.flip_permutation == [0, 1, 3, 2]
    assert skeleton.roots == [1]


def test_from_edges_errors():
    with pytest.raises(SpecError) as info:
        Skeleton.from_edges(
            ["a", "b", "c"], edges=[("a", "c"), ("b", "c"), ("a", "x")], symmetries=[("a", "q")]
        )
    text = str(info.value)
    assert "edges[1]" in text and "only one parent" in text
    assert "edges[2]" in text and "unknown keypoint 'x'" in text
    assert "symmetries[0]" in text


def test_direct_construction_is_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="duplicate keypoint name"):
        Skeleton(names=["a", "a"])
    with pytest.raises(ValidationError, match="same length"):
        Skeleton(names=["a", "b"], parents=[None])


def test_index_unknown_name_lists_known():
    skeleton = Skeleton.from_names(["a", "b"])
    assert skeleton.index("b") == 1
    with pytest.raises(SpecError, match="known: a, b"):
        skeleton.index("c")


def test_no_warning_for_valid_skeleton():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Skeleton.from_csv_text(CSV_OK, on_asymmetric_swap="repair")
