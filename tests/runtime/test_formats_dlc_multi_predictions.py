"""Multi-animal DeepLabCut prediction tables (an ``individuals`` level) read back as dpk
predictions with instances: dpk's own output (round trips in CSV and .h5), DeepLabCut's
own analysis layouts (``create_df_from_prediction`` in
``deeplabcut/pose_estimation_pytorch/apis/videos.py``: scorer ``DLC_...``, individuals
``individual1`` ..., unique body parts under ``single``, key ``df_with_missing``, table
layout; ``Tracklets.format_df``/``write_tracks`` in
``deeplabcut/refine_training_dataset/stitch.py``: ``ind1`` ..., key ``tracks``), movement's
real loader and writer, bad input, and ``dpk plot``, ``dpk render`` and ``dpk filter`` on
such a file."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from dpk.runtime.formats import load_predictions, save_predictions
from dpk.runtime.formats.dlc_predictions import H5_KEY, load_predictions_dlc
from dpk.runtime.formats.dlc_table import COORDS, MULTI_LEVELS
from dpk.runtime.predictions import Predictions
from dpk.specs import DpkError, Skeleton
from tests.runtime.test_commands import assert_one_line_error

SKELETON = Skeleton(names=["head", "thorax", "tail"], parents=[None, "head", "thorax"])
BODYPARTS = list(SKELETON.names)
SCORER = "DLC_Resnet50_miceDec1shuffle1_snapshot_200"  # as DeepLabCut names its scorer


def needs_tables(suffix: str) -> None:
    """DeepLabCut's .h5 is pandas' HDF5, which needs PyTables (the CSV does not)."""
    if suffix != ".csv":
        pytest.importorskip("tables")


def tracked(n: int = 30, start: int = 0, width: int = 80, height: int = 60) -> Predictions:
    """Two tracked animals (alice, bob) in 3 instance rows over frames ``start ..
    start + n - 1``, inside a ``width`` x ``height`` frame: half way alice moves to row 2
    and bob to row 0 (row 1 is then an empty, untracked row), bob is absent from the third
    frame and his tail is missing in the last frame."""
    rng = np.random.default_rng(1)
    keypoints = np.full((n, 3, 3, 3), np.nan, np.float32)
    ids = np.full((n, 3), -1, np.int64)
    for t in range(n):
        rows = (0, 1) if t < n // 2 else (2, 0)
        for track, row in enumerate(rows):
            if track == 1 and t == 2:
                continue  # bob is absent
            xy = rng.uniform([5, 5], [width - 5, height - 5], (3, 2))
            keypoints[t, row] = np.c_[xy, rng.uniform(0.3, 1.0, 3)]
            ids[t, row] = track
    keypoints[n - 1, 0, 2] = np.nan  # bob's tail
    return Predictions(
        keypoints=np.round(keypoints, 3),
        frame_indices=np.arange(start, start + n),
        skeleton=SKELETON,
        model_name="pair",
        track_ids=ids,
        track_names=["alice", "bob"],
    )


# ------------------------------------------------------------------------ dpk round trips
@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_round_trip_keeps_keypoints_confidences_tracks_and_frames(tmp_path, suffix):
    needs_tables(suffix)
    p = tracked()
    path = save_predictions(tmp_path / f"p{suffix}", p, fmt="dlc")
    back = load_predictions(path)
    expected = p.by_track()  # row j = track j, as the table has it
    assert back.has_instances and back.keypoints.shape == (30, 2, 3, 3)
    np.testing.assert_array_equal(back.keypoints, expected.keypoints)  # x, y, confidence
    np.testing.assert_array_equal(back.frame_indices, p.frame_indices)
    np.testing.assert_array_equal(back.track_ids, expected.track_ids)
    assert back.track_ids[2].tolist() == [0, -1]  # bob absent: a NaN row, no track
    assert back.track_names == ["alice", "bob"]
    assert back.names == BODYPARTS and back.model_name == "pair"
    np.testing.assert_allclose(back.instance_scores, expected.instance_scores)
    assert back.image_names is None


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_frames_not_predicted_are_nan_rows_from_frame_0(tmp_path, suffix):
    needs_tables(suffix)
    p = tracked(n=6, start=10)
    back = load_predictions(save_predictions(tmp_path / f"p{suffix}", p, fmt="dlc"))
    assert back.frame_indices.tolist() == list(range(16))  # one row per frame from 0
    assert np.isnan(back.keypoints[:10]).all() and (back.track_ids[:10] == -1).all()
    np.testing.assert_array_equal(back.keypoints[10:], p.by_track().keypoints)


def test_image_predictions_keep_their_names(tmp_path):
    p = tracked(n=3)
    p.image_names = ["a.png", "b.png", "c.png"]
    back = load_predictions(save_predictions(tmp_path / "p.csv", p, fmt="dlc"))
    assert back.image_names == ["a.png", "b.png", "c.png"]
    assert back.frame_indices.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(back.keypoints, p.by_track().keypoints)


def test_a_skeleton_of_the_same_names_is_attached(tmp_path):
    path = save_predictions(tmp_path / "p.csv", tracked(n=3), fmt="dlc")
    assert load_predictions_dlc(path, skeleton=SKELETON).skeleton == SKELETON
    other = Skeleton(names=["a", "b", "c"])
    with pytest.raises(DpkError, match="do not match the skeleton's names") as error:
        load_predictions_dlc(path, skeleton=other)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


# ------------------------------------------------------------------------ DeepLabCut's own
def deeplabcut_frame(values: np.ndarray, unique: np.ndarray, names, index=None) -> pd.DataFrame:
    """An analysis table as DeepLabCut builds it: the product of scorer, individuals, body
    parts and x/y/likelihood, then the unique body parts under ``single`` joined on."""
    n = len(values)
    index = range(n) if index is None else index
    columns = pd.MultiIndex.from_product([[SCORER], names, BODYPARTS, COORDS], names=MULTI_LEVELS)
    frame = pd.DataFrame(values.reshape(n, -1), columns=columns, index=index)
    single = pd.MultiIndex.from_product([[SCORER], ["single"], ["feeder"], COORDS])
    single.names = list(MULTI_LEVELS)
    return frame.join(pd.DataFrame(unique.reshape(n, -1), columns=single, index=index), how="outer")


def deeplabcut_values(n: int = 8, animals: int = 3, never_found: bool = True) -> np.ndarray:
    """(n, animals, K, 3): the second animal is missing in frame n // 2 and, when
    ``never_found``, the last is never found (all NaN, as DeepLabCut writes individuals it
    did not fill)."""
    rng = np.random.default_rng(2)
    values = np.round(rng.uniform(0, 1, (n, animals, 3, 3)) * [100, 80, 1], 4)
    if never_found:
        values[:, -1] = np.nan
    values[n // 2, 1] = np.nan
    return values


@pytest.mark.parametrize("layout", ["csv", "h5", "h5-fixed", "h5-tracks"])
def test_deeplabcut_analysis_output_reads_with_unique_parts_left_out(tmp_path, layout):
    """``csv``: ``df.to_csv``; ``h5``: ``to_hdf(key='df_with_missing', format='table')``
    (analyze_videos); ``h5-fixed``: pandas' default layout; ``h5-tracks``: stitch_tracklets'
    ``_el.h5`` (key ``tracks``, individuals ``ind1`` ...)."""
    needs_tables(".h5" if layout != "csv" else ".csv")
    values = deeplabcut_values()
    unique = np.full((8, 1, 3), 0.5)
    prefix = "ind" if layout == "h5-tracks" else "individual"
    names = [f"{prefix}{i}" for i in (1, 2, 3)]
    frame = deeplabcut_frame(values, unique, names)
    path = tmp_path / f"videoDLC_Resnet50_el.{'csv' if layout == 'csv' else 'h5'}"
    if layout == "csv":
        frame.to_csv(path)
    elif layout == "h5":
        frame.to_hdf(path, key=H5_KEY, format="table", mode="w")
    elif layout == "h5-fixed":
        frame.to_hdf(path, key=H5_KEY, mode="w")
    else:
        frame.to_hdf(path, key="tracks", format="table", mode="w")
    with pytest.warns(UserWarning, match=r"unique body part\(s\) feeder \(individual 'single'\)"):
        back = load_predictions(path)
    assert back.track_names == names and back.names == BODYPARTS
    assert back.model_name == SCORER and back.frame_indices.tolist() == list(range(8))
    np.testing.assert_allclose(back.keypoints, values.astype(np.float32))
    assert back.track_ids[0].tolist() == [0, 1, -1] and back.track_ids[4].tolist() == [0, -1, -1]
    np.testing.assert_allclose(back.keypoints[..., 2], values[..., 2].astype(np.float32))


def test_individuals_in_another_column_order_are_read_by_name(tmp_path):
    values = deeplabcut_values(n=3, animals=2, never_found=False)
    frame = deeplabcut_frame(values, np.zeros((3, 1, 3)), ["a1", "a2"])
    frame = frame.drop(columns="single", level="individuals")
    order = [c for c in frame.columns if c[1] == "a1"]
    order += sorted((c for c in frame.columns if c[1] == "a2"), key=lambda c: c[2] != "tail")
    frame[order].to_csv(tmp_path / "p.csv")
    back = load_predictions(tmp_path / "p.csv")
    assert back.names == BODYPARTS
    np.testing.assert_allclose(back.keypoints, values.astype(np.float32))


def test_labelled_tables_without_likelihood_get_confidence_1(tmp_path):
    values = deeplabcut_values(n=4, animals=2, never_found=False)[..., :2]
    columns = pd.MultiIndex.from_product(
        [["me"], ["m1", "m2"], BODYPARTS, ["x", "y"]], names=MULTI_LEVELS
    )
    pd.DataFrame(values.reshape(4, -1), columns=columns).to_csv(tmp_path / "c.csv")
    back = load_predictions(tmp_path / "c.csv")
    present = np.isfinite(values[..., 0])
    assert (back.keypoints[..., 2][present] == 1).all()
    assert np.isnan(back.keypoints[..., 2][~present]).all()


# ------------------------------------------------------------------------ movement
@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_movement_reads_dpks_multi_animal_output_with_the_same_positions(tmp_path, suffix):
    needs_tables(suffix)
    from movement.io import load_poses

    p = tracked(n=8, start=2)
    path = save_predictions(tmp_path / f"p{suffix}", p, fmt="dlc")
    ds = load_poses.from_dlc_file(path)
    back = load_predictions(path)
    assert ds.individuals.values.tolist() == back.track_names == ["alice", "bob"]
    assert ds.keypoints.values.tolist() == back.names
    # movement: position (time, space, keypoints, individuals), time = row = frame
    np.testing.assert_array_equal(ds.position.values, back.keypoints[..., :2].transpose(0, 3, 2, 1))
    np.testing.assert_array_equal(ds.confidence.values, back.keypoints[..., 2].transpose(0, 2, 1))
    np.testing.assert_array_equal(ds.time.values, back.frame_indices)


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_dpk_reads_the_multi_animal_file_movement_writes(tmp_path, suffix):
    needs_tables(suffix)
    from movement.io import save_poses

    p = tracked(n=5)
    save_poses.to_dlc_file(p.to_movement(), tmp_path / f"m{suffix}", split_individuals=False)
    back = load_predictions(tmp_path / f"m{suffix}")
    assert back.track_names == ["alice", "bob"] and back.frame_indices.tolist() == list(range(5))
    np.testing.assert_array_equal(back.keypoints, p.by_track().keypoints)


# ------------------------------------------------------------------------ bad input
def _write_csv(path, columns, rows) -> None:
    """A multi-animal CSV from (individual, bodypart, coord) columns and rows of cells."""
    header = [
        ["scorer"] + ["me"] * len(columns),
        ["individuals"] + [c[0] for c in columns],
        ["bodyparts"] + [c[1] for c in columns],
        ["coords"] + [c[2] for c in columns],
    ]
    lines = [",".join(r) for r in header]
    lines += [",".join([str(i), *map(str, row)]) for i, row in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")


def _columns(parts: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    return [(i, b, c) for i, bs in parts.items() for b in bs for c in COORDS]


def test_individuals_with_different_body_parts_are_refused_in_one_line(tmp_path, run_cli):
    path = tmp_path / "p.csv"
    columns = _columns({"m1": ["head", "tail"], "m2": ["head", "thorax"]})
    _write_csv(path, columns, [[1.0] * len(columns)])
    with pytest.raises(DpkError) as error:
        load_predictions(path)
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{path}: individuals have different body parts")
    assert "m1: head, tail; m2: head, thorax" in text and "add the missing columns" in text
    code, _, err = run_cli("plot", path, "-o", tmp_path / "p.png")
    assert_one_line_error(code, err, str(path), "same body parts")
    assert not (tmp_path / "p.png").exists()


def test_a_likelihood_that_is_not_a_number_is_refused_in_one_line(tmp_path):
    path = tmp_path / "p.csv"
    columns = _columns({"m1": ["head"], "m2": ["head"]})
    _write_csv(path, columns, [[1, 2, 0.5, 3, 4, 0.5], [1, 2, 0.5, 3, 4, "high"]])
    with pytest.raises(DpkError) as error:
        load_predictions(path)
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{path}: line 6, column m2.head.likelihood")
    assert "'high' is not a number" in text and "NaN" in text


def test_a_likelihood_that_is_not_a_number_in_an_h5_is_refused_in_one_line(tmp_path):
    pytest.importorskip("tables")
    frame = deeplabcut_frame(deeplabcut_values(3, 2, False), np.zeros((3, 1, 3)), ["a", "b"])
    column = (SCORER, "a", "head", "likelihood")
    frame[column] = frame[column].astype(str)  # a text column, as a spreadsheet may leave it
    frame.loc[1, column] = "high"
    path = tmp_path / "p.h5"
    frame.to_hdf(path, key=H5_KEY, format="table", mode="w")
    with pytest.raises(DpkError) as error:
        load_predictions(path)
    text = str(error.value)
    assert "\n" not in text and text.startswith(str(path)) and "do not hold numbers" in text
    assert "a.head.likelihood" in text


def test_a_table_of_unique_body_parts_alone_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    _write_csv(path, _columns({"single": ["feeder"]}), [[1, 2, 0.5]])
    with pytest.raises(DpkError, match="only the individual 'single'") as error:
        load_predictions(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


# ------------------------------------------------------------------------ commands
def test_dpk_plot_draws_a_multi_animal_table(run_cli, tmp_path):
    path = save_predictions(tmp_path / "p.csv", tracked(), fmt="dlc")
    code, out, err = run_cli("plot", path, "-o", tmp_path / "plot.png", "--keypoints", "head")
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'plot.png'}"
    image = cv2.imread(str(tmp_path / "plot.png"))
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # not blank


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_dpk_render_draws_a_multi_animal_table_on_its_video(run_cli, dot_video, tmp_path, suffix):
    needs_tables(suffix)
    video, _ = dot_video  # 30 frames, 80 x 60
    p = tracked()
    path = save_predictions(tmp_path / f"p{suffix}", p, fmt="dlc")
    out_video = tmp_path / "overlay.avi"
    code, out, err = run_cli("render", video, path, "-o", out_video, "--no-labels", "-q")
    assert code == 0, err
    assert out.strip() == f"wrote {out_video} (30 frames)"
    source, overlay = cv2.VideoCapture(str(video)), cv2.VideoCapture(str(out_video))
    assert overlay.get(cv2.CAP_PROP_FRAME_COUNT) == 30
    ok, before = source.read()
    ok2, after = overlay.read()
    source.release()
    overlay.release()
    assert ok and ok2
    for track in range(2):  # every animal is drawn where its head is
        x, y = np.round(p.by_track().keypoints[0, track, 0, :2]).astype(int)
        change = np.abs(after[y, x].astype(int) - before[y, x].astype(int)).max()
        assert change > 60, (track, change)


def test_dpk_filter_treats_a_multi_animal_table_as_dpks_own_multi_animal_file(run_cli, tmp_path):
    """dpk filter takes a multi-animal DeepLabCut table exactly as dpk's own HDF5 of the same
    animals: it reads it (no format error) and answers as it does for that file."""
    p = tracked()
    table = save_predictions(tmp_path / "p.csv", p, fmt="dlc")
    own = save_predictions(tmp_path / "p.h5", p)
    answers = []
    for path in (table, own):
        output = tmp_path / f"clean_{path.suffix[1:]}.h5"
        code, _, err = run_cli("filter", path, "-o", output)
        answers.append((code, err.replace(str(path), "FILE")))
        if code:
            assert_one_line_error(code, err, str(path))
        else:
            clean = load_predictions(output)
            assert clean.track_names == ["alice", "bob"]
    assert answers[0] == answers[1]
