"""The images of a /predict body: multipart `file`/`files`, or the image itself as the body."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from app.core.config import Settings
from app.core.imaging import (
    GENERIC_MEDIA_TYPES,
    SUPPORTED_MEDIA_TYPES,
    ImageRejectedError,
    check_media_type,
    media_type_of,
)
from app.core.inference import Upload
from app.core.multipart import MultipartError, Part, parse_multipart

# Text fields a client may send beside its files (e.g. HTML forms add a submit field).
_EXTRA_PARTS = 16


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


def _too_many(settings: Settings) -> HTTPException:
    return HTTPException(413, f"too many files: at most {settings.max_files} per request")


Item = Upload | ImageRejectedError


def read_uploads(content_type: str, body: bytes, settings: Settings) -> tuple[list[Item], bool]:
    """The body's images in order, and whether it was a batch (`files`) request.

    A batch answers per image, so a file part of a type we do not read is returned as its error;
    anything wrong with a single image, or with the request as a whole (a text field where a file
    belongs included), is raised.
    """
    media_type = media_type_of(content_type)
    if media_type == "multipart/form-data":
        try:
            parts = parse_multipart(body, content_type, settings.max_files + _EXTRA_PARTS)
        except MultipartError as exc:
            raise (_too_many(settings) if exc.too_many else HTTPException(400, str(exc))) from None
        return _uploads_from_parts(parts, settings)
    if media_type in SUPPORTED_MEDIA_TYPES or media_type in GENERIC_MEDIA_TYPES:
        if not body and media_type == "":
            raise _missing_file()
        return [Upload(filename="", content_type=media_type, data=body)], False
    raise HTTPException(415, f"unsupported content type {media_type!r}: send multipart/form-data or an image body")


def _uploads_from_parts(parts: list[Part], settings: Settings) -> tuple[list[Item], bool]:
    single = [part for part in parts if part.name == "file"]
    batch = [part for part in parts if part.name == "files"]
    if len(single) > 1 and not batch:
        raise HTTPException(422, "`file` takes one image; use `files` for several")
    # With `files`, a `file` part joins the batch in upload order (the schema allows both together).
    items = [part for part in parts if part.name in ("file", "files")] if batch else single
    if not items:
        raise _missing_file()
    if len(items) > settings.max_files:
        raise _too_many(settings)
    uploads: list[Item] = []
    for index, part in enumerate(items):
        if part.filename is None:  # not the request the schema describes: the whole request is refused
            raise HTTPException(422, f"file {index}: expected a file upload, got a text field")
        try:
            check_media_type(part.content_type)
        except ImageRejectedError as exc:
            named = ImageRejectedError(exc.status_code, f"file {index}: {exc.detail}")
            if not batch:
                raise HTTPException(named.status_code, named.detail) from None
            uploads.append(named)
            continue
        uploads.append(Upload(filename=part.filename, content_type=part.content_type, data=part.data))
    return uploads, bool(batch)
