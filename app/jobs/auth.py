"""The admin token: DIGITS_ADMIN_TOKEN (or DIGITS_ADMIN_TOKEN_FILE, read into it by Settings), or one
generated once and kept in the state for every later start.

Embedded: kept in STATE_DIR/admin-token (0600). PostgreSQL: kept in the database, so every replica
accepts the same one; each replica also writes it to its own STATE_DIR/admin-token for the operator.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from app.core.config import Settings
from app.jobs.ports import Registry

log = logging.getLogger("app.auth")

TOKEN_FILE = "admin-token"
TOKEN_KEY = "admin_token"


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


def configured_token(settings: Settings) -> str | None:
    if settings.admin_token is not None and settings.admin_token.get_secret_value():
        return settings.admin_token.get_secret_value()
    return None


def resolve_admin_token(settings: Settings, registry: Registry | None, first: bool = True) -> str:
    """The configured token, else the one kept in the state, else a new one kept there (never logged).

    REGISTRY: the PostgreSQL registry (the token lives in the database), or None for the embedded backend.
    With several processes on one state directory, the FIRST generates it and the others read it.
    """
    configured = configured_token(settings)
    if configured is not None:
        return configured
    path = token_path(settings)
    if registry is not None:
        token = registry.secret(TOKEN_KEY, secrets.token_urlsafe(32))
        try:  # a convenience copy for the operator; a replica may well have no writable disk
            if not path.is_file() or path.read_text().strip() != token:
                write_private(path, token + "\n")
            where = f"also in {path}"
        except OSError as exc:
            where = f"not copied to {path}: {exc.strerror or exc}"
        log.warning("DIGITS_ADMIN_TOKEN is not set: using the admin token kept in the database (%s)", where)
        return token
    if path.is_file():
        kept = path.read_text().strip()
        if kept:
            if first:
                log.warning("DIGITS_ADMIN_TOKEN is not set: using the admin token kept in %s", path)
            return kept
    if not first:
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    write_private(path, token + "\n")
    log.warning("DIGITS_ADMIN_TOKEN is not set: generated an admin token in %s (mode 0600)", path)
    return token
