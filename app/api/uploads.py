"""Read the images of a /predict request: multipart `file`/`files`, or the raw body."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.config import Settings
from app.core.imaging import (
    GENERIC_MEDIA_TYPES,
    SUPPORTED_MEDIA_TYPES,
    ImageRejectedError,
    check_media_type,
    media_type_of,
)
from app.core.inference import Upload


def _missing_file() -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "missing",
                "loc": ("body", "file"),
                "msg": "Field required: upload an image as `file`",
                "input": None,
            }
        ]
    )


async def read_uploads(request: Request, settings: Settings) -> tuple[list[Upload], bool]:
    """The request's images in order, and whether it was a batch (`files`) request."""
    media_type = media_type_of(request.headers.get("content-type"))
    if media_type == "multipart/form-data":
        return await _read_multipart(request, settings)
    if media_type in SUPPORTED_MEDIA_TYPES or media_type in GENERIC_MEDIA_TYPES:
        body = await request.body()
        if not body and media_type == "":
            raise _missing_file()
        return [Upload(filename="", content_type=media_type, data=body)], False
    raise HTTPException(415, f"unsupported content type {media_type!r}: send multipart/form-data or an image body")


async def _read_multipart(request: Request, settings: Settings) -> tuple[list[Upload], bool]:
    try:
        form = await request.form(max_files=settings.max_files + 1, max_fields=settings.max_files + 16)
    except StarletteHTTPException as exc:
        if "Too many files" in str(exc.detail):
            raise HTTPException(413, f"too many files: at most {settings.max_files} per request") from None
        raise
    try:
        single, batch = form.getlist("file"), form.getlist("files")
        if single and batch:
            raise HTTPException(422, "send either `file` (one image) or `files` (a batch), not both")
        items = batch or single
        if not items:
            raise _missing_file()
        if len(single) > 1:
            raise HTTPException(422, "`file` takes one image; use `files` for several")
        if len(items) > settings.max_files:
            raise HTTPException(413, f"too many files: at most {settings.max_files} per request")
        uploads = []
        for index, item in enumerate(items):
            if not isinstance(item, UploadFile):
                raise HTTPException(422, f"file {index}: expected a file upload, got a text field")
            try:
                check_media_type(item.content_type)
            except ImageRejectedError as exc:
                raise HTTPException(exc.status_code, f"file {index}: {exc.detail}") from None
            uploads.append(
                Upload(filename=item.filename or "", content_type=item.content_type or "", data=await item.read())
            )
        return uploads, bool(batch)
    finally:
        await form.close()
