"""Error responses for the OpenAPI page, and the handler that keeps internals out of 500s."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

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
    503: "No model loaded yet.",
}
# One real answer per status (copied from the service), so each status on the docs page shows its own.
EXAMPLES: dict[int, Any] = {
    400: "file 0 (photo.jpg): truncated or corrupt JPEG image (OSError)",
    401: "missing bearer token: send Authorization: Bearer <token>",
    404: "no training job 'c217c11568cf49539b5169586e6f2667'; GET /train lists them",
    409: "job c217c11568cf49539b5169586e6f2667 already finished (succeeded); nothing to cancel",
    413: "request body larger than the limit of 16777216 bytes",
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
