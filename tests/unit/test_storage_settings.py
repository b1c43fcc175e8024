"""The storage settings: which backend, who trains, and a lease that outlasts the heartbeats."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings


def test_embedded_processes_train_and_postgres_replicas_do_not_unless_told() -> None:
    assert Settings().embedded
    assert Settings().is_trainer
    replica = Settings(database_url=SecretStr("postgresql://postgres@127.0.0.1/db"))
    assert not replica.embedded
    assert not replica.is_trainer
    assert Settings(database_url=SecretStr("postgresql://postgres@127.0.0.1/db"), trainer=True).is_trainer
    assert not Settings(trainer=False).is_trainer


def test_a_lease_shorter_than_two_heartbeats_is_refused() -> None:
    with pytest.raises(ValidationError, match="DIGITS_TRAINER_LEASE_SECONDS"):
        Settings(heartbeat_seconds=2, trainer_lease_seconds=3)
    with pytest.raises(ValidationError, match="DIGITS_TRAINER_LEASE_SECONDS"):
        Settings(poll_seconds=5, trainer_lease_seconds=6)
    assert Settings(heartbeat_seconds=0.5, trainer_lease_seconds=1).trainer_lease_seconds == 1
