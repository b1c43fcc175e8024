"""Job records in SQL (SQLite or PostgreSQL): every write is its own committed transaction.

Several processes (workers, replicas) share one database: the check-then-write steps run in write
transactions (SQLite: BEGIN IMMEDIATE; PostgreSQL: row locks, FOR UPDATE SKIP LOCKED for claims),
so two processes never both pass a check, and no job is claimed twice.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from app.jobs.ports import INTERRUPTED, LEADER_LOST, LEASE_LOST, JobRecord, Outcome, now
from app.jobs.schemas import JobStatus, TrainRequest
from app.storage import registry as registry_sql
from app.storage.database import Database
from app.storage.schema import epochs, jobs, models

ACTIVE = jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SqlJobStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    def create(self, job_id: str, request: TrainRequest, model_id: str) -> None:
        with self.db.transaction() as conn:
            self._insert(conn, job_id, request, model_id)

    def create_exclusive(self, job_id: str, request: TrainRequest, model_id: str) -> str | None:
        """Create the job unless one is queued or running; returns that one's id instead."""
        with self.db.transaction() as conn:
            if self.db.postgres:  # serialise concurrent creators across replicas
                conn.exec_driver_sql("LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE")
            running = conn.execute(sa.select(jobs.c.id).where(ACTIVE).limit(1)).scalar()
            if running is not None:
                return str(running)
            self._insert(conn, job_id, request, model_id)
        return None

    def _insert(self, conn: Connection, job_id: str, request: TrainRequest, model_id: str) -> None:
        conn.execute(
            jobs.insert().values(
                id=job_id,
                status=JobStatus.QUEUED.value,
                request=request.model_dump_json(),
                model_id=model_id,
                created_at=now().isoformat(),
                activated=False,
                claimed=False,
                cancel_requested=False,
            )
        )

    def claim_next(self, trainer: str) -> JobRecord | None:
        """The oldest queued job nobody claimed, now claimed by TRAINER (at most one claimer ever wins)."""
        pending = (jobs.c.status == JobStatus.QUEUED.value) & ~jobs.c.claimed & ~jobs.c.cancel_requested
        with self.db.reading() as conn:  # the common case, polled often: no write transaction
            if conn.execute(sa.select(jobs.c.id).where(pending).limit(1)).first() is None:
                return None
        with self.db.transaction() as conn:
            query = sa.select(jobs.c.id).where(pending).order_by(jobs.c.created_at).limit(1)
            job_id = conn.execute(query.with_for_update(skip_locked=True)).scalar()
            if job_id is None:
                return None
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(claimed=True, trainer=trainer, heartbeat_at=now().isoformat())
            )
        return self.get(str(job_id))

    def heartbeat(self, job_id: str, trainer: str, progress: dict[str, Any] | None = None) -> bool:
        """Renew TRAINER's lease on the job (and record PROGRESS, if any); False if the job is no longer its to run."""
        values: dict[str, Any] = {"heartbeat_at": now().isoformat()}
        if progress is not None:
            values["progress"] = json.dumps(progress)
        with self.db.transaction() as conn:
            changed = conn.execute(
                jobs.update().where((jobs.c.id == job_id) & (jobs.c.trainer == trainer) & ACTIVE).values(**values)
            ).rowcount
        return changed > 0

    def request_cancel(self, job_id: str) -> bool:
        """Ask the job's trainer to cancel it; False if it has finished already."""
        with self.db.transaction() as conn:
            changed = conn.execute(
                jobs.update().where((jobs.c.id == job_id) & ACTIVE).values(cancel_requested=True)
            ).rowcount
        return changed > 0

    def cancel_requests(self) -> list[str]:
        with self.db.reading() as conn:
            rows = conn.execute(
                sa.select(jobs.c.id).where(jobs.c.cancel_requested & ACTIVE).order_by(jobs.c.created_at)
            )
            return [str(row[0]) for row in rows]

    def cancel_unclaimed(self, job_id: str, error: str) -> bool:
        with self.db.transaction() as conn:
            changed = conn.execute(
                jobs.update()
                .where((jobs.c.id == job_id) & (jobs.c.status == JobStatus.QUEUED.value) & ~jobs.c.claimed)
                .values(status=JobStatus.CANCELLED.value, finished_at=now().isoformat(), error=error)
            ).rowcount
        return changed > 0

    def mark_running(self, job_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                jobs.update()
                .where((jobs.c.id == job_id) & (jobs.c.status == JobStatus.QUEUED.value))
                .values(status=JobStatus.RUNNING.value, started_at=now().isoformat(), heartbeat_at=now().isoformat())
            )

    def add_epoch(self, job_id: str, metrics: dict[str, Any]) -> None:
        epoch = int(metrics["epoch"])
        with self.db.transaction() as conn:
            conn.execute(epochs.delete().where((epochs.c.job_id == job_id) & (epochs.c.epoch == epoch)))
            conn.execute(epochs.insert().values(job_id=job_id, epoch=epoch, metrics=json.dumps(metrics)))

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        error: str | None = None,
        test_accuracy: float | None = None,
        activated: bool = False,
    ) -> bool:
        """End a queued or running job; False (nothing written) if it had ended already."""
        with self.db.transaction() as conn:
            return self._finish(conn, job_id, status, error, test_accuracy, activated, None, None)

    def _finish(
        self,
        conn: Connection,
        job_id: str,
        status: JobStatus,
        error: str | None,
        test_accuracy: float | None,
        activated: bool,
        note: str | None,
        trainer: str | None,
    ) -> bool:
        where = (jobs.c.id == job_id) & ACTIVE
        if trainer is not None:
            where &= jobs.c.trainer == trainer
        values: dict[str, Any] = {"status": status.value, "finished_at": now().isoformat(), "error": error}
        if test_accuracy is not None:  # else a value recorded with the model stays
            values.update(test_accuracy=test_accuracy, activated=activated)
        if note is not None:
            values["activation_note"] = note
        return conn.execute(jobs.update().where(where).values(**values)).rowcount > 0

    def succeed(self, outcome: Outcome) -> int | None:
        """Record a trained model in one transaction: its registry record (weights too, on PostgreSQL), the job's
        result and, if it is to serve, its activation. Returns the activation's version, or None.

        A job whose model is not activated ends here (succeeded). One whose model is activated stays running
        until the trainer calls `finish` once every process serves the model; should that never happen, the
        lease turns it succeeded, not failed, because its model is recorded (`_fail_where`).
        Raises JobLostError, writing nothing, if the job is no longer this trainer's.
        """
        with self.db.transaction() as conn:
            mine = (jobs.c.id == outcome.job_id) & ACTIVE & (jobs.c.trainer == outcome.trainer)
            values: dict[str, Any] = {
                "test_accuracy": outcome.test_accuracy,
                "activated": outcome.activate,
                "activation_note": outcome.note,
                "heartbeat_at": now().isoformat(),
            }
            if not outcome.activate:
                values.update(status=JobStatus.SUCCEEDED.value, finished_at=now().isoformat(), error=None)
            if conn.execute(jobs.update().where(mine).values(**values)).rowcount == 0:
                raise JobLostError(outcome.job_id)
            weights = outcome.weights.read_bytes() if outcome.model.location is None else None
            registry_sql.insert_model(conn, outcome.model, weights)
            if not outcome.activate:
                return None
            return registry_sql.insert_activation(conn, outcome.model.id, self.db.postgres)

    def mark_interrupted(self, claimed_only: bool = False) -> list[JobRecord]:
        """Fail every job still queued or running (CLAIMED_ONLY: those a process was started for).

        Embedded backend: when a server starts no process can be working on any of them; when a leader
        takes over from one that died, the processes it started died with it, and the others can still run.
        """
        where = ACTIVE & jobs.c.claimed if claimed_only else ACTIVE
        return self._fail_where(where, LEADER_LOST if claimed_only else INTERRUPTED)

    def expire_leases(self, lease_seconds: float) -> list[JobRecord]:
        """Fail claimed jobs whose trainer has not renewed its lease for LEASE_SECONDS (any process may call)."""
        cutoff = (now() - timedelta(seconds=lease_seconds)).isoformat()
        stale = ACTIVE & jobs.c.claimed & (jobs.c.heartbeat_at < cutoff)
        with self.db.reading() as conn:
            if conn.execute(sa.select(jobs.c.id).where(stale).limit(1)).first() is None:
                return []
        return self._fail_where(stale, LEASE_LOST)

    def _fail_where(self, where: sa.ColumnElement[bool], error: str) -> list[JobRecord]:
        """Fail the active jobs WHERE selects; one whose model was recorded already succeeded, so it says so."""
        with self.db.transaction() as conn:
            rows = conn.execute(sa.select(jobs.c.id, jobs.c.model_id).where(where).with_for_update()).fetchall()
            stale = [str(row.id) for row in rows]
            recorded = {
                str(model_id)
                for (model_id,) in conn.execute(
                    sa.select(models.c.id).where(models.c.id.in_([row.model_id for row in rows]))
                )
            }
            for row in rows:
                done = row.model_id in recorded
                conn.execute(
                    jobs.update()
                    .where((jobs.c.id == row.id) & ACTIVE)
                    .values(
                        status=(JobStatus.SUCCEEDED if done else JobStatus.FAILED).value,
                        finished_at=now().isoformat(),
                        error=None if done else error,
                    )
                )
        return [record for job_id in stale if (record := self.get(job_id)) is not None]

    def get(self, job_id: str) -> JobRecord | None:
        records = self._select(jobs.c.id == job_id, None)
        return records[0] if records else None

    def job_for_model(self, model_id: str) -> JobRecord | None:
        records = self._select(jobs.c.model_id == model_id, 1)
        return records[0] if records else None

    def recent(self, limit: int) -> list[JobRecord]:
        """Newest first."""
        return self._select(None, limit)

    def prune(self, keep: int | None, max_age_days: float | None) -> list[str]:
        """Delete finished jobs beyond the newest KEEP, or older than MAX_AGE_DAYS; returns their ids."""
        finished = ~ACTIVE
        doomed: set[str] = set()
        with self.db.transaction() as conn:
            if keep is not None:
                newest = sa.select(jobs.c.id).order_by(jobs.c.created_at.desc()).limit(keep)
                query = sa.select(jobs.c.id).where(finished & jobs.c.id.not_in(newest.scalar_subquery()))
                doomed.update(str(row[0]) for row in conn.execute(query))
            if max_age_days is not None:
                cutoff = (now() - timedelta(days=max_age_days)).isoformat()
                query = sa.select(jobs.c.id).where(finished & (jobs.c.created_at < cutoff))
                doomed.update(str(row[0]) for row in conn.execute(query))
            if doomed:
                conn.execute(epochs.delete().where(epochs.c.job_id.in_(doomed)))
                conn.execute(jobs.delete().where(jobs.c.id.in_(doomed)))
        return sorted(doomed)

    def _select(self, where: sa.ColumnElement[bool] | None, limit: int | None) -> list[JobRecord]:
        query = sa.select(jobs)
        if where is not None:
            query = query.where(where)
        query = query.order_by(jobs.c.created_at.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.db.reading() as conn:
            rows = conn.execute(query).fetchall()
            histories: dict[str, list[dict[str, Any]]] = {str(row.id): [] for row in rows}
            if rows:
                found = conn.execute(
                    sa.select(epochs.c.job_id, epochs.c.metrics)
                    .where(epochs.c.job_id.in_(list(histories)))
                    .order_by(epochs.c.job_id, epochs.c.epoch)
                )
                for job_id, metrics in found:
                    histories[str(job_id)].append(json.loads(metrics))
        return [_record(row, histories[str(row.id)]) for row in rows]


def _record(row: Row[Any], history: list[dict[str, Any]]) -> JobRecord:
    return JobRecord(
        id=row.id,
        status=JobStatus(row.status),
        request=TrainRequest.model_validate_json(row.request),
        model_id=row.model_id,
        created_at=datetime.fromisoformat(row.created_at),
        started_at=_time(row.started_at),
        finished_at=_time(row.finished_at),
        test_accuracy=row.test_accuracy,
        activated=bool(row.activated),
        error=row.error,
        history=history,
        activation_note=row.activation_note,
        progress=json.loads(row.progress) if row.progress else None,
    )


class JobLostError(Exception):
    """The job is no longer this trainer's to finish: another process failed it after its lease expired."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was taken away from this trainer (its lease expired)")
        self.job_id = job_id
