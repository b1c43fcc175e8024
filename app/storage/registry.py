"""The model registry, the live-model pointer and the roll of server processes, in SQL."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from app.jobs.ports import Activation, ModelRecord, now
from app.storage.database import NOTIFY_CHANNEL, Database
from app.storage.schema import activations, members, model_blobs, models, service_meta

HOST = socket.gethostname()


class ModelNotFoundError(LookupError):
    pass


class ModelLiveError(Exception):
    """The live model cannot be deleted."""


def insert_model(conn: Connection, record: ModelRecord, weights: bytes | None) -> bool:
    """Add RECORD (and its WEIGHTS, if held in the database) unless a model of that id exists; True if added."""
    if conn.execute(sa.select(models.c.id).where(models.c.id == record.id)).first() is not None:
        return False
    conn.execute(
        models.insert().values(
            id=record.id,
            metadata=json.dumps(record.metadata),
            architecture=json.dumps(record.metadata["architecture"]),
            test_accuracy=record.test_accuracy,
            created=record.created,
            source=record.source,
            source_ref=record.source_ref,
            sha256=record.sha256,
            size=record.size,
            location=record.location,
            registered_at=record.registered_at.isoformat(),
            ever_live=record.ever_live,
        )
    )
    if weights is not None:
        conn.execute(model_blobs.insert().values(model_id=record.id, weights=weights))
    return True


def insert_activation(conn: Connection, model_id: str, postgres: bool) -> int:
    """Make MODEL_ID live: a new row in the activation log; every process follows (NOTIFY, else polling)."""
    version = conn.execute(
        activations.insert().values(model_id=model_id, recorded_at=now().isoformat()).returning(activations.c.version)
    ).scalar_one()
    conn.execute(models.update().where(models.c.id == model_id).values(ever_live=True))
    if postgres:  # delivered on commit, to every replica LISTENing
        conn.execute(
            sa.text("SELECT pg_notify(:channel, :payload)"), {"channel": NOTIFY_CHANNEL, "payload": str(version)}
        )
    return int(version)


def _model(row: Row[Any]) -> ModelRecord:
    return ModelRecord(
        id=row.id,
        metadata=json.loads(row.metadata),
        test_accuracy=row.test_accuracy,
        created=row.created,
        source=row.source,
        source_ref=row.source_ref,
        sha256=row.sha256,
        size=int(row.size),
        location=row.location,
        registered_at=datetime.fromisoformat(row.registered_at),
        ever_live=bool(row.ever_live),
    )


class SqlRegistry:
    def __init__(self, database: Database) -> None:
        self.db = database

    def register(self, record: ModelRecord, weights: bytes | None) -> bool:
        with self.db.transaction() as conn:
            added = insert_model(conn, record, weights)
            if not added and record.location is not None:  # a committed file moves with its checkout
                conn.execute(
                    models.update()
                    .where((models.c.id == record.id) & models.c.location.is_not(None))
                    .values(location=record.location)
                )
        return added

    def get(self, model_id: str) -> ModelRecord | None:
        with self.db.reading() as conn:
            row = conn.execute(sa.select(models).where(models.c.id == model_id)).first()
        return _model(row) if row is not None else None

    def all(self) -> list[ModelRecord]:
        """Newest first (by creation time, then registration)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                sa.select(models).order_by(models.c.created.desc(), models.c.registered_at.desc())
            ).fetchall()
        return [_model(row) for row in rows]

    def weights(self, model_id: str) -> bytes | None:
        with self.db.reading() as conn:
            blob = conn.execute(sa.select(model_blobs.c.weights).where(model_blobs.c.model_id == model_id)).scalar()
        return bytes(blob) if blob is not None else None

    def live(self) -> Activation | None:
        with self.db.reading() as conn:
            row = conn.execute(
                sa.select(activations.c.version, activations.c.model_id).order_by(activations.c.version.desc()).limit(1)
            ).first()
        return Activation(int(row.version), row.model_id) if row is not None else None

    def activate(self, model_id: str) -> int:
        with self.db.transaction() as conn:
            if conn.execute(sa.select(models.c.id).where(models.c.id == model_id)).first() is None:
                raise ModelNotFoundError(model_id)
            return insert_activation(conn, model_id, self.db.postgres)

    def delete(self, model_id: str) -> ModelRecord:
        """Remove a model's record (and weights held in the database); refuses the live one."""
        with self.db.transaction() as conn:
            row = conn.execute(sa.select(models).where(models.c.id == model_id).with_for_update()).first()
            if row is None:
                raise ModelNotFoundError(model_id)
            if self._live_id(conn) == model_id:
                raise ModelLiveError(model_id)
            conn.execute(model_blobs.delete().where(model_blobs.c.model_id == model_id))
            conn.execute(models.delete().where(models.c.id == model_id))
        return _model(row)

    def prune(self, keep: int | None, max_age_days: float | None) -> list[ModelRecord]:
        """Delete trained models that never served beyond the newest KEEP or older than MAX_AGE_DAYS.

        Never the live model, never one that was ever live (a rollback target), never a committed file.
        """
        doomed: dict[str, ModelRecord] = {}
        with self.db.transaction() as conn:
            live = self._live_id(conn)
            candidates = [
                _model(row)
                for row in conn.execute(
                    sa.select(models)
                    .where((models.c.source == "job") & ~models.c.ever_live)
                    .order_by(models.c.created.desc(), models.c.registered_at.desc())
                )
            ]
            cutoff = now() - timedelta(days=max_age_days) if max_age_days is not None else None
            for index, record in enumerate(candidates):
                too_many = keep is not None and index >= keep
                too_old = cutoff is not None and record.registered_at < cutoff
                if record.id != live and (too_many or too_old):
                    doomed[record.id] = record
            if doomed:
                conn.execute(model_blobs.delete().where(model_blobs.c.model_id.in_(doomed)))
                conn.execute(models.delete().where(models.c.id.in_(doomed)))
        return list(doomed.values())

    @staticmethod
    def _live_id(conn: Connection) -> str | None:
        value = conn.execute(sa.select(activations.c.model_id).order_by(activations.c.version.desc()).limit(1)).scalar()
        return str(value) if value is not None else None

    def note_member(self, member: str, version: int) -> None:
        """Record that process MEMBER serves activation VERSION (and is alive now)."""
        values = {"pid": os.getpid(), "version": version, "host": HOST, "seen_at": now().isoformat()}
        with self.db.transaction() as conn:
            if conn.execute(members.update().where(members.c.member == member).values(**values)).rowcount == 0:
                conn.execute(members.insert().values(member=member, **values))

    def lagging_members(self, member: str, version: int, stale_seconds: float) -> list[str]:
        """Other live processes that serve an older activation than VERSION, as "host:pid".

        A process counts as gone if it has not been seen for STALE_SECONDS, or, on this host, if its pid is dead.
        """
        cutoff = (now() - timedelta(seconds=stale_seconds)).isoformat()
        behind: list[str] = []
        with self.db.reading() as conn:
            rows = conn.execute(
                sa.select(members).where((members.c.member != member) & (members.c.version < version))
            ).fetchall()
        for row in rows:
            gone = (row.seen_at is not None and row.seen_at < cutoff) or (
                row.host in (None, HOST) and not _pid_alive(int(row.pid))
            )
            if gone:
                self.leave(row.member)
            else:
                behind.append(f"{row.host or HOST}:{row.pid}")
        return behind

    def leave(self, member: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(members.delete().where(members.c.member == member))

    def clear_members(self) -> None:
        with self.db.transaction() as conn:
            conn.execute(members.delete())

    def secret(self, key: str, make: str) -> str:
        """The value stored under KEY, storing MAKE first if there is none (first writer wins)."""
        with self.db.transaction() as conn:
            if self.db.postgres:
                conn.exec_driver_sql("LOCK TABLE service_meta IN SHARE ROW EXCLUSIVE MODE")
            value = conn.execute(sa.select(service_meta.c.value).where(service_meta.c.key == key)).scalar()
            if value is None:
                conn.execute(service_meta.insert().values(key=key, value=make))
                return make
            return str(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
