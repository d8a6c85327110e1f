"""Debian's chromium driven by Playwright (installed by scripts/browser_install.sh; Playwright
never downloads a browser of its own here). Screenshots go to build/screenshots/, a path the
tests print so CI's output names them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "screenshots"


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run scripts/browser_install.sh (make test does)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # root in CI: chromium's sandbox needs an unprivileged user
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page with every request, console message and uncaught error it produced."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*self.errors, *(m for m in self.console if m.startswith(("error", "warning")))]


def open_page(browser: Browser, url: str) -> Watched:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watched = Watched(page)
    page.on("request", lambda request: watched.requests.append(request.url))
    page.on("console", lambda message: watched.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    response = page.goto(url)
    assert response is not None, url
    assert response.ok, url
    return watched


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot: {path}")
    return path


def image_sizes(page: Page) -> list[dict[str, Any]]:
    sizes: list[dict[str, Any]] = page.eval_on_selector_all(
        "#plots figure img",
        "images => images.map(i => ({alt: i.alt, width: i.naturalWidth, complete: i.complete}))",
    )
    return sizes
