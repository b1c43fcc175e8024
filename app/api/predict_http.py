"""/predict and /predict/frame over plain ASGI: the hot path of the service.

Routing, dependency injection and per-route telemetry cost about as much as decoding and running
the model on a 28x28 digit, so POST /predict is answered by `PredictFastPath` before the router.
The FastAPI routes in routes/predict.py document the same endpoints and call the same `answer()`,
so both ways in behave identically (tests run against both).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from PIL import Image
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import no_model_yet
from app.api.middleware import parse_count
from app.api.uploads import read_uploads
from app.core.config import Settings
from app.core.imaging import ImageRejectedError, open_image
from app.core.inference import Job, Prediction, Reading, Upload
from app.core.lanes import Lanes
from app.core.model_holder import ModelHolder
from training.preprocessing import PREPROCESS_MODES, PreprocessMode

PREDICT_PATH = "/predict"
FRAME_PATH = "/predict/frame"
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})
_JSON = "application/json"
# /predict/frame's `scale` (each pixel drawn scale x scale); the documented route declares the same.
FRAME_SCALE_DEFAULT, FRAME_SCALE_MAX = 10, 32


@dataclass(frozen=True)
class Reply:
    status: int
    media_type: str
    body: bytes
    headers: Mapping[str, str] | None = None


def _json(status: int, content: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, _JSON, orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), headers)


def _invalid(name: str, message: str, value: str) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}])


@dataclass(frozen=True)
class PredictQuery:
    preprocess: PreprocessMode = "auto"
    return_frame: bool = False
    scale: int = FRAME_SCALE_DEFAULT
    segment: bool = False

    @classmethod
    def parse(cls, query_string: str) -> PredictQuery:
        """Validate the query like FastAPI would (422 naming the parameter); unknown names are ignored."""
        if not query_string:
            return _DEFAULT_QUERY  # most requests: nothing to parse
        values = dict(parse_qsl(query_string, keep_blank_values=True))
        preprocess = values.get("preprocess", "auto")
        if preprocess not in PREPROCESS_MODES:
            raise _invalid("preprocess", f"Input should be {', '.join(map(repr, PREPROCESS_MODES))}", preprocess)
        return_frame = _flag(values, "return_frame")
        segment = _flag(values, "segment")
        scale = values.get("scale", str(FRAME_SCALE_DEFAULT))
        number = parse_count(scale)
        if number is None or not 1 <= number <= FRAME_SCALE_MAX:
            raise _invalid("scale", f"Input should be an integer from 1 to {FRAME_SCALE_MAX}", scale)
        return cls(preprocess, return_frame, number, segment)


_DEFAULT_QUERY = PredictQuery()


def _flag(values: dict[str, str], name: str) -> bool:
    value = values.get(name, "false").lower()
    if value not in _TRUE | _FALSE:
        raise _invalid(name, "Input should be a valid boolean", value)
    return value in _TRUE


def reading_body(reading: Reading) -> dict[str, Any]:
    body: dict[str, Any] = {
        "digit": reading.digit,
        "confidence": reading.confidence,
        "probabilities": reading.probabilities,
    }
    if reading.reason is not None:
        body["reason"] = reading.reason
    return body


def prediction_body(prediction: Prediction, model_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "digit": prediction.digit,
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
        "model": model_id,
        "framed": prediction.framed,
    }
    if prediction.reason is not None:
        body["reason"] = prediction.reason
    if prediction.warning is not None:
        body["warning"] = prediction.warning
    if prediction.digits is not None:
        body["digits"] = [{"box": list(piece.box), **reading_body(piece.reading)} for piece in prediction.digits]
    if prediction.frame_png is not None:
        body["frame"] = base64.b64encode(prediction.frame_png).decode()
    return body


def item_error(error: ImageRejectedError) -> dict[str, Any]:
    """A batch item that could not be answered: its own status and why."""
    return {"status": error.status_code, "detail": error.detail}


def _open(index: int, item: Upload | ImageRejectedError, max_pixels: int) -> Image.Image | ImageRejectedError:
    if isinstance(item, ImageRejectedError):
        return item
    try:
        return open_image(item.data, max_pixels)
    except ImageRejectedError as exc:
        return _named(index, item, exc)


def _named(index: int, upload: Upload, error: ImageRejectedError) -> ImageRejectedError:
    name = f" ({upload.filename})" if upload.filename else ""
    return ImageRejectedError(error.status_code, f"file {index}{name}: {error.detail}")


async def _predict(
    holder: ModelHolder,
    lanes: Lanes | None,
    settings: Settings,
    content_type: str,
    query_string: str,
    body: bytes,
    frame_endpoint: bool,
) -> Reply:
    loaded = holder.current  # read once: a swap during this request does not change its model
    if loaded is None or lanes is None:  # before the lifespan has loaded the model and started the batchers
        raise no_model_yet()
    query = PredictQuery.parse(query_string)
    items, is_batch = read_uploads(content_type, body, settings)
    if frame_endpoint and is_batch:
        raise HTTPException(422, "send one image as `file` or as the body")
    # Every header is read (no pixel decoded) before anything is decoded: the request's decode
    # budget and its lane come from what the images declare, not from their compressed size.
    opened = [_open(index, item, settings.max_image_pixels) for index, item in enumerate(items)]
    pixels = sum(image.width * image.height for image in opened if isinstance(image, Image.Image))
    if pixels > settings.max_request_pixels:
        raise HTTPException(
            413, f"the images hold {pixels} pixels in all, more than the limit of {settings.max_request_pixels}"
        )
    scale = query.scale if frame_endpoint else (1 if query.return_frame else 0)
    jobs = [
        Job(item, loaded, query.preprocess, scale, opened=image, segment=query.segment and not frame_endpoint)
        for item, image in zip(items, opened, strict=True)
        if isinstance(item, Upload) and isinstance(image, Image.Image)
    ]
    outcomes = iter(await lanes.for_pixels(pixels).submit(jobs) if jobs else [])
    results: list[Prediction | ImageRejectedError] = []
    for index, (item, image) in enumerate(zip(items, opened, strict=True)):
        if isinstance(image, ImageRejectedError):
            results.append(image)
            continue
        assert isinstance(item, Upload)
        outcome = next(outcomes)
        results.append(_named(index, item, outcome) if isinstance(outcome, ImageRejectedError) else outcome)
    if is_batch:
        answers = [
            item_error(r) if isinstance(r, ImageRejectedError) else prediction_body(r, loaded.id) for r in results
        ]
        return _json(200, {"model": loaded.id, "predictions": answers})
    result = results[0]
    if isinstance(result, ImageRejectedError):
        raise HTTPException(result.status_code, result.detail)
    if frame_endpoint:
        assert result.frame_png is not None
        return Reply(200, "image/png", result.frame_png)
    return _json(200, prediction_body(result, loaded.id))


async def answer(app: FastAPI, content_type: str, query_string: str, body: bytes, frame_endpoint: bool) -> Reply:
    """The reply to a POST /predict (or /predict/frame): a result, or a JSON error with its status."""
    state = app.state
    try:
        return await _predict(
            state.holder,
            getattr(state, "lanes", None),
            state.settings,
            content_type,
            query_string,
            body,
            frame_endpoint,
        )
    except HTTPException as exc:
        return _json(exc.status_code, {"detail": exc.detail}, exc.headers)
    except RequestValidationError as exc:
        return _json(422, {"detail": list(exc.errors())})


class PredictFastPath:
    """Answer POST /predict and /predict/frame directly; pass everything else on to the router."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app, self.owner = app, owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in (PREDICT_PATH, FRAME_PATH):
            await self.app(scope, receive, send)
            return
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
                break
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # the body-size limit or the upload cap trips while the body streams in
            reply = _json(exc.status_code, {"detail": exc.detail}, exc.headers)
        else:
            if body is None:
                return  # the client went away before its body was complete: nothing to answer
            query = scope.get("query_string", b"").decode("latin-1")
            reply = await answer(self.owner, content_type, query, body, path == FRAME_PATH)
        headers = [(b"content-type", reply.media_type.encode()), (b"content-length", str(len(reply.body)).encode())]
        if reply.headers:
            headers += [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers.items()
            ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client disconnected first: a partial body is never processed."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
