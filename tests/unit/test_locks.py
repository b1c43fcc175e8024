"""The state directory's locks: the first process of a server is told so, and one process leads at a time."""

from __future__ import annotations

import os
from pathlib import Path

from app.jobs.locks import join_server, try_lead


def test_only_the_first_process_of_a_server_starts_it_afresh(tmp_path: Path) -> None:
    first, fresh = join_server(tmp_path)
    assert fresh
    first.shared()
    second, fresh_again = join_server(tmp_path)
    assert not fresh_again
    first.close()
    second.close()
    third, after_all_stopped = join_server(tmp_path)
    assert after_all_stopped
    third.close()


def test_one_leader_at_a_time_and_the_lock_passes_on_when_it_goes(tmp_path: Path) -> None:
    leader = try_lead(tmp_path)
    assert leader is not None
    assert (tmp_path / "leader.lock").read_text() == f"{os.getpid()}\n"
    assert try_lead(tmp_path) is None
    assert try_lead(tmp_path) is None  # a failed try leaves the holder's lock alone
    leader.close()
    successor = try_lead(tmp_path)
    assert successor is not None
    successor.close()
