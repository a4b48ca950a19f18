from __future__ import annotations

import json
from pathlib import Path

import pytest
from detect_world import registry, t
from hypothesis import given, settings
from hypothesis import strategies as st

from pausebutton.detect import estimate as est
from pausebutton.detect.io import (
    add_to_store,
    bundled_hardware,
    import_file,
    load_registry,
    load_store,
)
from pausebutton.detect.registry import export_registry, parse_registry
from pausebutton.detect.rules import SignalSet
from pausebutton.detect.signals import Method, RemoteSensing
from pausebutton.errors import DataError


def test_store_appends_and_refuses_duplicate_ids(tmp_path: Path) -> None:
    f = tmp_path / "customs.json"
    row = {
        "record_id": "c1",
        "time": "2026-01-02",
        "hs_code": "854231",
        "shipper": "v",
        "consignee": "o1",
        "origin": "TW",
        "destination": "NL",
        "quantity": 4,
        "value_usd": 1e5,
    }
    f.write_text(json.dumps([row]))
    store = tmp_path / "store"
    assert add_to_store(store, import_file(f, Method.CUSTOMS)) == 1
    before = (store / "customs.csv").read_bytes()
    with pytest.raises(DataError, match="already in the store"):
        add_to_store(store, import_file(f, Method.CUSTOMS))
    assert (store / "customs.csv").read_bytes() == before
    ss, errs = load_store(store)
    assert not errs and ss.get(Method.CUSTOMS)[0].hs_code == "8542.31"


def test_kind_from_file_name(tmp_path: Path) -> None:
    f = tmp_path / "mystery.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="--kind"):
        import_file(f, None)
    g = tmp_path / "energy.csv"
    g.write_text("site,time,reading,period_s\nf1,2026-01-01T01:00:00Z,3 MW,3600\n")
    assert import_file(g, None).signals[0].power_w == 3e6


def test_registry_roundtrip_and_bad_rows(tmp_path: Path) -> None:
    reg = registry(n_chips=3, licensed_flop=12345678901234567890123456.0)
    texts = export_registry(reg)
    for name, text in texts.items():
        (tmp_path / f"{name}.csv").write_text(text)
    again, errs = load_registry(tmp_path)
    assert not errs
    assert (
        again.facilities == reg.facilities
        and again.chips == reg.chips
        and again.licenses == reg.licenses
    )
    bad = (
        "facility_id,owner_id,country,declared_capacity\n"
        "f1,o1,NL,5 MW\nf2,o1,NL,5 MW\nf9,o1,NL,50\nf10,o1,NL,50 MWh\nf1,o1,NL,5 MW\n"
    )
    reg2, errs2 = parse_registry({"facilities": ("facilities.csv", bad)})
    assert sorted(reg2.facilities) == ["f1", "f2"]
    assert [(e.details["row"], e.details["field"]) for e in errs2] == [
        (4, "declared_capacity"),
        (5, "declared_capacity"),
        (6, "facility_id"),
    ]
    lic = (
        "license_id,owner_id,facility_id,flop,not_before,not_after\n"
        "L,o1,,100000000000000000000000000,2026-01-01,2025-01-01\n"
        "M,o1,,-5,2026-01-01,2027-01-01\n"
    )
    _, errs3 = parse_registry({"licenses": ("licenses.csv", lic)})
    assert [e.details["field"] for e in errs3] == ["not_after", "flop"]


def test_licensed_flop_by_facility_owner_and_period() -> None:
    reg = registry(licensed_flop=1e24)
    assert reg.licensed_flop("f1", t(10), t(20)) == 1e24
    assert reg.licensed_flop("f2", t(10), t(20)) == 0
    assert reg.licensed_flop("f1", t(100), t(120)) == 0


def test_signalset_until_sorts_on_demand() -> None:
    s = SignalSet.of([RemoteSensing(str(i), "f1", t(10 - i), 1.0, 0.5) for i in range(10)])
    assert [x.detection_id for x in s.until(t(3)).get(Method.REMOTE_SENSING)] == ["9", "8", "7"]


@settings(max_examples=80, deadline=None)
@given(
    chips=st.floats(min_value=1, max_value=1e6),
    hours=st.floats(min_value=0.1, max_value=1e4),
    k=st.floats(min_value=1.5, max_value=10),
)
def test_estimates_scale_linearly_and_intervals_contain_point(
    chips: float, hours: float, k: float
) -> None:
    hw = bundled_hardware().get("NVIDIA A100")
    a = est.from_chips(hw, chips, hours)
    b = est.from_chips(hw, chips * k, hours)
    assert b.flop == pytest.approx(a.flop * k, rel=1e-9)
    for e in (a, b):
        assert e.intervals[0.95][0] <= e.low <= e.flop <= e.high <= e.intervals[0.95][1]
    c = est.from_energy(hw, chips * hours)
    assert c.low <= c.flop <= c.high
