"""Draw on the page with real pointer events: MNIST test digits' own strokes, read on screen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray

from tests.browser.conftest import screenshot, watch
from tests.browser.page import DESKTOP, PHONE, draw, goto, new_tab, shown_answer, wait_for_answer
from tests.browser.strokes import digit_strokes
from tests.conftest import png_bytes
from tests.live import LiveServer
from training.mnist import MnistSplit


def first_of_each_digit(mnist_test: MnistSplit) -> list[tuple[int, NDArray[np.uint8]]]:
    """The first test image of each digit: someone else's handwriting, not picked by us."""
    return [(d, mnist_test.images[int(np.nonzero(mnist_test.labels == d)[0][0])]) for d in range(10)]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = new_tab(browser, DESKTOP)
    yield tab
    tab.close()


def test_drawn_digits_are_read_on_screen(page: Any, server: LiveServer, mnist_test: MnistSplit) -> None:
    problems = watch(page)
    goto(page, server.url)
    read: dict[int, str] = {}
    for digit, image in first_of_each_digit(mnist_test):
        page.click("#clear")
        wait_for_answer(page)
        draw(page, digit_strokes(image, 280))
        wait_for_answer(page)
        shown = shown_answer(page)
        read[digit] = shown["digit"]
        # Ten bars, their shown values (3 decimals) summing to 1 within rounding.
        assert len(shown["bars"]) == 10
        assert sum(float(value) for value in shown["bars"]) == pytest.approx(1, abs=10 * 0.0005 + 1e-9)
        assert shown["confidence"].endswith("% sure")
        assert shown["frameShown"]
        assert shown["frameWidth"] == 28
        if digit == 7:
            screenshot(page, "draw-1280")
    correct = [digit for digit, shown in read.items() if shown == str(digit)]
    assert len(correct) >= 9, f"read on screen: {read}"
    problems.assert_clean()


def test_blank_canvas_shows_the_services_reason(page: Any, server: LiveServer) -> None:
    problems = watch(page)
    goto(page, server.url)
    draw(page, [[(100.0, 100.0), (180.0, 180.0)]])
    wait_for_answer(page)
    page.click("#clear")
    wait_for_answer(page)
    shown = shown_answer(page)
    blank = np.full((280, 280), 255, dtype=np.uint8)
    expected = httpx.post(f"{server.url}/predict", files={"file": ("b.png", png_bytes(blank), "image/png")}).json()
    assert expected["digit"] is None
    assert shown["digit"] == "?"
    assert shown["reason"] == expected["reason"]
    assert shown["bars"] == [""] * 10  # no guess
    problems.assert_clean()


def test_undo_takes_back_the_last_stroke(page: Any, server: LiveServer, mnist_test: MnistSplit) -> None:
    problems = watch(page)
    goto(page, server.url)
    one = first_of_each_digit(mnist_test)[1][1]
    draw(page, digit_strokes(one, 280))
    wait_for_answer(page)
    assert shown_answer(page)["digit"] == "1"
    draw(page, [[(60.0, 140.0), (220.0, 140.0)]])  # a cross stroke
    wait_for_answer(page)
    page.click("#undo")
    wait_for_answer(page)
    assert shown_answer(page)["digit"] == "1"
    page.click("#undo")
    wait_for_answer(page)
    assert shown_answer(page)["digit"] == "?"
    problems.assert_clean()


def test_why_shows_the_overlay_for_the_drawing(page: Any, server: LiveServer, mnist_test: MnistSplit) -> None:
    problems = watch(page)
    goto(page, server.url)
    draw(page, digit_strokes(first_of_each_digit(mnist_test)[4][1], 280))
    wait_for_answer(page)
    page.click("#tab-why")
    page.wait_for_selector("#why-overlay:not([hidden])")
    page.wait_for_selector('#panel-why[aria-busy="false"]')
    assert "your drawing" in page.inner_text("#why-status")
    assert page.evaluate("document.getElementById('why-overlay').naturalWidth") == 224  # 28 x scale 8
    assert "towards 4" in page.inner_text("#why-caption")
    screenshot(page, "why-1280")
    page.select_option("#why-target", "9")
    page.wait_for_selector("#why-caption:has-text('towards 9')")
    problems.assert_clean()


def test_phone_width(browser: Any, server: LiveServer, mnist_test: MnistSplit) -> None:
    page = new_tab(browser, PHONE)
    problems = watch(page)
    goto(page, server.url)
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    draw(page, digit_strokes(first_of_each_digit(mnist_test)[3][1], 280))
    wait_for_answer(page)
    assert shown_answer(page)["digit"] == "3"
    screenshot(page, "draw-375")
    page.click("#tab-why")
    page.wait_for_selector("#why-overlay:not([hidden])")
    screenshot(page, "why-375")
    for tab in ("upload", "train", "models"):
        page.click(f"#tab-{tab}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], tab
    page.click("#tab-draw")
    if (404, "/models") in problems.error_responses:  # no model registry on this branch yet (issue 10)
        problems.expect_error(404, "/models")
    problems.assert_clean()
    page.close()


def test_tabs_work_from_the_keyboard(page: Any, server: LiveServer) -> None:
    problems = watch(page)
    goto(page, server.url)
    page.focus("#tab-draw")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-upload"
    assert page.is_visible("#panel-upload")
    assert not page.is_visible("#panel-draw")
    page.keyboard.press("Tab")
    # The next stop is inside the panel: the drop zone, then the labelled file pickers.
    assert page.evaluate("document.activeElement.id") == "drop"
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select')].filter(e => !e.labels || !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == [], "every control has a label"
    problems.assert_clean()


def test_requests_are_throttled_and_the_answer_is_for_the_last_drawing(
    page: Any, server: LiveServer, mnist_test: MnistSplit
) -> None:
    problems = watch(page)
    goto(page, server.url)
    predictions: list[str] = []
    page.on("request", lambda request: predictions.append(request.url) if "/predict?" in request.url else None)
    digits = first_of_each_digit(mnist_test)
    seven = digit_strokes(digits[7][1], 280)
    draw(page, seven)
    wait_for_answer(page)
    moves = sum(len(stroke) for stroke in seven)
    assert 1 <= len(predictions) < moves / 4, f"{len(predictions)} requests for {moves} pointer moves"
    assert shown_answer(page)["digit"] == "7"
    # Clear and draw another digit at once, without waiting for the answers in between.
    page.click("#clear")
    draw(page, digit_strokes(digits[0][1], 280))
    wait_for_answer(page)
    assert shown_answer(page)["digit"] == "0"
    problems.assert_clean()
