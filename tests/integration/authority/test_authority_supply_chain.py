"""The supply chain from fab to rack: each party signs its own custody step, acts only
on chips it holds, exports only under an export licence; the engine reads the custody
and catches chips diverted from where their export licence sent them."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pausebutton import errors, keystore
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import DeviceCertificate

NOW = int(time.time())
DAY = 86400
STAGES = [
    ("tsmc-f18", "fab", "TW"),
    ("tsmc-cowos", "packaging", "TW"),
    ("nvidia", "vendor", "US"),
    ("exporter-us", "exporter", "US"),
    ("importer-nl", "importer", "NL"),
    ("integrator-nl", "integrator", "NL"),
]


class Chain:
    def __init__(self, api: Any) -> None:
        self.api = api
        self.party: dict[str, Any] = {}
        for pid, kind, country in STAGES:
            key = PrivateKey.generate()
            out = api.admin.post(
                "/v1/supply/parties",
                {
                    "id": pid,
                    "kind": kind,
                    "name": pid.upper(),
                    "country": country,
                    "public_key": key.public.raw.hex(),
                },
            )
            assert out["key_id"] == key.key_id.hex()
            self.party[pid] = api.client(key)

    def sign(self, pid: str, chip: str, kind: str, at: int, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.party[pid].post(
            "/v1/supply/custody", {"chip_id": chip, "kind": kind, "at": at, **kw}
        )
        return out

    def to_exporter(self, chip: str) -> None:
        self.sign("tsmc-f18", chip, "fabrication", NOW - 90 * DAY, to_party="tsmc-cowos")
        self.sign("tsmc-cowos", chip, "packaging", NOW - 80 * DAY, to_party="nvidia")
        self.sign("nvidia", chip, "board", NOW - 70 * DAY, to_party="exporter-us")


def licence(api: Any, lid: str = "EL-1", quantity: int = 10, country: str = "NL") -> None:
    api.admin.post(
        "/v1/supply/export-licences",
        {
            "id": lid,
            "exporter_id": "exporter-us",
            "importer_id": "importer-nl",
            "country": country,
            "quantity": quantity,
            "not_before": NOW - 100 * DAY,
            "not_after": NOW + 100 * DAY,
        },
    )


def test_a_chip_travels_from_fab_to_rack_each_step_signed_by_its_party(api: Any) -> None:
    api.owner()
    api.facility("dc-nl", country="NL")
    (chip,) = [c.chip_id for c in api.chips(1, facility=None)]
    chain = Chain(api)
    licence(api)
    chain.to_exporter(chip)
    chain.sign(
        "exporter-us", chip, "export", NOW - 60 * DAY, country="NL", to_party="importer-nl",
        export_licence="EL-1",
    )  # fmt: skip
    chain.sign(
        "importer-nl", chip, "import", NOW - 50 * DAY, country="NL", to_party="integrator-nl"
    )
    rack = chain.sign("integrator-nl", chip, "rack", NOW - 40 * DAY, facility_id="dc-nl")
    assert rack["party_id"] == "integrator-nl" and rack["actor"] == "INTEGRATOR-NL"
    events = api.admin.get(f"/v1/chips/{chip}/custody")
    signed = [e for e in events if e["party_id"]]
    assert [e["kind"] for e in signed] == [
        "fabrication", "packaging", "board", "export", "import", "rack",
    ]  # fmt: skip
    assert all(e["log_index"] is not None for e in signed)
    assert api.admin.get(f"/v1/chips/{chip}")["facility_id"] == "dc-nl"
    (el,) = api.admin.get("/v1/supply/export-licences")
    assert el["used"] == 1
    # the registry export names the chip's fab, for the engine's fab reconciliation
    chips_csv = api.admin.get("/v1/registry/chips.csv").splitlines()
    assert chips_csv[1].split(",")[7] == "tsmc-f18"


def test_only_the_holder_of_a_chip_signs_its_next_step(api: Any) -> None:
    api.owner()
    (chip,) = [c.chip_id for c in api.chips(1, facility=None)]
    chain = Chain(api)
    with pytest.raises(errors.ConflictError, match="no party holds it"):
        chain.sign("tsmc-cowos", chip, "packaging", NOW - 80 * DAY)
    chain.sign("tsmc-f18", chip, "fabrication", NOW - 90 * DAY, to_party="tsmc-cowos")
    before = api.admin.get(f"/v1/chips/{chip}/custody")
    with pytest.raises(errors.ConflictError, match="tsmc-cowos does"):
        chain.sign("nvidia", chip, "board", NOW - 70 * DAY)  # the packaging site holds it
    with pytest.raises(errors.ConflictError, match="fabricated already"):
        chain.sign("tsmc-f18", chip, "fabrication", NOW - 89 * DAY)
    with pytest.raises(errors.ForbiddenError, match="may not sign"):
        chain.sign("tsmc-cowos", chip, "export", NOW - 80 * DAY, country="NL")
    with pytest.raises(errors.ForbiddenError):  # an admin is no party
        api.admin.post(
            "/v1/supply/custody", {"chip_id": chip, "kind": "packaging", "at": NOW - 80 * DAY}
        )
    assert api.admin.get(f"/v1/chips/{chip}/custody") == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"export_licence": "EL-1", "country": "CN", "to_party": "importer-nl"}, "covers NL"),
        ({"export_licence": "EL-1", "country": "NL", "to_party": "integrator-nl"}, "ships to"),
        ({"export_licence": "EL-9", "country": "NL", "to_party": "importer-nl"}, "no export"),
        ({"country": "NL", "to_party": "importer-nl"}, "names its export licence"),
    ],
)
def test_an_export_needs_a_licence_that_covers_it(
    api: Any, extra: dict[str, str], message: str
) -> None:
    api.owner()
    (chip,) = [c.chip_id for c in api.chips(1, facility=None)]
    chain = Chain(api)
    licence(api)
    chain.to_exporter(chip)
    before = api.admin.get(f"/v1/chips/{chip}/custody")
    with pytest.raises((errors.ConflictError, errors.NotFoundError, errors.SchemaError)) as info:
        chain.sign("exporter-us", chip, "export", NOW - 60 * DAY, **extra)
    assert message in info.value.message
    assert api.admin.get(f"/v1/chips/{chip}/custody") == before


@pytest.mark.parametrize("api_settings", [{"threads": 16, "write_rate": 1e6}])
def test_concurrent_exports_never_overrun_a_licence(api: Any) -> None:
    api.owner()
    chips = [c.chip_id for c in api.chips(8, facility=None)]
    chain = Chain(api)
    licence(api, quantity=3)
    for chip in chips:
        chain.to_exporter(chip)

    def export(chip: str) -> bool:
        try:
            chain.sign(
                "exporter-us", chip, "export", NOW - 60 * DAY, country="NL",
                to_party="importer-nl", export_licence="EL-1",
            )  # fmt: skip
        except errors.ConflictError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(export, chips))
    assert sum(done) == 3
    (el,) = api.admin.get("/v1/supply/export-licences")
    assert el["used"] == 3


def test_the_engine_catches_a_diverted_chip_and_one_lost_in_transit(api: Any) -> None:
    op = api.owner()
    del op
    chips = [c.chip_id for c in api.chips(2, facility=None)]
    serials = {c["chip_id"]: c["serial"] for c in api.admin.get("/v1/chips")}
    chain = Chain(api)
    licence(api)
    for chip in chips:
        chain.to_exporter(chip)
        chain.sign(
            "exporter-us", chip, "export", NOW - 60 * DAY, country="NL",
            to_party="importer-nl", export_licence="EL-1",
        )  # fmt: skip
    customs = PrivateKey.generate()
    api.admin.post(
        "/v1/signal-sources",
        {"public_key": customs.public.raw.hex(), "name": "customs AE", "methods": ["customs"]},
    )
    api.client(customs).post(
        "/v1/signals",
        {
            "kind": "customs",
            "rows": [
                {
                    "record_id": "AE-77",
                    "time": "2026-11-01T00:00:00Z",
                    "hs_code": "8542.31",
                    "shipper": "exporter-us",
                    "consignee": "shell-co",
                    "origin": "US",
                    "destination": "AE",
                    "quantity": "1",
                    "value_usd": "30000",
                    "serials": serials[chips[0]],
                }
            ],
        },
    )
    api.admin.post("/v1/detection/runs")
    (diverted,) = api.admin.get("/v1/findings", rule="custody_diverted")
    assert diverted["chips"] == [serials[chips[0]]] and diverted["owner"] == "acme"
    assert "exported to NL (by exporter-us)" in diverted["reason"]
    (lost,) = api.admin.get("/v1/findings", rule="custody_in_transit")
    assert set(lost["chips"]) == {serials[c] for c in chips}
    alerts = api.admin.get("/v1/detection/alerts", owner="acme")
    assert alerts and "customs" in alerts[0]["methods"]


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "kind": "smelter", "name": "X", "country": "US"},
        {"id": "x", "kind": "fab", "name": "X", "country": "usa"},
        {"id": "x", "kind": "fab", "name": "X", "country": "US", "public_key": "zz" * 32},
    ],
)
def test_bad_parties_are_refused(api: Any, body: dict[str, Any]) -> None:
    with pytest.raises((errors.SchemaError, errors.DataError)):
        api.admin.post("/v1/supply/parties", body)
    assert api.admin.get("/v1/supply/parties") == []


def test_fab_tools_name_a_fab_and_a_lithography_maker(api: Any) -> None:
    api.admin.post(
        "/v1/supply/parties", {"id": "asml", "kind": "lithography", "name": "ASML", "country": "NL"}
    )
    api.admin.post(
        "/v1/supply/parties", {"id": "f18", "kind": "fab", "name": "F18", "country": "TW"}
    )
    api.admin.post("/v1/supply/parties/f18/tools", {"maker_id": "asml", "tool": "EUV"})
    assert api.admin.get("/v1/supply/tools") == [
        {"fab_id": "f18", "maker_id": "asml", "tool": "EUV", "count": None}
    ]
    with pytest.raises(errors.SchemaError):
        api.admin.post("/v1/supply/parties/asml/tools", {"maker_id": "f18", "tool": "EUV"})
    with pytest.raises(errors.ConflictError):
        api.admin.post("/v1/supply/parties/f18/tools", {"maker_id": "asml", "tool": "EUV"})


def test_the_supply_verbs_against_a_served_authority(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any
) -> None:
    adir = tmp_path / "auth"
    assert cli("authority", "init", adir, "--members", "3", "--threshold", "2").returncode == 0
    admin, fab = tmp_path / "admin.key", tmp_path / "fab.key"
    for k in (admin, fab):
        assert cli("keys", "generate", "--out", k).returncode == 0
    server = server_factory(adir, db_url, admin)
    url, ak = ("--url", server.url), ("--key", admin)
    try:
        r = cli("supply", "seed-example", *url, *ak)
        assert r.returncode == 0 and "seeded 12 parties and 5 fab tools" in r.stdout, r.stderr
        r = cli("supply", "parties", "--kind", "fab", *url, "--json")
        fabs = json.loads(r.stdout)
        assert {p["name"] for p in fabs} == {"TSMC", "Samsung", "SMIC", "Intel"}
        assert all("no figures" in p["source"] for p in fabs)
        r = cli("supply", "tools", *url)
        assert r.returncode == 0 and "asml" in r.stdout and "EUV" in r.stdout
        r = cli(
            "supply", "party-add", "fab-x", "--kind", "fab", "--name", "Fab X", "--country", "TW",
            "--public-key", fab, *url, *ak,
        )  # fmt: skip
        assert r.returncode == 0 and "signs its own custody steps" in r.stdout, r.stderr
        r = cli("supply", "party-add", "bad", "--kind", "smelter", "--name", "B",
                "--country", "TW", *url, *ak)  # fmt: skip
        assert r.returncode == 2 and "Traceback" not in r.stderr
        # a chip registered by the authority's vendor key, fabricated by fab-x
        vendor = keystore.read_private_key(adir / "keys" / "vendor-0.key")
        chip = PrivateKey.generate()
        cert = DeviceCertificate("SN9", "H100", chip.public.raw, "V", 1, 1_700_000_000)
        (tmp_path / "cert.cbor").write_bytes(Envelope.create(cert, [vendor]).encode())
        assert cli("registry", "chip-register", tmp_path / "cert.cbor", *url, *ak).returncode == 0
        cid = chip.key_id.hex()
        r = cli("supply", "sign", cid, "fabrication", "--at", "2026-01-05T00:00:00Z", *url)
        assert r.returncode == 2 and "--key" in r.stderr
        r = cli("supply", "sign", cid, "fabrication", "--at", "2026-01-05T00:00:00Z",
                "--to", "tsmc", *url, "--key", fab)  # fmt: skip
        assert r.returncode == 0 and "handed to tsmc" in r.stdout, r.stderr
        r = cli("supply", "sign", cid, "board", "--at", "2026-01-06T00:00:00Z", *url, "--key", fab)
        assert r.returncode == 3 and "may not sign" in r.stderr
    finally:
        server.stop()
