"""The authority's aggregates used directly (no HTTP): one shared store, results
as frozen dataclasses whose ``asdict`` is the API's JSON, and ``batch`` spanning
several aggregates as one transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from pausebutton.authority.db import Database, migrate
from pausebutton.authority.demo import DemoChip, DemoWorld
from pausebutton.authority.services import ADMIN, MEMBER, OPERATOR, Authority, Caller
from pausebutton.authority.services.reports import CHUNK, STORED_SLICE
from pausebutton.authority.verifier import Helper, VerifierError
from pausebutton.errors import ForbiddenError, NotFoundError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import report_hash

T0 = 1_800_000_000
ADMIN_CALLER = Caller("a" * 64, ADMIN, "admin")


@pytest.fixture
def authority(world: DemoWorld, db_url: str) -> Iterator[Authority]:
    db = Database.connect(db_url)
    migrate(db)
    authority = Authority(db, world.root, world.keys.key("licensing"), clock=lambda: T0)
    yield authority
    authority.close()
    db.dispose()


def register(authority: Authority, world: DemoWorld) -> str:
    authority.registry.create_owner(ADMIN_CALLER, id="acme", name="Acme", country="US")
    authority.registry.create_facility(
        ADMIN_CALLER, id="dc1", name="DC1", country="US", latitude=40, longitude=-100
    )
    chip = world.make_chip()
    authority.registry.register_chip(
        ADMIN_CALLER, certificate=chip.certificate, owner_id="acme", facility_id="dc1"
    )
    return chip.chip_id


def test_every_aggregate_shares_one_store(authority: Authority) -> None:
    stores = {
        id(getattr(authority, name).store)
        for name in (
            "keys",
            "registry",
            "custody",
            "licensing",
            "orders",
            "reports",
            "artifacts",
            "location",
            "time",
            "audit",
        )
    }
    assert stores == {id(authority.store)}


def test_results_are_frozen(authority: Authority) -> None:
    owner = authority.registry.create_owner(ADMIN_CALLER, id="acme", name="Acme", country="US")
    with pytest.raises(dataclasses.FrozenInstanceError):
        owner.name = "other"  # type: ignore[misc]


def test_asdict_of_a_chip_is_the_api_json(authority: Authority, world: DemoWorld) -> None:
    cid = register(authority, world)
    chip = dataclasses.asdict(authority.registry.get_chip(cid))
    assert list(chip) == [
        "chip_id",
        "serial",
        "model",
        "vendor",
        "device_key",
        "firmware_floor",
        "peak_flops",
        "owner_id",
        "facility_id",
        "status",
        "registered_at",
        "log_index",
        "last_report_sequence",
        "certificate",
        "custody",
    ]
    assert chip["status"] == "installed" and chip["registered_at"] == T0
    assert chip["custody"] == [] and isinstance(chip["certificate"], str)
    listed = dataclasses.asdict(authority.registry.list_chips()[0])
    assert "certificate" not in listed and "custody" not in listed


def test_float_coordinates_stay_floats(authority: Authority, world: DemoWorld) -> None:
    register(authority, world)
    facility = dataclasses.asdict(authority.registry.get_facility("dc1"))
    assert facility["latitude"] == 40.0 and isinstance(facility["latitude"], float)
    assert facility["registered_chips"] == 1


def test_batch_spans_aggregates_all_or_nothing(authority: Authority, world: DemoWorld) -> None:
    cid = register(authority, world)
    with pytest.raises(NotFoundError), authority.batch():
        authority.registry.create_owner(ADMIN_CALLER, id="blue", name="Blue", country="FR")
        authority.custody.add_custody_event(
            ADMIN_CALLER, cid, kind="sale", at=T0, actor="x", owner_id="nobody"
        )
    assert [o.id for o in authority.registry.list_owners()] == ["acme"]
    assert authority.custody.custody(cid) == []


def test_roles_are_checked_by_each_aggregate(authority: Authority, world: DemoWorld) -> None:
    cid = register(authority, world)
    operator = Caller("b" * 64, OPERATOR, "ops", "acme")
    member = Caller("c" * 64, MEMBER, "m")
    with pytest.raises(ForbiddenError):
        authority.registry.create_owner(operator, id="x", name="X", country="US")
    with pytest.raises(ForbiddenError):
        authority.custody.add_custody_event(member, cid, kind="fabrication", at=T0, actor="f")
    with pytest.raises(ForbiddenError):
        authority.licensing.approve(operator, 1)
    with pytest.raises(ForbiddenError):
        authority.reports.ingest(None, [])


def test_ingest_through_the_aggregate(authority: Authority, world: DemoWorld) -> None:
    cid = register(authority, world)
    chip = world.chips[-1]
    first, second = chip.report(time=T0), chip.report(time=T0)
    # out of order within the batch, and the first report twice: chained in sequence
    # order, the repeat acknowledged as a duplicate
    out = authority.reports.ingest(ADMIN_CALLER, [second, first, first])
    assert (out.received, out.accepted, out.duplicates) == (3, 2, 1)
    assert out.rejected == [] and out.alerts == []
    assert [r.sequence for r in authority.reports.list_reports(cid)] == [1, 2]
    assert authority.registry.get_chip(cid).last_report_sequence == 2
    assert authority.audit.stats().reports == 2


def test_the_ingestion_warm_up_stores_nothing(authority: Authority) -> None:
    authority.reports.warm_up()
    assert authority.reports.count_reports() == 0
    assert authority.reports.list_alerts() == []


def test_a_resent_batch_larger_than_one_lookup_is_acknowledged_and_a_replay_refused(
    authority: Authority, world: DemoWorld
) -> None:
    """Stored hashes are looked up in slices of the batch: every slice counts."""
    register(authority, world)
    chip = world.chips[-1]
    n = STORED_SLICE + 100
    batch = [chip.report(time=T0 + i) for i in range(n)]
    assert authority.reports.ingest(ADMIN_CALLER, batch).accepted == n
    # the same reports again, but the last one replaced by a different report at its
    # sequence (in the second slice of the lookup)
    chip.sequence, chip.prev_hash = n - 1, report_hash(batch[-2])
    replay = chip.report(time=T0 + 10 * n, flop=7)
    out = authority.reports.ingest(ADMIN_CALLER, [*batch[:-1], replay])
    assert (out.accepted, out.duplicates) == (0, n - 1)
    assert [(r.index, r.error) for r in out.rejected] == [(n - 1, "replay")]
    assert [a.kind for a in out.alerts] == ["replay"]


def test_who_may_report_follows_the_owner_after_the_device_key_is_known(
    authority: Authority, world: DemoWorld
) -> None:
    """Device keys are kept once read; the owner is read in each batch's transaction, so
    a sold chip's reports are refused to its old owner at once. A report of a chip the
    caller may not report for is refused as forbidden before its signature counts."""
    cid = register(authority, world)
    authority.registry.create_owner(ADMIN_CALLER, id="beta", name="Beta", country="DE")
    acme = Caller("b" * 64, OPERATOR, "acme-ops", "acme")
    beta = Caller("c" * 64, OPERATOR, "beta-ops", "beta")
    chip = world.chips[-1]
    assert authority.reports.ingest(acme, [chip.report(time=T0)]).accepted == 1
    authority.custody.add_custody_event(
        ADMIN_CALLER, cid, kind="sale", at=T0 + 1, actor="Acme", owner_id="beta"
    )
    late = chip.report(time=T0 + 2, advance=False)
    out = authority.reports.ingest(acme, [late])
    assert [(r.index, r.error) for r in out.rejected] == [(0, "forbidden")]
    assert authority.reports.ingest(beta, [late]).accepted == 1
    # another owner's report with a forged signature: forbidden, and no bad_signature alert
    env = Envelope.decode(chip.report(time=T0 + 3, advance=False))
    forged = Envelope(env.type, env.version, env.payload).sign(PrivateKey.generate()).encode()
    out = authority.reports.ingest(acme, [forged])
    assert [(r.index, r.error) for r in out.rejected] == [(0, "forbidden")] and out.alerts == []
    out = authority.reports.ingest(beta, [forged])
    assert [(r.index, r.error) for r in out.rejected] == [(0, "bad_signature")]
    assert [a.kind for a in out.alerts] == ["bad_signature"]


def _signed_batch(chip: DemoChip) -> list[bytes]:
    """More than one chunk of the chip's next reports, the last with a bad signature
    (the chip does not advance past it)."""
    reports = [chip.report(time=T0 + chip.sequence) for _ in range(CHUNK + 50)]
    last = bytearray(chip.report(time=T0 + chip.sequence, advance=False))
    last[-5] ^= 1  # in the signature
    return [*reports, bytes(last)]


def _ingested_as_expected(authority: Authority, reports: list[bytes]) -> None:
    out = authority.reports.ingest(ADMIN_CALLER, reports)
    assert out.accepted == len(reports) - 1
    assert [(r.index, r.error) for r in out.rejected] == [(len(reports) - 1, "bad_signature")]
    assert [a.kind for a in out.alerts] == ["bad_signature"]


def test_a_helper_process_that_exited_is_counted_and_replaced(
    authority: Authority, world: DemoWorld
) -> None:
    """A batch of more than one chunk has its signatures checked by a helper process;
    helpers found exited are counted and replaced, and the batch is checked the same."""
    register(authority, world)
    chip = world.chips[-1]
    failures: list[int] = []
    authority.verifiers.on_failure = lambda: failures.append(1)
    _ingested_as_expected(authority, _signed_batch(chip))
    assert failures == []
    pool = authority.verifiers
    helpers = [pool.acquire() for _ in range(pool.size)]
    for helper in helpers:
        helper.proc.kill()
        helper.proc.wait()
        pool.release(helper)
    _ingested_as_expected(authority, _signed_batch(chip))
    assert failures == [1] * len(helpers)
    assert pool.running == min(2, pool.size)  # fresh ones for the batch's two chunks


def test_a_batch_whose_helper_fails_midway_is_checked_in_the_worker(
    authority: Authority, world: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A helper that fails while it checks a batch is stopped and counted; the worker
    checks the batch's chunks itself, with the same answers."""
    register(authority, world)
    chip = world.chips[-1]
    failures: list[int] = []
    authority.verifiers.on_failure = lambda: failures.append(1)

    def fail(self: Helper) -> list[bool]:
        raise VerifierError("a verifier process did not answer: test")

    monkeypatch.setattr(Helper, "receive", fail)
    _ingested_as_expected(authority, _signed_batch(chip))
    held = min(2, authority.verifiers.size)  # a helper per chunk, two chunks
    assert failures == [1] * held
    assert authority.verifiers.running == 0  # stopped; the next batch starts others
    monkeypatch.undo()
    _ingested_as_expected(authority, _signed_batch(chip))
    assert failures == [1] * held
