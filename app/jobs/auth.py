"""The admin bearer token: from DIGITS_ADMIN_TOKEN, or generated at start-up into a 0600 file."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.config import Settings

log = logging.getLogger("app.auth")

TOKEN_FILE = "admin-token"


def token_path(settings: Settings) -> Path:
    return settings.state_dir / TOKEN_FILE


def write_private(path: Path, text: str) -> None:
    """Create the file readable by its owner only, from the first byte (no chmod after the fact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def resolve_admin_token(settings: Settings, first: bool = True) -> str:
    """The configured token, or a fresh random one written to the state directory (never logged).

    With several server processes, the FIRST of them generates it and the others read it from the file.
    """
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return settings.admin_token.get_secret_value()
    if not first:
        return token_path(settings).read_text().strip()
    token = secrets.token_urlsafe(32)
    path = token_path(settings)
    write_private(path, token + "\n")
    log.warning("DIGITS_ADMIN_TOKEN is not set: generated an admin token in %s (mode 0600)", path)
    return token


# Declared as a security scheme, so the docs page has an Authorize button and marks the routes that
# need it; auto_error=False leaves the 401 and its message to require_admin.
bearer_scheme = HTTPBearer(
    scheme_name="adminToken",
    description="The admin token: DIGITS_ADMIN_TOKEN, DIGITS_ADMIN_TOKEN_FILE, or the generated "
    "$DIGITS_STATE_DIR/admin-token.",
    auto_error=False,
)


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
) -> None:
    """Dependency: 401 unless `Authorization: Bearer <token>` matches, compared in constant time."""
    expected: str = request.app.state.admin_token
    given = credentials.credentials.strip() if credentials is not None else ""
    if not given:
        raise HTTPException(
            401, "missing bearer token: send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "invalid bearer token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
