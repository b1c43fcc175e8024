"""What job control refuses, for the routes to turn into 404 and 409."""

from __future__ import annotations

from app.jobs.schemas import JobStatus


class JobConflictError(Exception):
    def __init__(self, running_id: str) -> None:
        super().__init__(f"job {running_id} is already queued or running")
        self.running_id = running_id


class JobNotFoundError(LookupError):
    pass


class JobFinishedError(Exception):
    def __init__(self, status: JobStatus) -> None:
        super().__init__(f"job already finished: {status}")
        self.status = status
