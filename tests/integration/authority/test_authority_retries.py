"""Write transactions that the database rolls back for a deadlock or a serialization
failure run again inside the service (bounded, with jittered backoff, counted)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from pausebutton.authority import tables as t
from pausebutton.authority.db import Database, migrate
from pausebutton.authority.demo import DemoWorld
from pausebutton.authority.services import ADMIN, Authority, Caller
from pausebutton.authority.services.base import RETRY_ATTEMPTS, Store, lock_key, transient

ADMIN_CALLER = Caller("a" * 64, ADMIN, "admin")


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _db_error(sqlstate: str) -> sa_exc.OperationalError:
    return sa_exc.OperationalError("UPDATE ...", {}, _Orig(sqlstate))


@pytest.fixture
def authority(world: DemoWorld, db_url: str) -> Iterator[Authority]:
    db = Database.connect(db_url)
    migrate(db)
    yield Authority(db, world.root, world.keys.key("licensing"))
    db.dispose()


def test_deadlocks_and_serialization_failures_are_transient() -> None:
    assert transient(_db_error("40P01")) and transient(_db_error("40001"))
    assert not transient(_db_error("23505"))  # a unique violation is an answer, not luck
    assert not transient(ValueError("40P01"))


def test_policy_lock_keys_are_stable_signed_64_bit() -> None:
    k = lock_key("owner:acme")
    assert k == lock_key("owner:acme") != lock_key("owner:acmf")
    assert -(2**63) <= k < 2**63


def test_a_transient_failure_runs_the_transaction_again(authority: Authority) -> None:
    store: Store = authority.store
    seen: list[int] = []
    calls: list[int] = []
    store.on_retry = lambda: seen.append(1)

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _db_error("40P01")
        return "done"

    assert store.retry(flaky) == "done"
    assert len(calls) == 3 and store.retries == 2 and len(seen) == 2


def test_retries_are_bounded_and_other_errors_are_not_retried(authority: Authority) -> None:
    store = authority.store
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise _db_error("40001")

    with pytest.raises(sa_exc.OperationalError):
        store.retry(always)
    assert len(calls) == RETRY_ATTEMPTS

    calls.clear()

    def integrity() -> None:
        calls.append(1)
        raise sa_exc.IntegrityError("INSERT ...", {}, _Orig("23505"))

    with pytest.raises(sa_exc.IntegrityError):
        store.retry(integrity)
    assert len(calls) == 1


def test_inside_a_batch_the_enclosing_transaction_is_not_retried(authority: Authority) -> None:
    calls: list[int] = []

    def once() -> None:
        calls.append(1)
        raise _db_error("40P01")

    with pytest.raises(sa_exc.OperationalError), authority.batch():
        authority.store.retry(once)
    assert calls == [1]


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("PB_TEST_POSTGRES_URL"), reason="needs PostgreSQL")
def test_a_real_deadlock_is_retried_and_both_writes_commit(
    authority: Authority, world: DemoWorld
) -> None:
    """Two transactions lock two chip rows in opposite orders (what the lock order
    forbids): PostgreSQL kills one, the store runs it again, both commit."""
    authority.registry.create_owner(ADMIN_CALLER, id="acme", name="Acme", country="US")
    a, b = (world.make_chip() for _ in range(2))
    for chip in (a, b):
        authority.registry.register_chip(ADMIN_CALLER, certificate=chip.certificate)
    store = authority.store
    both = threading.Barrier(2, timeout=10)

    def cross(first: str, second: str) -> None:
        attempt = [0]

        def txn() -> None:
            attempt[0] += 1
            with store.write() as conn:
                conn.execute(store.lock(t.chips, t.chips.c.chip_id == first)).one()
                if attempt[0] == 1:
                    both.wait()
                conn.execute(store.lock(t.chips, t.chips.c.chip_id == second)).one()
                conn.execute(
                    t.chips.update()
                    .where(t.chips.c.chip_id == first)
                    .values(firmware_floor=t.chips.c.firmware_floor + 1)
                )

        store.retry(txn)

    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(cross, a.chip_id, b.chip_id), pool.submit(cross, b.chip_id, a.chip_id)]
        for j in jobs:
            j.result()
    assert store.retries >= 1
    with store.read() as conn:
        floors = conn.execute(select(t.chips.c.firmware_floor).order_by(t.chips.c.chip_id)).all()
    assert [f[0] for f in floors] == [2, 2]
