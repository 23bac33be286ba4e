"""The annotation page in a real headless Chromium, used as a person would."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pytest

from dpk.specs.skeleton import Skeleton
from dpk.trainer.labelling.project import LABELLED, MISSING, OCCLUDED, Project
from dpk.trainer.labelling.server import AnnotationServer

from .browser import ARTEFACTS, browser, click_pixel, hover_pixel, open_page, settle

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

NAMES = ["nose", "earL", "earR", "tail"]


@pytest.fixture
def project(tmp_path, shared_data) -> Project:
    video = shared_data / "lp-mirror-mouse" / "videos" / "test_vid.mp4"
    skeleton = Skeleton(
        names=NAMES, parents=[None, "nose", "nose", "nose"], swaps=[None, "earR", "earL", None]
    )
    project = Project.new(tmp_path / "mouse.slp", skeleton)
    vid = project.video_id(video)
    for index in (10, 500, 900):
        project.add_frame(vid, index)
    project.save()
    return project


@pytest.fixture
def server(project):
    server = AnnotationServer(Project.load(project.path))
    server.start()
    yield server
    server.shutdown()


def test_mouse_keyboard_undo_occluded_reload(server, project):
    with browser() as chromium:
        page = open_page(chromium, server.url)
        page.keyboard.press("1")  # 100%: one image pixel per screen pixel
        click_pixel(page, 100, 50)  # nose; the page moves on to earL
        click_pixel(page, 200, 120)  # earL
        hover_pixel(page, 150, 80)
        page.keyboard.press("f")  # earR at the mouse, by the keyboard
        page.keyboard.press("Shift+Tab")  # back to earR
        for key in ("Shift+ArrowRight", "Shift+ArrowRight", "Shift+ArrowDown"):
            page.keyboard.press(key)  # nudged to (152, 81)
        page.keyboard.press("Tab")  # tail
        click_pixel(page, 300, 300)
        page.keyboard.press("Control+z")  # the tail undone
        page.keyboard.press("Control+y")  # redone
        page.keyboard.press("Control+z")  # undone again: tail missing
        page.click('li[data-keypoint="earL"]')
        page.keyboard.press("o")  # earL occluded, its position kept
        click_pixel(page, 600, 50)  # outside the 406 px wide image
        assert "outside the image" in page.inner_text("#message")
        settle(page)
        page.keyboard.press("Enter")  # done; the next frame opens
        settle(page)
        # second frame: two points, then swap left/right
        click_pixel(page, 10, 10)  # nose
        click_pixel(page, 20, 30)  # earL
        page.keyboard.press("s")  # earL <-> earR
        settle(page)
        page.reload()
        page.wait_for_function("window.dpk && window.dpk.ready")
        settle(page)
        assert page.evaluate("window.dpk.state().pos") == 1  # the same frame after a reload
        assert page.evaluate("window.dpk.state().frame.state[2]") == "labelled"
        assert "done" in page.inner_text("#frames")
        page.keyboard.press("ArrowLeft")
        settle(page)
        assert page.evaluate("window.dpk.state().pos") == 0
        page.keyboard.press("0")  # fit, for the screenshot
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "annotate.png"))
        assert not page.errors
    saved = Project.load(project.path)
    first, second, third = saved.frames.values()
    assert first.state.tolist() == [LABELLED, OCCLUDED, LABELLED, MISSING] and first.done
    np.testing.assert_array_equal(first.xy[:3], [[100, 50], [200, 120], [152, 81]])
    assert np.isnan(first.xy[3]).all()
    assert second.state.tolist() == [LABELLED, MISSING, LABELLED, MISSING] and not second.done
    np.testing.assert_array_equal(second.xy[[0, 2]], [[10, 10], [20, 30]])
    assert third.status == "new"


def test_second_tab_is_read_only(server, project):
    with browser() as chromium:
        first = open_page(chromium, server.url)
        second = open_page(chromium, server.url)
        assert "READ-ONLY" in second.inner_text("#mode")
        assert "READ-ONLY" not in first.inner_text("#mode")
        second.keyboard.press("1")
        click_pixel(second, 40, 40)
        assert "read-only" in second.inner_text("#message")
        first.keyboard.press("1")
        click_pixel(first, 30, 30)
        settle(first)
    request = urllib.request.Request(
        server.url + "api/frame/0",
        data=json.dumps({"x": [1] * 4, "y": [1] * 4, "state": ["labelled"] * 4}).encode(),
        method="PUT",
        headers={"X-Dpk-Token": "forged"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 409
    saved = next(iter(Project.load(project.path).frames.values()))
    assert saved.state.tolist() == [LABELLED, MISSING, MISSING, MISSING]
    np.testing.assert_array_equal(saved.xy[0], [30, 30])


def test_server_listens_on_loopback_only(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert server.httpd.server_address[0] == "127.0.0.1"


def test_zoom_pan_and_drag(server, project):
    with browser() as chromium:
        page = open_page(chromium, server.url)
        page.keyboard.press("1")
        cx, cy = page.evaluate("window.dpk.toClient(100, 100)")
        page.mouse.move(cx, cy)
        for _ in range(3):
            page.mouse.wheel(0, -100)  # zoom in about the mouse: 1.25^3
        page.wait_for_function("Math.abs(window.dpk.state().view.scale - 1.953125) < 1e-6")
        x, y = page.evaluate(f"window.dpk.toImage({cx}, {cy})")
        assert abs(x - 100) < 0.5 and abs(y - 100) < 0.5  # the point under the mouse stays
        page.mouse.move(cx, cy)
        page.mouse.down(button="right")  # pan by (40, -20) screen pixels
        page.mouse.move(cx + 40, cy - 20, steps=4)
        page.mouse.up(button="right")
        click_pixel(page, 120, 60)  # nose
        settle(page)
        cx, cy = page.evaluate("window.dpk.toClient(120, 60)")
        page.mouse.move(cx, cy)
        page.mouse.down()  # drag the nose
        tx, ty = page.evaluate("window.dpk.toClient(130, 70)")
        page.mouse.move(tx, ty, steps=5)
        page.mouse.up()
        settle(page)
        assert not page.errors
    frame = next(iter(Project.load(project.path).frames.values()))
    assert frame.state.tolist()[0] == LABELLED
    np.testing.assert_allclose(frame.xy[0], [130, 70], atol=0.5)  # half a screen pixel


def test_closing_the_writing_tab_lets_another_write(server, project):
    with browser() as chromium:
        first = open_page(chromium, server.url)
        second = open_page(chromium, server.url)
        assert "READ-ONLY" in second.inner_text("#mode")
        first.close()  # gives its write token back
        third = open_page(chromium, server.url)
        assert "READ-ONLY" not in third.inner_text("#mode")
        third.keyboard.press("1")
        click_pixel(third, 5, 6)
        settle(third)
        third.reload()  # a reload keeps writing
        third.wait_for_function("window.dpk && window.dpk.ready")
        assert "READ-ONLY" not in third.inner_text("#mode")
    saved = next(iter(Project.load(project.path).frames.values()))
    np.testing.assert_array_equal(saved.xy[0], [5, 6])
