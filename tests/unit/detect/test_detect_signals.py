from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausebutton.detect.signals import (
    SCHEMAS,
    EnergyReading,
    Method,
    export_csv,
    import_csv,
    import_json,
)
from pausebutton.errors import DataError, UnitError

GOOD: dict[Method, dict[str, object]] = {
    Method.REMOTE_SENSING: {
        "detection_id": "rs1",
        "site": "f1",
        "time": "2026-01-02",
        "thermal": "35 MW",
        "confidence": "0.8",
    },
    Method.WHISTLEBLOWER: {
        "report_id": "w1",
        "time": "2026-01-02",
        "claim": "secret run",
        "site": "f1",
        "claimed_chips": "5000",
    },
    Method.ENERGY: {
        "site": "f1",
        "time": "2026-01-02T06:00:00Z",
        "reading": "30 MWh",
        "period_s": "3600",
        "source": "grid",
    },
    Method.CUSTOMS: {
        "record_id": "c1",
        "time": "2026-01-02",
        "hs_code": "8542.31",
        "shipper": "v",
        "consignee": "o1",
        "origin": "TW",
        "destination": "NL",
        "quantity": "16",
        "value_usd": "400000",
        "serials": "s1;s2",
    },
    Method.FINANCIAL: {
        "txn_id": "t1",
        "time": "2026-01-02",
        "payer": "o1",
        "payee": "v",
        "amount_usd": "1e6",
        "purpose": "chips",
        "quantity": "40",
    },
    Method.DC_INSPECTION: {
        "inspection_id": "i1",
        "facility": "f1",
        "time": "2026-01-02",
        "serials_counted": "s1;s2;s3",
    },
    Method.FAB_INSPECTION: {
        "inspection_id": "fi1",
        "fab": "fab-1",
        "time": "2026-01-02",
        "period_days": "30",
        "wafer_starts": "100",
        "output_chips": "5000",
    },
    Method.DEVELOPER_INSPECTION: {
        "inspection_id": "d1",
        "owner": "o1",
        "time": "2026-01-02",
        "declared_runs": "2",
        "undeclared_runs": "1",
    },
    Method.LOCATION: {
        "chip_serial": "s1",
        "claimed_facility": "f1",
        "time": "2026-01-02T00:00:00+00:00",
        "consistent": "false",
        "distance_km": "900",
    },
    Method.USAGE_REPORT: {
        "chip_serial": "s1",
        "facility": "f1",
        "period_start": "2026-01-01",
        "period_end": "2026-01-02",
        "flop": "1e19",
        "energy": "12 kWh",
    },
}


def _csv(rows: list[dict[str, object]], columns: list[str]) -> str:
    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join(f'"{r.get(c, "")}"' for c in columns))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("method", list(Method))
def test_every_schema_loads_a_good_row_from_csv_and_json(method: Method) -> None:
    cols = SCHEMAS[method].columns()
    res = import_csv(method, _csv([GOOD[method]], cols), "x.csv")
    assert not res.errors, [e.message for e in res.errors]
    assert len(res.signals) == 1
    doc = {"kind": method.value, "version": 1, "rows": [GOOD[method]]}
    res2 = import_json(None, json.dumps(doc), "x.json")
    assert res2.signals == res.signals
    # and the normalised export loads back to the same signal
    again = import_csv(method, export_csv(res.signals, method), "y.csv")
    assert again.signals == res.signals and not again.errors


def test_energy_units_normalised_to_average_power() -> None:
    res = import_csv(Method.ENERGY, _csv([GOOD[Method.ENERGY]], SCHEMAS[Method.ENERGY].columns()))
    (r,) = res.signals
    assert isinstance(r, EnergyReading)
    assert r.power_w == pytest.approx(30e6)
    assert r.energy_kwh == pytest.approx(30_000)
    assert r.time == datetime(2026, 1, 2, 6, tzinfo=UTC)


def test_bad_rows_are_named_and_good_rows_still_load() -> None:
    cols = SCHEMAS[Method.ENERGY].columns()
    rows = [
        GOOD[Method.ENERGY],
        {**GOOD[Method.ENERGY], "reading": "-5 MWh"},
        {**GOOD[Method.ENERGY], "reading": "30"},
        {**GOOD[Method.ENERGY], "time": "yesterday"},
        {**GOOD[Method.ENERGY], "time": "2026-01-02T06:00:00"},
        {**GOOD[Method.ENERGY], "source": "rumour"},
        {**GOOD[Method.ENERGY], "site": ""},
        GOOD[Method.ENERGY],
    ]
    res = import_csv(Method.ENERGY, _csv(rows, cols), "meter.csv")
    assert len(res.signals) == 2
    got = [(e.details["file"], e.details["row"], e.details["field"], type(e)) for e in res.errors]
    assert got == [
        ("meter.csv", 3, "reading", DataError),
        ("meter.csv", 4, "reading", UnitError),
        ("meter.csv", 5, "time", DataError),
        ("meter.csv", 6, "time", DataError),
        ("meter.csv", 7, "source", DataError),
        ("meter.csv", 8, "site", DataError),
    ]
    assert all(e.message.startswith("meter.csv:") for e in res.errors)


def test_field_level_checks() -> None:
    def err(method: Method, **change: object) -> str:
        res = import_json(method, json.dumps([{**GOOD[method], **change}]), "f.json")
        assert len(res.errors) == 1 and not res.signals
        return str(res.errors[0].details["field"])

    assert err(Method.CUSTOMS, hs_code="8541.10") == "hs_code"
    assert err(Method.CUSTOMS, origin="Taiwan") == "origin"
    assert err(Method.CUSTOMS, quantity="1.5") == "quantity"
    assert err(Method.REMOTE_SENSING, confidence="1.2") == "confidence"
    assert err(Method.REMOTE_SENSING, thermal="35 MWh") == "thermal"
    assert err(Method.REMOTE_SENSING, thermal=35) == "thermal"
    assert err(Method.USAGE_REPORT, period_end="2025-12-31") == "period_end"
    assert err(Method.USAGE_REPORT, energy="5 MW") == "energy"
    assert err(Method.DC_INSPECTION, serials_counted="a;a") == "serials_counted"
    assert err(Method.LOCATION, consistent="maybe") == "consistent"
    assert err(Method.ENERGY, reading="5 MWh", period_s="0") == "period_s"


def test_units_as_separate_column_and_json_object() -> None:
    row = {**GOOD[Method.REMOTE_SENSING], "thermal": 35, "thermal_unit": "MW"}
    res = import_json(Method.REMOTE_SENSING, json.dumps([row]))
    assert res.signals[0].thermal_w == 35e6
    row2 = {**GOOD[Method.REMOTE_SENSING], "thermal": {"value": 2, "unit": "GW"}}
    res2 = import_json(Method.REMOTE_SENSING, json.dumps([row2]))
    assert res2.signals[0].thermal_w == 2e9


def test_whole_file_problems() -> None:
    with pytest.raises(DataError, match="header lacks"):
        import_csv(Method.ENERGY, "site,time\nf1,2026-01-01\n", "e.csv")
    with pytest.raises(DataError, match="version"):
        import_json(None, json.dumps({"kind": "energy", "version": 9, "rows": []}))
    with pytest.raises(DataError, match="not JSON"):
        import_json(Method.ENERGY, "{", "e.json")
    with pytest.raises(DataError, match="unknown signal kind"):
        import_json(None, json.dumps({"kind": "tea leaves", "rows": []}))
    with pytest.raises(DataError, match="not 'customs'"):
        import_json(Method.CUSTOMS, json.dumps({"kind": "energy", "rows": []}))


def test_duplicate_ids_and_ragged_rows() -> None:
    cols = SCHEMAS[Method.CUSTOMS].columns()
    text = _csv([GOOD[Method.CUSTOMS], GOOD[Method.CUSTOMS]], cols) + "a,b,c,d,e,f,g,h,i,j,k,l,m\n"
    res = import_csv(Method.CUSTOMS, text, "c.csv")
    assert len(res.signals) == 1
    fields = sorted(str(e.details["field"]) for e in res.errors)
    assert fields == ["", "record_id"]


@settings(max_examples=60, deadline=None)
@given(
    value=st.floats(min_value=0, max_value=1e12, allow_nan=False),
    unit=st.sampled_from(["W", "kW", "MW", "GW", "Wh", "kWh", "MWh", "GWh"]),
)
def test_energy_rows_roundtrip(value: float, unit: str) -> None:
    row = {**GOOD[Method.ENERGY], "reading": f"{value!r} {unit}"}
    res = import_json(Method.ENERGY, json.dumps([row]))
    assert not res.errors
    again = import_csv(Method.ENERGY, export_csv(res.signals, Method.ENERGY))
    assert again.signals[0].power_w == pytest.approx(res.signals[0].power_w, rel=1e-12, abs=1e-9)
