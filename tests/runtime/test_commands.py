"""The runtime's dpk verbs, end to end, and their one-line errors for bad input."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from dpk.runtime.formats import load_predictions
from dpk.runtime.providers import working_providers
from tests.runtime.conftest import NAMES, corrupt_mjpeg_frames, dot_frame, write_model


def assert_one_line_error(code, err, *needles):
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error" in line]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_predict_writes_every_output(run_cli, dot_video, model_path, tmp_path):
    video, track = dot_video
    csv, h5, dlc = tmp_path / "p.csv", tmp_path / "p.h5", tmp_path / "dlc.csv"
    code, out, err = run_cli(
        "predict", video, "--model", model_path, "-o", csv, "-o", h5, "-o", dlc,
        "--format", "csv", "--format", "h5", "--format", "dlc", "--batch-size", "7",
        "--threads", "1", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    assert f"wrote {csv} (csv, 30 frames)" in out and f"wrote {dlc} (dlc, 30 frames)" in out
    assert "CPUExecutionProvider" in err and "frames/s" in err
    header = csv.read_text().splitlines()[0]
    assert header.startswith("frame,nose_x,nose_y,nose_conf,earL_x")
    for path in (csv, h5, dlc):
        predictions = load_predictions(path)
        assert predictions.names == list(NAMES)
        assert np.abs(predictions.keypoints[:, 0, :2] - track).max() <= 1.0
    assert load_predictions(h5).skeleton.parents == [None, "nose", "nose", "nose"]


def test_predict_range_and_image_folder(run_cli, dot_video, model_path, tmp_path):
    out_csv = tmp_path / "range.csv"
    code, _, err = run_cli(
        "predict", dot_video[0], "-m", model_path, "-o", out_csv, "--start", "3", "--stop", "12",
        "--step", "4", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert load_predictions(out_csv).frame_indices.tolist() == [3, 7, 11]
    assert err == "model fake.onnx on CPUExecutionProvider, batch size 16\n"  # no progress
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), dot_frame(48, 64, 5 + i, 9))
    (folder / "f3.png").write_bytes(b"junk")
    code, _, err = run_cli(
        "predict", folder, "-m", model_path, "-o", tmp_path / "img.h5", "-q",
        "--max-unreadable", "0.5",
    )  # fmt: skip
    assert code == 0
    assert "1 frame could not be read (f3.png: not a readable image): 3" in err
    predictions = load_predictions(tmp_path / "img.h5")
    assert predictions.image_names == ["f0.png", "f1.png", "f2.png", "f3.png"]
    assert predictions.keypoints[:3, 0, 0].tolist() == [5, 6, 7]


def test_predict_reports_unreadable_frames_and_goes_on(run_cli, dot_video, model_path, tmp_path):
    broken = tmp_path / "broken.avi"
    corrupt_mjpeg_frames(dot_video[0], broken, [4, 5, 6])
    code, _, err = run_cli(
        "predict", broken, "-m", model_path, "-o", tmp_path / "p.csv", "-q",
        "--max-unreadable", "0.1",
    )  # fmt: skip
    assert code == 0
    assert "3 frames could not be read (the frame could not be decoded): 4-6" in err
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[5] == "4" + "," * 12 and len(rows) == 31


def test_predict_and_render_fail_when_too_many_frames_are_unreadable(
    run_cli, dot_video, model_path, tmp_path
):
    """3 of 30 frames (10%) unreadable is over the default limit of 5%: the outputs are
    written, the exit status says something is wrong, one line gives the count."""
    broken = tmp_path / "broken.avi"
    corrupt_mjpeg_frames(dot_video[0], broken, [4, 5, 6])
    csv = tmp_path / "p.csv"
    code, _, err = run_cli("predict", broken, "-m", model_path, "-o", csv, "-q")
    assert_one_line_error(code, err, "3 of 30 frames (10%)", "--max-unreadable 0.05")
    assert code == 1 and len(csv.read_text().splitlines()) == 31
    overlay = tmp_path / "o.avi"
    code, out, err = run_cli("render", broken, csv, "-o", overlay, "-q")
    assert_one_line_error(code, err, "3 of 30 frames (10%)")
    assert code == 1 and f"wrote {overlay}" in out
    capture = cv2.VideoCapture(str(overlay))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 30
    capture.release()
    code, _, err = run_cli("render", broken, csv, "-o", overlay, "-q", "--max-unreadable", "0.2")
    assert code == 0, err
    code, _, err = run_cli("render", broken, csv, "-o", overlay, "--max-unreadable", "5")
    assert code == 2 and "fraction from 0 to 1" in err


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "no such video file"), (b"garbage bytes", "cannot open the video")],
)
def test_predict_missing_or_corrupt_video(run_cli, model_path, tmp_path, content, needle):
    video = tmp_path / "video.mp4"
    if content is not None:
        video.write_bytes(content)
    code, _, err = run_cli("predict", video, "-m", model_path, "-o", tmp_path / "p.csv")
    assert_one_line_error(code, err, str(video), needle)
    assert not (tmp_path / "p.csv").exists()


def test_predict_with_files_that_are_not_dpk_models(run_cli, dot_video, tmp_path):
    text = tmp_path / "model.onnx"
    text.write_text("not a model")
    code, _, err = run_cli("predict", dot_video[0], "-m", text, "-o", tmp_path / "p.csv")
    assert_one_line_error(code, err, str(text), "dpk export RUN -o model.onnx")
    plain = write_model(tmp_path / "plain.onnx", drop=["dpk.spec"])
    code, _, err = run_cli("predict", dot_video[0], "-m", plain, "-o", tmp_path / "p.csv")
    assert_one_line_error(code, err, str(plain), "without dpk metadata", "dpk export RUN")
    code, _, err = run_cli("predict", dot_video[0], "-m", "no_such.model", "-o", tmp_path / "p.csv")
    assert code != 0 and "Traceback" not in err and "no_such.model" in err
    code, _, err = run_cli("predict", dot_video[0], "-m", "Not A Model", "-o", tmp_path / "p.csv")
    assert_one_line_error(code, err, "not a zoo name")
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize(
    ("output", "needle"),
    [
        ("missing/p.csv", "does not exist; create it first"),
        ("/proc/dpk-out.csv", "cannot write in /proc"),
        ("p.txt", "cannot tell the format"),
        ("p.slp", "writes .csv or .h5 or .hdf5 files"),  # --format dlc below
    ],
)
def test_predict_unwritable_outputs_fail_before_any_work(
    run_cli, dot_video, model_path, tmp_path, output, needle
):
    target = tmp_path / output if not output.startswith("/") else output
    extra = ["--format", "dlc"] if output == "p.slp" else []
    good = tmp_path / "good.csv"
    code, _, err = run_cli(
        "predict", dot_video[0], "-m", model_path, "-o", good, "-o", target, *extra
    )
    assert_one_line_error(code, err, needle)
    assert "frames/s" not in err  # nothing was predicted
    assert not good.exists()


def test_predict_on_a_cuda_that_does_not_work(run_cli, dot_video, model_path, tmp_path):
    if working_providers().get("CUDAExecutionProvider", "absent") is None:
        pytest.skip("CUDA works on this machine")
    code, _, err = run_cli(
        "predict", dot_video[0], "-m", model_path, "-o", tmp_path / "p.csv", "--device", "cuda"
    )
    assert_one_line_error(code, err, "device 'cuda'")
    assert not (tmp_path / "p.csv").exists()


def test_info_text_and_json(run_cli, model_path, tmp_path):
    code, out, _ = run_cli("info", model_path)
    assert code == 0
    assert "input        image uint8 (N, 48, 64, 1) gray; fit letterbox" in out
    assert "earL" in out and "FLOPs        123456" in out and "license      MIT" in out
    code, out, _ = run_cli("info", model_path, "--json")
    summary = json.loads(out)
    assert summary["keypoints"] == list(NAMES) and summary["flops"] == 123456
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00" * 10)
    code, _, err = run_cli("info", bad)
    assert_one_line_error(code, err, str(bad), "dpk export")


def test_benchmark_prints_fps_and_gflops(run_cli, model_path):
    code, out, err = run_cli(
        "benchmark", model_path, "--device", "cpu", "--batch-sizes", "1,3", "--repeats", "2"
    )
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line.startswith("CPUExecutionProvider")]
    assert [row[1] for row in rows] == ["1", "3"]
    assert all(float(row[3]) > 0 and float(row[4]) > 0 for row in rows)
    assert "FLOPs per frame: 123.46 kFLOP" in out
    code, _, err = run_cli("benchmark", model_path, "--batch-sizes", "0")
    assert code == 2 and "1 or more" in err
    # two files side by side: each one's table, then the ratio to the first
    code, out, err = run_cli(
        "benchmark",
        model_path,
        model_path,
        "--device",
        "cpu",
        "--batch-sizes",
        "2",
        "--repeats",
        "1",
        "--rounds",
        "2",
    )
    assert code == 0, err
    assert out.count("FLOPs per frame") == 2 and "2 alternating round(s)" in out
    ratios = re.findall(r" (\d+\.\d\d)x$", out, re.M)
    assert len(ratios) == 2 and ratios[0] == "1.00"  # the first file is the reference


def test_render_and_plot(run_cli, dot_video, model_path, tmp_path):
    video, _ = dot_video
    h5, csv = tmp_path / "p.h5", tmp_path / "p.csv"
    assert run_cli("predict", video, "-m", model_path, "-o", h5, "-o", csv, "-q")[0] == 0
    code, out, err = run_cli("render", video, h5, "-o", tmp_path / "overlay.mp4", "-q")
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'overlay.mp4'} (30 frames)"
    capture = cv2.VideoCapture(str(tmp_path / "overlay.mp4"))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 30
    capture.release()
    code, _, err = run_cli(
        "render", video, csv, "-o", tmp_path / "o2.avi", "--skeleton", model_path,
        "--min-confidence", "0.5", "-q",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli("plot", h5, "-o", tmp_path / "plot.png", "--keypoints", "nose,tail")
    assert code == 0, err
    assert cv2.imread(str(tmp_path / "plot.png")).shape == (800, 1200, 3)


def test_render_and_plot_bad_input(run_cli, dot_video, tmp_path):
    missing = tmp_path / "none.h5"
    code, _, err = run_cli("render", dot_video[0], missing, "-o", tmp_path / "o.mp4")
    assert_one_line_error(code, err, str(missing), "not found")
    code, _, err = run_cli("plot", missing, "-o", tmp_path / "p.png")
    assert_one_line_error(code, err, str(missing))
    code, _, err = run_cli("plot", missing, "-o", tmp_path / "nowhere" / "p.png")
    assert_one_line_error(code, err, "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_predict_to_sleap_and_nwb_by_suffix(run_cli, dot_video, model_path, tmp_path):
    video, track = dot_video
    slp, nwb = tmp_path / "p.slp", tmp_path / "p.nwb"
    code, out, err = run_cli("predict", video, "-m", model_path, "-o", slp, "-o", nwb, "-q")
    assert code == 0, err
    assert f"wrote {slp} (slp, 30 frames)" in out and f"wrote {nwb} (nwb, 30 frames)" in out
    for path in (slp, nwb):
        predictions = load_predictions(path)
        assert predictions.names == list(NAMES)
        assert predictions.frame_indices.tolist() == list(range(30))
        assert np.abs(predictions.keypoints[:, 0, :2] - track).max() <= 1.0
