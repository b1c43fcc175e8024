"""The SQLite job store: records, per-epoch history, ordering, and recovery after a crash."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.jobs.schemas import JobStatus, TrainCreate
from app.jobs.store import INTERRUPTED, JobStore

REQUEST = TrainCreate(arch="mlp", epochs=2, train_limit=100).resolve()


def metrics(epoch: int) -> dict[str, float]:
    return {
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "train_accuracy": 0.5,
        "val_loss": 0.9,
        "val_accuracy": 0.6,
        "seconds": 0.1,
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def test_a_job_is_recorded_epoch_by_epoch_and_reopens_intact(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.create("a", REQUEST, "mlp-x")
    store.mark_running("a")
    store.add_epoch("a", metrics(1))
    partial = store.get("a")
    assert partial is not None
    assert partial.status == JobStatus.RUNNING
    assert partial.history == [metrics(1)]
    store.add_epoch("a", metrics(2))
    store.finish("a", JobStatus.SUCCEEDED, test_accuracy=0.9, activated=True)
    store.close()

    reopened = JobStore(tmp_path / "jobs.sqlite3")
    record = reopened.get("a")
    reopened.close()
    assert record is not None
    assert record.status == JobStatus.SUCCEEDED
    assert record.activated
    assert record.test_accuracy == 0.9
    assert record.request == REQUEST
    assert record.model_id == "mlp-x"
    assert record.history == [metrics(1), metrics(2)]
    assert record.started_at is not None
    assert record.finished_at is not None


def test_recent_lists_newest_first(store: JobStore) -> None:
    for job_id in ("first", "second", "third"):
        store.create(job_id, REQUEST, f"mlp-{job_id}")
    assert [record.id for record in store.recent(10)] == ["third", "second", "first"]
    assert [record.id for record in store.recent(1)] == ["third"]


def test_unfinished_jobs_become_failed_interrupted_and_finished_ones_stay(store: JobStore) -> None:
    for job_id in ("queued", "running", "done"):
        store.create(job_id, REQUEST, f"mlp-{job_id}")
    store.mark_running("running")
    store.add_epoch("running", metrics(1))
    store.mark_running("done")
    store.finish("done", JobStatus.CANCELLED, error="cancelled by request")

    stale = store.mark_interrupted()

    assert sorted(record.id for record in stale) == ["queued", "running"]
    for job_id in ("queued", "running"):
        record = store.get(job_id)
        assert record is not None
        assert record.status == JobStatus.FAILED
        assert record.error == INTERRUPTED
    running = store.get("running")
    assert running is not None
    assert running.history == [metrics(1)]
    done = store.get("done")
    assert done is not None
    assert done.status == JobStatus.CANCELLED
    assert done.error == "cancelled by request"


def test_a_finished_job_is_never_rewritten(store: JobStore) -> None:
    store.create("a", REQUEST, "mlp-a")
    store.finish("a", JobStatus.CANCELLED, error="cancelled by request")
    store.finish("a", JobStatus.SUCCEEDED, test_accuracy=0.9)
    record = store.get("a")
    assert record is not None
    assert record.status == JobStatus.CANCELLED
    assert record.test_accuracy is None


def test_a_second_unfinished_job_is_refused_with_the_first_ones_id(tmp_path: Path) -> None:
    one, other = JobStore(tmp_path / "jobs.sqlite3"), JobStore(tmp_path / "jobs.sqlite3")  # two processes' views
    try:
        assert one.create_exclusive("a", REQUEST, "mlp-a") is None
        assert other.create_exclusive("b", REQUEST, "mlp-b") == "a"
        one.mark_running("a")
        assert other.create_exclusive("b", REQUEST, "mlp-b") == "a"
        one.finish("a", JobStatus.SUCCEEDED, test_accuracy=0.9)
        assert other.create_exclusive("b", REQUEST, "mlp-b") is None
        assert [record.id for record in one.recent(10)] == ["b", "a"]
    finally:
        one.close()
        other.close()


def test_the_leader_claims_queued_jobs_once_and_cancel_requests_wait_for_it(store: JobStore) -> None:
    store.create("a", REQUEST, "mlp-a")
    claimed = store.claim_next()
    assert claimed is not None
    assert claimed.id == "a"
    assert store.claim_next() is None
    assert not store.cancel_unclaimed("a", "cancelled by request")  # a process runs it: only its leader stops it
    assert store.cancel_requests() == []
    assert store.request_cancel("a")
    assert store.cancel_requests() == ["a"]
    store.finish("a", JobStatus.CANCELLED, error="cancelled by request")
    assert store.cancel_requests() == []
    assert not store.request_cancel("a")

    store.create("b", REQUEST, "mlp-b")
    store.request_cancel("b")
    assert store.claim_next() is None  # never started once someone asked to cancel it
    assert store.cancel_unclaimed("b", "cancelled by request")
    record = store.get("b")
    assert record is not None
    assert record.status == JobStatus.CANCELLED


def test_a_new_leader_fails_only_the_jobs_a_process_was_started_for(store: JobStore) -> None:
    store.create("started", REQUEST, "mlp-started")
    store.claim_next()
    store.create("waiting", REQUEST, "mlp-waiting")
    stale = store.mark_interrupted(claimed_only=True)
    assert [record.id for record in stale] == ["started"]
    waiting = store.get("waiting")
    assert waiting is not None
    assert waiting.status == JobStatus.QUEUED


def test_a_database_from_before_multi_process_serving_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL, model_id TEXT NOT NULL,"
        " created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, test_accuracy REAL,"
        " activated INTEGER NOT NULL DEFAULT 0, error TEXT);"
    )
    old.execute(
        "INSERT INTO jobs (id, status, request, model_id, created_at) VALUES ('old', 'queued', ?, 'mlp-old', ?)",
        (REQUEST.model_dump_json(), "2026-01-01T00:00:00+00:00"),
    )
    old.commit()
    old.close()

    store = JobStore(path)
    try:
        claimed = store.claim_next()
        assert claimed is not None
        assert claimed.id == "old"
        assert store.request_cancel("old")
    finally:
        store.close()
