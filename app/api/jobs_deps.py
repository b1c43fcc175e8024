"""The job manager (jobs and the model registry) as a route dependency: 503 with the reason when it is down."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from app.api.auth import require_admin
from app.jobs.manager import JobManager
from app.schemas import ErrorPublic

ADMIN = [Depends(require_admin)]
# Real answers (copied from the service), so the docs page shows what a client will get.
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorPublic,
        "description": "The job database is damaged or unreachable (the reason is given).",
        "content": {"application/json": {"example": {"detail": "the job database is unavailable: database is locked"}}},
    }
}
NO_ROOM: dict[int | str, dict[str, Any]] = {
    507: {
        "model": ErrorPublic,
        "description": "The state or models directory is not writable or has no room.",
        "content": {
            "application/json": {
                "example": {
                    "detail": "cannot start a training job: /srv/state/models has 12 MiB free; a training job "
                    "needs at least 64 MiB (DIGITS_MIN_FREE_BYTES)"
                }
            }
        },
    }
}


def get_jobs(request: Request) -> JobManager:
    jobs: JobManager | None = getattr(request.app.state, "jobs", None)
    if jobs is None:
        reason = request.app.state.degraded.get("jobs", "the job database is not open yet; retry shortly")
        raise HTTPException(503, reason)
    return jobs


JobsDep = Annotated[JobManager, Depends(get_jobs)]
