"""Server processes follow the live-model pointer on both backends: an activation reaches every process,
joiners catch up, a restart serves what was last activated, a model that will not load is said once."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core.model_holder import ModelHolder
from app.jobs.activations import ModelSync
from app.jobs.ports import ArtifactStore
from app.storage.artifacts import DatabaseArtifactStore, LocalArtifactStore, record_for
from app.storage.database import Database
from app.storage.registry import SqlRegistry
from app.storage.schema import members, model_blobs
from tests.conftest import write_tiny_artifact


def artifacts_for(database: Database, registry: SqlRegistry) -> ArtifactStore:
    return DatabaseArtifactStore(registry) if database.postgres else LocalArtifactStore()


def register(database: Database, path: Path) -> str:
    """Register the artifact at PATH as each backend does (weights in the database on PostgreSQL)."""
    record = record_for(path, "file", path.name, None if database.postgres else str(path))
    SqlRegistry(database).register(record, path.read_bytes() if database.postgres else None)
    return record.id


def process(database: Database, configured: Path, fresh: bool) -> ModelSync:
    """A server process: its lifespan loaded the configured model, then it joined."""
    registry = SqlRegistry(database)
    holder = ModelHolder()
    holder.load(configured)
    sync = ModelSync(registry, artifacts_for(database, registry), holder, configured, register(database, configured), 5)
    sync.join(fresh)
    return sync


def served(sync: ModelSync) -> str:
    loaded = sync.holder.current
    assert loaded is not None
    return loaded.id


def test_an_activation_reaches_every_process_and_survives_a_restart(database: Database, tmp_path: Path) -> None:
    configured = write_tiny_artifact(tmp_path / "configured.safetensors", seed=0)
    trained = register(database, write_tiny_artifact(tmp_path / "trained.safetensors", seed=1))
    leader, follower = process(database, configured, fresh=True), process(database, configured, fresh=False)
    assert served(leader) == served(follower) == "tiny-mlp-0"

    leader.activate(trained)

    assert served(leader) == "tiny-mlp-1"
    assert served(follower) == "tiny-mlp-0"
    assert len(leader.wait_until_served(timeout=0.05, stop=threading.Event())) == 1
    follower.refresh()
    assert served(follower) == "tiny-mlp-1"
    assert follower.served == leader.served
    assert leader.wait_until_served(timeout=0.05, stop=threading.Event()) == []

    late = process(database, configured, fresh=False)  # e.g. a worker restarted after a crash
    assert served(late) == "tiny-mlp-1"

    for sync in (leader, follower, late):
        sync.leave()
    restarted = process(database, configured, fresh=True)  # a restart serves what was last activated
    assert served(restarted) == "tiny-mlp-1"
    assert served(process(database, configured, fresh=False)) == "tiny-mlp-1"


def test_a_process_that_cannot_load_an_activation_keeps_serving_and_says_so_once(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured = write_tiny_artifact(tmp_path / "configured.safetensors", seed=0)
    trained_path = write_tiny_artifact(tmp_path / "trained.safetensors", seed=1)
    trained = register(database, trained_path)
    leader, follower = process(database, configured, fresh=True), process(database, configured, fresh=False)
    leader.activate(trained)
    damage(database, trained_path)

    with caplog.at_level(logging.ERROR, logger="app.jobs"):
        follower.refresh()
        follower.refresh()

    assert served(follower) == "tiny-mlp-0"
    assert follower.served < leader.served
    assert len([r for r in caplog.records if "cannot load activated model" in r.getMessage()]) == 1


def damage(database: Database, weights: Path) -> None:
    """Flip a byte of the stored weights: the registered checksum no longer matches."""
    if database.postgres:
        with database.transaction() as conn:
            mine = model_blobs.c.model_id == "tiny-mlp-1"
            blob = bytearray(conn.execute(sa.select(model_blobs.c.weights).where(mine)).scalar_one())
            blob[-1] ^= 0xFF
            conn.execute(model_blobs.update().where(mine).values(weights=bytes(blob)))
    else:
        blob = bytearray(weights.read_bytes())
        blob[-1] ^= 0xFF
        weights.write_bytes(bytes(blob))


def test_a_restart_whose_live_model_will_not_load_serves_digits_model_and_says_so(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured = write_tiny_artifact(tmp_path / "configured.safetensors", seed=0)
    trained_path = write_tiny_artifact(tmp_path / "trained.safetensors", seed=1)
    first = process(database, configured, fresh=True)
    first.activate(register(database, trained_path))
    first.leave()
    damage(database, trained_path)

    with caplog.at_level(logging.ERROR, logger="app.jobs"):
        restarted = process(database, configured, fresh=True)

    assert served(restarted) == "tiny-mlp-0"
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "cannot load the live model tiny-mlp-1" in line
    assert "serving DIGITS_MODEL" in line
    live = SqlRegistry(database).live()
    assert live is not None
    assert live.model_id == "tiny-mlp-0"  # recorded, so every process and GET /models agree


def test_a_dead_process_is_not_waited_for(database: Database, tmp_path: Path) -> None:
    configured = write_tiny_artifact(tmp_path / "configured.safetensors", seed=0)
    leader = process(database, configured, fresh=True)
    with database.transaction() as conn:  # one on this host whose pid is gone, one elsewhere not seen for long
        conn.execute(members.insert().values(member="gone", pid=2**22 + 12345, version=0, host=None))
        conn.execute(
            members.insert().values(member="silent", pid=1, version=0, host="elsewhere", seen_at="2000-01-01T00:00:00")
        )
    leader.activate(register(database, write_tiny_artifact(tmp_path / "trained.safetensors", seed=1)))
    assert leader.wait_until_served(timeout=5, stop=threading.Event()) == []
    with database.reading() as conn:
        assert conn.execute(sa.select(members.c.member)).scalars().all() == [leader.member]
