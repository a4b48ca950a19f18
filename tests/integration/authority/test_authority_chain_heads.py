"""The migrations that move each chip's report-chain head into ``chain_heads`` (0010) and
key the stored reports by the chip's number there (0011) keep every head and every report,
both ways, and ingestion chains on from what they moved (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import inspect, text

from pausebutton import errors
from pausebutton.authority.db import Database, alembic_config, migrate


def _to(db: Database, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    with db.write.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_the_heads_survive_the_migration_both_ways(api: Any, db_url: str) -> None:
    op = api.owner()
    api.facility()
    a, b = api.chips(2)
    now = int(time.time())
    assert op.submit_reports([a.report(time=now), a.report(time=now + 1)])["accepted"] == 2
    assert op.submit_reports([b.report(time=now)])["accepted"] == 1
    db = Database.connect(db_url)
    try:
        _to(db, "0009")  # the heads back in the chips' rows
        with db.read.connect() as conn:
            assert "chain_heads" not in inspect(conn).get_table_names()
            rows = conn.execute(text("SELECT chip_id, report_seq FROM chips")).all()
        assert dict(rows) == {a.chip_id: 2, b.chip_id: 1}
        migrate(db)
        with db.read.connect() as conn:
            assert "report_seq" not in {c["name"] for c in inspect(conn).get_columns("chips")}
            rows = conn.execute(text("SELECT chip_id, report_seq FROM chain_heads")).all()
        assert dict(rows) == {a.chip_id: 2, b.chip_id: 1}
    finally:
        db.dispose()
    # the moved heads are the ones ingestion chains onto and the registry shows
    assert op.submit_reports([a.report(time=now + 2)])["accepted"] == 1
    assert api.admin.get(f"/v1/chips/{a.chip_id}")["last_report_sequence"] == 3
    following = b.report(time=now + 1)  # its second report
    b.sequence, b.prev_hash, b.flop = 0, bytes(32), 0
    other_first = b.report(time=now + 5)  # a different first report
    out = op.submit_reports([other_first])
    assert out["accepted"] == 0 and out["rejected"][0]["error"] == "replay"
    assert op.submit_reports([following])["accepted"] == 1


def test_a_chip_registered_after_the_migration_starts_at_the_genesis_head(api: Any) -> None:
    op = api.owner()
    api.facility()
    (chip,) = api.chips(1)
    assert api.admin.get(f"/v1/chips/{chip.chip_id}")["last_report_sequence"] == 0
    chip.sequence = 1  # skips its first report: a gap, accepted with an alert
    out = op.submit_reports([chip.report(time=int(time.time()))])
    assert out["accepted"] == 1 and [a["kind"] for a in out["alerts"]] == ["gap"]
    with pytest.raises(errors.NotFoundError):
        api.admin.get("/v1/chips/" + "00" * 32)


def test_the_reports_keep_their_chips_when_keyed_by_chip_number_and_back(
    api: Any, db_url: str
) -> None:
    op = api.owner()
    api.facility()
    a, b = api.chips(2)
    now = int(time.time())
    first = [a.report(time=now), a.report(time=now + 1)]
    assert op.submit_reports([*first, b.report(time=now)])["accepted"] == 3
    db = Database.connect(db_url)
    try:
        _to(db, "0010")  # the reports keyed by the chip's id again
        with db.read.connect() as conn:
            assert "chip_no" not in {c["name"] for c in inspect(conn).get_columns("chain_heads")}
            rows = conn.execute(text("SELECT chip_id, sequence FROM usage_reports")).all()
        assert sorted(rows) == sorted([(a.chip_id, 1), (a.chip_id, 2), (b.chip_id, 1)])
        migrate(db)
        with db.read.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT h.chip_id, r.sequence FROM usage_reports r"
                    " JOIN chain_heads h ON h.chip_no = r.chip_no"
                )
            ).all()
            numbers = conn.execute(text("SELECT chip_no FROM chain_heads")).scalars().all()
        assert sorted(rows) == sorted([(a.chip_id, 1), (a.chip_id, 2), (b.chip_id, 1)])
        assert len(set(numbers)) == 2
    finally:
        db.dispose()
    # a resent report is found under its chip's number (a duplicate, not a new report) ...
    again = op.submit_reports(first)
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (0, 2, [])
    # ... the chain goes on from the head, and a chip registered now gets a number of its own
    assert op.submit_reports([a.report(time=now + 2)])["accepted"] == 1
    (c,) = api.chips(1)
    assert op.submit_reports([c.report(time=now)])["accepted"] == 1
    listed = api.admin.get(f"/v1/chips/{a.chip_id}/reports")
    assert [(r["chip_id"], r["sequence"]) for r in listed] == [
        (a.chip_id, 1),
        (a.chip_id, 2),
        (a.chip_id, 3),
    ]
