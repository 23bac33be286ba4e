"""``dpk predict`` on many videos in one process: inputs, manifest, resume, lock, bad input."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpk.runtime.batch_inputs import expand_inputs
from dpk.runtime.manifest import MANIFEST_NAME, BatchLock, record_path
from dpk.specs.files import OutputError
from tests.runtime.conftest import write_dot_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    """Three short dot videos of different lengths."""
    folder = tmp_path_factory.mktemp("videos")
    paths = []
    for i in range(3):
        path = folder / f"v{i}.avi"
        write_dot_video(path, n=12 + 3 * i)
        paths.append(path)
    return paths


def _manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def test_expand_inputs_folders_globs_lists_duplicates_missing(videos, tmp_path):
    folder = videos[0].parent
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# my videos\n{videos[1]}\n\n{folder}/v*.avi\nmissing.mp4\n")
    found = expand_inputs([folder, listing, str(folder / "nothing*.mp4")])
    assert found.videos == videos
    assert [t for t, _ in found.missing] == ["missing.mp4", str(folder / "nothing*.mp4")]
    assert len(found.duplicates) == 4  # v1 from the list, then v0-v2 from the pattern


def test_batch_writes_one_set_per_video_and_a_rerun_skips_them(
    run_cli, videos, model_path, tmp_path
):
    out = tmp_path / "out"
    args = ["predict", *videos, "-m", model_path, "-O", out, "--format", "csv", "--format", "h5"]
    code, stdout, err = run_cli(*args, "--device", "cpu", "-q")
    assert code == 0, err
    for i in range(len(videos)):
        assert (out / f"v{i}.csv").is_file() and (out / f"v{i}.h5").is_file()
    manifest = _manifest(out)
    assert manifest["counts"] == {"done": 3}
    entry = manifest["videos"][1]
    assert entry["video"] == str(videos[1]) and entry["frames"] == 15
    assert entry["identity"]["size"] == videos[1].stat().st_size
    assert entry["model_sha256"] == manifest["model"]["sha256"]
    assert "3 videos: 3 done" in stdout
    before = {v: record_path(out, v.stem).read_text() for v in videos}

    os.utime(videos[2])  # a newer mtime: that video is redone, the others are skipped
    code, stdout, err = run_cli(*args, "--device", "cpu", "-q")
    assert code == 0, err
    assert "3 videos: 1 done, 2 skipped" in stdout
    assert record_path(out, "v0").read_text() == before[videos[0]]
    assert record_path(out, "v2").read_text() != before[videos[2]]
    assert _manifest(out)["counts"] == {"done": 3}


def test_batch_reports_duplicates_and_missing_and_goes_on(run_cli, videos, model_path, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{videos[0]}\n{videos[0]}\n{tmp_path / 'gone.mp4'}\n{videos[1]}\n")
    out = tmp_path / "out"
    code, stdout, err = run_cli("predict", listing, "-m", model_path, "-O", out, "-q")
    assert code == 1  # a missing video is a failure of the batch
    assert "gone.mp4: no such file; the other videos go on" in err
    assert "listed more than once; it runs once" in err
    assert "Traceback" not in err
    assert _manifest(out)["counts"] == {"done": 2, "missing": 1}
    assert "3 videos: 2 done, 1 missing" in stdout


def test_full_disk_stops_the_batch_and_the_manifest_says_what_is_done(
    run_cli, videos, model_path, tmp_path, monkeypatch
):
    import dpk.runtime.formats as formats

    real_save = formats.save_predictions

    def save(path, predictions, fmt=None):
        if Path(path).stem == "v1":
            raise OutputError(
                f"{path}: could not be written (No space left on device; free some space or choose another folder)"
            )
        return real_save(path, predictions, fmt)

    monkeypatch.setattr(formats, "save_predictions", save)
    out = tmp_path / "out"
    code, stdout, err = run_cli("predict", *videos, "-m", model_path, "-O", out, "-q")
    assert code == 1
    assert "the batch stopped: the output folder is full" in err
    statuses = {v["name"]: v["status"] for v in _manifest(out)["videos"]}
    assert statuses == {"v0": "done", "v1": "failed", "v2": "pending"}
    assert not (out / "v1.h5").exists() and not (out / "v2.h5").exists()
    monkeypatch.setattr(formats, "save_predictions", real_save)  # space freed: rerun finishes
    code, stdout, err = run_cli("predict", *videos, "-m", model_path, "-O", out, "-q")
    assert code == 0, err
    assert "3 videos: 2 done, 1 skipped" in stdout


def test_a_second_batch_on_the_same_folder_is_refused(run_cli, videos, model_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with BatchLock(out):
        code, _, err = run_cli("predict", videos[0], "-m", model_path, "-O", out, "-q")
    assert code == 2
    assert "another batch" in err and "is writing this output folder" in err
    assert len(err.strip().splitlines()) == 1


def test_a_scheduler_that_does_not_answer_is_one_line_exit_2(run_cli, videos, model_path, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = run_cli(
        "predict", videos[0], "-m", model_path, "-O", tmp_path / "out",
        "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1",
    )  # fmt: skip
    assert code == 2
    assert err.strip().count("\n") == 0 and "no Dask scheduler answers there" in err


def test_batch_needs_output_dir_for_many_inputs(run_cli, videos, model_path):
    code, _, err = run_cli("predict", *videos, "-m", model_path, "-o", "x.csv")
    assert code == 2 and "--output-dir" in err


def _wait_for(condition, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit  # a safety net only: the test waits on files
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
@pytest.mark.timeout(300)
def test_resume_after_sigkill_of_the_client_redoes_nothing_finished(videos, model_path, tmp_path):
    # The third "video" is a named pipe: opening it blocks until someone writes, so the
    # client is killed while it waits there, after the first two are finished, without
    # any timing guess.
    third = tmp_path / "v2.avi"
    os.mkfifo(third)
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "dpk.runtime.cli", "predict", videos[0], videos[1], third,
        "-m", model_path, "-O", out, "--device", "cpu", "-q",
    ]  # fmt: skip
    client = subprocess.Popen(
        [str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(lambda: record_path(out, "v1").exists(), "the second video's record")
        finished = {name: record_path(out, name).read_text() for name in ("v0", "v1")}
        client.send_signal(signal.SIGKILL)
        client.wait()
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert not record_path(out, "v2").exists()
    third.unlink()
    write_dot_video(third, n=9)
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 videos: 1 done, 2 skipped" in done.stdout
    for name, text in finished.items():  # not redone: the records are untouched
        assert record_path(out, name).read_text() == text
    assert _manifest(out)["counts"] == {"done": 3}
