"""DeepLabCut labels: the real mirror-mouse CSV, synthetic projects (CSV and pandas HDF5)
and bad files (prediction tables: ``tests/runtime/test_formats_dlc.py``)."""

from __future__ import annotations

import sys

import cv2
import h5py
import numpy as np
import pytest
import yaml

from dpk.specs import DpkError
from dpk.trainer.labels.formats.dlc import (
    is_dlc_path,
    load_dlc,
    load_dlc_project,
    read_dlc_csv_table,
    read_dlc_h5_table,
    skeleton_from_pairs,
)
from tests.runtime.test_formats_dlc import (
    BODYPARTS,
    write_table_csv,
    write_table_h5,
)


def write_image(path, height=24, width=32, colour=False, value=0):
    rng = np.random.default_rng(abs(hash(path.name)) % 1000)
    gray = rng.integers(0, 255, (height, width), dtype=np.uint8)
    gray[0, 0] = value
    image = np.dstack([gray, gray, gray]) if not colour else np.dstack([gray, gray // 2, gray])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def make_project(root, videos=("vid1", "vid2"), n=3, colour=False, h5_for=("vid2",), size=(24, 32)):
    """A DeepLabCut project with PNG frames (saved as 3-channel files) and CollectedData."""
    config = {
        "Task": "test",
        "scorer": "me",
        "bodyparts": BODYPARTS,
        "skeleton": [["snout", "earL"], ["snout", "earR"], ["earL", "tail"]],
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    rng = np.random.default_rng(0)
    expected = {}
    for video in videos:
        folder = root / "labeled-data" / video
        index = [f"labeled-data/{video}/img{i * 7:04d}.png" for i in range(n)]
        for entry in index:
            write_image(root / entry, *size, colour=colour)
        values = rng.uniform(1, min(size) - 2, (n, len(BODYPARTS), 2))
        values[0, 1] = np.nan
        expected[video] = values
        if video in h5_for:
            write_table_h5(folder / "CollectedData_me.h5", index, values)
        else:
            write_table_csv(folder / "CollectedData_me.csv", index, values, index_columns=3)
    return expected


# ------------------------------------------------------------------------ real data
@pytest.mark.realdata
def test_real_mirror_mouse_csv(shared_data):
    path = shared_data / "lp-mirror-mouse" / "CollectedData.csv"
    labels = load_dlc(path)
    assert len(labels) == 90
    assert labels.images.shape == (90, 406, 396, 1)  # height 406, width 396, gray
    assert labels.n_keypoints == 17
    assert labels.names[0] == "paw1LH_top" and labels.names[-1] == "obsLow_bot"
    missing = np.isnan(labels.keypoints[..., 0]).mean()
    assert 0.07 < missing < 0.11
    np.testing.assert_allclose(labels.keypoints[0, 0], [77.25, 36.25])
    assert labels.sources[0].endswith("labeled-data/img01.png")
    assert labels.frame_indices[:3].tolist() == [1, 2, 3]
    image = cv2.imread(labels.sources[0], cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(labels.images[0, ..., 0], image)
    assert is_dlc_path(path)


# ------------------------------------------------------------------------ projects
def test_project_with_csv_and_h5_tables(tmp_path):
    expected = make_project(tmp_path / "proj")
    labels = load_dlc_project(tmp_path / "proj")
    assert len(labels) == 6
    assert labels.names == BODYPARTS
    assert labels.image_shape == (24, 32, 1)  # 3-channel files with gray content
    np.testing.assert_allclose(
        labels.keypoints, np.concatenate([expected["vid1"], expected["vid2"]]), rtol=1e-6
    )
    assert labels.frame_indices.tolist() == [0, 7, 14] * 2
    assert labels.skeleton.parents == [None, "snout", "snout", "earL"]
    assert labels.sources[3].endswith("labeled-data/vid2/img0000.png")
    assert load_dlc(tmp_path / "proj" / "config.yaml").names == BODYPARTS


def test_h5_table_matches_csv_table(tmp_path):
    index = ["labeled-data/v/img1.png", "labeled-data/v/img2.png"]
    values = np.arange(16, dtype=float).reshape(2, 4, 2)
    values[1, 2] = np.nan
    write_table_csv(tmp_path / "a.csv", index, values)
    write_table_h5(tmp_path / "a.h5", index, values)
    write_table_h5(tmp_path / "b.h5", ["img1.png", "img2.png"], values)
    csv_table = read_dlc_csv_table(tmp_path / "a.csv")
    h5_table = read_dlc_h5_table(tmp_path / "a.h5")
    assert h5_table.index == csv_table.index == index
    assert h5_table.bodyparts == csv_table.bodyparts == BODYPARTS
    assert h5_table.scorer == "me"
    np.testing.assert_array_equal(h5_table.values, csv_table.values)
    assert read_dlc_h5_table(tmp_path / "b.h5").index == ["img1.png", "img2.png"]


def test_colour_images_become_rgb(tmp_path):
    make_project(tmp_path / "proj", videos=("vid1",), colour=True, h5_for=())
    labels = load_dlc(tmp_path / "proj")
    assert labels.image_shape == (24, 32, 3)
    bgr = cv2.imread(labels.sources[0])
    np.testing.assert_array_equal(labels.images[0], bgr[..., ::-1])
    gray = load_dlc(tmp_path / "proj", channels=1)
    assert gray.image_shape == (24, 32, 1)


def test_bare_csv_in_a_labeled_data_folder_finds_images_from_the_project(tmp_path):
    make_project(tmp_path / "proj", videos=("vid1",), h5_for=())
    table = tmp_path / "proj" / "labeled-data" / "vid1" / "CollectedData_me.csv"
    labels = load_dlc(table)
    assert len(labels) == 3 and labels.names == BODYPARTS
    assert labels.skeleton.parents == [None] * 4  # no config: names only


def test_images_next_to_a_moved_csv_are_found_by_name(tmp_path):
    write_image(tmp_path / "img5.png")
    write_table_csv(tmp_path / "labels.csv", ["labeled-data/old/img5.png"], np.ones((1, 4, 2)))
    labels = load_dlc(tmp_path / "labels.csv")
    assert labels.sources == [str(tmp_path / "img5.png")]
    assert labels.frame_indices.tolist() == [5]


def test_skeleton_pairs_form_a_tree_and_cycles_are_dropped():
    with pytest.warns(UserWarning, match="close a cycle"):
        skeleton = skeleton_from_pairs(["a", "b", "c", "d"], [["a", "b"], ["b", "c"], ["c", "a"]])
    assert skeleton.parents == [None, "a", "a", None]
    with pytest.raises(DpkError, match="'z', which is not in bodyparts"):
        skeleton_from_pairs(["a"], [["a", "z"]], source="config.yaml")


# ------------------------------------------------------------------------ bad input
def test_wrong_header_rows(tmp_path):
    path = tmp_path / "CollectedData_me.csv"
    path.write_text("scorer,me,me\ncoords,x,y\nbodyparts,nose,nose\nimg.png,1,2\n")
    with pytest.raises(DpkError) as error:
        read_dlc_csv_table(path)
    assert str(path) in str(error.value) and "line 2 should start with 'bodyparts'" in str(
        error.value
    )
    path.write_text("scorer,me\n")
    with pytest.raises(DpkError, match="three header rows"):
        read_dlc_csv_table(path)


def test_bad_cells_name_the_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("scorer,me,me\nbodyparts,nose,nose\ncoords,x,y\nimg.png,1,two\n")
    with pytest.raises(DpkError) as error:
        read_dlc_csv_table(path)
    assert str(path) in str(error.value) and "line 4, column nose.y" in str(error.value)
    path.write_text("scorer,me,me\nbodyparts,nose,nose\ncoords,x,y\nimg.png,1\n")
    with pytest.raises(DpkError, match="line 4 has 2 cells but the header has 3"):
        read_dlc_csv_table(path)
    path.write_text("scorer,me,me\nbodyparts,nose,nose\ncoords,x,z\n")
    with pytest.raises(DpkError, match="unknown coordinate 'z'"):
        read_dlc_csv_table(path)


def test_multi_animal_files_say_how_to_convert(tmp_path):
    path = tmp_path / "CollectedData_me.csv"
    path.write_text(
        "scorer,,,me,me\nindividuals,,,a1,a1\nbodyparts,,,nose,nose\ncoords,,,x,y\n"
        "labeled-data,v,img.png,1,2\n"
    )
    with pytest.raises(DpkError) as error:
        load_dlc(path)
    assert str(path) in str(error.value) and "data.crop" in str(error.value)
    (tmp_path / "config.yaml").write_text("bodyparts: MULTI!\nmultianimalproject: true\n")
    with pytest.raises(DpkError, match="multi-animal"):
        load_dlc(tmp_path)


def test_missing_image_files_are_named(tmp_path):
    write_image(tmp_path / "labeled-data" / "img1.png")
    index = ["labeled-data/img1.png", "labeled-data/img2.png"]
    write_table_csv(tmp_path / "labels.csv", index, np.ones((2, 4, 2)))
    with pytest.raises(DpkError) as error:
        load_dlc(tmp_path / "labels.csv")
    text = str(error.value)
    assert str(tmp_path / "labels.csv") in text
    assert "1 of 2 image file(s) not found: labeled-data/img2.png" in text


def test_mixed_image_sizes_name_both_files(tmp_path):
    write_image(tmp_path / "a.png", 24, 32)
    write_image(tmp_path / "b.png", 30, 32)
    write_table_csv(tmp_path / "labels.csv", ["a.png", "b.png"], np.ones((2, 4, 2)))
    with pytest.raises(DpkError) as error:
        load_dlc(tmp_path / "labels.csv")
    text = str(error.value)
    assert str(tmp_path / "labels.csv") in text and "a.png is 32x24" in text
    assert "b.png is 32x30" in text


def test_mixed_image_sizes_across_project_folders(tmp_path):
    make_project(tmp_path / "proj", videos=("vid1",), h5_for=())
    make_project(tmp_path / "other", videos=("vid2",), h5_for=(), size=(20, 20))
    (tmp_path / "other" / "labeled-data" / "vid2").rename(
        tmp_path / "proj" / "labeled-data" / "vid2"
    )
    with pytest.raises(DpkError, match="images of different sizes") as error:
        load_dlc(tmp_path / "proj")
    assert "vid1" in str(error.value) and "vid2" in str(error.value)


def test_label_outside_the_image(tmp_path):
    write_image(tmp_path / "a.png", 24, 32)
    values = np.ones((1, 4, 2))
    values[0, 3] = [40.0, 3.0]
    write_table_csv(tmp_path / "labels.csv", ["a.png"], values)
    with pytest.raises(DpkError) as error:
        load_dlc(tmp_path / "labels.csv")
    text = str(error.value)
    assert str(tmp_path / "labels.csv") in text and "'tail'" in text and "x=40.00" in text


def test_unknown_and_absent_bodyparts_in_a_project(tmp_path):
    make_project(tmp_path / "proj", videos=("vid1",), h5_for=())
    config = tmp_path / "proj" / "config.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["bodyparts"] = ["snout", "earL", "earR"]
    cfg["skeleton"] = []
    config.write_text(yaml.safe_dump(cfg))
    with pytest.raises(DpkError) as error:
        load_dlc(tmp_path / "proj")
    assert "CollectedData_me.csv" in str(error.value) and "'tail'" in str(error.value)
    cfg["bodyparts"] = [*BODYPARTS, "paw"]
    config.write_text(yaml.safe_dump(cfg))
    with pytest.warns(UserWarning, match="no columns for paw"):
        labels = load_dlc(tmp_path / "proj")
    assert np.isnan(labels.keypoints[:, 4]).all()


def test_empty_sets(tmp_path):
    path = tmp_path / "CollectedData_me.csv"
    write_table_csv(path, [], np.zeros((0, 4, 2)))
    with pytest.raises(DpkError, match="no labelled frames") as error:
        load_dlc(path)
    assert str(path) in str(error.value)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"bodyparts": BODYPARTS}))
    with pytest.raises(DpkError, match="no labelled frames"):
        load_dlc(tmp_path)


def test_damaged_and_foreign_h5_files(tmp_path):
    path = tmp_path / "CollectedData_me.h5"
    write_table_h5(path, ["a.png"] * 40, np.ones((40, 4, 2)))
    path.write_bytes(path.read_bytes()[:1500])
    with pytest.raises(DpkError) as error:
        read_dlc_h5_table(path)
    assert str(path) in str(error.value)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("images", data=np.zeros(3))
    with pytest.raises(DpkError, match="no pandas table inside"):
        read_dlc_h5_table(tmp_path / "other.h5")


def test_pandas_table_layout_without_pytables_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "CollectedData_me.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("df_with_missing")
        group.attrs["pandas_type"] = b"frame_table"
        group.create_dataset("table", data=np.zeros(3))
    monkeypatch.setitem(sys.modules, "tables", None)
    with pytest.raises(DpkError) as error:
        read_dlc_h5_table(path)
    assert str(path) in str(error.value) and "pip install pandas tables" in str(error.value)
