"""Upload on the page: the file picker (one photo, several files), paste, drag and drop, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.config import PROJECT_ROOT
from tests.browser.conftest import screenshot, watch
from tests.browser.page import DESKTOP, PHONE, goto, new_tab
from tests.live import LiveServer

SAMPLES = PROJECT_ROOT / "scripts" / "samples"
PHOTO = SAMPLES / "photo-2.jpg"


def cards(page: Any) -> list[dict[str, str]]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll("#upload-grid .card")].map((card) => ({
                 name: card.querySelector('[data-role="name"]').textContent,
                 digit: card.querySelector('[data-role="digit"]').textContent,
                 reason: card.querySelector('[data-role="reason"]').textContent,
                 frame: card.querySelector('[data-role="frame"]').hidden ? 0 : 1,
               }))"""
        )
    )


def wait_for_grid(page: Any) -> None:
    page.wait_for_selector('#upload-grid[aria-busy="false"]')


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    tab = new_tab(browser, DESKTOP)
    goto(tab, server.url, "upload")
    yield tab
    tab.close()


def test_a_photo_from_the_file_picker(page: Any) -> None:
    problems = watch(page)
    page.set_input_files("#files", str(PHOTO))
    wait_for_grid(page)
    [card] = cards(page)
    assert card == {"name": "photo-2.jpg", "digit": "2", "reason": "", "frame": 1}
    problems.assert_clean()


def test_several_files_show_a_grid(page: Any, browser: Any, server: LiveServer) -> None:
    problems = watch(page)
    files = [SAMPLES / f"digit-{d}.png" for d in range(10)] + [PHOTO]
    page.set_input_files("#files", [str(f) for f in files])
    wait_for_grid(page)
    shown = cards(page)
    assert [card["name"] for card in shown] == [f.name for f in files]
    expected = [f.stem[-1] for f in files]
    correct = [card for card, digit in zip(shown, expected, strict=True) if card["digit"] == digit]
    assert len(correct) >= 10, shown
    assert "of 11 images read as a digit" in page.inner_text("#upload-status")
    screenshot(page, "upload-1280")
    problems.assert_clean()
    phone = new_tab(browser, PHONE)
    phone_problems = watch(phone)
    goto(phone, server.url, "upload")
    phone.set_input_files("#files", [str(f) for f in files[:4]] + [str(PHOTO)])
    wait_for_grid(phone)
    assert len(cards(phone)) == 5
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "upload-375")
    phone_problems.assert_clean()
    phone.close()


def _send_files_event(page: Any, kind: str, paths: list[Path]) -> None:
    """Fire a real paste or drop event carrying the files, as the browser does for the clipboard or a drag."""
    payload = [{"name": p.name, "type": "image/png", "bytes": list(p.read_bytes())} for p in paths]
    page.evaluate(
        """([kind, files]) => {
          const data = new DataTransfer();
          for (const f of files) data.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
          if (kind === "paste") {
            document.body.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
          } else {
            const zone = document.getElementById("drop");
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
          }
        }""",
        [kind, payload],
    )


def test_paste_an_image_from_anywhere(browser: Any, server: LiveServer) -> None:
    page = new_tab(browser, DESKTOP)
    problems = watch(page)
    goto(page, server.url)  # on the Draw panel: a paste switches to Upload
    _send_files_event(page, "paste", [SAMPLES / "digit-3.png"])
    wait_for_grid(page)
    assert page.is_visible("#panel-upload")
    [card] = cards(page)
    assert card["digit"] == "3"
    problems.assert_clean()
    page.close()


def test_drag_and_drop(page: Any) -> None:
    problems = watch(page)
    _send_files_event(page, "drop", [SAMPLES / "digit-5.png", SAMPLES / "digit-8.png"])
    wait_for_grid(page)
    assert [card["digit"] for card in cards(page)] == ["5", "8"]
    problems.assert_clean()


def test_a_file_the_service_refuses_shows_its_detail(page: Any, tmp_path: Path) -> None:
    problems = watch(page)
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"this is not an image")
    page.set_input_files("#files", [str(SAMPLES / "digit-1.png"), str(notes)])
    wait_for_grid(page)
    shown = cards(page)
    assert len(shown) == 2
    # Today a bad file fails the whole batch; with per-item answers only its own card would say so.
    assert "not a readable image" in shown[1]["reason"]
    assert shown[1]["digit"] == "?"
    if (415, "/predict") in problems.error_responses:
        problems.expect_error(415, "/predict")
        assert "refused" in page.inner_text("#upload-status")
    problems.assert_clean()


def test_why_explains_the_uploaded_photo(page: Any) -> None:
    problems = watch(page)
    page.set_input_files("#files", str(PHOTO))
    wait_for_grid(page)
    page.click("#tab-why")
    page.wait_for_selector("#why-overlay:not([hidden])")
    page.wait_for_selector('#panel-why[aria-busy="false"]')
    assert "photo-2.jpg" in page.inner_text("#why-status")
    assert "reads 2" in page.inner_text("#why-status")
    problems.assert_clean()
