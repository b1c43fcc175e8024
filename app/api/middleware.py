"""Pure ASGI middleware: body size limit, access log, quiet start-up failure."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import RequestMetrics

access_log = logging.getLogger("app.access")

# Logged and counted for a request the app dropped without answering because its client
# disconnected (or was cut off) before the body was complete; nginx's code for the same.
CLIENT_GONE = 499
# A body takes one of the limited upload slots once this much of it has arrived and more is due.
UPLOAD_SLOT_BYTES = 64 * 1024


def parse_count(value: bytes | str, max_digits: int = 18) -> int | None:
    """A non-negative decimal integer, or None: ASCII digits only (not "²"), and short enough that
    int() never hits Python's conversion limit."""
    if not value or len(value) > max_digits or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def _json_reply(status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    return {"type": "http.response.start", "status": status, "headers": headers}, {
        "type": "http.response.body",
        "body": body,
    }


class RequestBodyGuard:
    """What a request body may cost, for every route:

    - at most `max_bytes`: refused from Content-Length up front, or as soon as streaming passes it (413);
    - at most `max_uploads` bodies still arriving at once in this process past their first
      UPLOAD_SLOT_BYTES (503 with Retry-After). A smaller body never counts (a digit is a few hundred
      bytes, which clients may still send in a read of its own), so digits are never refused because
      others upload slowly; every slow body is bounded in time by app.api.http_protocol;
    - any response sent while the body is still unread carries `Connection: close`, so the server
      never goes on reading (and discarding) what it has already answered.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_uploads: int) -> None:
        self.app, self.max_bytes, self.max_uploads = app, max_bytes, max_uploads
        self.uploads_in_flight = 0

    def _too_large(self) -> str:
        return f"request body larger than the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = parse_count(value)
                if length is None or length > self.max_bytes:
                    for message in _json_reply(413, self._too_large(), [(b"connection", b"close")]):
                        await send(message)
                    return
                has_body = has_body or length > 0
            elif name == b"transfer-encoding":
                has_body = True
        if not has_body:
            await self.app(scope, receive, send)
            return
        received = 0
        complete = holding_slot = False

        def release() -> None:
            nonlocal holding_slot
            if holding_slot:
                holding_slot = False
                self.uploads_in_flight -= 1

        async def guarded_receive() -> Message:
            nonlocal received, complete, holding_slot
            message = await receive()
            if message["type"] == "http.request" and not complete:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions from body parsing, so this becomes a 413.
                    raise HTTPException(413, self._too_large())
                if not message.get("more_body", False):
                    complete = True
                    release()
                elif not holding_slot and received > UPLOAD_SLOT_BYTES:
                    if self.uploads_in_flight >= self.max_uploads:
                        raise HTTPException(
                            503,
                            f"more than {self.max_uploads} uploads are arriving at once; retry shortly",
                            headers={"Retry-After": "1"},
                        )
                    self.uploads_in_flight += 1
                    holding_slot = True
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, closing_send)
        finally:
            release()


class AccessLog:
    """One line per request (method, path, status, latency), also counted in the /metrics registry."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [CLIENT_GONE]

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            if status[0] == CLIENT_GONE:
                status[0] = 500
            raise
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe(scope["method"], scope["path"], status[0], seconds)
            if access_log.isEnabledFor(logging.INFO):
                # The record made directly: Logger.info would also walk the stack for the caller's file
                # and line (a fifth of an access line's cost), which an access line does not need.
                access_log.handle(
                    access_log.makeRecord(
                        access_log.name,
                        logging.INFO,
                        __file__,
                        0,
                        "%s %s %d %.1fms",
                        (scope["method"], scope["path"], status[0], seconds * 1000),
                        None,
                    )
                )


class QuietStartupFailure:
    """Pass a start-up failure to the server as the one-line reason, not a traceback."""

    def __init__(self, app: ASGIApp, reason: dict[str, Any]) -> None:
        self.app, self.reason = app, reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def rewriting_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and "message" in self.reason:
                message = {**message, "message": self.reason["message"]}
            await send(message)

        await self.app(scope, receive, rewriting_send)
