"""Liveness and readiness probes."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request

from app.api.deps import ModelDep
from app.api.errors import error_responses
from app.schemas import HealthPublic, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> HealthPublic:
    """Always 200 while the process is up."""
    return HealthPublic(status="ok", pid=os.getpid())


@router.get("/ready", summary="Readiness: a model is loaded", responses=error_responses(503))
def ready(loaded: ModelDep, request: Request) -> ReadyPublic:
    """200 once a model is loaded, 503 before. `degraded` names parts that are down (predictions still work)."""
    degraded: dict[str, str] = request.app.state.degraded
    return ReadyPublic(status="degraded" if degraded else "ready", model=loaded.id, pid=os.getpid(), degraded=degraded)
