"""A Python client for digit-service, on httpx: `Client` (blocking) and `AsyncClient`.

    from digit_service import Client
    client = Client("http://127.0.0.1:8000", token=None)
    client.predict("seven.png").digit                # 7
    job = client.train(arch="mlp", epochs=2)         # needs the admin token
    for epoch in job: print(epoch.epoch, epoch.val_accuracy)
    job.wait().model_id

Every error the server answers is raised as `DigitServiceError` with its status and the server's
`detail`. This module imports neither torch nor the server: it is all a user needs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
Preprocess = Literal["auto", "mnist", "raw"]
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class DigitServiceError(Exception):
    """The server answered an error (`status`, `detail`), or could not be reached (`status` 0)."""

    def __init__(self, status: int, detail: Any, body: Any = None) -> None:
        super().__init__(f"{status}: {detail}" if status else str(detail))
        self.status = status
        self.detail = detail
        self.body = body


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number (segment=True), with its box (left, top, right, bottom) in the image."""

    box: tuple[int, int, int, int]
    digit: int | None  # None: this piece is not a digit (see reason)
    confidence: float | None
    probabilities: list[float]
    reason: str | None = None


@dataclass(frozen=True)
class Prediction:
    digit: int | None  # None: blank, or not a digit (see reason; probabilities are kept then)
    confidence: float | None
    probabilities: list[float] | None
    model: str
    framed: bool
    reason: str | None = None
    frame: bytes | None = None  # the 28x28 PNG the model saw, with return_frame=True
    warning: str | None = None  # e.g. several digits in the image, read as one
    digits: list[DigitReading] | None = None  # with segment=True: each digit, left to right

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Prediction:
        frame = body.get("frame")
        digits = body.get("digits")
        return cls(
            digit=body["digit"],
            confidence=body["confidence"],
            probabilities=body["probabilities"],
            model=body["model"],
            framed=body["framed"],
            reason=body.get("reason"),
            frame=base64.b64decode(frame) if frame else None,
            warning=body.get("warning"),
            digits=None
            if digits is None
            else [
                DigitReading(
                    box=(d["box"][0], d["box"][1], d["box"][2], d["box"][3]),
                    digit=d["digit"],
                    confidence=d["confidence"],
                    probabilities=d["probabilities"],
                    reason=d.get("reason"),
                )
                for d in digits
            ],
        )

    @property
    def number(self) -> str | None:
        """With segment=True: the digits read left to right ("42"), or None if a piece was refused."""
        if not self.digits or any(d.digit is None for d in self.digits):
            return None
        return "".join(str(d.digit) for d in self.digits)


@dataclass(frozen=True)
class Epoch:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Epoch:
        return cls(**{name: body[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Progress:
    """How far the running epoch is: `batch` of `batches` done (SSE `progress` events)."""

    epoch: int
    batch: int
    batches: int
    total_epochs: int


@dataclass(frozen=True)
class ModelInfo:
    id: str
    architecture: dict[str, Any]
    preprocessing: dict[str, Any]
    test_accuracy: float | None
    epochs: int
    history: list[Epoch]
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    created: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ModelInfo:
        return cls(
            id=body["id"],
            architecture=body["architecture"],
            preprocessing=body["preprocessing"],
            test_accuracy=body.get("test_accuracy"),
            epochs=body.get("epochs", 0),
            history=[Epoch.from_json(epoch) for epoch in body.get("history", [])],
            hyperparameters=body.get("hyperparameters", {}),
            created=body.get("created"),
        )


@dataclass(frozen=True)
class JobState:
    """A training job as the server reports it."""

    id: str
    status: str
    request: dict[str, Any]
    current_epoch: int
    total_epochs: int
    history: list[Epoch]
    model_id: str | None
    test_accuracy: float | None
    activated: bool | None
    error: str | None
    activation_note: str | None = None  # why the model was or was not served (the request, or the quality gate)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> JobState:
        return cls(
            id=body["id"],
            status=body["status"],
            request=body["request"],
            current_epoch=body["current_epoch"],
            total_epochs=body["total_epochs"],
            history=[Epoch.from_json(epoch) for epoch in body["history"]],
            model_id=body.get("model_id"),
            test_accuracy=body.get("test_accuracy"),
            activated=body.get("activated"),
            error=body.get("error"),
            activation_note=body.get("activation_note"),
        )


ImageInput = str | os.PathLike[str] | bytes | Any  # also PIL.Image.Image and numpy arrays


def encode_image(image: ImageInput, index: int = 0) -> tuple[str, bytes, str]:
    """(filename, bytes, content type) for a path, raw bytes, a PIL image or a numpy array."""
    if isinstance(image, str | os.PathLike):
        path = Path(image)
        return path.name, path.read_bytes(), "application/octet-stream"
    if isinstance(image, bytes | bytearray | memoryview):
        return f"image-{index}", bytes(image), "application/octet-stream"
    if type(image).__module__.startswith("PIL.") or hasattr(image, "__array__"):
        return f"image-{index}.png", _png(image), "image/png"
    raise TypeError(f"cannot send a {type(image).__name__}: give a path, bytes, a PIL image or a numpy array")


def _png(image: Any) -> bytes:
    from PIL import Image  # only needed (and imported) for images built in memory

    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(image)
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        elif array.dtype.kind == "f":  # floats are taken as 0..1 intensities
            array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
        image = Image.fromarray(array.astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        body, detail = response.text, response.text or response.reason_phrase
    raise DigitServiceError(response.status_code, detail, body)


def _unreachable(url: str, exc: httpx.TransportError) -> DigitServiceError:
    return DigitServiceError(0, f"cannot reach {url}: {exc}")


def _train_body(**settings: Any) -> dict[str, Any]:
    return {name: value for name, value in settings.items() if value is not None}


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event: its name, id and JSON data."""

    name: str
    data: Any
    id: str | None = None


class _EventParser:
    """Server-Sent Events, line by line (comments such as keep-alives are skipped)."""

    def __init__(self) -> None:
        self.name, self.id, self.data = "message", None, []  # type: tuple[str, str | None, list[str]]

    def feed(self, line: str) -> Event | None:
        if not line:
            if not self.data:
                return None
            event = Event(self.name, json.loads("\n".join(self.data)), self.id)
            self.name, self.id, self.data = "message", None, []
            return event
        if line.startswith(":"):
            return None
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            self.name = value
        elif key == "data":
            self.data.append(value)
        elif key == "id":
            self.id = value
        return None


def _epoch_updates(events: Iterable[Event], with_progress: bool) -> Iterator[Epoch | Progress | JobState]:
    for event in events:
        if event.name == "epoch":
            yield Epoch.from_json(event.data)
        elif event.name == "progress" and with_progress:
            yield Progress(**{name: event.data[name] for name in Progress.__dataclass_fields__})
        elif event.name == "end":
            yield JobState.from_json(event.data)
            return
        elif event.name == "shutdown":
            raise DigitServiceError(503, event.data.get("detail", "the server is shutting down"))


class TrainingJob:
    """A training job on the server: follow it with `wait()` or by iterating its epochs; `cancel()` it."""

    def __init__(self, client: Client, state: JobState) -> None:
        self.client, self.id, self.last = client, state.id, state

    def __repr__(self) -> str:
        return f"TrainingJob({self.id!r}, status={self.last.status!r})"

    def status(self) -> JobState:
        self.last = JobState.from_json(self.client._json("GET", f"/train/{self.id}"))
        return self.last

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> JobState:
        """Block until the job has finished (succeeded, failed or cancelled) and return its final state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.status().finished:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} still {self.last.status} after {timeout} s")
            time.sleep(poll)
        return self.last

    def updates(self, with_progress: bool = True) -> Iterator[Epoch | Progress | JobState]:
        """Epochs as they end (and Progress within each), then the final JobState, from the event stream."""
        for update in _epoch_updates(self.client._events(f"/train/{self.id}/events"), with_progress):
            if isinstance(update, JobState):
                self.last = update
            yield update

    def __iter__(self) -> Iterator[Epoch]:
        """The job's epochs, past ones first, each as it ends; the loop ends with the job."""
        for update in self.updates(with_progress=False):
            if isinstance(update, Epoch):
                yield update

    def cancel(self) -> JobState:
        self.last = JobState.from_json(self.client._json("DELETE", f"/train/{self.id}", auth=True))
        return self.last


class Client:
    """digit-service over HTTP. `token` is the admin token, needed only for train() and cancel()."""

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout: float = 60.0, **httpx_options: Any
    ) -> None:
        self.url = (url or os.environ.get("DIGITS_URL") or DEFAULT_URL).rstrip("/")
        self.token = token
        self.http = httpx.Client(base_url=self.url, timeout=timeout, **httpx_options)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, auth: bool = False, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc
        _raise_for_status(response)
        return response

    def _json(self, method: str, path: str, auth: bool = False, **kwargs: Any) -> Any:
        return self._send(method, path, auth, **kwargs).json()

    def _events(self, path: str) -> Iterator[Event]:
        try:
            with self.http.stream("GET", path, timeout=httpx.Timeout(self.http.timeout.connect, read=None)) as stream:
                if stream.status_code >= 400:
                    stream.read()
                    _raise_for_status(stream)
                parser = _EventParser()
                for line in stream.iter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc

    def predict(
        self, image: ImageInput, preprocess: Preprocess = "auto", return_frame: bool = False, segment: bool = False
    ) -> Prediction:
        """The digit in one image (a path, bytes, a PIL image or a numpy array); segment=True also reads
        each digit of a number (`digits`, `number`)."""
        params = {"preprocess": preprocess, "return_frame": str(return_frame).lower(), "segment": str(segment).lower()}
        body = self._json("POST", "/predict", params=params, files={"file": encode_image(image)})
        return Prediction.from_json(body)

    def predict_many(self, images: Iterable[ImageInput], preprocess: Preprocess = "auto") -> list[Prediction]:
        """One prediction per image, in order, from one request (the server caps a batch at DIGITS_MAX_FILES)."""
        files = [("files", encode_image(image, index)) for index, image in enumerate(images)]
        body = self._json("POST", "/predict", params={"preprocess": preprocess}, files=files)
        return [Prediction.from_json(prediction) for prediction in body["predictions"]]

    def frame(self, image: ImageInput, preprocess: Preprocess = "auto", scale: int = 10) -> bytes:
        """The 28x28 image the model sees, as PNG bytes, each pixel drawn scale x scale."""
        params = {"preprocess": preprocess, "scale": scale}
        return self._send("POST", "/predict/frame", params=params, files={"file": encode_image(image)}).content

    def model(self) -> ModelInfo:
        return ModelInfo.from_json(self._json("GET", "/model"))

    def train(
        self,
        arch: Literal["mlp", "cnn", "compact"] = "mlp",
        epochs: int | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
        train_limit: int | None = None,
        activate: bool | None = None,
        force_activate: bool | None = None,
    ) -> TrainingJob:
        """Start a training job (admin token); omitted settings take the architecture's defaults."""
        body = _train_body(
            arch=arch,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            seed=seed,
            train_limit=train_limit,
            activate=activate,
            force_activate=force_activate,
        )
        return TrainingJob(self, JobState.from_json(self._json("POST", "/train", auth=True, json=body)))

    def job(self, job_id: str) -> TrainingJob:
        return TrainingJob(self, JobState.from_json(self._json("GET", f"/train/{job_id}")))

    def jobs(self, limit: int = 100) -> list[JobState]:
        return [JobState.from_json(job) for job in self._json("GET", "/train", params={"limit": limit})["jobs"]]


class AsyncTrainingJob:
    """TrainingJob for AsyncClient: `await job.wait()`, `async for epoch in job`, `await job.cancel()`."""

    def __init__(self, client: AsyncClient, state: JobState) -> None:
        self.client, self.id, self.last = client, state.id, state

    async def status(self) -> JobState:
        self.last = JobState.from_json(await self.client._json("GET", f"/train/{self.id}"))
        return self.last

    async def wait(self, timeout: float | None = None, poll: float = 0.5) -> JobState:
        async with asyncio.timeout(timeout):
            while not (await self.status()).finished:
                await asyncio.sleep(poll)
        return self.last

    async def updates(self, with_progress: bool = True) -> AsyncIterator[Epoch | Progress | JobState]:
        async for event in self.client._events(f"/train/{self.id}/events"):
            for update in _epoch_updates([event], with_progress):
                yield update
                if isinstance(update, JobState):
                    self.last = update
                    return

    async def __aiter__(self) -> AsyncIterator[Epoch]:
        async for update in self.updates(with_progress=False):
            if isinstance(update, Epoch):
                yield update

    async def cancel(self) -> JobState:
        self.last = JobState.from_json(await self.client._json("DELETE", f"/train/{self.id}", auth=True))
        return self.last


class AsyncClient:
    """The same calls as Client, awaitable: `async with AsyncClient(url) as client: await client.predict(...)`."""

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout: float = 60.0, **httpx_options: Any
    ) -> None:
        self.url = (url or os.environ.get("DIGITS_URL") or DEFAULT_URL).rstrip("/")
        self.token = token
        self.http = httpx.AsyncClient(base_url=self.url, timeout=timeout, **httpx_options)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def _send(self, method: str, path: str, auth: bool = False, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc
        _raise_for_status(response)
        return response

    async def _json(self, method: str, path: str, auth: bool = False, **kwargs: Any) -> Any:
        return (await self._send(method, path, auth, **kwargs)).json()

    async def _events(self, path: str) -> AsyncIterator[Event]:
        try:
            timeout = httpx.Timeout(self.http.timeout.connect, read=None)
            async with self.http.stream("GET", path, timeout=timeout) as stream:
                if stream.status_code >= 400:
                    await stream.aread()
                    _raise_for_status(stream)
                parser = _EventParser()
                async for line in stream.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc

    async def predict(
        self, image: ImageInput, preprocess: Preprocess = "auto", return_frame: bool = False, segment: bool = False
    ) -> Prediction:
        params = {"preprocess": preprocess, "return_frame": str(return_frame).lower(), "segment": str(segment).lower()}
        body = await self._json("POST", "/predict", params=params, files={"file": encode_image(image)})
        return Prediction.from_json(body)

    async def predict_many(self, images: Iterable[ImageInput], preprocess: Preprocess = "auto") -> list[Prediction]:
        files = [("files", encode_image(image, index)) for index, image in enumerate(images)]
        body = await self._json("POST", "/predict", params={"preprocess": preprocess}, files=files)
        return [Prediction.from_json(prediction) for prediction in body["predictions"]]

    async def frame(self, image: ImageInput, preprocess: Preprocess = "auto", scale: int = 10) -> bytes:
        params = {"preprocess": preprocess, "scale": scale}
        response = await self._send("POST", "/predict/frame", params=params, files={"file": encode_image(image)})
        return response.content

    async def model(self) -> ModelInfo:
        return ModelInfo.from_json(await self._json("GET", "/model"))

    async def train(
        self,
        arch: Literal["mlp", "cnn", "compact"] = "mlp",
        epochs: int | None = None,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
        train_limit: int | None = None,
        activate: bool | None = None,
        force_activate: bool | None = None,
    ) -> AsyncTrainingJob:
        body = _train_body(
            arch=arch,
            epochs=epochs,
            learning_rate=learning_rate,
            batch_size=batch_size,
            seed=seed,
            train_limit=train_limit,
            activate=activate,
            force_activate=force_activate,
        )
        return AsyncTrainingJob(self, JobState.from_json(await self._json("POST", "/train", auth=True, json=body)))

    async def job(self, job_id: str) -> AsyncTrainingJob:
        return AsyncTrainingJob(self, JobState.from_json(await self._json("GET", f"/train/{job_id}")))
