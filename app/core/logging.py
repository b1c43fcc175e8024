"""Log format for the service's own loggers (uvicorn configures only its own)."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"  # several workers share one log


def configure_logging(level: int = logging.INFO) -> None:
    """Give the `app` logger a stderr handler once; tests and embedders may configure their own."""
    logger = logging.getLogger("app")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    logger.setLevel(level)
