"""bench/ceiling_app.py: the HTTP ceiling must read what /predict reads and send as many bytes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from starlette.types import Message

from bench.ceiling_app import app, fixed_answer


def run_alone(coroutine: Coroutine[Any, Any, None]) -> None:
    """asyncio.run in a thread of its own: Playwright's sync API (browser tests in the same session)
    keeps an event loop running in the main thread, where asyncio.run() refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result(timeout=30)


@pytest.mark.parametrize("size", [10, 11, 243, 4096])
def test_the_fixed_answer_is_json_of_the_asked_size(size: int) -> None:
    body = fixed_answer(size)
    assert len(body) == size
    assert isinstance(json.loads(body), dict)


def run(messages: list[dict[str, Any]]) -> tuple[list[Message], int]:
    """The app's sent messages, and how many of MESSAGES it had received when it answered."""
    inbox = list(messages)
    sent: list[Message] = []
    received = 0
    received_when_answered = -1

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return inbox.pop(0)

    async def send(message: Message) -> None:
        nonlocal received_when_answered
        if received_when_answered < 0:
            received_when_answered = received
        sent.append(message)

    run_alone(app({"type": "http", "method": "POST", "path": "/predict"}, receive, send))
    return sent, received_when_answered


def test_answers_only_after_the_whole_body() -> None:
    chunks = [{"type": "http.request", "body": b"x" * 10, "more_body": True} for _ in range(3)]
    chunks.append({"type": "http.request", "body": b"", "more_body": False})
    sent, received_when_answered = run(chunks)
    assert received_when_answered == 4
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == fixed_answer(0)  # DIGITS_CEILING_BYTES unset in tests: the shortest answer
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[1]["body"])).encode()


def test_a_client_gone_mid_body_gets_no_answer() -> None:
    sent, _ = run([{"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"}])
    assert sent == []


def test_lifespan_starts_and_stops() -> None:
    sent: list[Message] = []
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    run_alone(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
