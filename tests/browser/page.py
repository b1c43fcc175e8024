"""Driving the page at GET / as a person does: open it, draw with the mouse, read the answer on screen."""

from __future__ import annotations

from typing import Any

from tests.browser.strokes import Point

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


def new_tab(browser: Any, viewport: dict[str, int] = DESKTOP) -> Any:
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(30_000)
    return page


def goto(page: Any, url: str, panel: str = "") -> None:
    """Open the page (on PANEL if given) and wait until it shows the served model."""
    page.goto(f"{url}/#{panel}" if panel else f"{url}/")
    page.wait_for_selector("#serving:has-text('Serving')")


def draw(page: Any, strokes: list[list[Point]], canvas_size: float = 280) -> None:
    """Replay STROKES (canvas coordinates) with real mouse down/move/up on the drawing pad."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / canvas_size
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.up()


def wait_for_answer(page: Any) -> None:
    """Until the answer on screen is the one for the drawing as it is now."""
    page.wait_for_selector('#draw-result[aria-busy="false"]')


def shown_answer(page: Any) -> dict[str, Any]:
    """What a person reads in the Draw panel."""
    return dict(
        page.evaluate(
            """() => {
              const root = document.getElementById("draw-result");
              const frame = root.querySelector('[data-role="frame"]');
              const reason = root.querySelector('[data-role="reason"]');
              return {
                digit: root.querySelector('[data-role="digit"]').textContent,
                confidence: root.querySelector('[data-role="confidence"]').textContent,
                bars: [...root.querySelectorAll(".bar-value")].map((e) => e.textContent),
                reason: reason.hidden ? "" : reason.textContent,
                frameWidth: frame.hidden ? 0 : frame.naturalWidth,
                frameShown: !frame.hidden && frame.complete && frame.getBoundingClientRect().width > 0,
              };
            }"""
        )
    )
