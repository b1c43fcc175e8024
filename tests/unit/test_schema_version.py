"""Start-up skips Alembic only for a database already at head: a new, an old or an unknown one still goes through it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError
from pydantic import SecretStr

from app.core.config import Settings
from app.storage import migrate
from app.storage.backend import database_url as url_of
from app.storage.backend import open_backend
from app.storage.database import Database
from app.storage.schema_version import HEAD, VERSION_TABLE, at_head, current_revisions


def test_the_head_start_up_compares_with_is_alembics_head() -> None:
    assert migrate.head() == HEAD


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Each backend in turn (tests/conftest.py): a SQLite file, then a new PostgreSQL database."""
    return Settings(state_dir=tmp_path / "state", database_url=SecretStr(database_url))


def at_revision(settings: Settings, revision: str) -> None:
    """Leave the settings' database migrated to REVISION by Alembic itself."""
    database = Database.open(url_of(settings))
    try:
        config = migrate._config()
        with database.transaction() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        database.close()


def upgrades_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = migrate.upgrade

    def counted(database: Database) -> None:
        calls.append(database.url)
        real(database)

    monkeypatch.setattr(migrate, "upgrade", counted)
    return calls


def test_a_new_database_is_migrated_to_head(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = upgrades_counted(monkeypatch)
    backend = open_backend(settings)
    try:
        assert len(calls) == 1
        assert current_revisions(backend.database) == [HEAD]
        assert backend.registry.all() == []
        with backend.database.reading() as conn:
            assert sa.inspect(conn).has_table("jobs")
    finally:
        backend.close()


def test_a_database_at_head_is_opened_without_alembic(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    at_revision(settings, "head")
    calls = upgrades_counted(monkeypatch)
    backend = open_backend(settings)
    try:
        assert calls == []
        assert at_head(backend.database)
    finally:
        backend.close()


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_an_older_database_is_migrated_to_head(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, revision: str
) -> None:
    at_revision(settings, revision)
    calls = upgrades_counted(monkeypatch)
    backend = open_backend(settings)
    try:
        assert len(calls) == 1
        assert current_revisions(backend.database) == [HEAD]
    finally:
        backend.close()


def test_a_revision_this_release_does_not_know_is_left_to_alembic_which_refuses_it(settings: Settings) -> None:
    at_revision(settings, "head")
    database = Database.open(url_of(settings))
    try:
        with database.transaction() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
        assert not at_head(database)
    finally:
        database.close()
    with pytest.raises(CommandError, match="9999"):
        open_backend(settings)
