"""Overlay videos, trajectory plots and speed measurements."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dpk.runtime.atomic import OutputError
from dpk.runtime.benchmark import benchmark_model, format_benchmark
from dpk.runtime.plot import plot_predictions
from dpk.runtime.predictions import Predictions
from dpk.runtime.render import keypoint_colors, render_video
from dpk.specs import DpkError, Skeleton
from tests.runtime.conftest import make_model_bytes

SKELETON = Skeleton(names=["a", "b", "c"], parents=[None, "a", "a"])


def fixed_predictions(n=30, step=1, **info) -> Predictions:
    """a at (20, 15) conf 1, b at (60, 15) conf 0.9, c at (60, 45) conf 0.05 in every frame."""
    keypoints = np.tile(
        np.array([[20, 15, 1.0], [60, 15, 0.9], [60, 45, 0.05]], np.float32), (n, 1, 1)
    )
    return Predictions(
        keypoints=keypoints,
        frame_indices=np.arange(0, n * step, step),
        skeleton=SKELETON,
        source_info={"fps": 25.0, "width": 80, "height": 60, **info},
    )


def read_frames(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, fps


def test_render_draws_points_and_edges_and_hides_low_confidence(dot_video, tmp_path):
    video, _ = dot_video
    out = render_video(
        video, fixed_predictions(), tmp_path / "overlay.avi", min_confidence=0.1, label_frames=False
    )
    frames, fps = read_frames(out)
    assert len(frames) == 30 and fps == pytest.approx(25.0)
    colors = keypoint_colors(3)[:, ::-1].astype(int)  # BGR
    frame = frames[0].astype(int)
    assert np.abs(frame[15, 20] - colors[0]).max() < 40  # point a
    assert np.abs(frame[15, 60] - colors[1]).max() < 40  # point b
    edge = frame[15, 40]  # on the edge b -> a, drawn in b's colour (thin: blurred by JPEG)
    assert np.abs(edge - colors[1]).sum() < np.abs(edge - colors[0]).sum() and edge.max() > 150
    assert frame[45, 60].max() < 30  # c is below min_confidence: hidden
    assert frame[30, 60].max() < 30  # and so is its edge
    faded = render_video(
        video, fixed_predictions(), tmp_path / "faded.avi", min_confidence=0.0, fade_below=0.5
    )
    c = read_frames(faded)[0][0][45, 60].astype(int)
    assert 20 < c.max() < colors[2].max() - 30  # drawn, but semi-transparent


def test_render_with_a_step_plays_in_real_time(dot_video, tmp_path):
    video, _ = dot_video
    out = render_video(video, fixed_predictions(n=10, step=3), tmp_path / "o.mp4")
    frames, fps = read_frames(out)
    assert len(frames) == 10 and fps == pytest.approx(25.0 / 3, rel=1e-3)


def test_render_refuses_predictions_from_another_video(dot_video, tmp_path):
    video, _ = dot_video
    with pytest.raises(DpkError, match="made on 640x480"):
        render_video(video, fixed_predictions(width=640, height=480), tmp_path / "o.mp4")
    with pytest.raises(DpkError, match="has 30 frames"):
        render_video(video, fixed_predictions(n=20, step=2), tmp_path / "o.mp4")
    images = fixed_predictions(n=2)
    images.image_names = ["a.png", "b.png"]
    with pytest.raises(DpkError, match="image folder"):
        render_video(video, images, tmp_path / "o.mp4")
    with pytest.raises(DpkError, match="unsupported video suffix"):
        render_video(video, fixed_predictions(), tmp_path / "o.gif")
    with pytest.raises(OutputError, match="does not exist"):
        render_video(video, fixed_predictions(), tmp_path / "missing" / "o.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_plot_writes_a_png(tmp_path):
    predictions = fixed_predictions()
    predictions.keypoints[5] = np.nan
    out = plot_predictions(predictions, tmp_path / "plot.png", dpi=50)
    image = cv2.imread(str(out))
    assert image.shape == (400, 600, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # not blank
    plot_predictions(predictions, tmp_path / "ab.png", keypoints=["a", "b"], min_confidence=0.5)
    with pytest.raises(DpkError, match="unknown keypoints"):
        plot_predictions(predictions, tmp_path / "x.png", keypoints=["zz"])
    with pytest.raises(DpkError, match="PNG"):
        plot_predictions(predictions, tmp_path / "x.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ab.png", "plot.png"]


def test_benchmark_times_each_batch_size():
    model, results, skipped = benchmark_model(
        make_model_bytes(flops=1_000_000), batch_sizes=(1, 4), devices=["cpu"], repeats=2
    )
    assert [(r.provider, r.batch_size) for r in results] == [
        ("CPUExecutionProvider", 1),
        ("CPUExecutionProvider", 4),
    ]
    for r in results:
        assert r.fps == pytest.approx(r.batch_size / r.seconds)
        assert r.gflops == pytest.approx(1e6 * r.fps / 1e9)
    table = format_benchmark(model, results, skipped)
    assert "1.00 MFLOP" in table and "CPUExecutionProvider" in table
    model, results, _ = benchmark_model(
        make_model_bytes(flops=None), batch_sizes=(2,), devices=["cpu"], repeats=1
    )
    assert results[0].gflops is None
    assert "FLOPs per frame: unknown" in format_benchmark(model, results, {})


def test_compare_models_alternates_rounds_and_reports_ratios(monkeypatch):
    import dpk.runtime.benchmark as benchmark

    calls = []
    real = benchmark.benchmark_model

    def spy(source, name=None, **options):
        calls.append(name)
        return real(source, name=name, **options)

    monkeypatch.setattr(benchmark, "benchmark_model", spy)
    models = [(make_model_bytes(flops=1_000_000), "a"), (make_model_bytes(flops=None), "b")]
    compared = benchmark.compare_models(
        models, rounds=3, batch_sizes=(1, 2), devices=["cpu"], repeats=1
    )
    assert calls == ["a", "b", "b", "a", "a", "b"]  # the first file first, then last, ...
    (_, results_a, _), (_, results_b, _) = compared
    assert [r.batch_size for r in results_a] == [1, 2] == [r.batch_size for r in results_b]
    assert results_a[0].gflops == pytest.approx(1e6 * results_a[0].fps / 1e9)
    assert results_b[0].gflops is None
    table = benchmark.format_comparison(compared, 3)
    assert "3 alternating round(s)" in table and "relative to a" in table
    ratios = [line.split()[-1] for line in table.splitlines() if line.startswith(("a ", "b "))]
    assert ratios[:2] == ["1.00x", "1.00x"] and all(r.endswith("x") for r in ratios)
    with pytest.raises(DpkError, match="rounds of 1 or more"):
        benchmark.compare_models(models, rounds=0)
