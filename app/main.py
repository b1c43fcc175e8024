"""The ASGI app: `app.main:app`, built by `create_app(settings)`."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import ClientDisconnect

from app.api.docs import add_docs
from app.api.errors import client_gone, database_error, method_not_allowed, unexpected_error, validation_error
from app.api.main import api_router
from app.api.middleware import AccessLog, QuietStartupFailure, RequestBodyGuard
from app.api.predict_http import PredictFastPath
from app.core.config import Settings
from app.core.lanes import Lanes
from app.core.logging import configure_logging
from app.core.metrics import RequestMetrics
from app.core.model_holder import ModelHolder
from app.jobs.auth import configured_token
from app.jobs.manager import JobManager
from app.storage.database import DatabaseDamagedError
from training import runtime
from training.artifact_format import ArtifactError

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
        runtime.set_threads(settings.torch_threads)
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
        except DatabaseDamagedError as exc:
            # Predictions need no database: serve DIGITS_MODEL, refuse the jobs and registry APIs with the
            # reason (503), report it on /ready, and leave the file exactly as it is for the operator.
            app.state.degraded["jobs"] = f"the job database is damaged, so jobs and the registry are off: {exc}"
            log.error("%s", app.state.degraded["jobs"])
            app.state.admin_token = configured_token(settings) or secrets.token_urlsafe(32)
        except (OSError, sqlite3.Error, SQLAlchemyError) as exc:
            startup_failure["message"] = f"cannot use the state ({settings.state_dir} or DIGITS_DATABASE_URL): {exc}"
            log.error("%s", startup_failure["message"])
            raise
        app.state.lanes = Lanes.start(settings)
        # Everything loaded so far (the model, its runtime, FastAPI) lives as long as the process: moving it
        # out of the collector's generations keeps each full collection from walking it, which showed
        # up as ~100 ms stalls in /predict's p99 under load. No gc.collect() first: it walked ~240k
        # objects (0.12 s of CPU, twice that on a loaded machine) to find ~20 unreachable ones, and with
        # `python -m app` (which starts with the collector off, see app/__main__.py) the ~1 MiB of
        # import-time garbage is cheaper to keep than to find.
        gc.freeze()
        gc.enable()
        try:
            yield
        finally:
            if app.state.jobs is not None:  # a running child is stopped, its job marked interrupted
                await asyncio.to_thread(app.state.jobs.close)
            await asyncio.to_thread(app.state.lanes.close)

    # FastAPI's own /docs and /redoc load their scripts from a CDN; add_docs serves them from here.
    app = FastAPI(
        title="digit-service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry={
            "tracing": settings.opentelemetry,
            "metrics": settings.opentelemetry,
            "logs": settings.opentelemetry,
        },
    )
    app.state.settings = settings
    app.state.holder = ModelHolder(int8=settings.int8)
    app.state.jobs = None
    app.state.degraded = {}  # part -> reason, for /ready and the 503s of the jobs and registry APIs
    app.include_router(api_router)
    add_docs(app)
    app.add_exception_handler(Exception, unexpected_error)
    app.add_exception_handler(SQLAlchemyError, database_error)
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
