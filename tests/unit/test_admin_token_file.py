"""DIGITS_ADMIN_TOKEN_FILE: the admin token from a mounted secret file, read once into Settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import PROJECT_ROOT, Settings


def test_the_token_is_read_from_the_file_without_its_newline(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    settings = Settings(admin_token_file=secret, state_dir=tmp_path)
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "s3cret-token"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read DIGITS_ADMIN_TOKEN_FILE"), ("\n", "is empty")],
    ids=["missing", "empty"],
)
def test_a_missing_or_empty_file_is_refused(tmp_path: Path, content: str | None, message: str) -> None:
    secret = tmp_path / "token"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ValidationError, match=message):
        Settings(admin_token_file=secret, state_dir=tmp_path)


def test_token_and_token_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("a")
    with pytest.raises(ValidationError, match="not both"):
        Settings(admin_token=SecretStr("b"), admin_token_file=secret, state_dir=tmp_path)


def test_the_server_stops_with_one_line_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "DIGITS_ADMIN_TOKEN_FILE": str(missing), "DIGITS_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"cannot read DIGITS_ADMIN_TOKEN_FILE {missing}: No such file or directory" in lines[0]
