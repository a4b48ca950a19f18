"""The verification engine inside the authority: sources sign the signals they submit,
the authority's own evidence joins them without an export step, and a run's fused
alerts and findings are served with their evidence."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pausebutton import errors
from pausebutton.detect import whistle
from pausebutton.protocol.keys import PrivateKey

DAY = 86400


def energy_doc(site: str, start: int, days: int = 60) -> dict[str, Any]:
    """Six-hourly meter readings: 5 MW, and 15 MW from day 20 to day 45 (a training run)."""
    rows = []
    for i in range(days * 4):
        day = i / 4
        mw = 5.0 + (0.05 if i % 2 else -0.05) + (10.0 if 20 <= day < 45 else 0.0)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + (i + 1) * 6 * 3600))
        rows.append({"site": site, "time": when, "reading": f"{mw} MW", "period_s": "21600"})
    return {"kind": "energy", "version": 1, "rows": rows}


def source(api: Any, methods: list[str], name: str = "grid utility") -> Any:
    key = PrivateKey.generate()
    out = api.admin.post(
        "/v1/signal-sources",
        {"public_key": key.public.raw.hex(), "name": name, "methods": methods},
    )
    assert out["methods"] == sorted(methods) and out["revoked"] is False
    return api.client(key)


def test_signals_from_sources_and_own_evidence_raise_an_alert_on_the_owner(api: Any) -> None:
    op = api.owner()
    api.facility()
    chips = api.chips(4)
    start = int(time.time()) - 60 * DAY
    utility = source(api, ["energy"])
    doc = energy_doc("dc1", start)
    first = utility.post("/v1/signals", doc)
    assert first == {"method": "energy", "received": 240, "stored": 240}
    again = utility.post("/v1/signals", doc)  # a resend stores nothing twice
    assert again == {"method": "energy", "received": 240, "stored": 0}
    # the chips report to the authority, but far less work than the meter implies
    for day in range(15, 50, 5):
        op.submit_reports([c.report(time=start + day * DAY, flop=10**15) for c in chips])
    run = api.admin.post("/v1/detection/runs")
    assert run["signals"] == 240 and run["own_evidence"] > 0 and run["alerts"] >= 1
    assert api.admin.get("/v1/detection/runs/latest") == run
    rules = {f["rule"] for f in api.admin.get("/v1/findings")}
    assert {"unlicensed_run", "usage_silent"} <= rules
    (owner,) = api.admin.get("/v1/detection/alerts", kind="owner")
    assert owner["subject"] == "acme" and owner["country"] == "US"
    assert {"energy", "usage_report"} <= set(owner["methods"])
    assert all(f["evidence"] for f in owner["findings"])
    assert api.admin.get("/v1/detection/alerts", country="FR") == []
    assert api.admin.get("/v1/detection/alerts", method="customs") == []
    silent = api.admin.get("/v1/findings", rule="usage_silent")
    assert silent and all(f["site"] == "dc1" for f in silent)


def test_no_run_yet_is_a_named_not_found(api: Any) -> None:
    with pytest.raises(errors.NotFoundError):
        api.admin.get("/v1/detection/alerts")


def test_a_source_may_report_only_its_own_methods(api: Any) -> None:
    utility = source(api, ["energy"])
    customs = {
        "kind": "customs",
        "rows": [
            {
                "record_id": "c1",
                "time": "2026-01-01T00:00:00Z",
                "importer": "acme",
                "destination": "dc1",
                "hardware": "NVIDIA H100 SXM5 80GB",
                "quantity": "8",
            }
        ],
    }
    with pytest.raises(errors.ForbiddenError):
        utility.post("/v1/signals", customs)
    op = api.owner()
    with pytest.raises(errors.ForbiddenError):  # an operator is no source
        op.post("/v1/signals", energy_doc("dc1", int(time.time()) - 60 * DAY, days=1))
    with pytest.raises(errors.ForbiddenError):  # nor is an admin
        api.admin.post("/v1/signals", energy_doc("dc1", int(time.time()) - 60 * DAY, days=1))
    stranger = api.client(PrivateKey.generate())
    with pytest.raises(errors.AuthError):
        stranger.post("/v1/signals", energy_doc("dc1", int(time.time()) - 60 * DAY, days=1))
    run = api.admin.post("/v1/detection/runs")
    assert run["signals"] == 0


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"site": "dc1", "time": "2026-01-01T00:00:00Z", "reading": "5 MW"}, "period_s"),
        (
            {"site": "dc1", "time": "2026-01-01T00:00:00Z", "reading": "5 kg", "period_s": "60"},
            "reading",
        ),
        ({"site": "dc1", "time": "yesterday", "reading": "5 MW", "period_s": "60"}, "time"),
        (
            {"site": "dc1", "time": "2026-01-01T00:00:00Z", "reading": "-5 MW", "period_s": "60"},
            "reading",
        ),
    ],
)
def test_a_bad_row_refuses_the_batch_naming_row_and_field(
    api: Any, row: dict[str, str], field: str
) -> None:
    utility = source(api, ["energy"])
    good = {"site": "dc1", "time": "2026-01-01T06:00:00Z", "reading": "5 MW", "period_s": "60"}
    with pytest.raises(errors.DataError) as info:
        utility.post("/v1/signals", {"kind": "energy", "version": 1, "rows": [good, row]})
    assert info.value.details["field"] == field and info.value.details["row"] == 2
    assert api.admin.post("/v1/detection/runs")["signals"] == 0  # nothing was stored


@pytest.mark.parametrize(
    "body",
    [
        {"public_key": "00" * 32, "name": "x", "methods": ["telepathy"]},
        {"public_key": "zz" * 32, "name": "x", "methods": ["energy"]},
        {"public_key": "11" * 32, "name": "x", "methods": []},
    ],
)
def test_bad_sources_are_refused(api: Any, body: dict[str, Any]) -> None:
    with pytest.raises((errors.SchemaError, errors.DataError)):
        api.admin.post("/v1/signal-sources", body)
    assert api.admin.get("/v1/signal-sources") == []


def test_only_an_admin_adds_sources(api: Any) -> None:
    op = api.owner()
    key = PrivateKey.generate()
    with pytest.raises(errors.ForbiddenError):
        op.post(
            "/v1/signal-sources",
            {"public_key": key.public.raw.hex(), "name": "x", "methods": ["energy"]},
        )
    assert api.admin.get("/v1/signal-sources") == []


def test_the_detection_verbs_against_a_served_authority(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any
) -> None:
    adir = tmp_path / "auth"
    assert cli("authority", "init", adir, "--members", "3", "--threshold", "2").returncode == 0
    admin, utility = tmp_path / "admin.key", tmp_path / "utility.key"
    assert cli("keys", "generate", "--out", admin).returncode == 0
    assert cli("keys", "generate", "--out", utility).returncode == 0
    server = server_factory(adir, db_url, admin)
    url = ("--url", server.url)
    try:
        r = cli(
            "detection", "source-add", utility, "--name", "Grid", "--method", "energy", *url,
            "--key", admin,
        )  # fmt: skip
        assert r.returncode == 0 and "may report energy" in r.stdout, r.stderr
        doc = tmp_path / "energy.json"
        doc.write_text(json.dumps(energy_doc("dc1", int(time.time()) - 60 * DAY, days=2)))
        r = cli("detection", "submit", doc, *url, "--key", utility)
        assert r.returncode == 0 and "8 energy signals received, 8 new" in r.stdout, r.stderr
        r = cli("detection", "submit", doc, *url)
        assert r.returncode == 2 and "--key" in r.stderr  # nothing signed, nothing sent
        bad = tmp_path / "bad.json"
        bad.write_text('{"kind": "energy", "rows": [{"site": "dc1", "time": "x"}]}')
        r = cli("detection", "submit", bad, *url, "--key", utility)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "nothing stored" in r.stderr
        wrong = tmp_path / "customs.json"
        wrong.write_text('{"kind": "customs", "rows": []}')
        r = cli("detection", "submit", wrong, *url, "--key", utility)
        assert r.returncode == 3 and "may not report customs" in r.stderr
        r = cli("detection", "run", *url, "--key", admin, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["signals"] == 8, r.stderr
        r = cli("detection", "alerts", *url)
        assert r.returncode == 0 and "no alerts" in r.stdout
    finally:
        server.stop()


WHISTLE_SK, WHISTLE_PK = whistle.keygen()
WHISTLE_STORE = Path(tempfile.mkdtemp(prefix="pb-whistle-")) / "intake.sqlite"


@pytest.mark.parametrize(
    "api_settings",
    [{"whistle_key": WHISTLE_PK, "whistle_store": str(WHISTLE_STORE)}],
)
def test_the_whistleblower_channel_takes_sealed_reports_on_the_server(api: Any) -> None:
    """The intake lives on the server; the analyst opens the submissions offline with the
    channel's private key and submits what they found as whistleblower signals."""
    import base64

    assert bytes.fromhex(api.http.get("/v1/whistle/key").json()["public_key"]) == WHISTLE_PK
    sealed, _receipt = whistle.seal_report(WHISTLE_PK, {"claim": "a run at dc1", "site": "dc1"})
    r = api.http.post("/v1/whistle/submissions", json={"sealed": base64.b64encode(sealed).decode()})
    assert r.status_code == 202
    bad = api.http.post("/v1/whistle/submissions", json={"sealed": "!!"})
    assert bad.status_code == 400 and bad.json()["error"] == "malformed"
    opened, _ = whistle.intake(whistle.WhistleStore(WHISTLE_STORE), WHISTLE_SK, datetime.now(UTC))
    assert [o.to_signal(datetime.now(UTC)).site for o in opened] == ["dc1"]
