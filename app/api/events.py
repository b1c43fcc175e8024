"""Server-Sent Events for one job: past epochs first, then each new epoch, then one `end` event."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable

from app.jobs.ports import JobRecord, JobStore

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0  # a comment line now and then keeps proxies from closing a quiet stream


def format_event(event: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.splitlines())
    return "\n".join(lines) + "\n\n"


SHUTDOWN = json.dumps({"detail": "the server is shutting down; a running job will be marked interrupted"})


async def job_events(
    store: JobStore,
    job_id: str,
    after_epoch: int,
    render_end: Callable[[JobRecord], str],
    stopping: threading.Event,
) -> AsyncIterator[str]:
    """Yield `epoch` events (id = epoch number, so a reconnecting client resumes) until the job ends.

    If the server is asked to stop first, a `shutdown` event ends the stream instead.
    """
    sent, quiet = after_epoch, 0.0
    while True:
        if stopping.is_set():
            yield format_event("shutdown", SHUTDOWN)
            return
        record = await asyncio.to_thread(store.get, job_id)
        if record is None:
            return
        for metrics in record.history:
            if metrics["epoch"] > sent:
                data = json.dumps({**metrics, "total_epochs": record.request.epochs})
                yield format_event("epoch", data, str(metrics["epoch"]))
                sent, quiet = metrics["epoch"], 0.0
        if record.status.finished:
            yield format_event("end", render_end(record))
            return
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
