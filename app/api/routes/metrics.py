"""GET /metrics: Prometheus text format for this server process."""

from __future__ import annotations

import os
import resource
from pathlib import Path

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["health"])

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


_BATCH_SERIES = (
    ("digits_batches_total", "counter", "Forward passes run by the dynamic batcher.", "batches"),
    ("digits_batched_requests_total", "counter", "Requests answered through the batcher.", "requests"),
    ("digits_batched_images_total", "counter", "Images run through the batcher.", "images"),
    ("digits_batch_largest_images", "gauge", "Images in the largest batch so far.", "largest"),
)


def _rss_bytes() -> int:
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _gauge(name: str, help_text: str, value: float, labels: str = "") -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{labels} {value}"]


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format."}},
)
async def metrics(request: Request) -> Response:
    """Requests by route and status, latency histograms, dynamic batching, the served model, memory.

    Each server process counts its own requests (a `pid` label tells them apart when DIGITS_WORKERS > 1).
    """
    state = request.app.state
    lines = state.metrics.render()
    lanes = getattr(state, "lanes", None)
    if lanes is not None:
        lanes_stats = (("small", lanes.fast.stats), ("large", lanes.slow.stats))
        for name, kind, help_text, attribute in _BATCH_SERIES:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines += [f'{name}{{lane="{lane}"}} {getattr(stats, attribute)}' for lane, stats in lanes_stats]
    loaded = state.holder.current
    if loaded is not None:
        lines += _gauge("digits_model_info", "The served model (value 1).", 1, f'{{model="{loaded.id}"}}')
    pid = f'{{pid="{os.getpid()}"}}'
    lines += _gauge("process_resident_memory_bytes", "Resident memory of this process.", _rss_bytes(), pid)
    return Response("\n".join(lines) + "\n", media_type=_CONTENT_TYPE)
