"""One schema per registry table: what the authority exports, the engine reads and the
authority imports again, without conversion (``detect.registry.COLUMNS``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pausebutton import errors
from pausebutton.authority.csvio import COLUMNS
from pausebutton.detect.io import load_registry
from pausebutton.detect.registry import TABLES, export_registry, parse_registry

NOW = int(time.time())


def _csv(api: Any, kind: str) -> str:
    text = api.admin.get(f"/v1/registry/{kind}.csv")
    assert isinstance(text, str)
    return text


def _populate(api: Any) -> list[int]:
    op = api.owner()
    api.facility()
    chips = api.chips(2)
    app = op.post(
        "/v1/licenses/applications",
        {
            "chips": [c.chip_id for c in chips],
            "flop_budget": "1e20",
            "not_before": NOW,
            "not_after": NOW + 30 * 86400,
            "run_id": "run-1",
            "purpose": "testing",
        },
    )
    assert app["status"] == "issued", (app["status"], app.get("reason"), app)
    ids: list[int] = app["license_ids"]
    return ids


def test_the_export_is_the_engines_input_and_reads_back_unchanged(api: Any, tmp_path: Path) -> None:
    licence_ids = _populate(api)
    exported = {kind: _csv(api, kind) for kind in TABLES}
    for kind, text in exported.items():
        assert text.splitlines()[0].split(",") == list(COLUMNS[kind])
        (tmp_path / f"{kind}.csv").write_text(text)
    reg, errs = load_registry(tmp_path)
    assert errs == []
    assert set(reg.owners) == {"acme"} and set(reg.facilities) == {"dc1"}
    assert len(reg.chips) == 2 and all(c.owner_id == "acme" for c in reg.chips.values())
    assert sorted(int(lic.license_id) for lic in reg.licenses) == sorted(licence_ids)
    assert all(lic.facility_id == "dc1" for lic in reg.licenses)
    assert sum(lic.flop for lic in reg.licenses) == pytest.approx(1e20)
    # the engine writes the same bytes back: nothing was lost or reshaped on the way
    assert export_registry(reg) == exported


def test_an_engine_registry_imports_into_the_authority(api: Any) -> None:
    texts = {
        "owners": ("owners.csv", "owner_id,name,country\nzeta,Zeta Compute,DE\n"),
        "facilities": (
            "facilities.csv",
            "facility_id,name,owner_id,country,declared_capacity\nz1,Zeta One,zeta,DE,30 MW\n",
        ),
    }
    reg, errs = parse_registry(texts)
    assert errs == [] and reg.facilities["z1"].declared_w == 30e6
    engine = export_registry(reg)
    for kind in ("owners", "facilities"):
        out = api.admin.request(
            "POST",
            f"/v1/registry/{kind}.csv",
            content=engine[kind].encode(),
            content_type="text/csv",
        )
        assert out["imported"] == 1
    z1 = api.admin.get("/v1/facilities/z1")
    assert z1["power_mw"] == 30.0 and z1["owner_id"] == "zeta" and z1["name"] == "Zeta One"
    assert _csv(api, "owners") == engine["owners"]


def test_licences_are_exported_but_never_imported(api: Any) -> None:
    _populate(api)
    text = _csv(api, "licenses")
    before = text
    with pytest.raises(errors.DataError) as info:
        api.admin.request(
            "POST", "/v1/registry/licenses.csv", content=text.encode(), content_type="text/csv"
        )
    assert "issued" in info.value.message
    assert _csv(api, "licenses") == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("facility_id,id,name,country\nf1,f1,F1,US\n", "id"),  # the old and new name at once
        ("facility_id,name,country,declared_capacity\nf1,F1,US,30 MWh\n", "declared_capacity"),
        ("facility_id,name,country,declared_capacity\nf1,F1,US,lots\n", "declared_capacity"),
    ],
)
def test_bad_facility_columns_are_named_and_import_nothing(api: Any, body: str, field: str) -> None:
    with pytest.raises(errors.DataError) as info:
        api.admin.request(
            "POST", "/v1/registry/facilities.csv", content=body.encode(), content_type="text/csv"
        )
    assert info.value.details["field"] == field
    assert api.admin.get("/v1/facilities") == []


def test_custody_exports_times_in_iso_8601(api: Any) -> None:
    api.owner()
    api.facility()
    api.chips(1)
    rows = _csv(api, "custody").splitlines()
    assert rows[0].split(",") == list(COLUMNS["custody"])
    assert all("T" in r.split(",")[3] and r.split(",")[3].endswith("Z") for r in rows[1:])
