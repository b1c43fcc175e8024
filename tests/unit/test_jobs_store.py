"""The job store on both backends (SQLite and PostgreSQL): records, history, claims, leases, recovery, retention."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from app.api.events import job_events
from app.jobs.ports import INTERRUPTED, LEASE_LOST, Outcome
from app.jobs.schemas import JobStatus, TrainCreate
from app.storage.artifacts import record_for
from app.storage.database import Database, sqlite_url
from app.storage.jobs import JobLostError, SqlJobStore
from app.storage.registry import SqlRegistry
from tests.backends import opened
from tests.conftest import write_tiny_artifact

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
def store(database: Database) -> SqlJobStore:
    return SqlJobStore(database)


def test_a_job_is_recorded_epoch_by_epoch_and_reopens_intact(database_url: str) -> None:
    with opened(database_url) as database:
        store = SqlJobStore(database)
        store.create("a", REQUEST, "mlp-x")
        store.mark_running("a")
        store.add_epoch("a", metrics(1))
        partial = store.get("a")
        assert partial is not None
        assert partial.status == JobStatus.RUNNING
        assert partial.history == [metrics(1)]
        store.add_epoch("a", metrics(2))
        assert store.finish("a", JobStatus.SUCCEEDED, test_accuracy=0.9, activated=True)

    with opened(database_url) as database:
        record = SqlJobStore(database).get("a")
    assert record is not None
    assert record.status == JobStatus.SUCCEEDED
    assert record.activated
    assert record.test_accuracy == 0.9
    assert record.request == REQUEST
    assert record.model_id == "mlp-x"
    assert record.history == [metrics(1), metrics(2)]
    assert record.started_at is not None
    assert record.finished_at is not None


def test_recent_lists_newest_first(store: SqlJobStore) -> None:
    for job_id in ("first", "second", "third"):
        store.create(job_id, REQUEST, f"mlp-{job_id}")
    assert [record.id for record in store.recent(10)] == ["third", "second", "first"]
    assert [record.id for record in store.recent(1)] == ["third"]


def test_unfinished_jobs_become_failed_interrupted_and_finished_ones_stay(store: SqlJobStore) -> None:
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


def test_a_finished_job_is_never_rewritten(store: SqlJobStore) -> None:
    store.create("a", REQUEST, "mlp-a")
    assert store.finish("a", JobStatus.CANCELLED, error="cancelled by request")
    assert not store.finish("a", JobStatus.SUCCEEDED, test_accuracy=0.9)
    record = store.get("a")
    assert record is not None
    assert record.status == JobStatus.CANCELLED
    assert record.test_accuracy is None


def test_a_second_unfinished_job_is_refused_with_the_first_ones_id(database_url: str) -> None:
    with opened(database_url) as first_db, opened(database_url) as second_db:  # two processes' views
        one, other = SqlJobStore(first_db), SqlJobStore(second_db)
        assert one.create_exclusive("a", REQUEST, "mlp-a") is None
        assert other.create_exclusive("b", REQUEST, "mlp-b") == "a"
        one.mark_running("a")
        assert other.create_exclusive("b", REQUEST, "mlp-b") == "a"
        one.finish("a", JobStatus.SUCCEEDED, test_accuracy=0.9)
        assert other.create_exclusive("b", REQUEST, "mlp-b") is None
        assert [record.id for record in one.recent(10)] == ["b", "a"]


def test_simultaneous_creators_admit_exactly_one_job(database_url: str) -> None:
    with opened(database_url) as database:
        stores = [SqlJobStore(database) for _ in range(6)]
        barrier = threading.Barrier(len(stores))
        results: list[str | None] = []

        def create(index: int) -> None:
            barrier.wait()
            results.append(stores[index].create_exclusive(f"job-{index}", REQUEST, f"mlp-{index}"))

        threads = [threading.Thread(target=create, args=(index,)) for index in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results.count(None) == 1
        assert len(stores[0].recent(10)) == 1


def test_a_trainer_claims_queued_jobs_once_and_cancel_requests_wait_for_it(store: SqlJobStore) -> None:
    store.create("a", REQUEST, "mlp-a")
    claimed = store.claim_next("trainer-1")
    assert claimed is not None
    assert claimed.id == "a"
    assert store.claim_next("trainer-2") is None
    assert not store.cancel_unclaimed("a", "cancelled by request")  # a process runs it: only its trainer stops it
    assert store.cancel_requests() == []
    assert store.request_cancel("a")
    assert store.cancel_requests() == ["a"]
    store.finish("a", JobStatus.CANCELLED, error="cancelled by request")
    assert store.cancel_requests() == []
    assert not store.request_cancel("a")

    store.create("b", REQUEST, "mlp-b")
    store.request_cancel("b")
    assert store.claim_next("trainer-1") is None  # never started once someone asked to cancel it
    assert store.cancel_unclaimed("b", "cancelled by request")
    record = store.get("b")
    assert record is not None
    assert record.status == JobStatus.CANCELLED


def test_concurrent_claimers_take_each_queued_job_exactly_once(database_url: str) -> None:
    with opened(database_url) as first_db, opened(database_url) as second_db:
        setup = SqlJobStore(first_db)
        for index in range(30):
            setup.create(f"job-{index:02}", REQUEST, f"mlp-{index}")
        claims: dict[str, list[str]] = {"one": [], "two": []}

        def claimer(name: str, store: SqlJobStore) -> None:
            while (record := store.claim_next(name)) is not None:
                claims[name].append(record.id)

        threads = [
            threading.Thread(target=claimer, args=("one", SqlJobStore(first_db))),
            threading.Thread(target=claimer, args=("two", SqlJobStore(second_db))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every = claims["one"] + claims["two"]
        assert sorted(every) == [f"job-{index:02}" for index in range(30)]


def test_a_new_leader_fails_only_the_jobs_a_process_was_started_for(store: SqlJobStore) -> None:
    store.create("started", REQUEST, "mlp-started")
    store.claim_next("trainer-1")
    store.create("waiting", REQUEST, "mlp-waiting")
    stale = store.mark_interrupted(claimed_only=True)
    assert [record.id for record in stale] == ["started"]
    waiting = store.get("waiting")
    assert waiting is not None
    assert waiting.status == JobStatus.QUEUED


def test_a_job_whose_trainer_stops_heartbeating_is_failed_after_the_lease(store: SqlJobStore) -> None:
    store.create("a", REQUEST, "mlp-a")
    store.claim_next("trainer-1")
    store.mark_running("a")
    assert store.heartbeat("a", "trainer-1")
    assert not store.heartbeat("a", "trainer-2")  # not its job
    assert store.expire_leases(lease_seconds=5) == []
    time.sleep(0.3)
    [expired] = store.expire_leases(lease_seconds=0.2)
    assert expired.id == "a"
    assert expired.status == JobStatus.FAILED
    assert expired.error == LEASE_LOST
    assert not store.heartbeat("a", "trainer-1")  # the trainer learns it lost the job


def progress_of(store: SqlJobStore, job_id: str) -> dict[str, Any] | None:
    record = store.get(job_id)
    assert record is not None
    return record.progress


def test_the_heartbeat_carries_the_running_epochs_progress_to_every_replica(store: SqlJobStore) -> None:
    store.create("a", REQUEST, "mlp-a")
    store.claim_next("trainer-1")
    store.mark_running("a")
    assert store.heartbeat("a", "trainer-1")
    assert progress_of(store, "a") is None
    assert store.heartbeat("a", "trainer-1", {"epoch": 1, "batch": 3, "batches": 10})
    assert progress_of(store, "a") == {"epoch": 1, "batch": 3, "batches": 10}
    assert store.heartbeat("a", "trainer-1")  # none read this time: the last one stays
    assert progress_of(store, "a") == {"epoch": 1, "batch": 3, "batches": 10}
    assert not store.heartbeat("a", "trainer-2", {"epoch": 2, "batch": 1, "batches": 10})  # not its job
    assert progress_of(store, "a") == {"epoch": 1, "batch": 3, "batches": 10}


def _events(store: SqlJobStore, progress_file: Path | None) -> list[str]:
    """The job's event stream up to its first progress event."""
    stopping = threading.Event()
    events: list[str] = []

    async def follow() -> None:
        async for event in job_events(store, "a", 0, lambda record: record.id, stopping, progress_file):
            events.append(event)
            if event.startswith("event: progress"):
                stopping.set()

    # A thread of its own: Playwright's sync API (browser tests in the same session) keeps an event
    # loop running in the main thread, where asyncio.run() refuses to start another.
    thread = threading.Thread(target=asyncio.run, args=(follow(),))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return events


def test_a_replica_without_the_trainers_file_sends_progress_from_the_heartbeat(
    store: SqlJobStore, tmp_path: Path
) -> None:
    store.create("a", REQUEST, "mlp-a")
    store.claim_next("trainer-1")
    store.mark_running("a")
    store.heartbeat("a", "trainer-1", {"epoch": 1, "batch": 3, "batches": 10})
    events = _events(store, tmp_path / "no-such-progress.json")
    assert events[0].startswith("event: progress\n")
    assert json.loads(events[0].split("data: ", 1)[1]) == {"epoch": 1, "batch": 3, "batches": 10, "total_epochs": 2}
    # Where the training process's file is readable (the trainer itself, or workers sharing its state), it wins.
    local = tmp_path / "a.json"
    local.write_text(json.dumps({"epoch": 1, "batch": 7, "batches": 10}))
    events = _events(store, local)
    assert json.loads(events[0].split("data: ", 1)[1])["batch"] == 7


def test_an_outcome_is_recorded_with_its_model_and_activation_at_once(
    store: SqlJobStore, database: Database, tmp_path: Path
) -> None:
    registry = SqlRegistry(database)
    weights = write_tiny_artifact(tmp_path / "out" / "tiny-mlp-0.safetensors")
    location = None if database.postgres else str(weights)
    store.create("a", REQUEST, "tiny-mlp-0")
    store.claim_next("trainer-1")
    store.mark_running("a")
    model = record_for(weights, "job", "a", location)

    version = store.succeed(Outcome("a", "trainer-1", 0.9, model, weights, True, "activated"))

    assert version is not None
    live = registry.live()
    assert live is not None
    assert (live.version, live.model_id) == (version, "tiny-mlp-0")
    running = store.get("a")
    assert running is not None
    assert running.status == JobStatus.RUNNING  # until every process serves it
    assert running.activated
    assert running.activation_note == "activated"
    recorded = registry.get("tiny-mlp-0")
    assert recorded is not None
    assert recorded.ever_live
    assert recorded.source_ref == "a"
    if database.postgres:
        assert registry.weights("tiny-mlp-0") == weights.read_bytes()
    # Should the trainer vanish now, the lease ends the job as what it is: succeeded, its model recorded.
    time.sleep(0.2)
    [ended] = store.expire_leases(lease_seconds=0.1)
    assert ended.status == JobStatus.SUCCEEDED
    assert ended.error is None


def test_an_outcome_for_a_job_taken_away_records_nothing(
    store: SqlJobStore, database: Database, tmp_path: Path
) -> None:
    registry = SqlRegistry(database)
    weights = write_tiny_artifact(tmp_path / "out" / "tiny-mlp-0.safetensors")
    store.create("a", REQUEST, "tiny-mlp-0")
    store.claim_next("trainer-1")
    time.sleep(0.2)
    store.expire_leases(lease_seconds=0.1)
    model = record_for(weights, "job", "a", None if database.postgres else str(weights))

    with pytest.raises(JobLostError):
        store.succeed(Outcome("a", "trainer-1", 0.9, model, weights, True, "activated"))

    assert registry.get("tiny-mlp-0") is None
    assert registry.live() is None


def test_retention_keeps_the_newest_finished_jobs_and_every_unfinished_one(store: SqlJobStore) -> None:
    for index in range(5):
        store.create(f"job-{index}", REQUEST, f"mlp-{index}")
        if index != 1:
            store.finish(f"job-{index}", JobStatus.FAILED, error="x")
        store.add_epoch(f"job-{index}", metrics(1))
    removed = store.prune(keep=2, max_age_days=None)
    assert removed == ["job-0", "job-2"]
    assert [record.id for record in store.recent(10)] == ["job-4", "job-3", "job-1"]
    assert store.prune(keep=None, max_age_days=1) == []


def test_a_database_from_before_multi_process_serving_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with closing(sqlite3.connect(path)) as old:
        old.executescript(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, request TEXT NOT NULL,"
            " model_id TEXT NOT NULL, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,"
            " test_accuracy REAL, activated INTEGER NOT NULL DEFAULT 0, error TEXT);"
        )
        old.execute(
            "INSERT INTO jobs (id, status, request, model_id, created_at) VALUES ('old', 'queued', ?, 'mlp-old', ?)",
            (REQUEST.model_dump_json(), "2026-01-01T00:00:00+00:00"),
        )
        old.commit()

    with opened(sqlite_url(path)) as database:
        store = SqlJobStore(database)
        claimed = store.claim_next("trainer-1")
        assert claimed is not None
        assert claimed.id == "old"
        assert claimed.request == REQUEST
        assert store.request_cancel("old")
        assert store.cancel_requests() == ["old"]
