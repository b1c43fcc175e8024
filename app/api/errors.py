"""Error responses for the OpenAPI page, and the handler that keeps internals out of 500s."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from app.schemas import ErrorPublic

log = logging.getLogger("app.errors")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Empty, undecodable or truncated image.",
        401: "Missing or wrong bearer token.",
        404: "No such resource.",
        409: "Conflicts with the current state.",
        413: "Body, image or batch larger than the configured limits.",
        415: "Not an image format the service reads.",
        422: "Missing or invalid parameters.",
        503: "No model loaded yet.",
    }
    return {code: {"model": ErrorPublic, "description": descriptions[code]} for code in codes}


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Log the traceback; tell the client nothing about the internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """The job database failed (locked, full, unreachable, damaged): 503 naming the cause, never a 500."""
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return JSONResponse({"detail": f"the job database is unavailable: {reason}"}, status_code=503)
