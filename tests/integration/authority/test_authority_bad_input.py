"""Bad input to the authority's API gets a named 4xx and changes nothing: strict request
types, CSV rows validated whole, custody events in time order, one serial or GPU UUID per
chip, licence budgets within what the chips can physically do."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pausebutton import errors

NOW = int(time.time())
DAY = 86400


def _csv(api: Any, kind: str, text: str) -> Any:
    return api.admin.request(
        "POST", f"/v1/registry/{kind}.csv", content=text.encode(), content_type="text/csv"
    )


@pytest.mark.parametrize(
    ("body", "row"),
    [
        ("id,name,country\nf1,F1,US\nf2,F2\n", 3),  # a short row
        ("id,name,country\nf1,F1,US\nf2,F2,US,extra\n", 3),  # a long row
        ('id,name,country\nf1,F1,US\nf2,"F2,US\n', 3),  # an unterminated quote
        ("id,name,country\nf1,F1,US\nf2,F\r2,US\n", 3),  # a bare carriage return
        ("id,name,country\nf1,F1,US\nf2,,US\n", 3),  # a required cell empty
    ],
)
def test_bad_csv_rows_are_named_and_import_nothing(api: Any, body: str, row: int) -> None:
    with pytest.raises(errors.DataError) as info:
        _csv(api, "facilities", body)
    assert info.value.details["row"] == row
    assert api.admin.get("/v1/facilities") == []


@pytest.mark.parametrize("body", ['id,"name\n', "id,name,country,name\nx,X,US,Y\n"])
def test_bad_csv_header_is_named(api: Any, body: str) -> None:
    with pytest.raises(errors.DataError) as info:
        _csv(api, "owners", body)
    assert info.value.details["row"] == 1
    assert api.admin.get("/v1/owners") == []


def test_json_true_is_not_an_integer(api: Any) -> None:
    op = api.owner()
    api.facility()
    (chip,) = api.chips(1)
    body = {
        "chips": [chip.chip_id],
        "flop_budget": True,
        "not_before": NOW,
        "not_after": NOW + DAY,
        "run_id": "r",
        "purpose": "p",
    }
    with pytest.raises(errors.SchemaError) as info:
        op.post("/v1/licenses/applications", body)
    assert info.value.details["field"].startswith("flop_budget")
    with pytest.raises(errors.SchemaError):
        op.post("/v1/licenses/applications", {**body, "flop_budget": "1e18", "not_before": True})
    with pytest.raises(errors.SchemaError) as info:
        api.admin.post("/v1/facilities", {"id": "f", "name": "F", "country": "US", "verified": 1})
    assert info.value.details["field"] == "verified"
    assert api.admin.get("/v1/licenses") == []
    assert [f["id"] for f in api.admin.get("/v1/facilities")] == ["dc1"]


def test_custody_events_are_refused_out_of_time_order(api: Any) -> None:
    api.owner()
    api.facility()
    api.facility("dc2")
    (chip,) = api.chips(1)
    path = f"/v1/chips/{chip.chip_id}/custody"
    api.admin.post(path, {"kind": "installation", "at": NOW, "actor": "A", "facility_id": "dc2"})
    with pytest.raises(errors.ConflictError) as info:
        api.admin.post(
            path, {"kind": "installation", "at": NOW - 60, "actor": "A", "facility_id": "dc1"}
        )
    assert info.value.details["field"] == "at"
    got = api.admin.get(f"/v1/chips/{chip.chip_id}")
    assert got["facility_id"] == "dc2" and len(got["custody"]) == 1
    # the same second is in order
    api.admin.post(path, {"kind": "installation", "at": NOW, "actor": "A", "facility_id": "dc1"})
    assert api.admin.get(f"/v1/chips/{chip.chip_id}")["facility_id"] == "dc1"


def test_a_second_chip_with_a_registered_serial_or_gpu_uuid_is_refused(api: Any) -> None:
    api.admin.post("/v1/chips", {"certificate": api.certificate(b"a", "SN-1", "GPU-1")})
    for seed, serial, uuid in ((b"b", "SN-1", "GPU-2"), (b"c", "SN-2", "GPU-1")):
        with pytest.raises(errors.ConflictError) as info:
            api.admin.post("/v1/chips", {"certificate": api.certificate(seed, serial, uuid)})
        assert info.value.details["field"] == "certificate"
    # the same serial from another vendor's series, or no UUID at all, is another chip
    api.admin.post("/v1/chips", {"certificate": api.certificate(b"d", "SN-3", None)})
    api.admin.post("/v1/chips", {"certificate": api.certificate(b"e", "SN-4", None)})
    assert len(api.admin.get("/v1/chips")) == 3


def test_the_migration_reads_gpu_uuids_of_registered_chips(api: Any, db_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect, select, update

    from pausebutton.authority import tables
    from pausebutton.authority.db import Database, alembic_config, migrate

    api.admin.post("/v1/chips", {"certificate": api.certificate(b"a", "SN-1", "GPU-1")})
    db = Database.connect(db_url)
    try:
        with db.write.begin() as conn:
            conn.execute(update(tables.chips).values(hardware_uuid=None))
        cfg = alembic_config()
        with db.write.begin() as conn:  # back to the schema without the column
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
        with db.read.connect() as conn:
            assert "hardware_uuid" not in {c["name"] for c in inspect(conn).get_columns("chips")}
        migrate(db)
        with db.read.connect() as conn:
            assert conn.execute(select(tables.chips.c.hardware_uuid)).scalars().all() == ["GPU-1"]
    finally:
        db.dispose()


def test_a_licence_beyond_what_the_chips_can_compute_is_refused(api: Any) -> None:
    op = api.owner()
    api.facility()
    (chip,) = api.chips(1)  # an H100 (its certificate states 9.89e14 FLOP/s)
    body = {
        "chips": [chip.chip_id],
        "flop_budget": "3e25",
        "not_before": NOW,
        "not_after": NOW + 30 * DAY,
        "run_id": "r",
        "purpose": "p",
    }
    app = op.post("/v1/licenses/applications", body)
    assert app["status"] == "refused" and app["license_ids"] == []
    assert any(f["rule"] == "capacity" for f in app["decision"]["findings"])
    assert api.admin.get("/v1/licenses") == []
    app = op.post("/v1/licenses/applications", {**body, "flop_budget": "2e21", "run_id": "s"})
    assert app["status"] == "issued"


def test_peak_from_the_certificate_else_the_hardware_table() -> None:
    import math

    from pausebutton.authority.services.licensing import hardware_peak
    from pausebutton.detect.io import bundled_hardware

    table = bundled_hardware()
    assert hardware_peak("989000000000000", "anything") == 989 * 10**12
    name = next(n for n in table.names() if table.get(n).peaks)
    assert hardware_peak(None, name) == math.ceil(max(table.get(name).peaks.values()))
    assert hardware_peak(None, "no such accelerator") is None


def test_custody_csv_takes_iso_dates_and_refuses_events_out_of_order(api: Any) -> None:
    api.owner()
    api.facility()
    (chip,) = api.chips(1)
    cid = chip.chip_id
    head = "chip_id,kind,at,actor,country\n"
    out = _csv(api, "custody", head + f"{cid},export,2026-01-01T00:00:00Z,A,DE\n")
    assert out["imported"] == 1
    bad = head + f"{cid},import,1767225601,A,NL\n{cid},import,2025-12-31,A,BE\n"
    with pytest.raises(errors.DataError) as info:
        _csv(api, "custody", bad)
    assert info.value.details["row"] == 3 and info.value.details["field"] == "at"
    with pytest.raises(errors.DataError) as info:
        _csv(api, "custody", head + f"{cid},import,yesterday,A,NL\n")
    assert info.value.details["row"] == 2 and info.value.details["field"] == "at"
    events = api.admin.get(f"/v1/chips/{cid}")["custody"]
    assert [(e["kind"], e["at"]) for e in events] == [("export", 1_767_225_600)]
