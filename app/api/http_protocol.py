"""uvicorn's httptools protocol with the limits a public endpoint needs.

uvicorn (0.54) bounds neither the size nor the time of a request head, nor how slowly a body may
arrive: one client could grow the process by hundreds of MiB of header lines, or hold connections
open for ever at a byte a second. httptools stays the parser (it is what makes the service fast; h11
bounds the head's size but not its time, and is slower); this subclass adds, per connection:

- the head (request line and headers): at most `max_header_bytes` and `max_headers` lines (431),
  complete within `header_timeout` seconds of its first byte or of the connection opening (408);
- the body: no pause longer than `body_timeout`, and once that grace has passed at least
  `body_min_rate` bytes per second on average. A body cut off this way ends in `http.disconnect`
  for the app, which drops the request, so its memory is freed.

Each refusal is answered (when no response is under way) and the connection closed. Timers are
armed only while a head or a body is incomplete after a read, so a request that arrives in one
piece costs no timer at all (bench/protocol_cost.py measures what is left).

This leans on uvicorn's HttpToolsProtocol internals (its parser callbacks and request cycle), so
uvicorn is pinned in constraints.txt and tests/api/test_hostile_clients_live.py exercises every
limit on a real server. Another server (granian, hypercorn) was not adopted: it would also replace
the uvicorn supervisor that runs DIGITS_WORKERS processes, which the job leader design relies on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from app.core.config import Settings

log = logging.getLogger("app.http")


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    body_timeout: float
    body_min_rate: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            settings.max_header_bytes,
            settings.max_headers,
            settings.header_timeout,
            settings.body_timeout,
            settings.body_min_rate,
        )


@functools.cache
def configured_limits() -> ConnectionLimits:
    """Read once per process (uvicorn builds one protocol object per connection)."""
    return ConnectionLimits.from_settings(Settings())


class _RefusedError(Exception):
    """Raised inside a parser callback to stop parsing; carries the answer."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that bounds the request head's size and time and the body's pace."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits or configured_limits()
        self._in_head = True  # reading a request head, or idle between requests
        self._head_begun = False  # a request's first byte has been parsed, its head is not complete
        self._head_bytes = 0  # bytes read while in the head (exact up to one read's worth)
        self._head_fields = 0  # request line + header bytes, as parsed
        self._head_lines = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tick = min(1.0, self.limits.body_timeout / 2)
        self._body_bytes = 0  # of the body being received
        self._body_started = self._body_moved = 0.0  # when it began; when it was last seen growing
        self._body_seen = 0  # _body_bytes at the last tick
        self._refusal: tuple[int, str] | None = None

    # --- connection and reads -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout)  # a client that connects and says nothing is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Most requests arrive whole in one read: then no timer is armed and nothing below runs.
        if self._in_head:
            if not self._head_begun or self.transport.is_closing():
                return
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(431, f"request head larger than {self.limits.max_header_bytes} bytes")
            elif self._timer is None:
                self._arm(self.limits.header_timeout)
        elif (
            self._timer is None and self.cycle is not None and self.cycle.more_body and not self.transport.is_closing()
        ):
            self._body_started = self._body_moved = self.loop.time()
            self._body_seen = self._body_bytes
            self._arm(self._tick)

    def send_400_response(self, msg: str) -> None:
        # Called by data_received when parsing fails, including when a callback below refused.
        if self._refusal is not None:
            self._refuse(*self._refusal)
        else:
            super().send_400_response(msg)

    # --- parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        self._head_fields = self._head_lines = 0

    def on_url(self, url: bytes) -> None:
        self._head_fields += len(url)
        if self._head_fields > self.limits.max_header_bytes:
            self._refuse_head(f"request head larger than {self.limits.max_header_bytes} bytes")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += len(name) + len(value) + 4
        self._head_lines += 1
        if self._head_fields > self.limits.max_header_bytes:
            self._refuse_head(f"request head larger than {self.limits.max_header_bytes} bytes")
        if self._head_lines > self.limits.max_headers:
            self._refuse_head(f"more than {self.limits.max_headers} header lines")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = self._head_begun = False
        self._head_bytes = self._body_bytes = 0
        if self._timer is not None:
            self._disarm()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        if self._timer is not None:
            self._disarm()
        super().on_message_complete()

    def _refuse_head(self, detail: str) -> None:
        self._refusal = (431, detail)
        raise _RefusedError(detail)  # stops the parser; data_received then calls send_400_response

    # --- timers ---------------------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, self._on_timer)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(408, f"request head not received within {self.limits.header_timeout:g} s")
            return
        if self.cycle is None or not self.cycle.more_body:
            return
        now, limits = self.loop.time(), self.limits
        if self._body_bytes != self._body_seen:
            self._body_seen, self._body_moved = self._body_bytes, now
        elif now - self._body_moved >= limits.body_timeout:
            self._refuse(408, f"no request body bytes for {limits.body_timeout:g} s")
            return
        late = now - self._body_started - limits.body_timeout
        if late > 0 and self._body_bytes < late * limits.body_min_rate:
            self._refuse(408, f"request body slower than {limits.body_min_rate} bytes/s")
            return
        self._arm(self._tick)

    # --- answers --------------------------------------------------------------------------------

    def _refuse(self, status: int, detail: str) -> None:
        log.warning("%s from %s: %s; closing the connection", status, self.client, detail)
        cycle = self.cycle
        if not self._in_head and cycle is not None and cycle.response_complete:
            self.transport.close()  # answered already; what is left of its body is not worth waiting for
        elif cycle is None or cycle.response_complete:
            self._answer_and_close(status, detail)
        elif self._in_head:  # a response to an earlier, pipelined request is still being written
            self.transport.close()
        else:
            # The app is running this request, waiting for its body: it gets http.disconnect and
            # drops the request; whatever it sends from now on goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
            else:
                self._answer_and_close(status, detail)

    def _answer_and_close(self, status: int, detail: str) -> None:
        body = b'{"detail":"' + detail.replace('"', "'").encode("ascii", "replace") + b'"}'
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()
        self._disarm()
