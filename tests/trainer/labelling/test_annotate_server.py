"""``dpk annotate`` as a process: SIGKILL during saves loses nothing saved, one server per
project, moved videos and bad requests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dpk.specs.skeleton import Skeleton
from dpk.trainer.labelling.project import LABELLED, Project
from tests.runtime.conftest import write_dot_video

pytest.importorskip("sleap_io")

NAMES = ["a", "b", "c"]


@pytest.fixture
def project(tmp_path) -> Project:
    video = tmp_path / "dots.avi"
    write_dot_video(video, n=30)
    project = Project.new(tmp_path / "p.slp", Skeleton.from_names(NAMES))
    vid = project.video_id(video)
    for index in range(0, 30, 3):
        project.add_frame(vid, index)
    project.save()
    return project


def _default_ctrl_c() -> None:
    # A shell starts background jobs with SIGINT ignored, children inherit that, and Python
    # leaves an ignored SIGINT ignored: restore the default so the server gets Ctrl-C as it
    # would from a terminal, however the test run itself was started.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_annotate(path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "dpk.runtime.cli", "annotate", str(path), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_ctrl_c,
    )
    lines = []
    for line in child.stdout:
        lines.append(line)
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if found:
            return child, found.group(0)
    child.kill()
    raise AssertionError(f"no address in {lines!r}: {child.stderr.read()}")


def stop_annotate(child: subprocess.Popen) -> None:
    """Ctrl-C the server and wait for it, draining its output so that a full pipe never
    blocks it (the generous limit only guards against a hang, it times nothing)."""
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=300)


def call(url: str, method: str = "GET", body=None, token: str | None = None):
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"X-Dpk-Token": token or "", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def test_sigkill_during_saves_loses_nothing_saved(project):
    child, url = start_annotate(project.path)
    token = call(url + "api/claim", "POST", {})["token"]
    acknowledged: dict[int, float] = {}
    stop = threading.Event()

    def label() -> None:
        value = 1.0
        while not stop.is_set():
            position = int(value) % 10
            body = {"x": [value, 1, 2], "y": [3, 4, 5], "state": ["labelled"] * 3}
            try:
                call(url + f"api/frame/{position}", "PUT", body, token)
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # the server is gone
            acknowledged[position] = value
            value += 1.0

    worker = threading.Thread(target=label)
    worker.start()
    while len(acknowledged) < 10 or max(acknowledged.values()) < 25:
        worker.join(0.05)
    os.kill(child.pid, signal.SIGKILL)  # while saves are going on
    stop.set()
    worker.join()
    child.wait()
    saved = Project.load(project.path)  # the project opens
    frames = list(saved.frames.values())
    for position, value in acknowledged.items():
        # every acknowledged save is there (or a later one that had not been acknowledged)
        assert frames[position].state.tolist() == [LABELLED] * 3
        assert frames[position].xy[0, 0] >= value
    # the killed server's lock is stale: a new server takes the project over
    again, url = start_annotate(project.path)
    try:
        assert call(url + "api/project")["names"] == NAMES
    finally:
        stop_annotate(again)
    assert not project.path.with_name("p.slp.lock").exists()


def test_one_server_per_project(project, run_cli):
    child, _url = start_annotate(project.path)
    try:
        code, _out, err = run_cli("annotate", project.path)
        assert code == 2 and "already open in dpk annotate" in err
    finally:
        stop_annotate(child)


def test_moved_video_is_a_clear_error_and_relink_fixes_it(project, tmp_path, run_cli):
    moved = tmp_path / "moved"
    moved.mkdir()
    new = moved / "dots.avi"
    (tmp_path / "dots.avi").rename(new)
    code, _out, err = run_cli("annotate", project.path)
    assert code == 2
    assert "dots.avi not found" in err and "--relink" in err
    child, url = start_annotate(project.path, "--relink", str(new))
    try:
        image = urllib.request.urlopen(url + "api/image/0.png", timeout=300).read()
        assert image[:4] == b"\x89PNG"
    finally:
        stop_annotate(child)
    assert Project.load(project.path).videos == [new.resolve()]


def test_bad_requests(project):
    from dpk.trainer.labelling.server import AnnotationServer

    server = AnnotationServer(Project.load(project.path))
    server.start()
    try:
        token = call(server.url + "api/claim", "POST", {})["token"]
        for position, body, code in (
            (99, {"x": [1] * 3, "y": [1] * 3, "state": ["labelled"] * 3}, 404),
            (0, {"x": [1], "y": [1], "state": ["labelled"]}, 422),
            (0, {"x": [None] * 3, "y": [None] * 3, "state": ["labelled"] * 3}, 422),
            (0, {"x": [1] * 3, "y": [1] * 3, "state": ["flying"] * 3}, 422),
        ):
            with pytest.raises(urllib.error.HTTPError) as error:
                call(server.url + f"api/frame/{position}", "PUT", body, token)
            assert error.value.code == code
        assert np.isnan(server.project.frames[(0, 0)].xy).all()
    finally:
        server.shutdown()


def test_a_frame_that_cannot_be_decoded(project):
    from dpk.trainer.labelling.server import AnnotationServer

    project.add_frame(0, 500)  # past the end of the 30-frame video
    server = AnnotationServer(project)
    server.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(server.url + f"api/image/{len(project.frames) - 1}.png")
        assert error.value.code == 422
        assert "cannot decode frame 500" in json.loads(error.value.read())["error"]
        assert urllib.request.urlopen(server.url + "api/image/0.png").read()[:4] == b"\x89PNG"
    finally:
        server.shutdown()
