"""Multi-animal DeepLabCut labels: synthetic projects and tables in DeepLabCut's own CSV and
HDF5 layouts, read into SLEAP-style instances; unique body parts and bad input."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from dpk.specs import DpkError
from dpk.trainer.labels.formats.dlc import (
    is_multi_animal_dlc,
    load_dlc,
    load_dlc_instances,
    read_dlc_table,
)
from dpk.trainer.labels.formats.sleap import SleapLabels

pytest.importorskip("tables")  # DeepLabCut's .h5 tables are written here with pandas + PyTables

BODYPARTS = ["snout", "thorax", "tail"]
INDIVIDUALS = ["mouse1", "mouse2"]
UNIQUE = ["feeder"]
LEVELS = ["scorer", "individuals", "bodyparts", "coords"]
HEIGHT, WIDTH = 64, 64
SCORER = "me"


# ------------------------------------------------------------------------ helpers
def columns(individuals=INDIVIDUALS, bodyparts=BODYPARTS, unique=UNIQUE, scorer=SCORER):
    """DeepLabCut's column MultiIndex: every individual's body parts, then ``single``'s."""
    tuples = [(scorer, i, b, c) for i in individuals for b in bodyparts for c in ("x", "y")]
    tuples += [(scorer, "single", u, c) for u in unique for c in ("x", "y")]
    return pd.MultiIndex.from_tuples(tuples, names=LEVELS)


def animal_points(n_images: int, seed: int = 0) -> np.ndarray:
    """float (n, A, K, 2): mouse1 on the left half, mouse2 on the right, in the image."""
    rng = np.random.default_rng(seed)
    points = np.empty((n_images, len(INDIVIDUALS), len(BODYPARTS), 2))
    for a in range(len(INDIVIDUALS)):
        low = [6 + 30 * a, 6]
        points[:, a] = rng.uniform(low, [low[0] + 22, HEIGHT - 6], (n_images, len(BODYPARTS), 2))
    return np.round(points, 2)  # exact in a CSV written with repr


def frame_of(points: np.ndarray, unique: np.ndarray | None = None) -> np.ndarray:
    """One table row: the animals' x, y in column order, then the unique parts'."""
    row = list(points.reshape(-1))
    if unique is not None:
        row += list(np.asarray(unique).reshape(-1))
    return np.asarray(row, dtype=float)


def table_frame(entries, points, unique=None, multiindex=True, cols=None) -> pd.DataFrame:
    """A labels table as DeepLabCut keeps it: rows indexed by (labeled-data, video, image)
    tuples (DeepLabCut >= 2.3) or by "labeled-data/video/image" strings (older)."""
    unique = np.full((len(entries), len(UNIQUE), 2), np.nan) if unique is None else unique
    data = np.stack([frame_of(p, u) for p, u in zip(points, unique, strict=True)])
    index = (
        pd.MultiIndex.from_tuples([tuple(e.split("/")) for e in entries])
        if multiindex
        else pd.Index(entries)
    )
    return pd.DataFrame(data, index=index, columns=cols if cols is not None else columns())


def write_table(frame: pd.DataFrame, path, fmt: str = "csv") -> None:
    """Written as DeepLabCut writes CollectedData: ``to_csv`` / ``to_hdf`` (fixed layout,
    key ``df_with_missing``); ``h5-table``: pandas' table layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(path)
    elif fmt == "h5":
        frame.to_hdf(path, key="df_with_missing", mode="w")
    else:
        frame.to_hdf(path, key="df_with_missing", mode="w", format="table")


def write_image(path, seed: int = 0) -> np.ndarray:
    """A random gray PNG; returns its pixels (H, W, 1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, (HEIGHT, WIDTH), dtype=np.uint8)
    cv2.imwrite(str(path), image)
    return image[..., None]


def make_project(
    root,
    *,
    videos=("vidA", "vidB"),
    n_images=3,
    fmt="csv",
    unique=UNIQUE,
    seed=0,
):
    """A multi-animal DeepLabCut project; returns {(video, frame number): (A, K, 2)}."""
    config = {
        "Task": "mice",
        "scorer": SCORER,
        "multianimalproject": True,
        "identity": False,
        "individuals": INDIVIDUALS,
        "multianimalbodyparts": BODYPARTS,
        "uniquebodyparts": list(unique),
        "bodyparts": "MULTI!",
        # a pair with a unique body part: not an edge of the animals' skeleton
        "skeleton": [["snout", "thorax"], ["thorax", "tail"]] + [["snout", u] for u in unique],
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    truth = {}
    for v, video in enumerate(videos):
        numbers = [5 * i + 2 for i in range(n_images)]
        entries = [f"labeled-data/{video}/img{n:03d}.png" for n in numbers]
        points = animal_points(n_images, seed + v)
        for entry, number in zip(entries, numbers, strict=True):
            write_image(root / entry, seed=number)
        frame = table_frame(entries, points, cols=columns(unique=unique))
        suffix = "csv" if fmt == "csv" else "h5"
        write_table(frame, root / "labeled-data" / video / f"CollectedData_{SCORER}.{suffix}", fmt)
        truth.update({(video, n): p for n, p in zip(numbers, points, strict=True)})
    return truth


def quiet_instances(path, **kwargs) -> list[SleapLabels]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_dlc_instances(path, **kwargs)


# ------------------------------------------------------------------------ tables
@pytest.mark.parametrize(
    ("fmt", "multiindex"),
    # pandas' table layout cannot store a row MultiIndex under column levels
    [("csv", True), ("csv", False), ("h5", True), ("h5", False), ("h5-table", False)],
)
def test_tables_keep_every_individual_and_the_unique_parts(tmp_path, fmt, multiindex):
    entries = ["labeled-data/v/img001.png", "labeled-data/v/img007.png"]
    points = animal_points(2)
    points[1, 1, 2] = np.nan
    unique = np.array([[[3.5, 4.25]], [[np.nan, np.nan]]])
    path = tmp_path / ("t.csv" if fmt == "csv" else "t.h5")
    write_table(table_frame(entries, points, unique, multiindex), path, fmt)
    table = read_dlc_table(path, multi_animal=True)
    assert table.is_multi_animal and table.index == entries and table.scorer == SCORER
    assert table.individuals == ["mouse1"] * 3 + ["mouse2"] * 3 + ["single"]
    assert table.bodyparts == BODYPARTS * 2 + UNIQUE
    expected = np.concatenate([points.reshape(2, 6, 2), unique], axis=1)
    np.testing.assert_array_equal(table.values, expected)


def test_the_csv_layout_deeplabcut_writes(tmp_path):
    """Four header rows, the level name in the first cell, three index columns (2.3+)."""
    path = tmp_path / "CollectedData_me.csv"
    path.write_text(
        "scorer,,,me,me,me,me,me,me\n"
        "individuals,,,m1,m1,m2,m2,single,single\n"
        "bodyparts,,,snout,snout,snout,snout,feeder,feeder\n"
        "coords,,,x,y,x,y,x,y\n"
        "labeled-data,vid,img000.png,1.5,2.0,,,10.0,11.0\n"
    )
    table = read_dlc_table(path, multi_animal=True)
    assert table.index == ["labeled-data/vid/img000.png"]
    assert table.individuals == ["m1", "m2", "single"] and table.bodyparts == ["snout"] * 2 + [
        "feeder"
    ]
    np.testing.assert_array_equal(table.values[0], [[1.5, 2.0], [np.nan, np.nan], [10.0, 11.0]])
    assert is_multi_animal_dlc(path)


def test_h5_tables_read_as_pandas_reads_them(tmp_path):
    entries = [f"labeled-data/v/img{i:03d}.png" for i in range(4)]
    frame = table_frame(entries, animal_points(4, seed=3))
    write_table(frame, tmp_path / "t.h5", "h5")
    again = pd.read_hdf(tmp_path / "t.h5", key="df_with_missing")
    assert list(again.columns.names) == LEVELS and again.index.nlevels == 3
    table = read_dlc_table(tmp_path / "t.h5", multi_animal=True)
    np.testing.assert_array_equal(table.values.reshape(4, -1), again.to_numpy())
    assert table.index == ["/".join(k) for k in again.index]


def test_single_animal_readers_refuse_multi_animal_tables(tmp_path):
    make_project(tmp_path / "proj")
    table = tmp_path / "proj" / "labeled-data" / "vidA" / "CollectedData_me.csv"
    for target in (table, tmp_path / "proj"):
        with pytest.raises(DpkError) as error:
            load_dlc(target)
        text = str(error.value)
        assert "\n" not in text and "data.crop" in text and "targets.anchor" in text
    with pytest.raises(DpkError, match="multi-animal DeepLabCut table"):
        read_dlc_table(table)


# ------------------------------------------------------------------------ projects
@pytest.mark.parametrize("fmt", ["csv", "h5"])
def test_a_project_reads_into_instances_per_video(tmp_path, fmt):
    truth = make_project(tmp_path / "proj", fmt=fmt)
    with pytest.warns(UserWarning, match="unique body part"):
        videos = load_dlc_instances(tmp_path / "proj")
    assert [v.video_path.name for v in videos] == ["vidA", "vidB"]
    for v in videos:
        assert isinstance(v, SleapLabels) and v.skeleton.names == BODYPARTS
        assert v.frame_indices.tolist() == [2, 7, 12] and v.track_names == INDIVIDUALS
        assert v.max_instances == 2
        for f in v.frame_indices:
            np.testing.assert_array_equal(
                v.instances[int(f)], truth[(v.video_path.name, int(f))].astype(np.float32)
            )
            assert v.tracks[int(f)] == INDIVIDUALS
            assert v.source(int(f)).endswith(f"{v.video_path.name}/img{int(f):03d}.png")
    frames = dict(videos[0].iter_frames([7]))
    expected = cv2.imread(str(tmp_path / "proj/labeled-data/vidA/img007.png"), 0)
    np.testing.assert_array_equal(frames[7][..., 0], expected)
    assert videos[0].skeleton.parents == [None, "snout", "thorax"]
    assert is_multi_animal_dlc(tmp_path / "proj") and is_multi_animal_dlc(
        tmp_path / "proj" / "config.yaml"
    )


def test_a_lone_table_finds_its_images_from_the_project_folder(tmp_path):
    truth = make_project(tmp_path / "proj", videos=("vidA",), fmt="h5")
    table = tmp_path / "proj" / "labeled-data" / "vidA" / "CollectedData_me.h5"
    assert is_multi_animal_dlc(table)
    (video,) = quiet_instances(table)
    assert video.path == table and video.frame_indices.tolist() == [2, 7, 12]
    np.testing.assert_array_equal(video.instances[12], truth[("vidA", 12)].astype(np.float32))


def test_missing_individuals_and_unlabelled_images(tmp_path):
    """An individual with nothing labelled in an image is no instance there; an image with
    no labelled animal is left out; an individual never labelled gives a warning."""
    entries = [f"labeled-data/v/img{i:03d}.png" for i in range(4)]
    for entry in entries:
        write_image(tmp_path / entry)
    points = animal_points(4)
    points[0, 0] = np.nan  # mouse1 absent from image 0
    points[1, 1, :2] = np.nan  # mouse2 partly labelled in image 1
    points[2] = np.nan  # nobody in image 2
    cols = columns(individuals=[*INDIVIDUALS, "mouse3"], unique=[])
    rows = np.concatenate([points, np.full((4, 1, 3, 2), np.nan)], axis=1)
    frame = pd.DataFrame(
        rows.reshape(4, -1), index=pd.MultiIndex.from_tuples([tuple(e.split("/")) for e in entries])
    )
    frame.columns = cols
    write_table(frame, tmp_path / "CollectedData_me.csv")
    with pytest.warns(UserWarning, match="individual\\(s\\) mouse3 have no labelled keypoint"):
        (video,) = load_dlc_instances(tmp_path / "CollectedData_me.csv")
    assert video.frame_indices.tolist() == [0, 1, 3]
    assert video.tracks == {0: ["mouse2"], 1: ["mouse1", "mouse2"], 3: INDIVIDUALS}
    np.testing.assert_array_equal(video.instances[0], points[0, 1:].astype(np.float32))
    assert np.isnan(video.instances[1][1, :2]).all() and np.isfinite(video.instances[1][1, 2]).all()
    assert video.track_names == [*INDIVIDUALS, "mouse3"]


def test_frame_numbers_fall_back_to_positions(tmp_path):
    entries = ["labeled-data/v/a.png", "labeled-data/v/b.png"]
    for entry in entries:
        write_image(tmp_path / entry)
    write_table(table_frame(entries, animal_points(2)), tmp_path / "t.csv")
    (video,) = quiet_instances(tmp_path / "t.csv")
    assert video.frame_indices.tolist() == [0, 1] and video.source(1).endswith("b.png")


# ------------------------------------------------------------------------ bad input
def one_line_error(path, **kwargs) -> str:
    with pytest.raises(DpkError) as error, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        load_dlc_instances(path, **kwargs)
    text = str(error.value)
    assert "\n" not in text
    return text


def test_unique_body_parts_cannot_be_trained_per_animal(tmp_path):
    make_project(tmp_path / "proj")
    text = one_line_error(tmp_path / "proj", keypoints=["thorax", "feeder"])
    assert str(tmp_path / "proj" / "config.yaml") in text
    assert "'feeder' are unique body parts" in text and "remove them from the spec" in text


def test_body_parts_that_differ_per_individual(tmp_path):
    tuples = [(SCORER, "m1", b, c) for b in BODYPARTS for c in "xy"]
    tuples += [(SCORER, "m2", b, c) for b in BODYPARTS[:2] for c in "xy"]
    cols = pd.MultiIndex.from_tuples(tuples, names=LEVELS)
    write_image(tmp_path / "img0.png")
    frame = pd.DataFrame(np.ones((1, 10)) * 5, index=["img0.png"], columns=cols)
    write_table(frame, tmp_path / "t.csv")
    text = one_line_error(tmp_path / "t.csv")
    assert str(tmp_path / "t.csv") in text and "individuals have different body parts" in text
    assert "m2: snout, thorax" in text and "add the missing columns" in text


def test_body_parts_the_config_lacks(tmp_path):
    make_project(tmp_path / "proj", videos=("vidA",))
    config = tmp_path / "proj" / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["multianimalbodyparts"], cfg["skeleton"] = ["snout", "thorax"], []
    config.write_text(yaml.safe_dump(cfg))
    text = one_line_error(tmp_path / "proj")
    assert "CollectedData_me.csv" in text and "'tail'" in text and "multianimalbodyparts" in text


def test_missing_images_are_named(tmp_path):
    make_project(tmp_path / "proj", videos=("vidA",))
    (tmp_path / "proj" / "labeled-data" / "vidA" / "img007.png").unlink()
    text = one_line_error(tmp_path / "proj")
    assert "1 of 3 labelled image file(s) not found: labeled-data/vidA/img007.png" in text


def test_single_animal_tables_and_projects_are_not_instances(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("scorer,me,me\nbodyparts,snout,snout\ncoords,x,y\nimg.png,1,2\n")
    assert not is_multi_animal_dlc(path)
    assert "a single-animal table" in one_line_error(path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"bodyparts": ["snout"]}))
    assert not is_multi_animal_dlc(tmp_path)
    assert "load_dlc" in one_line_error(tmp_path)
    make_project(tmp_path / "proj", videos=("vidA",))
    single = tmp_path / "proj" / "labeled-data" / "vidA" / "CollectedData_me.csv"
    single.write_text("scorer,me,me\nbodyparts,snout,snout\ncoords,x,y\nimg002.png,1,2\n")
    assert "convert2_maDLC" in one_line_error(tmp_path / "proj")


def test_only_unique_parts_or_nothing_labelled(tmp_path):
    make_project(tmp_path / "proj", videos=("vidA",), n_images=1)
    table = tmp_path / "proj" / "labeled-data" / "vidA" / "CollectedData_me.csv"
    frame = table_frame(["labeled-data/vidA/img002.png"], np.full((1, 2, 3, 2), np.nan))
    write_table(frame, table)
    assert "no labelled frames" in one_line_error(tmp_path / "proj")
    cols = pd.MultiIndex.from_tuples([(SCORER, "single", "feeder", c) for c in "xy"], names=LEVELS)
    pd.DataFrame([[1.0, 2.0]], index=["img002.png"], columns=cols).to_csv(table)
    assert "only the individual 'single'" in one_line_error(table)


def test_wrong_level_names_in_h5(tmp_path):
    cols = columns().set_names(["scorer", "animals", "bodyparts", "coords"])
    frame = table_frame(["img0.png"], animal_points(1), cols=cols)
    write_table(frame, tmp_path / "t.h5", "h5")
    with pytest.raises(DpkError, match="column levels are named scorer, animals"):
        read_dlc_table(tmp_path / "t.h5", multi_animal=True)
