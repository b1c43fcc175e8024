"""Training jobs: start (admin), follow by polling, plot or event stream, cancel (admin)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse

from app.api.errors import error_responses
from app.api.events import job_events
from app.api.jobs_deps import ADMIN, NO_ROOM, UNAVAILABLE, JobsDep
from app.jobs.errors import JobConflictError, JobFinishedError, JobNotFoundError
from app.jobs.manager import JobManager
from app.jobs.ports import JobRecord
from app.jobs.preflight import NoRoomError
from app.jobs.progress import progress_path
from app.jobs.schemas import ConflictPublic, JobListPublic, JobPublic, TrainCreate
from app.schemas import EpochPublic, ErrorPublic
from training.history import EpochMetrics
from training.plots import render_history_png

router = APIRouter(prefix="/train", tags=["train"], responses=UNAVAILABLE)
_BUSY = "c217c11568cf49539b5169586e6f2667"
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ConflictPublic,
        "description": "Another job is queued or running.",
        "content": {
            "application/json": {
                "example": {
                    "detail": f"job {_BUSY} is already queued or running; wait for it or cancel it",
                    "running_job_id": _BUSY,
                }
            }
        },
    }
}
_BAD_EPOCHS = [
    {
        "type": "less_than_equal",
        "loc": ["body", "epochs"],
        "msg": "Input should be less than or equal to 100",
        "input": 1000,
        "ctx": {"le": 100},
    }
]
NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorPublic,
        "description": "The body is not JSON (or not UTF-8).",
        "content": {"application/json": {"example": {"detail": "There was an error parsing the body"}}},
    }
}
STILL_STOPPING: dict[int | str, dict[str, Any]] = {
    202: {"model": JobPublic, "description": "Cancel recorded; the job had not stopped yet."}
}


def to_public(record: JobRecord) -> JobPublic:
    return JobPublic(
        id=record.id,
        status=record.status,
        status_url=router.url_path_for("get_job", job_id=record.id),
        request=record.request,
        current_epoch=len(record.history),
        total_epochs=record.request.epochs,
        history=[EpochPublic(**epoch) for epoch in record.history],
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        model_id=record.model_id if record.status == "succeeded" else None,
        test_accuracy=record.test_accuracy,
        activated=record.activated,
        activation_note=record.activation_note,
        error=record.error,
    )


def find(jobs: JobManager, job_id: str) -> JobRecord:
    try:
        return jobs.get(job_id)
    except JobNotFoundError:
        raise HTTPException(404, f"no training job {job_id!r}; GET /train lists them") from None


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    dependencies=ADMIN,
    summary="Start a training job",
    responses={**error_responses(401, 422, e422=_BAD_EPOCHS), **CONFLICT, **NOT_JSON, **NO_ROOM},
)
def start_job(body: TrainCreate, response: Response, jobs: JobsDep) -> JobPublic | JSONResponse:
    """Train in a separate process; follow it at `status_url` or `status_url + /events`. One job at a time."""
    try:
        record = jobs.submit(body.resolve())
    except JobConflictError as exc:
        conflict = ConflictPublic(detail=f"{exc}; wait for it or cancel it", running_job_id=exc.running_id)
        return JSONResponse(conflict.model_dump(), status_code=409)
    except NoRoomError as exc:
        raise HTTPException(507, f"cannot start a training job: {exc}") from None
    public = to_public(record)
    response.headers["Location"] = public.status_url
    return public


@router.get("", summary="List training jobs")
def list_jobs(jobs: JobsDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JobListPublic:
    """Jobs, newest first, each with its request, history and outcome."""
    return JobListPublic(jobs=[to_public(record) for record in jobs.recent(limit)])


@router.get("/{job_id}", summary="A training job's status and history", responses=error_responses(404))
def get_job(job_id: str, jobs: JobsDep) -> JobPublic:
    """Status, per-epoch history so far, and the resulting model (or the error)."""
    return to_public(find(jobs, job_id))


@router.delete(
    "/{job_id}",
    summary="Cancel a training job",
    dependencies=ADMIN,
    responses={**STILL_STOPPING, **error_responses(401, 404, 409)},
)
def cancel_job(job_id: str, response: Response, jobs: JobsDep) -> JobPublic:
    """Stop a queued or running job's process; the served model and existing artifacts stay as they were.

    202 instead of 200 if the job has not stopped within 10 s: the request stays recorded for the leader.
    """
    find(jobs, job_id)
    try:
        record = jobs.cancel(job_id)
        if not record.status.finished:
            response.status_code = 202
        return to_public(record)
    except JobNotFoundError:
        raise HTTPException(404, f"no training job {job_id!r}") from None
    except JobFinishedError as exc:
        raise HTTPException(409, f"job {job_id} already finished ({exc.status}); nothing to cancel") from None


@router.get(
    "/{job_id}/plot.png",
    summary="Loss and accuracy curves so far",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **error_responses(404)},
)
def job_plot(job_id: str, jobs: JobsDep) -> Response:
    """Training vs validation loss and accuracy per epoch, as a PNG (drawn on a worker thread)."""
    record = find(jobs, job_id)
    history = [EpochMetrics(**epoch) for epoch in record.history]
    png = render_history_png(history, title=f"job {record.id[:8]} ({record.status})")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get(
    "/{job_id}/events",
    summary="Follow a training job as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(404)},
)
async def job_event_stream(
    job_id: str,
    jobs: JobsDep,
    last_event_id: Annotated[
        str,
        Header(pattern=r"^[0-9]{1,9}$", description="Resume after this epoch (the `id` of the last event received)."),
    ] = "0",
) -> StreamingResponse:
    """`epoch` events (past ones first, id = epoch number) as epochs end, then one `end` event with the job.

    While an epoch runs, `progress` events (`epoch`, `batch`, `batches`, `total_epochs`; no id) report
    the batches done, about twice a second (on a replica other than the trainer: at each of its heartbeats).

    A server shutdown ends the stream early with a `shutdown` event.
    """
    await asyncio.to_thread(find, jobs, job_id)
    stream = job_events(
        jobs.store,
        job_id,
        int(last_event_id),
        lambda record: to_public(record).model_dump_json(),
        jobs.stopping,
        progress_path(jobs.settings, job_id),
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
