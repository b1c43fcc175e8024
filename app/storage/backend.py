"""Open the backend the settings name, migrated, with the committed models registered."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from app.core.config import PROJECT_ROOT, Settings
from app.jobs.ports import ArtifactStore, JobStore, Listener, ModelRecord, Registry, TrainerLease
from app.storage.artifacts import DatabaseArtifactStore, LocalArtifactStore, record_for
from app.storage.database import SQLITE_FILE, Database, sqlite_url
from app.storage.jobs import SqlJobStore
from app.storage.leases import FileLease, TrainerRole
from app.storage.notify import PgListener
from app.storage.registry import SqlRegistry
from app.storage.schema_version import at_head
from training.artifact_format import ArtifactError

log = logging.getLogger("app.storage")

COMMITTED_MODELS = PROJECT_ROOT / "models"


@dataclass
class Backend:
    """One backend's implementations of the seams in app/jobs/ports.py."""

    database: Database
    jobs: JobStore
    registry: Registry
    artifacts: ArtifactStore
    lease: TrainerLease
    listener: Listener | None

    @property
    def embedded(self) -> bool:
        return not self.database.postgres

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.lease.release()
        self.database.close()


def database_url(settings: Settings) -> str:
    if settings.database_url is not None and settings.database_url.get_secret_value():
        return settings.database_url.get_secret_value()
    return sqlite_url(settings.state_dir / SQLITE_FILE)


def open_backend(settings: Settings) -> Backend:
    """Open and migrate the database. Raises DatabaseDamagedError (or a driver error) if it cannot be used."""
    database = Database.open(database_url(settings))
    try:
        if not at_head(database):
            _migrate(database)
    except BaseException:
        database.close()
        raise
    registry = SqlRegistry(database)
    if database.postgres:
        conninfo = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return Backend(
            database,
            SqlJobStore(database),
            registry,
            DatabaseArtifactStore(registry),
            TrainerRole(settings.is_trainer),
            PgListener(conninfo),
        )
    lease = FileLease(settings.state_dir) if settings.is_trainer else TrainerRole(False)
    return Backend(database, SqlJobStore(database), registry, LocalArtifactStore(), lease, None)


def _migrate(database: Database) -> None:
    # Imported only here: Alembic is start-up cost that a database already at head does not need.
    from app.storage import migrate

    migrate.upgrade(database)


def register_file(backend: Backend, path: Path, source: str = "file", source_ref: str | None = None) -> ModelRecord:
    """Register the artifact at PATH (idempotent by model id); on PostgreSQL its weights go into the database."""
    in_database = backend.artifacts.in_database()
    record = record_for(path, source, source_ref or _file_ref(path), None if in_database else str(path.resolve()))
    backend.registry.register(record, path.read_bytes() if in_database else None)
    return record


def _file_ref(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(resolved)


def register_committed(backend: Backend, configured: Path) -> str:
    """Register models/*.safetensors and DIGITS_MODEL; returns DIGITS_MODEL's id (it must load: it is served)."""
    for path in sorted(COMMITTED_MODELS.glob("*.safetensors")):
        if path.resolve() == configured.resolve():
            continue
        try:
            register_file(backend, path)
        except (ArtifactError, OSError) as exc:
            log.warning("not registering %s: %s", path, exc)
    return register_file(backend, configured).id


def register_found(backend: Backend, models_dir: Path) -> None:
    """Embedded: register trained artifacts a state written before the registry holds (their jobs succeeded)."""
    for path in sorted(models_dir.glob("*.safetensors")):
        model_id = path.stem
        if backend.registry.get(model_id) is not None:
            continue
        job = backend.jobs.job_for_model(model_id)
        if job is not None and job.status != "succeeded":
            continue
        try:
            register_file(backend, path, "job" if job else "file", job.id if job else None)
        except (ArtifactError, OSError) as exc:
            log.warning("not registering %s: %s", path, exc)
