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


class BodySizeLimit:
    """Refuse bodies over the limit from Content-Length up front, or as soon as streaming passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self) -> str:
        return f"request body larger than the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    body = json.dumps({"detail": self._too_large()}).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 413,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions from body parsing, so this becomes a 413.
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, limited_receive, send)


class AccessLog:
    """One line per request (method, path, status, latency), also counted in the /metrics registry."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe(scope["method"], scope["path"], status[0], seconds)
            access_log.info("%s %s %d %.1fms", scope["method"], scope["path"], status[0], seconds * 1000)


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
