"""Reading videos and image folders: ranges, unreadable frames, bad files, prefetching."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from dpk.runtime.video import (
    ImageFolderSource,
    SourceError,
    VideoSource,
    describe_errors,
    open_source,
    prefetch,
)
from tests.runtime.conftest import corrupt_mjpeg_frames, write_dot_video


def brightest(frame):
    gray = frame.mean(axis=-1)
    y, x = np.unravel_index(np.argmax(gray), gray.shape)
    return int(x), int(y)


def test_video_info_and_every_frame(dot_video):
    path, track = dot_video
    source = VideoSource(path)
    assert source.info["fps"] == pytest.approx(25.0)
    assert (source.info["width"], source.info["height"]) == (80, 60)
    assert source.info["n_frames"] == 30
    assert source.info["codec"] == "MJPG"
    reads = list(source)
    assert [r.index for r in reads] == list(range(30))
    assert all(r.error is None and r.frame.shape == (60, 80, 3) for r in reads)
    assert [brightest(r.frame) for r in reads] == [tuple(t) for t in track]


@pytest.mark.parametrize(
    ("start", "stop", "step"), [(0, 30, 3), (7, 20, 1), (5, None, 4), (29, 40, 1)]
)
def test_ranges_read_the_right_frames(dot_video, start, stop, step):
    path, track = dot_video
    source = VideoSource(path, start, stop, step)
    expected = list(range(start, min(stop or 30, 30), step))
    assert list(source.indices) == expected and len(source) == len(expected)
    reads = list(source)
    assert [r.index for r in reads] == expected
    assert [brightest(r.frame) for r in reads] == [tuple(track[i]) for i in expected]


def test_seeking_in_mp4_gives_the_same_frames_as_reading_through(tmp_path):
    path = tmp_path / "dot.mp4"
    track = write_dot_video(path, n=40, fourcc="mp4v")
    reads = list(VideoSource(path, 23, 26))
    assert [r.index for r in reads] == [23, 24, 25]
    assert [brightest(r.frame) for r in reads] == [tuple(track[i]) for i in (23, 24, 25)]


def test_an_unreadable_frame_mid_video_is_reported_and_reading_goes_on(tmp_path, dot_video):
    path, track = dot_video
    broken = tmp_path / "broken.avi"
    corrupt_mjpeg_frames(path, broken, [10, 11])
    reads = list(VideoSource(broken))
    assert [r.index for r in reads] == list(range(30))
    bad = {r.index: r.error for r in reads if r.frame is None}
    assert sorted(bad) == [10, 11]
    assert "could not be decoded" in bad[10]
    good = [r for r in reads if r.frame is not None]
    assert [brightest(r.frame) for r in good] == [tuple(track[r.index]) for r in good]


@pytest.mark.parametrize(
    "content", [b"", b"not a video at all", np.random.default_rng(3).bytes(5000)]
)
def test_corrupt_video_is_one_clear_error(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=r"bad\.mp4: cannot open the video"):
        VideoSource(path)


def test_truncated_video(tmp_path, dot_video):
    full = tmp_path / "full.mp4"
    write_dot_video(full, fourcc="mp4v")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(SourceError, match=r"cut\.mp4"):
        VideoSource(cut)


def test_missing_video_and_bad_ranges(tmp_path, dot_video):
    with pytest.raises(SourceError, match=r"nothing\.mp4: video file not found"):
        VideoSource(tmp_path / "nothing.mp4")
    with pytest.raises(SourceError, match="step"):
        VideoSource(dot_video[0], step=0)
    with pytest.raises(SourceError, match="stop"):
        VideoSource(dot_video[0], start=5, stop=2)


def test_image_folder_natural_order_and_unreadable_images(tmp_path):
    for i in (1, 2, 10):
        frame = np.zeros((20, 30, 3), np.uint8)
        frame[5, i] = 255
        cv2.imwrite(str(tmp_path / f"img{i}.png"), frame)
    (tmp_path / "img3.png").write_bytes(b"broken png")
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(tmp_path)
    assert isinstance(source, ImageFolderSource)
    assert source.names == ["img1.png", "img2.png", "img3.png", "img10.png"]
    reads = list(source)
    assert reads[2].frame is None and "img3.png: not a readable image" in reads[2].error
    assert [brightest(r.frame) for r in reads if r.frame is not None] == [(1, 5), (2, 5), (10, 5)]
    assert ImageFolderSource(tmp_path, 1, None, 2).names == ["img2.png", "img10.png"]


def test_empty_image_folder(tmp_path):
    with pytest.raises(SourceError, match="no image files"):
        ImageFolderSource(tmp_path)


def test_prefetch_keeps_order_bounds_memory_and_stops_early():
    produced = []

    def numbers():
        for i in range(100):
            produced.append(i)
            yield i

    stream = prefetch(numbers(), maxsize=2)
    assert next(stream) == 0
    time.sleep(0.1)
    # consumer holds 1, queue holds 2, the producer waits with 1 more in hand
    assert len(produced) <= 5
    assert [next(stream) for _ in range(3)] == [1, 2, 3]
    stream.close()
    time.sleep(0.3)
    assert len(produced) < 100
    assert not any(t.name == "dpk-prefetch" and t.is_alive() for t in threading.enumerate())
    assert list(prefetch(iter(range(50)), maxsize=3)) == list(range(50))


def test_prefetch_raises_the_producers_error():
    def failing():
        yield 1
        raise ValueError("boom in the reader")

    stream = prefetch(failing())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="boom in the reader"):
        next(stream)


def test_describe_errors_groups_ranges():
    errors = {3: "bad", 4: "bad", 5: "bad", 9: "bad", 20: "gone"}
    lines = describe_errors(errors)
    assert lines == [
        "4 frames could not be read (bad): 3-5, 9",
        "1 frame could not be read (gone): 20",
    ]


@pytest.mark.realdata
def test_real_video_opens_with_its_facts(shared_data):
    path = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    source = VideoSource(path, 0, 50, 5)
    assert source.info["n_frames"] == 994
    assert source.info["fps"] == pytest.approx(250.0)
    assert (source.info["width"], source.info["height"]) == (396, 406)
    assert source.info["codec"] == "h264"
    reads = list(source)
    assert [r.index for r in reads] == list(range(0, 50, 5))
    assert all(r.frame is not None and r.frame.shape == (406, 396, 3) for r in reads)


@pytest.mark.realdata
def test_seeking_in_real_h264_is_frame_exact(shared_data):
    path = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    capture = cv2.VideoCapture(str(path))
    sequential = [capture.read()[1] for _ in range(520)]
    capture.release()
    for start in (1, 37, 250, 513):
        read = next(iter(VideoSource(path, start, start + 2)))
        assert read.index == start
        np.testing.assert_array_equal(read.frame, sequential[start])


@pytest.mark.realdata
@pytest.mark.parametrize(("start", "step"), [(0, 1), (13, 7)])
def test_real_h264_every_frame_keeps_its_index(shared_data, start, step):
    path = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    reads = list(VideoSource(path, start, None, step))
    assert [r.index for r in reads] == list(range(start, 994, step))
    assert all(r.frame is not None for r in reads)
