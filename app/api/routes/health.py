"""Liveness and readiness probes."""

from __future__ import annotations

import os

from fastapi import APIRouter

from app.api.deps import ModelDep
from app.api.errors import error_responses
from app.schemas import HealthPublic, ReadyPublic

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> HealthPublic:
    """Always 200 while the process is up."""
    return HealthPublic(status="ok", pid=os.getpid())


@router.get("/ready", summary="Readiness: a model is loaded", responses=error_responses(503))
def ready(loaded: ModelDep) -> ReadyPublic:
    """200 once a model is loaded, 503 before."""
    return ReadyPublic(status="ready", model=loaded.id, pid=os.getpid())
