"""A real headless Chromium (Debian's ``chromium``) driven by Playwright, for the
annotation page tests; tests skip when either is missing (scripts/test.sh installs both)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = Path(os.environ.get("DPK_TEST_ARTEFACTS", ROOT / "build" / "test-artefacts"))
"""Where screenshots are kept (CI keeps this folder)."""


def chromium_path() -> str:
    """The system Chromium, or skip."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium (apt-get install chromium): browser tests skip")


@contextmanager
def browser() -> Iterator:
    """A headless Chromium (never a downloaded one: ``playwright install`` is not used)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser, url: str, width: int = 1200, height: int = 800):
    """A new tab (its own session storage) on the annotation page, ready."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("window.dpk && window.dpk.ready")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def settle(page) -> None:
    """Wait until every change the page made is saved and no frame is loading."""
    page.wait_for_function("window.dpk.idle()")


def click_pixel(page, x: float, y: float) -> None:
    """Click the screen pixel showing image pixel (x, y)."""
    cx, cy = page.evaluate(f"window.dpk.toClient({x}, {y})")
    page.mouse.click(cx, cy)


def hover_pixel(page, x: float, y: float) -> None:
    """Move the mouse onto image pixel (x, y)."""
    cx, cy = page.evaluate(f"window.dpk.toClient({x}, {y})")
    page.mouse.move(cx, cy)
