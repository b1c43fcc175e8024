"""The job manager (jobs and the model registry) as a route dependency: 503 with the reason when it is down."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from app.api.auth import require_admin
from app.jobs.manager import JobManager
from app.schemas import ErrorPublic

ADMIN = [Depends(require_admin)]
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorPublic, "description": "The job database is damaged or unreachable (the reason is given)."}
}
NO_ROOM: dict[int | str, dict[str, Any]] = {
    507: {"model": ErrorPublic, "description": "The state or models directory is not writable or has no room."}
}


def get_jobs(request: Request) -> JobManager:
    jobs: JobManager | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        reason = request.app.state.degraded.get("jobs", "the job database is not open yet; retry shortly")
        raise HTTPException(503, reason)
    return jobs


JobsDep = Annotated[JobManager, Depends(get_jobs)]
