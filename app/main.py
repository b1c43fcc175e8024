"""The ASGI app: `app.main:app`, built by `create_app(settings)`."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import torch
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import ClientDisconnect

from app.api.docs import add_docs
from app.api.errors import client_gone, method_not_allowed, unexpected_error, validation_error
from app.api.main import api_router
from app.api.middleware import AccessLog, QuietStartupFailure, RequestBodyGuard
from app.api.predict_http import PredictFastPath
from app.core.config import Settings
from app.core.lanes import Lanes
from app.core.logging import configure_logging
from app.core.metrics import RequestMetrics
from app.core.model_holder import ModelHolder
from app.jobs.manager import JobManager
from training.artifacts import ArtifactError

log = logging.getLogger("app")

DESCRIPTION = """Recognises handwritten digits. POST an image to `/predict` and get the digit, its
probability and all ten softmax probabilities. The model, its preprocessing constants and its training
history are at `/model`."""


def create_app(settings: Settings | None = None, *, fast_path: bool = True) -> FastAPI:
    """Build the app; nothing heavy happens until the lifespan starts.

    fast_path=False sends /predict through FastAPI's router instead of PredictFastPath (same answers,
    slower); tests use it to check the two ways in agree.
    """
    settings = settings or Settings()
    configure_logging()
    startup_failure: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        torch.set_num_threads(settings.torch_threads)
        try:
            loaded = app.state.holder.load(settings.model)
        except (ArtifactError, OSError) as exc:
            startup_failure["message"] = f"cannot serve model {settings.model}: {exc}"
            log.error("%s", startup_failure["message"])
            raise
        log.info("serving model %s from %s", loaded.id, settings.model)
        try:
            app.state.jobs = JobManager.open(settings, app.state.holder)
            app.state.admin_token = app.state.jobs.admin_token  # shared by the server's processes
        except (OSError, sqlite3.Error) as exc:
            startup_failure["message"] = f"cannot use state directory {settings.state_dir}: {exc}"
            log.error("%s", startup_failure["message"])
            raise
        app.state.lanes = Lanes.start(settings)
        # Everything loaded so far (torch, the model, FastAPI) lives as long as the process: moving it
        # out of the collector's generations keeps each full collection from walking it, which showed
        # up as ~100 ms stalls in /predict's p99 under load.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.jobs.close)  # a running child is stopped, its job marked interrupted
            await asyncio.to_thread(app.state.lanes.close)

    # FastAPI's own /docs and /redoc load their scripts from a CDN; add_docs serves them from here.
    app = FastAPI(
        title="digit-service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.holder = ModelHolder()
    app.include_router(api_router)
    add_docs(app)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(405, method_not_allowed)
    if fast_path:
        app.add_middleware(PredictFastPath, owner=app)
    app.add_middleware(
        RequestBodyGuard, max_bytes=settings.max_upload_bytes, max_uploads=settings.max_uploads_in_flight
    )
    app.state.metrics = RequestMetrics()
    app.add_middleware(AccessLog, metrics=app.state.metrics)
    app.add_middleware(QuietStartupFailure, reason=startup_failure)
    return app


app = create_app()
