"""Server-Sent Events for one job: past epochs first, then each new epoch, then one `end` event."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from app.jobs.ports import JobRecord, JobStore
from app.jobs.progress import read_progress
from app.jobs.schemas import JobStatus

POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0  # a comment line now and then keeps proxies from closing a quiet stream


def format_event(event: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.splitlines())
    return "\n".join(lines) + "\n\n"


SHUTDOWN = json.dumps({"detail": "the server is shutting down; a running job will be marked interrupted"})


def _read(store: JobStore, job_id: str, progress_file: Path | None) -> tuple[JobRecord | None, dict[str, Any] | None]:
    """The job, and its progress: from the training process's file where this process can read it (fresh,
    about twice a second), else as of the trainer's last heartbeat (another machine's job)."""
    record = store.get(job_id)
    if record is None or record.status != JobStatus.RUNNING:
        return record, None
    progress = read_progress(progress_file) if progress_file is not None else None
    return record, progress if progress is not None else record.progress


async def job_events(
    store: JobStore,
    job_id: str,
    after_epoch: int,
    render_end: Callable[[JobRecord], str],
    stopping: threading.Event,
    progress_file: Path | None = None,
) -> AsyncIterator[str]:
    """Yield `epoch` events (id = epoch number, so a reconnecting client resumes) until the job ends.

    Between them, `progress` events (no id) tell how many batches of the running epoch are done.
    If the server is asked to stop first, a `shutdown` event ends the stream instead.
    """
    sent, quiet, last_progress = after_epoch, 0.0, None
    while True:
        if stopping.is_set():
            yield format_event("shutdown", SHUTDOWN)
            return
        record, progress = await asyncio.to_thread(_read, store, job_id, progress_file)
        if record is None:
            return
        for metrics in record.history:
            if metrics["epoch"] > sent:
                data = json.dumps({**metrics, "total_epochs": record.request.epochs})
                yield format_event("epoch", data, str(metrics["epoch"]))
                sent, quiet = metrics["epoch"], 0.0
        if progress is not None and progress != last_progress and progress.get("epoch") == sent + 1:
            last_progress, quiet = progress, 0.0
            yield format_event("progress", json.dumps({**progress, "total_epochs": record.request.epochs}))
        if record.status.finished:
            yield format_event("end", render_end(record))
            return
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
