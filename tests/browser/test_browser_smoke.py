"""The browser set-up itself: Chromium starts, reaches the live server and nothing else."""

from __future__ import annotations

import json
from typing import Any

from tests.browser.conftest import watch
from tests.live import LiveServer


def test_chromium_reads_the_live_server(browser: Any, server: LiveServer) -> None:
    page = browser.new_page()
    problems = watch(page)
    response = page.goto(f"{server.url}/health")
    assert response is not None
    assert response.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"
    # Console errors are not checked here: /favicon.ico is the page issue's to serve.
    assert not problems.failed_requests
    assert not problems.foreign_requests
    page.close()
