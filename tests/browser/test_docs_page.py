"""The API docs page as a person uses it, in Chromium, with no request leaving 127.0.0.1:
"Try it out" uploads a digit and reads the answer; Authorize + POST /train starts a job; ReDoc renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.browser.conftest import BROWSER_TOKEN, screenshot, watch
from tests.live import LiveServer

SAMPLES = Path(__file__).resolve().parents[2] / "scripts" / "samples"
TIMEOUT_MS = 60_000


def open_operation(page: Any, server: LiveServer, operation_id: str) -> Any:
    page.goto(f"{server.url}/docs")
    operation = page.locator(f"#operations-{operation_id}")
    operation.locator(".opblock-summary").click()
    try_it = operation.get_by_role("button", name="Try it out")
    if try_it.count():  # tryItOutEnabled opens the form already; a person may still see the button
        try_it.click()
    return operation


def response_of(operation: Any) -> tuple[int, str]:
    """The status code and body the page shows under "Server response"."""
    row = operation.locator(".live-responses-table .response")
    row.wait_for(timeout=TIMEOUT_MS)
    status = int(row.locator(".response-col_status").inner_text().strip())
    return status, row.locator(".response-col_description .microlight").first.inner_text()


def test_try_it_out_predicts_an_uploaded_png(browser: Any, server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watch(page)
    operation = open_operation(page, server, "predict-predict_predict_post")
    operation.locator("tr[data-property-name=file] input[type=file]").set_input_files(SAMPLES / "digit-7.png")
    operation.get_by_role("button", name="Execute").click()
    status, body = response_of(operation)
    screenshot(page, "docs-try-it-out-predict")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["digit"] == 7
    assert answer["confidence"] > 0.9
    problems.assert_clean()
    page.close()


def test_try_it_out_predicts_a_batch(browser: Any, server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watch(page)
    operation = open_operation(page, server, "predict-predict_predict_post")
    files = operation.locator("tr[data-property-name=files]")
    files.locator("input[type=file]").first.set_input_files(SAMPLES / "digit-1.png")
    files.get_by_role("button", name="Add string item").click()
    files.locator("input[type=file]").nth(1).set_input_files(SAMPLES / "digit-2.png")
    operation.get_by_role("button", name="Execute").click()
    status, body = response_of(operation)
    screenshot(page, "docs-try-it-out-batch")
    assert status == 200, body
    assert [prediction["digit"] for prediction in json.loads(body)["predictions"]] == [1, 2]
    problems.assert_clean()
    page.close()


def test_try_it_out_shows_the_frame(browser: Any, server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watch(page)
    operation = open_operation(page, server, "predict-predict_frame_predict_frame_post")
    operation.locator("tr[data-property-name=file] input[type=file]").set_input_files(SAMPLES / "photo-2.jpg")
    operation.get_by_role("button", name="Execute").click()
    row = operation.locator(".live-responses-table .response")
    row.wait_for(timeout=TIMEOUT_MS)
    assert row.locator(".response-col_status").inner_text().strip() == "200"
    image = row.locator("img")
    image.wait_for(timeout=TIMEOUT_MS)
    assert image.evaluate("img => img.complete && img.naturalWidth") == 280
    screenshot(page, "docs-try-it-out-frame")
    problems.assert_clean()
    page.close()


def test_authorize_then_start_a_training_job(browser: Any, server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watch(page)
    page.goto(f"{server.url}/docs")
    page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
    dialog = page.locator(".dialog-ux")
    dialog.locator("input").first.fill(BROWSER_TOKEN)
    dialog.locator("button.authorize").click()
    dialog.get_by_text("Authorized", exact=True).wait_for()
    screenshot(page, "docs-authorized")
    dialog.locator("button.btn-done").click()

    operation = page.locator("#operations-train-start_job_train_post")
    operation.locator(".opblock-summary").click()
    try_it = operation.get_by_role("button", name="Try it out")
    if try_it.count():
        try_it.click()
    job = {"arch": "mlp", "epochs": 1, "learning_rate": 0.001, "train_limit": 1000, "activate": False}
    operation.locator("textarea.body-param__text").fill(json.dumps(job))
    operation.get_by_role("button", name="Execute").click()
    status, body = response_of(operation)
    screenshot(page, "docs-train-202")
    assert status == 202, body
    started = json.loads(body)
    assert started["request"]["train_limit"] == 1000
    assert "Authorization: Bearer" in operation.locator(".curl-command").inner_text()
    listed = httpx.get(f"{server.url}/train/{started['id']}", timeout=10).json()
    assert listed["request"]["epochs"] == 1
    problems.assert_clean()
    page.close()


def test_redoc_renders_offline(browser: Any, server: LiveServer) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = watch(page)
    page.goto(f"{server.url}/redoc")
    page.locator("h1", has_text="digit-service").wait_for(timeout=TIMEOUT_MS)
    page.locator("h2", has_text="Recognise the digit in an image").wait_for(timeout=TIMEOUT_MS)
    screenshot(page, "redoc")
    assert "Start a training job" in page.inner_text("body")
    problems.assert_clean()
    page.close()
