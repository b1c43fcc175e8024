"""Server processes follow the activation log: a swap on the leader reaches every process, joiners catch up."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.model_holder import ModelHolder
from app.jobs.activations import ModelSync
from app.jobs.store import JobStore
from tests.conftest import write_tiny_artifact


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path / "jobs.sqlite3")
    yield opened
    opened.close()


def process(store: JobStore, configured: Path, first: bool) -> ModelSync:
    """A server process: its lifespan loaded the configured model, then it joined."""
    holder = ModelHolder()
    holder.load(configured)
    sync = ModelSync(store, holder, configured)
    sync.join(first)
    return sync


def served(sync: ModelSync) -> str:
    loaded = sync.holder.current
    assert loaded is not None
    return loaded.id


def test_an_activation_reaches_every_process_and_the_leader_can_tell(store: JobStore, tmp_path: Path) -> None:
    configured = write_tiny_artifact(tmp_path / "configured.safetensors", seed=0)
    trained = write_tiny_artifact(tmp_path / "trained.safetensors", seed=1)
    leader, follower = process(store, configured, first=True), process(store, configured, first=False)
    assert served(leader) == served(follower) == "tiny-mlp-0"

    assert leader.activate(trained) == "tiny-mlp-1"

    assert served(leader) == "tiny-mlp-1"
    assert served(follower) == "tiny-mlp-0"
    assert leader.wait_until_served(timeout=0.05, stop=threading.Event()) == [os.getpid()]
    follower.refresh()
    assert served(follower) == "tiny-mlp-1"
    assert follower.served == leader.served
    assert leader.wait_until_served(timeout=0.05, stop=threading.Event()) == []

    late = process(store, configured, first=False)  # e.g. a worker restarted after a crash
    assert served(late) == "tiny-mlp-1"

    follower.leave()
    late.leave()
    restarted = process(store, configured, first=True)  # a server started afresh serves its configuration
    assert served(restarted) == "tiny-mlp-0"
    assert served(process(store, configured, first=False)) == "tiny-mlp-0"


def test_a_process_that_cannot_load_an_activation_keeps_serving_and_says_so_once(
    store: JobStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    configured = write_tiny_artifact(tmp_path / "configured.safetensors", seed=0)
    trained = write_tiny_artifact(tmp_path / "trained.safetensors", seed=1)
    leader, follower = process(store, configured, first=True), process(store, configured, first=False)
    leader.activate(trained)
    trained.unlink()

    with caplog.at_level(logging.ERROR, logger="app.jobs"):
        follower.refresh()
        follower.refresh()

    assert served(follower) == "tiny-mlp-0"
    assert follower.served < leader.served
    assert len([r for r in caplog.records if "cannot load activated model" in r.getMessage()]) == 1


def test_a_dead_process_is_not_waited_for(store: JobStore, tmp_path: Path) -> None:
    configured = write_tiny_artifact(tmp_path / "configured.safetensors", seed=0)
    leader = process(store, configured, first=True)
    store.write("INSERT INTO members (member, pid, version) VALUES ('gone', ?, 0)", (2**22 + 12345,))
    leader.activate(write_tiny_artifact(tmp_path / "trained.safetensors", seed=1))
    assert leader.wait_until_served(timeout=5, stop=threading.Event()) == []
    assert store.query("SELECT member FROM members") == [(leader.member,)]
