"""Notice SIGINT/SIGTERM, so open event streams end and the server's graceful shutdown is not held open.

Uvicorn waits for every open response before it runs the lifespan shutdown that stops the job, so an
event stream that only ends with its job would keep Ctrl+C (or `docker stop`) waiting for the whole run.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


def on_stop_signal(stopping: threading.Event) -> Callable[[], None]:
    """Set STOPPING on SIGINT/SIGTERM, then run whatever handler was there; returns a function that unhooks."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals can only be caught on the main thread (not so under TestClient)
    installed = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)

        def handler(sig: int, frame: FrameType | None, previous: object = previous) -> None:
            stopping.set()
            if callable(previous):
                previous(sig, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(sig, signal.SIG_DFL)
                signal.raise_signal(sig)

        signal.signal(signum, handler)
        installed[signum] = (handler, previous)

    def unhook() -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # too late to matter: the server puts its own handlers back as it exits
        for signum, (handler, previous) in installed.items():
            if signal.getsignal(signum) is handler and previous is not None:
                signal.signal(signum, previous)

    return unhook
