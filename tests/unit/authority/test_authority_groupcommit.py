"""GroupCommit: calls queued while a batch commits go together into the next one, each
caller gets its own outcome, and a failed batch fails each of its calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from pausebutton.authority.db import Database, migrate
from pausebutton.authority.services import groupcommit
from pausebutton.authority.services.base import Store
from pausebutton.authority.services.groupcommit import GroupCommit
from pausebutton.errors import NotFoundError, PausebuttonError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Database.connect(f"sqlite:///{tmp_path / 'gc.db'}")
    migrate(db)
    yield Store(db)
    db.dispose()


class Recorder:
    """A batch function that records its batches; item < 0 is that item's own error,
    item == 13 fails the whole batch. The first batch waits for ``gate``."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, conn: Connection, items: list[int]) -> list[int | PausebuttonError]:
        if not self.batches:
            self.entered.set()
            self.gate.wait(10)
        self.batches.append(list(items))
        conn.exec_driver_sql("SELECT 1")
        if 13 in items:
            raise RuntimeError("unlucky batch")
        return [NotFoundError(f"no {-i}") if i < 0 else i * 10 for i in items]


def outcome(gc: GroupCommit[int, int], item: int) -> Any:
    try:
        return gc.submit(item)
    except Exception as exc:  # noqa: BLE001 - the error is the outcome
        return exc


def test_calls_queued_during_a_commit_share_the_next_batch(store: Store) -> None:
    run = Recorder()
    gc: GroupCommit[int, int] = GroupCommit(store, run, "test")
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(outcome, gc, 1)
        assert run.entered.wait(10)  # the committer holds the first call's batch open
        rest = [pool.submit(outcome, gc, i) for i in (2, -3, 4, 5)]
        while gc.waiting < 4:
            time.sleep(0.001)
        run.gate.set()
        results = [first.result(10)] + [f.result(10) for f in rest]
    assert run.batches == [[1], [2, -3, 4, 5]]
    assert results[:2] == [10, 20] and results[3:] == [40, 50]
    assert isinstance(results[2], NotFoundError)  # that call's alone
    assert (gc.batches, gc.items) == (2, 5)


def test_a_failed_batch_fails_each_of_its_calls_and_the_next_commits(store: Store) -> None:
    run = Recorder()
    run.gate.set()
    gc: GroupCommit[int, int] = GroupCommit(store, run, "test")
    assert isinstance(outcome(gc, 13), RuntimeError)
    assert gc.submit(2) == 20


def test_a_coroutine_waits_without_a_thread_and_gets_its_outcome(store: Store) -> None:
    run = Recorder()
    run.gate.set()
    gc: GroupCommit[int, int] = GroupCommit(store, run, "test")

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(gc.submit_async(i) for i in (1, 2, -3)), return_exceptions=True
        )

    one, two, three = asyncio.run(main())
    assert (one, two) == (10, 20)
    assert isinstance(three, NotFoundError)


def test_an_idle_committer_thread_ends_and_a_new_call_starts_another(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(groupcommit, "IDLE_S", 0.05)
    run = Recorder()
    run.gate.set()
    gc: GroupCommit[int, int] = GroupCommit(store, run, "idle")
    assert gc.submit(1) == 10
    deadline = time.monotonic() + 5
    while any(t.name == "group-commit-idle" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the committer did not end"
        time.sleep(0.01)
    assert gc.submit(2) == 20


def test_inside_a_store_batch_a_call_runs_at_once_in_its_transaction(store: Store) -> None:
    run = Recorder()
    run.gate.set()
    gc: GroupCommit[int, int] = GroupCommit(store, run, "test")
    with store.batch():
        assert gc.submit(3) == 30
        with pytest.raises(NotFoundError):
            gc.submit(-1)
    assert gc.batches == 0  # no committer was involved
