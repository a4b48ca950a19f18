"""Group commit of licence applications: concurrent applications of one process are
decided in one transaction, each with the facts as of its place in the batch.

Each test forces a batch: a first application holds its own batch open until the
others have queued behind it, so they all land in the next batch together (SQLite
and, with PB_TEST_POSTGRES_URL, PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pausebutton.authority.db import Database, migrate
from pausebutton.authority.demo import DemoWorld
from pausebutton.authority.policy import Policy
from pausebutton.authority.services import ADMIN, OPERATOR, Authority, Caller
from pausebutton.authority.services.groupcommit import GroupCommit
from pausebutton.errors import NotFoundError

T0 = 1_800_000_000
DAY = 86400
E21 = 10**21
ADMIN_CALLER = Caller("a" * 64, ADMIN, "admin")


def make(world: DemoWorld, db_url: str, policy: Policy) -> Authority:
    db = Database.connect(db_url)
    migrate(db)
    return Authority(db, world.root, world.keys.key("licensing"), policy=policy, clock=lambda: T0)


@pytest.fixture
def build(world: DemoWorld, db_url: str) -> Iterator[Callable[[Policy], Authority]]:
    made: list[Authority] = []

    def factory(policy: Policy) -> Authority:
        made.append(make(world, db_url, policy))
        return made[-1]

    yield factory
    for a in made:
        a.db.dispose()


def owner(authority: Authority, world: DemoWorld, name: str, chips: int = 2) -> list[str]:
    """An owner in the US with ``chips`` chips at its verified facility."""
    authority.registry.create_owner(ADMIN_CALLER, id=name, name=name.title(), country="US")
    authority.registry.create_facility(
        ADMIN_CALLER,
        id=f"dc-{name}",
        name=name.upper(),
        country="US",
        latitude=40,
        longitude=-100,
        verified=True,
    )
    out = []
    for _ in range(chips):
        chip = world.make_chip()
        authority.registry.register_chip(
            ADMIN_CALLER, certificate=chip.certificate, owner_id=name, facility_id=f"dc-{name}"
        )
        out.append(chip.chip_id)
    return out


def operator(name: str) -> Caller:
    return Caller(name.ljust(64, "0")[:64], OPERATOR, f"{name}-ops", name)


def apply(authority: Authority, caller: Caller, chips: list[str], budget: int, run: str) -> Any:
    return authority.licensing.apply(
        caller,
        chips=chips,
        flop_budget=budget,
        not_before=T0,
        not_after=T0 + 30 * DAY,
        run_id=run,
        purpose="batch test",
    )


def in_one_batch(
    authority: Authority,
    first: Callable[[], Any],
    calls: list[Callable[[], Any]],
    gc: GroupCommit[Any, Any] | None = None,
) -> list[Any]:
    """Run ``first`` alone, holding its batch open until every call of ``calls`` has
    queued; those then commit as one batch. Their outcomes (a result or the error).
    ``gc``: the group commit they go through (the licence applications')."""
    gc = gc or authority.licensing.applications
    run = gc.run
    started = threading.Event()

    def held(conn: Any, items: list[Any]) -> list[Any]:
        gc.run = run
        started.set()
        deadline = time.monotonic() + 30
        while gc.waiting < len(calls) and time.monotonic() < deadline:
            time.sleep(0.002)
        return run(conn, items)

    def outcome(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - each call's error is its outcome
            return exc

    gc.run = held
    batches, items = gc.batches, gc.items
    with ThreadPoolExecutor(len(calls) + 1) as pool:
        head = pool.submit(outcome, first)
        assert started.wait(30)
        futures = [pool.submit(outcome, c) for c in calls]
        head.result(60)
        results = [f.result(60) for f in futures]
    assert (gc.batches - batches, gc.items - items) == (2, len(calls) + 1), "not one batch"
    return results


def test_applications_in_one_batch_that_together_exceed_the_owner_cap(
    build: Callable[[Policy], Authority], world: DemoWorld
) -> None:
    authority = build(Policy(owner_caps={"acme": 3 * E21}))
    chips = owner(authority, world, "acme")
    other = owner(authority, world, "bolt")
    acme, bolt = operator("acme"), operator("bolt")
    results = in_one_batch(
        authority,
        lambda: apply(authority, bolt, other, E21, "head"),
        [lambda i=i: apply(authority, acme, chips, E21, f"r{i}") for i in range(8)],
    )
    assert [r.status for r in results] == ["issued"] * 3 + ["refused"] * 5
    assert all("above its cap" in r.reasons[0] for r in results[3:])
    issued = authority.licensing.list_licenses(owner_id="acme")
    assert sum(int(lic.flop_budget) for lic in issued) == 3 * E21
    assert len({lic.license_id for lic in issued}) == 6  # 3 applications of 2 chips
    # what the batch answered is what was stored
    for r in results:
        assert authority.licensing.get_application(r.id) == r


def test_a_split_run_in_one_batch_needs_approval_once_it_reaches_the_threshold(
    build: Callable[[Policy], Authority], world: DemoWorld
) -> None:
    authority = build(Policy(frontier_flop=3 * E21))
    chips = owner(authority, world, "acme")
    other = owner(authority, world, "bolt")
    acme, bolt = operator("acme"), operator("bolt")
    results = in_one_batch(
        authority,
        lambda: apply(authority, bolt, other, E21, "head"),
        [lambda: apply(authority, acme, chips, E21, "big-run") for _ in range(4)],
    )
    assert [r.status for r in results] == ["issued", "issued", "pending", "pending"]
    for r in results:  # what the batch answered is what was stored
        assert authority.licensing.get_application(r.id) == r


def test_the_country_cap_holds_across_owners_in_one_batch(
    build: Callable[[Policy], Authority], world: DemoWorld
) -> None:
    authority = build(Policy(country_caps={"US": 2 * E21}))
    fleets = {name: owner(authority, world, name) for name in ("acme", "bolt", "core")}
    results = in_one_batch(
        authority,
        lambda: apply(authority, operator("acme"), fleets["acme"], 10**18, "head"),
        [
            lambda n=n: apply(authority, operator(n), fleets[n], E21 - 10**18, f"{n}-run")
            for n in ("acme", "bolt", "core")
        ],
    )
    assert [r.status for r in results] == ["issued", "issued", "refused"]


def test_refused_and_failed_applications_do_not_hold_back_the_rest_of_their_batch(
    build: Callable[[Policy], Authority], world: DemoWorld
) -> None:
    """In one batch: an application of an owner that does not exist (NotFoundError for
    its caller alone), one refused by the policy (a chip of another owner) and good
    ones around them: the good ones are issued, with licence ids in one run."""
    authority = build(Policy())
    chips = owner(authority, world, "acme")
    other = owner(authority, world, "bolt")
    acme = operator("acme")
    results = in_one_batch(
        authority,
        lambda: apply(authority, operator("bolt"), other, E21, "head"),
        [
            lambda: apply(authority, acme, chips, E21, "good-1"),
            lambda: authority.licensing.apply(
                ADMIN_CALLER,
                owner_id="ghost",
                chips=chips,
                flop_budget=E21,
                not_before=T0,
                not_after=T0 + DAY,
                run_id="ghost",
                purpose="no such owner",
            ),
            lambda: apply(authority, acme, [chips[0], other[0]], E21, "foreign-chip"),
            lambda: apply(authority, acme, chips, E21, "good-2"),
        ],
    )
    good1, ghost, foreign, good2 = results
    assert isinstance(ghost, NotFoundError)
    assert ghost.details["field"] == "owner_id"
    assert foreign.status == "refused"
    assert any("is not owned by acme" in r for r in foreign.reasons)
    assert (good1.status, good2.status) == ("issued", "issued")
    assert good2.license_ids == [good1.license_ids[-1] + 1, good1.license_ids[-1] + 2]
    assert [a.run_id for a in authority.licensing.list_applications(owner_id="ghost")] == []


def test_a_batch_whose_write_fails_writes_nothing_and_fails_every_call(
    build: Callable[[Policy], Authority], world: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault in the batch's writes (here the log append) rolls the whole batch back:
    every caller gets the error, no application or licence of it is stored, and the
    next batch commits normally."""
    authority = build(Policy())
    chips = owner(authority, world, "acme")
    other = owner(authority, world, "bolt")
    acme = operator("acme")
    log = authority.store.log
    real = log.append_all
    failing = True

    def append_all(conn: Any, kind: str, entries: list[bytes], at: int) -> list[int]:
        if failing and len(entries) > 2:  # the batch's, not the head's one application
            raise RuntimeError("disk on fire")
        return real(conn, kind, entries, at)

    monkeypatch.setattr(log, "append_all", append_all)
    results = in_one_batch(
        authority,
        lambda: apply(authority, operator("bolt"), other, E21, "head"),
        [lambda i=i: apply(authority, acme, chips, E21, f"r{i}") for i in range(3)],
    )
    assert [type(r) for r in results] == [RuntimeError] * 3
    assert authority.licensing.list_applications(owner_id="acme") == []
    assert authority.licensing.list_licenses(owner_id="acme") == []
    failing = False
    assert apply(authority, acme, chips, E21, "after").status == "issued"


def test_a_nonce_sent_again_within_one_batch_is_fresh_only_once(
    build: Callable[[Policy], Authority],
) -> None:
    """Request nonces are recorded in batches too: the same nonce six times in one
    batch (a replayed request racing the original) is fresh for one request alone."""
    authority = build(Policy())
    keys = authority.keys
    expires = T0 + 3600
    results = in_one_batch(
        authority,
        lambda: keys.use_nonce("k" * 64, "head-nonce", expires),
        [lambda: keys.use_nonce("k" * 64, "replayed-nonce", expires) for _ in range(6)]
        + [lambda: keys.use_nonce("j" * 64, "replayed-nonce", expires)],
        keys.nonces,
    )
    assert sorted(results[:6]) == [False] * 5 + [True]  # whichever queued first
    assert results[6] is True  # another key's nonce of the same text
    assert keys.use_nonce("k" * 64, "replayed-nonce", expires) is False
