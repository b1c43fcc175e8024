"""DIGITS_OPENTELEMETRY: FastAPI's native OpenTelemetry, off unless asked for."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from app.core.config import Settings
from app.main import create_app


class RecordingProvider(trace.TracerProvider):
    """A configured provider (as an installed SDK would set), noting who asks it for a tracer."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_tracer(self, instrumenting_module_name: str, *args: Any, **kwargs: Any) -> trace.Tracer:
        self.asked.append(instrumenting_module_name)
        return trace.NoOpTracer()


@pytest.mark.parametrize("enabled", [False, True])
def test_requests_are_traced_only_when_opentelemetry_is_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    provider = RecordingProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    app = create_app(settings.model_copy(update={"opentelemetry": enabled}))

    with TestClient(app) as client:
        assert client.get("/health").status_code == 200

    assert bool(provider.asked) == enabled


def test_opentelemetry_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGITS_OPENTELEMETRY", raising=False)
    assert Settings().opentelemetry is False
    monkeypatch.setenv("DIGITS_OPENTELEMETRY", "true")
    assert Settings().opentelemetry is True
