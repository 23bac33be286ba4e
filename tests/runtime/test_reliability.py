"""No data loss, no silent wrong output, honest exit codes (issue 11).

Outputs never replace inputs; a writer that fails (a full disk) is an error, not a
success; one failing output does not cost the others; SIGTERM removes unfinished files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.runtime.conftest import write_dot_video
from tests.runtime.test_commands import assert_one_line_error


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def predicted(run_cli, dot_video, model_path, tmp_path):
    """The dot video copied into tmp_path, and its predictions as p.h5."""
    video = tmp_path / "v.avi"
    video.write_bytes(dot_video[0].read_bytes())
    h5 = tmp_path / "p.h5"
    assert run_cli("predict", video, "-m", model_path, "-o", h5, "-q")[0] == 0
    return video, h5


@pytest.mark.parametrize("kind", ["same", "spelled", "symlink", "hardlink"])
def test_render_refuses_to_overwrite_its_video(run_cli, predicted, tmp_path, kind):
    video, h5 = predicted
    before = video.read_bytes()
    output = {
        "same": video,
        "spelled": tmp_path / "." / "sub" / ".." / video.name,
        "symlink": tmp_path / "link.avi",
        "hardlink": tmp_path / "hard.avi",
    }[kind]
    if kind == "symlink":
        output.symlink_to(video)
    elif kind == "hardlink":
        os.link(video, output)
    code, out, err = run_cli("render", video, h5, "-o", output, "-q")
    assert_one_line_error(code, err, str(output), "is an input", "choose another output name")
    assert out == "" and video.read_bytes() == before and _hidden(tmp_path) == []


def test_predict_and_plot_refuse_outputs_that_are_inputs_or_twice(
    run_cli, predicted, model_path, tmp_path
):
    video, h5 = predicted
    before = h5.read_bytes()
    code, _, err = run_cli("predict", video, "-m", model_path, "-o", h5, "-o", tmp_path / "a.csv")
    assert code == 0, err  # rewriting an earlier output is fine
    (tmp_path / "v.csv").symlink_to(video)  # a link with a prediction suffix to the video
    code, _, err = run_cli("predict", video, "-m", model_path, "-o", tmp_path / "v.csv")
    assert_one_line_error(code, err, "v.csv", "is an input")
    code, _, err = run_cli(
        "predict", video, "-m", model_path, "-o", tmp_path / "x.csv", "-o",
        tmp_path / "." / "x.csv",
    )  # fmt: skip
    assert_one_line_error(code, err, "same file as the output")
    assert "frames/s" not in err and not (tmp_path / "x.csv").exists()
    h5.write_bytes(before)
    (tmp_path / "p.png").symlink_to(h5)
    code, _, err = run_cli("plot", h5, "-o", tmp_path / "p.png")
    assert_one_line_error(code, err, "p.png", "is an input")
    assert h5.read_bytes() == before


def test_read_only_output_is_refused_before_any_work(run_cli, predicted, model_path, tmp_path):
    video, h5 = predicted
    target = tmp_path / "keep.csv"
    target.write_text("keep me")
    target.chmod(0o444)
    code, _, err = run_cli("predict", video, "-m", model_path, "-o", target)
    assert_one_line_error(code, err, "keep.csv", "is read-only; remove it or choose another name")
    assert "frames/s" not in err and target.read_text() == "keep me"
    overlay = tmp_path / "keep.avi"
    overlay.write_bytes(b"old")
    overlay.chmod(0o444)
    code, _, err = run_cli("render", video, h5, "-o", overlay, "-q")
    assert_one_line_error(code, err, "is read-only")
    assert overlay.read_bytes() == b"old"


def test_symlinked_output_is_written_through_the_link(run_cli, predicted, model_path, tmp_path):
    video, _ = predicted
    real = tmp_path / "store" / "p.csv"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "p.csv"
    link.symlink_to(real)
    code, _, err = run_cli("predict", video, "-m", model_path, "-o", link, "-q")
    assert code == 0, err
    assert link.is_symlink() and real.read_text().startswith("frame,")


class _BrokenWriter:
    """A cv2.VideoWriter on a full disk: opens, takes frames, leaves a truncated file."""

    def __init__(self, path, *args):
        self.path = Path(path)
        self.path.write_bytes(b"\x00\x00\x00\x18ftypmp42")

    def isOpened(self):
        return True

    def write(self, frame):
        pass

    def release(self):
        pass


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_render_with_a_writer_that_fails_silently(
    run_cli, predicted, tmp_path, monkeypatch, suffix
):
    import dpk.runtime.render as render

    video, h5 = predicted
    monkeypatch.setattr(render.cv2, "VideoWriter", _BrokenWriter)
    output = tmp_path / f"o{suffix}"
    code, out, err = run_cli("render", video, h5, "-o", output, "-q")
    assert_one_line_error(code, err, str(output), "writing the video failed", "free some space")
    assert "wrote" not in out and not output.exists() and _hidden(tmp_path) == []


def test_predict_writes_the_outputs_it_can(run_cli, predicted, model_path, tmp_path, monkeypatch):
    """A full disk under one output: the others are written, each failure is one line."""
    import errno

    import dpk.runtime.formats.predictions_h5 as predictions_h5
    from dpk.specs.files import atomic_output

    video, _ = predicted

    def full_disk(path, data, **kwargs):
        with atomic_output(path) as tmp:
            tmp.write_bytes(data[:100])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(predictions_h5, "write_bytes_atomic", full_disk)
    h5, csv = tmp_path / "new.h5", tmp_path / "new.csv"
    code, out, err = run_cli("predict", video, "-m", model_path, "-o", h5, "-o", csv, "-q")
    assert_one_line_error(code, err, str(h5), "No space left on device", "free some space")
    assert code == 1 and f"wrote {csv} (csv, 30 frames)" in out
    assert csv.is_file() and not h5.exists() and _hidden(tmp_path) == []


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to its last 4 KiB (needs root; skipped where mount is refused)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        (mount / "filler").write_bytes(bytes(60 * 1024))
        yield mount
    finally:
        # lazy: a file still open in a finished subprocess must not keep it mounted
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_render_predict_and_plot_on_a_full_disk(
    run_cli, predicted, model_path, tmp_path, full_disk
):
    video, h5 = predicted
    for name in ("o.avi", "o.mp4"):
        code, out, err = run_cli("render", video, h5, "-o", full_disk / name, "-q")
        assert_one_line_error(code, err, name, "free some space")
        assert "wrote" not in out
    csv = tmp_path / "ok.csv"
    code, out, err = run_cli(
        "predict", video, "-m", model_path, "-o", full_disk / "p.h5", "-o", csv, "-q"
    )
    assert_one_line_error(code, err, "p.h5", "free some space")
    assert code == 1 and csv.is_file()
    code, _, err = run_cli("plot", h5, "-o", full_disk / "p.png")
    assert_one_line_error(code, err, "p.png", "free some space")
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


_HOLD = """
import sys, time
from pathlib import Path

marker, where, argv = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]

def hold():
    marker.write_text("writing")
    while True:
        time.sleep(1)  # SIGTERM arrives here

if where == "render":
    import cv2
    Real = cv2.VideoWriter

    class Holding:
        def __init__(self, *args):
            self.writer = Real(*args)
        def isOpened(self):
            return self.writer.isOpened()
        def write(self, frame):
            self.writer.write(frame)
            hold()
        def release(self):
            self.writer.release()

    cv2.VideoWriter = Holding
else:
    import dpk.runtime.formats.table_csv as table_csv
    header = table_csv._header

    def holding_header(predictions):
        hold()
        return header(predictions)

    table_csv._header = holding_header

from dpk.runtime.cli import main
sys.exit(main(argv))
"""


@pytest.mark.parametrize("verb", ["render", "predict"])
def test_sigterm_while_writing_removes_the_unfinished_file(predicted, model_path, tmp_path, verb):
    video, h5 = predicted
    out = tmp_path / "out"
    out.mkdir()
    marker = tmp_path / "marker"
    if verb == "render":
        argv = ["render", video, h5, "-o", out / "o.avi", "-q"]
    else:
        argv = ["predict", video, "-m", model_path, "-o", out / "p.csv", "-q"]
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, marker, verb, *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    while not marker.exists() and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    assert len(_hidden(out)) == 1  # the temporary file is being written
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate()
    assert process.returncode == 143, stderr
    assert (
        stderr.strip().splitlines()[-1]
        == f"dpk {verb}: stopped by SIGTERM; unfinished outputs were removed"
    )
    assert "Traceback" not in stderr and stdout == ""
    assert list(out.iterdir()) == []


def test_huge_batch_size_is_refused_with_a_fix(run_cli, predicted, model_path, tmp_path):
    video, _ = predicted
    code, _, err = run_cli(
        "predict", video, "-m", model_path, "-o", tmp_path / "b.csv", "--batch-size", "100000000"
    )
    assert code == 2 and "use at most 4096" in err and "Traceback" not in err


def test_memory_error_is_one_line(run_cli, predicted, model_path, tmp_path, monkeypatch):
    import dpk.runtime.predictor as predictor

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(predictor.Predictor, "predict_path", no_memory)
    video, _ = predicted
    code, _, err = run_cli("predict", video, "-m", model_path, "-o", tmp_path / "m.csv")
    assert_one_line_error(code, err, "out of memory", "smaller --batch-size")


def test_ffmpeg_and_opencv_logs_stay_off_the_terminal(model_path, tmp_path):
    """A truncated .mp4 makes FFmpeg print 'moov atom not found': only dpk's line is shown."""
    good = tmp_path / "good.mp4"
    write_dot_video(good, fourcc="mp4v")
    data = good.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) // 3])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
    done = subprocess.run(
        [sys.executable, "-m", "dpk.runtime.cli", "predict", str(broken), "-m", str(model_path),
         "-o", str(tmp_path / "p.csv")],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert "moov atom" not in done.stderr and len(lines) == 2, done.stderr
    assert lines[0].startswith("model fake.onnx") and "cannot open the video" in lines[1]


def test_render_output_is_checked_frame_by_frame_count(predicted, tmp_path):
    """The real writer passes the check: every frame is in the file and the last decodes."""
    from dpk.runtime.render import check_video_written

    path = tmp_path / "c.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), i * 40, np.uint8))
    writer.release()
    check_video_written(path, 5, path)
    from dpk.runtime.atomic import OutputError

    with pytest.raises(OutputError, match="holds 5 of 6 frames"):
        check_video_written(path, 6, path)
