"""Log format and handler for the service's own loggers (uvicorn configures only its own).

Every request writes an access line, and writing each one to stderr on its own (a flush, so a
write system call, per record) was about half of what the access log cost, and the access log about
a third of the event loop's time per /predict (docs/performance.md). So records below WARNING are
gathered and written together, at most FLUSH_DELAY seconds late; a warning or error is written at
once, after whatever was waiting, so the order of lines never changes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TextIO

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"  # several workers share one log
FLUSH_DELAY = 0.2  # seconds an access line may wait to be written with others
FLUSH_LINES = 256  # lines gathered before they are written whatever the delay


class SecondCachedFormatter(logging.Formatter):
    """logging.Formatter with the same `asctime`, its date and time part computed once per second."""

    _cached: tuple[int, str] = (-1, "")  # (second, strftime of it): replaced whole, so threads never mix

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached_second, stamp = self._cached
        if second != cached_second:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._cached = (second, stamp)
        return self.default_msec_format % (stamp, record.msecs) if self.default_msec_format else stamp


class BatchingStreamHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler that writes INFO and DEBUG lines in batches, and anything louder at once.

    A daemon thread writes a batch FLUSH_DELAY seconds after its first line; `flush()` (called by
    logging.shutdown at exit) writes whatever is waiting.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = FLUSH_DELAY, max_lines: int = FLUSH_LINES) -> None:
        super().__init__(stream)
        self.delay, self.max_lines = delay, max_lines
        self._pending: list[str] = []
        self._due = threading.Event()
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle holds self.lock around emit: _pending needs no lock of its own.
        try:
            self._pending.append(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING or len(self._pending) >= self.max_lines:
                self._write_pending()
            elif len(self._pending) == 1:
                self._start_flusher()
                self._due.set()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's own rule: a failing handler reports and carries on
            self.handleError(record)

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self.stream.write("".join(lines))
        if self.stream and hasattr(self.stream, "flush"):
            self.stream.flush()

    def _start_flusher(self) -> None:
        # Started on the first line rather than in __init__: a handler made before a fork (uvicorn's
        # workers are spawned, but embedders may fork) gets its thread in the process that logs.
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(target=self._flush_later, name="log-flush", daemon=True)
            self._flusher.start()

    def _flush_later(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.delay)
            self._due.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - e.g. a closed stream: reported as logging reports its own failures
                lost = logging.LogRecord(
                    __name__, logging.ERROR, __file__, 0, "writing a batch of log lines", None, None
                )
                self.handleError(lost)


def configure_logging(level: int = logging.INFO) -> None:
    """Give the `app` logger a stderr handler once; tests and embedders may configure their own."""
    logger = logging.getLogger("app")
    if not logger.handlers:
        handler = BatchingStreamHandler()
        handler.setFormatter(SecondCachedFormatter(_FORMAT))
        logger.addHandler(handler)
    logger.setLevel(level)
