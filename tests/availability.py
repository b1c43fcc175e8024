"""What a test does when a service it needs (a browser, PostgreSQL, a Docker engine) is missing.

Locally such tests skip and say why; under CI=true `.ci/run` has installed and started everything,
so a missing service is a broken set-up and the test fails instead of hiding behind a skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip with REASON, or fail with it under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)
