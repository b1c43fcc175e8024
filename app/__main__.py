"""`python -m app`: serve `app.main:app` on DIGITS_HOST:DIGITS_PORT with DIGITS_WORKERS processes.

With more than one worker, uvicorn's supervisor shares the listening socket between the processes and
starts a new one if one dies; the processes coordinate through DIGITS_STATE_DIR (see app/jobs/manager.py).
"""

from __future__ import annotations

import gc
import logging
import os

import uvicorn
from pydantic import ValidationError

from app.core.config import Settings
from app.core.logging import configure_logging

log = logging.getLogger("app")


def serve(target: str) -> None:
    """Serve the ASGI app at TARGET ("module:attribute") as the service is served: DIGITS_* settings,
    DIGITS_WORKERS processes, the guarded httptools protocol. bench/ceiling_app.py reuses it so its
    HTTP ceiling runs on exactly the service's server setup."""
    configure_logging()
    try:
        settings = Settings()
    except ValidationError as exc:
        # One line per bad setting, not a traceback: the usual mistake is a typo in an environment variable.
        for error in exc.errors():
            where = "DIGITS_" + "_".join(map(str, error["loc"])).upper() if error["loc"] else "settings"
            log.error("bad %s: %s", where, error["msg"].removeprefix("Value error, "))
        raise SystemExit(2) from None
    cpus = os.cpu_count() or 1
    threads = settings.workers * settings.inference_workers * settings.torch_threads
    if threads > cpus:
        log.warning(
            "%d processes x %d inference threads x %d threads per forward pass = %d threads for %d CPUs: contention",
            settings.workers,
            settings.inference_workers,
            settings.torch_threads,
            threads,
            cpus,
        )
    # Importing FastAPI, SQLAlchemy and the model's runtime creates many objects, which set off full collections
    # that find almost nothing (~0.3 s of CPU of a ~2 s start); the lifespan (app/main.py) freezes
    # what start-up built and turns the collector back on. Only when this process serves: with
    # DIGITS_WORKERS > 1 it is uvicorn's supervisor, which never runs the lifespan, and the workers
    # are new interpreters that start with the collector on.
    if settings.workers == 1:
        gc.disable()
    uvicorn.run(
        target,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,  # the app writes its own access lines (app/api/middleware.py)
        # httptools with limits on the request head's size and time and the body's pace
        http="app.api.http_protocol:GuardedHttpToolsProtocol",
        loop="uvloop",
    )


def main() -> None:
    serve("app.main:app")


if __name__ == "__main__":
    main()
