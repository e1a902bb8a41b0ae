"""Headless Chromium for the dashboard tests, screenshots and polling waits.

Chromium is Debian's (``/usr/bin/chromium``, installed by CI), driven by Playwright's sync
API; the flags keep it from reaching the network or doing background work on a 2-core box.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from playwright.sync_api import Browser, Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LOCALROUTER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
# Screenshots of each state, for people to look at (git-ignored).
ARTIFACTS = REPO / "test-artifacts" / "ui"

T = TypeVar("T")
WAIT = 20_000  # ms; Playwright's expect polls until then


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for one test module."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def dashboard(browser: Browser, base_url: str) -> Iterator[Page]:
    """A tab on the dashboard, connected; fails the test on any uncaught error in the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    crashes: list[str] = []
    tab.on("pageerror", lambda error: crashes.append(str(error)))
    tab.goto(base_url + "/")
    expect(tab.locator("#connection")).to_have_attribute("data-ok", "true", timeout=WAIT)
    yield tab
    context.close()
    assert not crashes, f"uncaught errors in the page: {crashes}"


def wait_until(
    check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(interval)  # polling interval of a deadline loop, not a synchronisation


class Screenshots:
    """Saves full-page screenshots as ``ARTIFACTS/NN-name.png`` in the order taken."""

    def __init__(self, folder: Path = ARTIFACTS) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("[0-9][0-9]-*.png"):  # its own; other files keep theirs
            old.unlink()
        self.saved: list[Path] = []

    def take(self, page: Page, name: str) -> Path:
        safe = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
        path = self.folder / f"{len(self.saved) + 1:02d}-{safe}.png"
        page.screenshot(path=str(path), full_page=True)
        self.saved.append(path)
        return path
