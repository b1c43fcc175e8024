"""Request counts and latencies in Prometheus' text format, per server process."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

# Seconds; /predict on a digit sits in the first buckets, a batch of photos in the last ones.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_KNOWN = frozenset({"/predict", "/predict/frame", "/model", "/health", "/ready", "/train", "/metrics"})
_JOB_PATH = re.compile(r"^/train/[^/]+(/events|/plot\.png)?$")


def route_label(path: str) -> str:
    """The route a path belongs to: ids collapse, so one client cannot grow the label set."""
    if path in _KNOWN:
        return path
    match = _JOB_PATH.match(path)
    if match:
        return "/train/{id}" + (match.group(1) or "")
    return "other"


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    count: int = 0
    total: float = 0.0


class RequestMetrics:
    """Updated by the access-log middleware on the event loop (one thread: no lock needed)."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency: dict[str, _Histogram] = defaultdict(_Histogram)

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        route = route_label(path)
        self._requests[(method, route, status)] += 1
        histogram = self._latency[route]
        histogram.count += 1
        histogram.total += seconds
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                histogram.buckets[index] += 1
                break

    def render(self) -> list[str]:
        lines = [
            "# HELP digits_http_requests_total Requests answered, by method, route and status.",
            "# TYPE digits_http_requests_total counter",
        ]
        for (method, route, status), count in sorted(self._requests.items()):
            lines.append(f'digits_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}')
        lines += [
            "# HELP digits_http_request_duration_seconds Time from request to the end of the response.",
            "# TYPE digits_http_request_duration_seconds histogram",
        ]
        for route, histogram in sorted(self._latency.items()):
            cumulative = 0
            for bound, count in zip(LATENCY_BUCKETS, histogram.buckets, strict=True):
                cumulative += count
                lines.append(
                    f'digits_http_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {cumulative}'
                )
            lines.append(f'digits_http_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {histogram.count}')
            lines.append(f'digits_http_request_duration_seconds_sum{{route="{route}"}} {histogram.total:.6f}')
            lines.append(f'digits_http_request_duration_seconds_count{{route="{route}"}} {histogram.count}')
        return lines
