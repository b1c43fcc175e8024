"""Models on the page: the registry's versions with the live one marked, activate (roll back), download."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.browser.conftest import BROWSER_TOKEN, watch
from tests.browser.page import DESKTOP, goto, new_tab
from tests.live import LiveServer

AUTH = {"Authorization": f"Bearer {BROWSER_TOKEN}"}


def _train_one_more(server: LiveServer) -> None:
    """A second version in the registry, without serving it: a tiny job over the API."""
    body = {"arch": "mlp", "epochs": 1, "train_limit": 500, "activate": False}
    job = httpx.post(f"{server.url}/train", json=body, headers=AUTH, timeout=30).json()
    deadline = time.monotonic() + 180
    while httpx.get(f"{server.url}/train/{job['id']}", timeout=10).json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the registry's second version was not trained in time"
        time.sleep(0.5)


def test_models_list_activate_and_download(browser: Any, server: LiveServer) -> None:
    _train_one_more(server)
    page = new_tab(browser, DESKTOP)
    problems = watch(page)
    goto(page, server.url, "models")
    page.wait_for_selector("#models tbody tr:nth-child(2)")
    live = page.locator("#models tbody tr.live")
    assert live.count() == 1
    assert "live" in live.inner_text()
    served = httpx.get(f"{server.url}/model", timeout=10).json()["id"]
    assert served in live.inner_text()
    # Download: the link answers the weights.
    href = page.locator("#models tbody tr a").first.get_attribute("href")
    weights = page.request.get(f"{server.url}{href}")
    assert weights.status == 200
    assert len(weights.body()) > 1000
    # Activate another version (roll back or forward), then the original again.
    page.fill("#models-token", BROWSER_TOKEN)
    other = page.locator("#models tbody tr:not(.live)").first
    other_id = other.locator("td").first.inner_text().strip()
    other.locator("button").click()
    page.wait_for_selector(f"#models tbody tr.live:has-text('{other_id}')")
    assert httpx.get(f"{server.url}/model", timeout=10).json()["id"] == other_id
    page.wait_for_selector(f"#serving:has-text('{other_id}')")
    page.locator(f"#models tbody tr:has-text('{served}') button").click()
    page.wait_for_selector(f"#models tbody tr.live:has-text('{served}')")
    assert httpx.get(f"{server.url}/model", timeout=10).json()["id"] == served
    problems.assert_clean()
    page.close()


def test_without_a_registry_the_panel_says_so(browser: Any, server: LiveServer) -> None:
    """An older server (no GET /models): stubbed in the browser, since this one has the registry."""
    page = new_tab(browser, DESKTOP)
    problems = watch(page)
    page.route(f"{server.url}/models", lambda route: route.fulfill(status=404, json={"detail": "Not Found"}))
    goto(page, server.url, "models")
    page.wait_for_selector("#models-status.error")
    assert "no model registry" in page.inner_text("#models-status")
    problems.expect_error(404, "/models")
    problems.assert_clean()
    page.close()


def test_the_panel_reads_the_registry_shape_issue_10_describes(browser: Any, server: LiveServer) -> None:
    """The page's side alone, against answers in the shape issue 10 specifies (stubbed in the browser)."""
    listing = [
        {
            "id": "mlp-new",
            "architecture": {"name": "mlp"},
            "test_accuracy": 0.9712,
            "created": "2026-11-29T10:00:00Z",
            "live": False,
        },
        {
            "id": "cnn-old",
            "architecture": {"name": "cnn"},
            "test_accuracy": 0.9941,
            "created": "2026-11-28T10:00:00Z",
            "live": True,
        },
    ]
    activations: list[tuple[str, str | None]] = []
    page = new_tab(browser, DESKTOP)
    problems = watch(page)
    page.route(f"{server.url}/models", lambda route: route.fulfill(json=listing))

    def activate(route: Any) -> None:
        activations.append((route.request.url, route.request.headers.get("authorization")))
        for model in listing:
            model["live"] = route.request.url.endswith(f"/models/{model['id']}/activate")
        route.fulfill(json={"id": "mlp-new", "live": True})

    page.route(f"{server.url}/models/*/activate", activate)
    goto(page, server.url, "models")
    page.wait_for_selector("#models tbody tr:nth-child(2)")
    rows = page.locator("#models tbody tr")
    assert "mlp-new" in rows.nth(0).inner_text()
    assert "97.1%" in rows.nth(0).inner_text() or "97%" in rows.nth(0).inner_text()
    assert page.locator("#models tbody tr.live").inner_text().startswith("cnn-old")
    assert page.locator("#models tbody tr.live button").is_disabled()
    assert rows.nth(0).locator("a").get_attribute("href") == "/models/mlp-new/weights"
    page.fill("#models-token", BROWSER_TOKEN)
    rows.nth(0).locator("button").click()
    page.wait_for_selector("#models tbody tr.live:has-text('mlp-new')")
    assert activations == [(f"{server.url}/models/mlp-new/activate", f"Bearer {BROWSER_TOKEN}")]
    assert "Now serving mlp-new" in page.inner_text("#models-status")
    problems.assert_clean()
    page.close()
