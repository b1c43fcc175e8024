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


def _is_upload(part: Part) -> bool:
    """A file part that carries something: an empty file input (no name, no bytes) is not one."""
    return part.filename is not None and bool(part.filename or part.data)


def _uploads_from_parts(parts: list[Part], settings: Settings) -> tuple[list[Item], bool]:
    # A form sends every field it shows, used or not: the docs page's "Try it out" sends an empty
    # `file=` beside a batch, and a placeholder text `files=string` beside one file. Such parts carry
    # no image, so they count as absent; a text field alone is still refused below.
    named = [part for part in parts if part.name in ("file", "files")]
    uploads_named = [part for part in named if _is_upload(part)]
    single = [part for part in uploads_named if part.name == "file"]
    batch = [part for part in uploads_named if part.name == "files"]
    if len(single) > 1 and not batch:
        raise HTTPException(422, "`file` takes one image; use `files` for several")
    if batch:
        # Beside a real batch only an empty placeholder is ignored: text where a file belongs is not
        # the request the schema describes, so the whole request is refused.
        for index, part in enumerate(part for part in named if part.filename is None or _is_upload(part)):
            if part.filename is None and part.data:
                raise HTTPException(422, f"file {index}: expected a file upload, got a text field")
    # With `files`, a `file` part joins the batch in upload order (the schema allows both together).
    items = uploads_named if batch else single
    if not items:
        text = next((part for part in named if part.filename is None and part.data), None)
        if text is not None:
            raise HTTPException(422, f"`{text.name}`: expected a file upload, got a text field")
        raise _missing_file()
    if len(items) > settings.max_files:
        raise _too_many(settings)
    uploads: list[Item] = []
    for index, part in enumerate(items):
        try:
            check_media_type(part.content_type)
        except ImageRejectedError as exc:
            named_error = ImageRejectedError(exc.status_code, f"file {index}: {exc.detail}")
            if not batch:
                raise HTTPException(named_error.status_code, named_error.detail) from None
            uploads.append(named_error)
            continue
        uploads.append(Upload(filename=part.filename or "", content_type=part.content_type, data=part.data))
    return uploads, bool(batch)
