"""The service's log handler: access lines written in batches, never reordered or lost."""

from __future__ import annotations

import io
import logging
import threading

import pytest

from app.core.logging import BatchingStreamHandler, SecondCachedFormatter, configure_logging

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"


def record(message: str, level: int = logging.INFO, created: float | None = None) -> logging.LogRecord:
    made = logging.LogRecord("app.access", level, __file__, 1, message, None, None)
    if created is not None:
        made.created, made.msecs = created, (created - int(created)) * 1000
    return made


def handler_on(stream: io.StringIO, **kwargs: float) -> BatchingStreamHandler:
    handler = BatchingStreamHandler(stream, **kwargs)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    return handler


def test_info_lines_wait_for_a_flush_then_come_out_in_order() -> None:
    stream = io.StringIO()
    handler = handler_on(stream, delay=3600)
    for n in range(3):
        handler.handle(record(f"line {n}"))
    assert stream.getvalue() == ""
    handler.flush()
    assert stream.getvalue() == "INFO line 0\nINFO line 1\nINFO line 2\n"


def test_a_warning_is_written_at_once_after_the_lines_before_it() -> None:
    stream = io.StringIO()
    handler = handler_on(stream, delay=3600)
    handler.handle(record("before"))
    handler.handle(record("careful", logging.WARNING))
    assert stream.getvalue() == "INFO before\nWARNING careful\n"


def test_a_full_batch_is_written_without_waiting() -> None:
    stream = io.StringIO()
    handler = handler_on(stream, delay=3600, max_lines=2)
    handler.handle(record("a"))
    assert stream.getvalue() == ""
    handler.handle(record("b"))
    assert stream.getvalue() == "INFO a\nINFO b\n"


def test_the_flusher_thread_writes_a_quiet_servers_last_lines() -> None:
    written = threading.Event()

    class Stream(io.StringIO):
        def flush(self) -> None:
            if self.getvalue():
                written.set()

    stream = Stream()
    handler = handler_on(stream, delay=0.01)
    handler.handle(record("last"))
    assert written.wait(timeout=30), "the pending line was never written"
    assert stream.getvalue() == "INFO last\n"
    handler.handle(record("again"))  # a second batch gets written too
    written.clear()
    assert written.wait(timeout=30)
    assert stream.getvalue() == "INFO last\nINFO again\n"


def test_a_broken_stream_is_reported_by_logging_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    reported: list[logging.LogRecord] = []
    handler = handler_on(Broken(), delay=3600)
    monkeypatch.setattr(handler, "handleError", reported.append)
    handler.handle(record("lost", logging.ERROR))
    assert [r.getMessage() for r in reported] == ["lost"]


def test_a_batch_the_flusher_cannot_write_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    reported = threading.Event()
    handler = handler_on(Broken(), delay=0.01)
    monkeypatch.setattr(handler, "handleError", lambda record: reported.set())
    handler.handle(record("lost"))  # INFO: left to the flusher thread
    assert reported.wait(timeout=30), "the flusher's failure went unreported"


@pytest.mark.parametrize("created", [1_790_000_000.25, 1_790_000_000.999, 1_790_000_001.0, 1_790_000_061.5])
def test_cached_asctime_equals_loggings_own(created: float) -> None:
    ours, theirs = SecondCachedFormatter(FORMAT), logging.Formatter(FORMAT)
    ours.format(record("warm the cache", created=created - 1))
    assert ours.format(record("x", created=created)) == theirs.format(record("x", created=created))


def test_an_explicit_date_format_is_honoured() -> None:
    made = record("x", created=1_790_000_000.5)
    assert SecondCachedFormatter().formatTime(made, "%Y") == logging.Formatter().formatTime(made, "%Y")


def test_configure_logging_installs_the_batching_handler_once() -> None:
    logger = logging.getLogger("app")
    saved = logger.handlers[:]
    logger.handlers.clear()
    try:
        configure_logging()
        configure_logging()
        [handler] = logger.handlers
        assert isinstance(handler, BatchingStreamHandler)
        assert isinstance(handler.formatter, SecondCachedFormatter)
    finally:
        logger.handlers[:] = saved
