"""Bearer-token authentication for the endpoints that change state."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# Declared as a security scheme, so the docs page has an Authorize button and marks the routes that
# need it; auto_error=False leaves the 401 and its message to require_admin.
bearer_scheme = HTTPBearer(
    scheme_name="adminToken",
    description="The admin token: DIGITS_ADMIN_TOKEN, DIGITS_ADMIN_TOKEN_FILE, or the generated one kept in "
    "$DIGITS_STATE_DIR/admin-token (in the database with PostgreSQL).",
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
