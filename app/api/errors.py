"""Error responses for the OpenAPI page, and the handler that keeps internals out of 500s."""

from __future__ import annotations

import logging
import math
from typing import Any, cast

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.api.middleware import CLIENT_GONE
from app.core.config import Settings
from app.schemas import ErrorPublic

log = logging.getLogger("app.errors")


_DESCRIPTIONS = {
    400: "Empty, undecodable or truncated image; malformed multipart body.",
    401: "Missing or wrong bearer token.",
    404: "No such resource.",
    409: "Conflicts with the current state.",
    413: "Body, image or batch larger than the configured limits.",
    415: "Not an image format the service reads.",
    422: "Missing or invalid parameters.",
    503: "No model loaded yet, or too many uploads arriving at once (see Retry-After).",
}
# One real answer per status (copied from the service), so each status on the docs page shows its own.
EXAMPLES: dict[int, Any] = {
    400: "file 0 (photo.jpg): truncated or corrupt JPEG image (OSError)",
    401: "missing bearer token: send Authorization: Bearer <token>",
    404: "no training job 'c217c11568cf49539b5169586e6f2667'; GET /train lists them",
    409: "job c217c11568cf49539b5169586e6f2667 already finished (succeeded); nothing to cancel",
    413: f"request body larger than the limit of {Settings.model_fields['max_upload_bytes'].default} bytes",
    415: "unsupported content type 'text/plain': send multipart/form-data or an image body",
    422: [
        {
            "type": "missing",
            "loc": ["body", "file"],
            "msg": "Field required: upload an image as `file`",
            "input": None,
        }
    ],
    503: "no model loaded yet; retry shortly",
}


def error_responses(*codes: int, **examples: Any) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for CODES, each with its description and example (`e404="..."` overrides one)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        example = examples.get(f"e{code}", EXAMPLES[code])
        responses[code] = {
            "model": ErrorPublic,
            "description": _DESCRIPTIONS[code],
            "content": {"application/json": {"example": {"detail": example}}},
        }
    return responses


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Log the traceback; tell the client nothing about the internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """The job database failed (locked, full, unreachable, damaged): 503 naming the cause, never a 500."""
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return JSONResponse({"detail": f"the job database is unavailable: {reason}"}, status_code=503)


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client disconnected before its body was complete: nothing is processed; the status is
    only what the access log and metrics record (the client never sees it)."""
    return Response(status_code=CLIENT_GONE)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such an input is echoed as its name ("NaN", "Infinity")."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, also for inputs JSON cannot carry back (`"learning_rate": NaN`)."""
    errors = cast(RequestValidationError, exc).errors()
    return JSONResponse({"detail": _finite(jsonable_encoder(errors))}, status_code=422)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 whose Allow header lists every method the path takes, not only the first route's."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    detail = cast(HTTPException, exc).detail
    return JSONResponse({"detail": detail}, status_code=405, headers={"Allow": ", ".join(allowed)})
