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
    # Headless Chromium asks for no favicon; a headed one does, and tests/api/test_page.py checks it is served.
    problems.assert_clean()
    page.close()
