"""Playwright driving Debian's Chromium (launched by path: nothing is downloaded), against a real
server process. Every page records console errors, failed requests and any request that leaves
127.0.0.1, and a test fails if it saw one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.core.config import PROJECT_ROOT
from tests.availability import unavailable
from tests.live import LiveServer, live_server

CHROMIUM = os.environ.get("DIGITS_TEST_CHROMIUM", "/usr/bin/chromium")
# Where screenshots go: kept after the run so that a person can look at them.
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
# The probe's flags: without the background-networking ones Chromium keeps dialling out of a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class PageProblems:
    """Everything a page did that a person would call broken."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    error_responses: list[tuple[int, str]] = field(default_factory=list)  # (status, URL path) of HTTP >= 400

    def expect_error(self, status: int, path: str) -> None:
        """A test that provokes an error answer on purpose (a wrong token): it happened, and is not a problem.

        Chromium also logs each such answer as a console error; those go too.
        """
        assert (status, path) in self.error_responses, f"expected a {status} from {path}, saw {self.error_responses}"
        self.error_responses = [seen for seen in self.error_responses if seen != (status, path)]
        logged = f"the server responded with a status of {status} "
        self.console_errors = [
            text for text in self.console_errors if not (logged in text and text.endswith(f" [{path}]"))
        ]

    def assert_clean(self) -> None:
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.failed_requests, f"failed requests: {self.failed_requests}"
        assert not self.error_responses, f"error answers (status, path): {self.error_responses}"
        assert not self.foreign_requests, f"requests that left 127.0.0.1: {self.foreign_requests}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per test module, with a known admin token."""
    tmp = tmp_path_factory.mktemp("browser-server")
    with live_server(tmp, {"DIGITS_ADMIN_TOKEN": BROWSER_TOKEN}) as running:
        yield running


BROWSER_TOKEN = "browser-test-token"


def watch(page: Any) -> PageProblems:
    """Record PAGE's console errors, failed requests (HTTP >= 400 included) and non-local requests."""
    problems = PageProblems()

    def on_console(message: Any) -> None:
        if message.type == "error":
            source = urlsplit(message.location.get("url") or "").path
            problems.console_errors.append(f"{message.text} [{source}]")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            problems.error_responses.append((response.status, urlsplit(response.url).path))

    def on_request(request: Any) -> None:
        host = urlsplit(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host != "127.0.0.1":
            problems.foreign_requests.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.console_errors.append(str(error)))
    page.on("requestfailed", lambda request: problems.failed_requests.append(f"{request.url}: {request.failure}"))
    page.on("request", on_request)
    page.on("response", on_response)
    return problems


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
