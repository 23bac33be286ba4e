"""Damaged and truncated videos: every frame keeps its own index, none is shifted.

Each synthetic frame shows its index as a bright cell in a 10 x 10 grid, so a test can tell
from the pixels alone which frame a decoded image really is.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dpk.runtime.video import SourceError, VideoSource, avi_damage, describe_errors

N = 100
CELL_W, CELL_H = 16, 12


def index_frame(i: int) -> np.ndarray:
    """A 160 x 120 frame with cell ``i`` (row i // 10, column i % 10) bright."""
    frame = np.zeros((10 * CELL_H, 10 * CELL_W, 3), np.uint8)
    row, col = divmod(i, 10)
    frame[row * CELL_H + 3 : row * CELL_H + 9, col * CELL_W + 4 : col * CELL_W + 12] = 255
    return frame


def shown_index(frame: np.ndarray) -> int:
    """The index a frame shows: its brightest cell."""
    cells = frame.mean(axis=-1).reshape(10, CELL_H, 10, CELL_W).mean(axis=(1, 3))
    return int(np.argmax(cells))


def write_index_video(path: Path, fourcc: str = "MJPG", n: int = N) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (160, 120))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for i in range(n):
        writer.write(index_frame(i))
    writer.release()
    return path


def video_chunk_offsets(data: bytes) -> list[int]:
    """File offsets of the ``00dc`` chunk headers in the movi list, in frame order."""
    movi = data.index(b"movi")
    offsets, at = [], movi + 4
    while at + 8 <= len(data) and data[at : at + 4] != b"idx1":
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        if data[at : at + 4] == b"00dc":
            offsets.append(at)
        at += 8 + size + (size & 1)
    return offsets


def damage_chunk_ids(source: Path, target: Path, frames) -> Path:
    """Copy an AVI file, overwriting the 4-byte chunk id of some frames (payload intact)."""
    data = bytearray(source.read_bytes())
    offsets = video_chunk_offsets(bytes(data))
    assert len(offsets) == N
    for i in frames:
        data[offsets[i] : offsets[i] + 4] = b"XXXX"
    target.write_bytes(bytes(data))
    return target


def faststart(source: Path, target: Path) -> Path:
    """Copy an mp4 with its ``moov`` box moved before ``mdat`` (so a cut file still opens)."""
    data = source.read_bytes()
    boxes, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        boxes.append((data[at + 4 : at + 8], data[at : at + size]))
        at += size
    kinds = [kind for kind, _ in boxes]
    moov = bytearray(boxes[kinds.index(b"moov")][1])
    shift = len(moov)
    for tag in (b"stco", b"co64"):  # chunk offsets move down by the size of moov
        at = moov.find(tag)
        while at >= 0:
            width = 4 if tag == b"stco" else 8
            count = int.from_bytes(moov[at + 8 : at + 12], "big")
            for k in range(count):
                pos = at + 12 + k * width
                value = int.from_bytes(moov[pos : pos + width], "big") + shift
                moov[pos : pos + width] = value.to_bytes(width, "big")
            at = moov.find(tag, at + 4)
    out = bytearray()
    for kind, box in boxes:
        if kind == b"mdat":
            out += moov
        if kind != b"moov":
            out += box
    target.write_bytes(bytes(out))
    return target


def check_reads(reads, expected, damaged=()):
    """Indices as asked, every decoded frame is the frame it claims, only damage unreadable."""
    assert [r.index for r in reads] == list(expected)
    for r in reads:
        if r.frame is None:
            assert r.index in damaged, (r.index, r.error)
        else:
            assert shown_index(r.frame) == r.index


@pytest.fixture(scope="module")
def index_avi(tmp_path_factory) -> Path:
    return write_index_video(tmp_path_factory.mktemp("damaged") / "index.avi")


def test_the_synthetic_frames_show_their_index(index_avi):
    reads = list(VideoSource(index_avi))
    check_reads(reads, range(N))
    assert VideoSource(index_avi).info["backend"] == "FFMPEG"
    assert avi_damage(index_avi, N) is None


@pytest.mark.parametrize("damaged", [[50], list(range(50, 70))], ids=["one", "twenty"])
def test_a_broken_chunk_id_shifts_no_frame(tmp_path, index_avi, damaged):
    path = damage_chunk_ids(index_avi, tmp_path / "broken.avi", damaged)
    assert avi_damage(path, N) == damaged[0]
    source = VideoSource(path)
    reads = list(source)
    check_reads(reads, range(N), set(damaged))
    errors = {r.index: r.error for r in reads if r.frame is None}
    assert set(errors) <= set(damaged)
    for line in describe_errors(errors):  # a warning can only name the damaged frames
        assert line.endswith(f": {damaged[0]}") or f": {damaged[0]}-" in line
    assert all(r.frame is not None for r in reads if r.index > damaged[-1])


@pytest.mark.parametrize(("start", "stop", "step"), [(40, 80, 3), (45, None, 1), (0, 50, 7)])
def test_ranges_over_a_broken_chunk_id(tmp_path, index_avi, start, stop, step):
    path = damage_chunk_ids(index_avi, tmp_path / "broken.avi", range(50, 70))
    reads = list(VideoSource(path, start, stop, step))
    check_reads(reads, range(start, stop or N, step), set(range(50, 70)))


def test_reading_before_the_damage_uses_ffmpeg(tmp_path, index_avi):
    path = damage_chunk_ids(index_avi, tmp_path / "broken.avi", [50])
    source = VideoSource(path, 0, 50)
    assert source.info["backend"] == "FFMPEG"
    check_reads(list(source), range(50))


def test_a_broken_chunk_id_in_a_non_mjpg_avi_is_one_clear_error(tmp_path):
    good = write_index_video(tmp_path / "xvid.avi", fourcc="XVID")
    path = damage_chunk_ids(good, tmp_path / "broken.avi", [50])
    with pytest.raises(SourceError, match=r"broken\.avi: the AVI file is damaged at frame 50"):
        VideoSource(path)
    check_reads(list(VideoSource(path, 0, 50)), range(50))


def test_a_cut_avi_is_not_damage(tmp_path, index_avi):
    data = index_avi.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: video_chunk_offsets(data)[60] + 100])
    assert avi_damage(cut, N) is None


def test_a_truncated_mp4_reports_the_frames_past_the_cut(tmp_path):
    plain = write_index_video(tmp_path / "plain.mp4", fourcc="mp4v")
    full = faststart(plain, tmp_path / "full.mp4")
    check_reads(list(VideoSource(full)), range(N))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    source = VideoSource(cut)
    assert source.n_frames == N
    reads = list(source)
    assert [r.index for r in reads] == list(range(N))
    readable = [r for r in reads if r.frame is not None]
    assert len(readable) >= 40 and [r.index for r in readable] == list(range(len(readable)))
    *whole, cut_through = readable  # the frame the cut goes through is concealed, not shifted
    assert all(shown_index(r.frame) == r.index for r in whole)
    assert shown_index(cut_through.frame) in (cut_through.index, cut_through.index - 1)
    lost = {r.index: r.error for r in reads if r.frame is None}
    assert min(lost) == len(readable) and "ends early" in lost[N - 1]


class FakeCapture:
    """A capture whose frames carry given timestamps (None = a failed grab)."""

    def __init__(self, stamps_ms):
        self.stamps = list(stamps_ms)
        self.current = None

    def isOpened(self):
        return True

    def set(self, prop, value):
        return False

    def grab(self):
        if not self.stamps:
            return False
        self.current = self.stamps.pop(0)
        return self.current is not None

    def retrieve(self):
        return True, np.full((4, 4, 3), int(self.current) // 40, np.uint8)

    def get(self, prop):
        assert prop == cv2.CAP_PROP_POS_MSEC
        return float(self.current)

    def release(self):
        pass


def fake_source(monkeypatch, index_avi, stamps, **kwargs):
    source = VideoSource(index_avi, **kwargs)
    source.info["n_frames"] = 10
    monkeypatch.setattr(source, "_open", lambda: FakeCapture(stamps))
    return source


def test_a_timestamp_jump_marks_the_skipped_frames(monkeypatch, index_avi):
    stamps = [0, 40, None, 120, 160, 200, 320]  # frames 2 and 6-7 skipped, 9 missing
    reads = list(fake_source(monkeypatch, index_avi, stamps))
    assert [r.index for r in reads] == list(range(10))
    assert [r.index for r in reads if r.frame is None] == [2, 6, 7, 9]
    assert all(int(r.frame[0, 0, 0]) == r.index for r in reads if r.frame is not None)
    assert "could not be decoded" in reads[2].error and "ends early" in reads[9].error
    reads = list(fake_source(monkeypatch, index_avi, stamps, start=1, step=3))
    assert [(r.index, r.frame is not None) for r in reads] == [(1, True), (4, True), (7, False)]


@pytest.mark.parametrize("stamps", [[0, 40, 40, 80], [0, 40, 0], [0, 40, 60, 80]])
def test_timestamps_that_give_no_frame_number_stop_with_an_error(monkeypatch, index_avi, stamps):
    source = fake_source(monkeypatch, index_avi, stamps)
    with pytest.raises(SourceError, match=r"index\.avi: the frame timestamps are inconsistent"):
        list(source)


def test_nothing_is_printed_while_reading_a_damaged_file(tmp_path, index_avi, capfd):
    path = damage_chunk_ids(index_avi, tmp_path / "broken.avi", range(50, 70))
    capfd.readouterr()
    list(VideoSource(path))
    assert capfd.readouterr() == ("", "")
