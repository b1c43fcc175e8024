"""Train from the page: the token form, a small job followed live over SSE, a wrong token, cancel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import BROWSER_TOKEN, screenshot, watch
from tests.browser.page import DESKTOP, PHONE, goto, new_tab
from tests.live import LiveServer

JOB_TIMEOUT_MS = 180_000


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    tab = new_tab(browser, DESKTOP)
    yield tab
    tab.close()


def fill_form(
    page: Any,
    token: str,
    arch: str,
    epochs: int,
    train_limit: int | None,
    activate: bool,
    learning_rate: str = "",
    force: bool = False,
) -> None:
    page.fill("#train-token", token)
    page.select_option("#arch", arch)
    page.fill("#epochs", str(epochs))
    page.fill("#learning_rate", learning_rate)
    page.fill("#train_limit", "" if train_limit is None else str(train_limit))
    page.set_checked("#activate", activate)
    page.set_checked("#force_activate", force)


def test_a_wrong_token_shows_the_401_message(page: Any, server: LiveServer) -> None:
    problems = watch(page)
    goto(page, server.url, "train")
    fill_form(page, "not-the-token", "mlp", 1, 1000, False)
    page.click("#train-start")
    page.wait_for_selector("#train-status.error")
    assert "invalid bearer token" in page.inner_text("#train-status")
    assert page.get_attribute("#train-status", "role") == "alert"
    problems.expect_error(401, "/train")
    problems.assert_clean()


def test_a_small_job_is_followed_live_until_it_succeeds(page: Any, server: LiveServer) -> None:
    problems = watch(page)
    goto(page, server.url, "train")
    # Every value the loss chart's point count takes, in order (each record holds the value it replaced).
    page.evaluate(
        """() => {
          window.pointCounts = [];
          new MutationObserver((records) => records.forEach((r) => window.pointCounts.push(r.oldValue)))
            .observe(document.getElementById("chart-loss"),
                     { attributes: true, attributeFilter: ["data-points"], attributeOldValue: true });
        }"""
    )
    # Forced: a 1,000-image mlp is far below the served cnn, so the quality gate would hold it back.
    fill_form(page, BROWSER_TOKEN, "mlp", 2, 1000, True, learning_rate="0.005", force=True)
    page.click("#train-start")
    page.wait_for_selector('#job-progress[data-status="succeeded"]', timeout=JOB_TIMEOUT_MS)
    # The token stays in this tab's sessionStorage, nowhere else.
    assert page.evaluate("Object.values(sessionStorage)") == [BROWSER_TOKEN]
    assert page.evaluate("localStorage.length") == 0
    assert BROWSER_TOKEN not in page.url
    counts = [*page.evaluate("window.pointCounts"), page.get_attribute("#chart-loss", "data-points")]
    # One point per epoch, one epoch at a time: 0 -> 1 -> 2 (a value may repeat as the job's status changes).
    assert [n for i, n in enumerate(counts) if i == 0 or n != counts[i - 1]] == ["0", "1", "2"], counts
    assert page.get_attribute("#chart-accuracy", "data-points") == "2"
    assert page.locator("#chart-loss canvas").count() == 1  # uPlot drew it
    assert "test accuracy" in page.inner_text("#job-progress")
    assert page.is_hidden("#job-cancel")
    # The trained model is now served, and the header says so.
    page.wait_for_selector("#serving:has-text('mlp')")
    rows = page.locator("#jobs tbody tr")
    assert rows.count() >= 1
    assert "succeeded" in rows.first.inner_text()
    screenshot(page, "train-1280")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)  # the charts follow the width
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "train-375")
    problems.assert_clean()


def test_a_model_the_quality_gate_holds_back_says_why_and_the_served_one_stays(page: Any, server: LiveServer) -> None:
    problems = watch(page)
    goto(page, server.url, "train")
    page.wait_for_selector("#serving:has-text('Serving')")
    serving = page.inner_text("#serving")
    # A hundred images and a tiny learning rate: far below whichever model is served.
    fill_form(page, BROWSER_TOKEN, "mlp", 1, 100, True, learning_rate="0.00001")
    page.click("#train-start")
    page.wait_for_selector('#job-progress[data-status="succeeded"]', timeout=JOB_TIMEOUT_MS)
    text = page.inner_text("#job-progress")
    assert "not activated: test accuracy" in text, text
    assert "DIGITS_ACTIVATION_TOLERANCE" in text
    assert "now serving" not in text
    assert page.inner_text("#serving") == serving
    problems.assert_clean()


def test_cancel_a_running_job(page: Any, server: LiveServer) -> None:
    problems = watch(page)
    goto(page, server.url, "train")
    fill_form(page, BROWSER_TOKEN, "cnn", 20, None, False)  # long enough to still be running
    page.click("#train-start")
    page.wait_for_selector('#job-progress[data-status="running"]', timeout=60_000)
    page.click("#job-cancel")
    page.wait_for_selector('#job-progress[data-status="cancelled"]', timeout=60_000)
    assert page.is_hidden("#job-cancel")
    page.click("#jobs-refresh")
    page.wait_for_selector("#jobs tbody tr:first-child:has-text('cancelled')")
    problems.assert_clean()
