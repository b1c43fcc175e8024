"""Dynamic batching with zero delay: an idle batcher runs a request at once; requests that arrive
while a batch runs are gathered into the next one (up to max_batch images).

Worker threads own decode, preprocessing and the forward pass, so the event loop only parses HTTP;
each batch costs one hand-off to a thread and one back, however many requests it holds.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from app.core.inference import Job, Outcome

log = logging.getLogger("app.batcher")


@dataclass
class _Pending:
    jobs: list[Job]
    future: asyncio.Future[list[Outcome]]
    loop: asyncio.AbstractEventLoop


_STOP = object()


_Result = tuple[asyncio.Future[list[Outcome]], list[Outcome] | BaseException]


def _resolve(results: list[_Result]) -> None:
    for future, result in results:
        if future.done():  # the client went away and the request was cancelled
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


@dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    images: int = 0
    largest: int = 0  # images in the largest batch so far


class Batcher:
    def __init__(
        self, process: Callable[[list[Job]], list[Outcome]], workers: int, max_batch: int, name: str = "batcher"
    ) -> None:
        self._process, self._max_batch = process, max_batch
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self.stats = BatchStats()
        self._stats_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    async def submit(self, jobs: list[Job]) -> list[Outcome]:
        """Outcomes for these jobs, in order; runs in whichever batch picks them up first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Outcome]] = loop.create_future()
        self._queue.put(_Pending(jobs, future, loop))
        return await future

    def close(self) -> None:
        """Finish queued work, then stop the threads."""
        self._queue.put(_STOP)
        for thread in self._threads:
            thread.join()

    def _take_batch(self, first: _Pending) -> tuple[list[_Pending], bool]:
        batch, size = [first], len(first.jobs)
        while size < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Pending)
            batch.append(item)
            size += len(item.jobs)
        return batch, False

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            assert isinstance(first, _Pending)
            batch, stopping = self._take_batch(first)
            images = sum(len(pending.jobs) for pending in batch)
            with self._stats_lock:
                self.stats.batches += 1
                self.stats.requests += len(batch)
                self.stats.images += images
                self.stats.largest = max(self.stats.largest, images)
            results: list[_Result] = []
            try:
                outcomes = self._process([job for pending in batch for job in pending.jobs])
                start = 0
                for pending in batch:
                    results.append((pending.future, outcomes[start : start + len(pending.jobs)]))
                    start += len(pending.jobs)
            except Exception as exc:  # noqa: BLE001 - every waiting request must hear about it
                log.exception("batch of %d requests failed", len(batch))
                results = [(pending.future, exc) for pending in batch]
            by_loop: dict[asyncio.AbstractEventLoop, list[_Result]] = {}
            for pending, result in zip(batch, results, strict=True):
                by_loop.setdefault(pending.loop, []).append(result)
            for loop, loop_results in by_loop.items():
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_resolve, loop_results)
        self._queue.put(_STOP)  # let the next thread stop too
