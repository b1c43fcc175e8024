"""The page at GET / in a real browser: time from the last stroke to the updated answer, and transfer size.

Starts `python -m app` on a free 127.0.0.1 port and Debian's Chromium (Playwright). Redraws MNIST test
digits (the first of each class, replayed from their skeletons with mouse down/move/up) REDRAWS times; for
each, the time from the last pointerup to the first animation frame after the answer for the finished
drawing is in the DOM. Then loads the page with an empty cache and adds up what it transferred.
For scale, it also times /predict for the same canvas PNG from Python (no browser).
Run: python -m bench.page_latency [--redraws 50]
"""

from __future__ import annotations

import argparse
import base64
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.core.config import PROJECT_ROOT
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, watch
from tests.browser.page import DESKTOP, draw, goto, wait_for_answer
from tests.browser.strokes import digit_strokes
from tests.live import live_server
from training.mnist import load_split

log = logging.getLogger("bench.page_latency")
DATA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "mnist"

# Recorded in the page: the last pointerup, and the frame after each time the answer panel went idle.
INSTRUMENT = """() => {
  window.bench = { up: 0, shown: [] };
  document.getElementById("pad").addEventListener("pointerup", () => { window.bench.up = performance.now(); }, true);
  const result = document.getElementById("draw-result");
  new MutationObserver(() => {
    if (result.getAttribute("aria-busy") === "false") {
      requestAnimationFrame(() => window.bench.shown.push(performance.now()));
    }
  }).observe(result, { attributes: true, attributeFilter: ["aria-busy"] });
}"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def stroke_latencies(page: Any, redraws: int) -> tuple[list[float], int]:
    """Milliseconds from the last pointerup to the answer on screen, per redraw; and how many were right."""
    test = load_split(DATA_DIR, "test")
    digits = [(d, test.images[int(np.nonzero(test.labels == d)[0][0])]) for d in range(10)]
    page.evaluate(INSTRUMENT)
    latencies, correct = [], 0
    for index in range(redraws):
        digit, image = digits[index % len(digits)]
        page.click("#clear")
        wait_for_answer(page)
        page.wait_for_timeout(50)  # let the clear's frame callback land before resetting
        page.evaluate("window.bench.shown = []")
        draw(page, digit_strokes(image, 280))
        wait_for_answer(page)
        # The page's CSP forbids wait_for_function's string eval, so poll (evaluate is not eval).
        up, shown = page.evaluate("[window.bench.up, window.bench.shown.at(-1) ?? -1]")
        while shown < up:
            page.wait_for_timeout(10)
            up, shown = page.evaluate("[window.bench.up, window.bench.shown.at(-1) ?? -1]")
        latencies.append(shown - up)
        correct += page.inner_text('#draw-result [data-role="digit"]') == str(digit)
    return latencies, correct


def transfer_size(browser: Any, url: str) -> tuple[int, int, int]:
    """Bytes over the wire for a first visit (empty cache), bytes of bodies, and the number of requests."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    goto(page, url)
    page.wait_for_load_state("networkidle")
    entries = page.evaluate(
        """() => [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
              .map((e) => [e.name, e.transferSize, e.encodedBodySize])"""
    )
    context.close()
    return sum(e[1] for e in entries), sum(e[2] for e in entries), len(entries)


def direct_predict_ms(page: Any, url: str, count: int = 50) -> float:
    """p50 of /predict from Python for the canvas as the page sends it (PNG of the last drawing)."""
    data_url = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    png = base64.b64decode(data_url.split(",", 1)[1])
    timings = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(count):
            started = time.perf_counter()
            http.post(
                "/predict?return_frame=true", files={"file": ("drawing.png", png, "image/png")}
            ).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redraws", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, live_server(Path(tmp)) as server, sync_playwright() as playwright:
        browser: Any = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            wire, bodies, requests = transfer_size(browser, server.url)
            page = browser.new_page(viewport=DESKTOP)
            problems = watch(page)
            goto(page, server.url)
            latencies, correct = stroke_latencies(page, args.redraws)
            direct = direct_predict_ms(page, server.url)
            problems.assert_clean()
        finally:
            browser.close()
    log.info(
        "page, first visit: %d requests, %.1f KiB transferred (%.1f KiB of bodies, no compression)",
        requests,
        wire / 1024,
        bodies / 1024,
    )
    log.info(
        "last stroke -> answer on screen, %d redraws: p50 %.1f ms, p90 %.1f ms, max %.1f ms; %d/%d read correctly",
        len(latencies),
        statistics.median(latencies),
        percentile(latencies, 90),
        max(latencies),
        correct,
        len(latencies),
    )
    log.info(
        "/predict from Python for the same PNG: p50 %.1f ms; page p50 / direct p50: %.2fx",
        direct,
        statistics.median(latencies) / direct,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
