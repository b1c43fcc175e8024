"""PostgreSQL LISTEN/NOTIFY: hear of an activation within milliseconds (polling stays as the fallback)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from app.storage.database import NOTIFY_CHANNEL

log = logging.getLogger("app.storage")

RECONNECT_SECONDS = 1.0


class PgListener:
    """A thread with its own connection, LISTENing on the activation channel."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, on_change: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=self._run, args=(on_change,), name="pg-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, on_change: Callable[[], None]) -> None:
        # Imported here, on the listener's thread: only a PostgreSQL deployment needs the driver, and
        # importing it costs every server process about 0.1 s of start-up and 10 MiB of resident memory.
        import psycopg

        while not self._halt.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._halt.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            on_change()
            except psycopg.Error:
                log.warning("lost the LISTEN connection to PostgreSQL; polling until it is back", exc_info=True)
                self._halt.wait(RECONNECT_SECONDS)
            except Exception:
                log.exception("handling an activation notice failed")
                self._halt.wait(RECONNECT_SECONDS)
