"""One verification system, end to end: honest and cheating owners; signals arrive over
the API from their sources and from the authority's own evidence (usage reports, custody
signed by the supply chain, GNSS fixes against landmark round trips); the fused alerts
name the cheater with the evidence of every method, and the honest owner is left alone.
Nothing is converted by hand between the parts: each arrives in the format its producer
writes."""

from __future__ import annotations

import os
import time
from typing import Any

from pausebutton.geo.landmark import LandmarkCore
from pausebutton.geo.physics import distance_km, fibre_rtt_ms
from pausebutton.geo.responder import SoftChip
from pausebutton.protocol.keys import PrivateKey

DAY = 86400
NOW = int(time.time())
START = NOW - 60 * DAY
SITES = {"honest-dc": ("acme", (40.0, -100.0)), "shady-dc": ("shady", (35.0, -90.0))}
LANDMARK_OFFSETS = [(0.6, 0.0), (-0.5, 0.6), (0.0, -0.8)]


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def source(api: Any, name: str, methods: list[str]) -> Any:
    key = PrivateKey.generate()
    api.admin.post(
        "/v1/signal-sources",
        {"public_key": key.public.raw.hex(), "name": name, "methods": methods},
    )
    return api.client(key)


def party(api: Any, pid: str, kind: str, country: str) -> Any:
    key = PrivateKey.generate()
    body = {"id": pid, "kind": kind, "name": pid, "country": country}
    api.admin.post("/v1/supply/parties", {**body, "public_key": key.public.raw.hex()})
    return api.client(key)


def meter(site: str, busy: bool) -> dict[str, Any]:
    rows = []
    for i in range(60 * 4):
        mw = 5.0 + (0.05 if i % 2 else -0.05) + (10.0 if busy and 80 <= i < 180 else 0.0)
        rows.append(
            {"site": site, "time": iso(START + (i + 1) * 6 * 3600), "reading": f"{mw} MW",
             "period_s": "21600"}
        )  # fmt: skip
    return {"kind": "energy", "version": 1, "rows": rows}


def measure(api: Any, chip: Any, site: tuple[float, float]) -> None:
    soft = SoftChip(chip.key)
    for j, (dlat, dlon) in enumerate(LANDMARK_OFFSETS):
        lat, lon = site[0] + dlat, site[1] + dlon
        core = LandmarkCore(api.world.keys.key("landmark", j), lat, lon)
        nonce = os.urandom(32)
        challenge = core.challenge(soft.device_key, nonce)
        core.sent(nonce, 0)
        rtt = fibre_rtt_ms(distance_km(lat, lon, *site)) * 1.5 + 1.0
        data, _ = core.complete(soft.respond(challenge), int(rtt * 1e6), now=NOW)
        api.admin.submit_measurement(data)


def test_the_system_names_the_cheater_with_every_methods_evidence(api: Any) -> None:
    ops = {}
    for fid, (owner, (lat, lon)) in SITES.items():
        ops[owner] = api.owner(owner)
        api.admin.post(
            "/v1/facilities",
            {"id": fid, "name": fid, "country": "US", "latitude": lat, "longitude": lon,
             "power_mw": 50.0, "owner_id": owner, "verified": True},
        )  # fmt: skip
    honest = api.chips(4, owner="acme", facility="honest-dc")
    shady = api.chips(4, owner="shady", facility="shady-dc")
    smuggled = api.chips(1, owner="shady", facility=None)[0]
    serial = {c["chip_id"]: c["serial"] for c in api.admin.get("/v1/chips")}

    # 1. a utility meters both sites; the shady site draws a training run's power
    utility = source(api, "grid operator", ["energy"])
    utility.post("/v1/signals", meter("honest-dc", busy=False))
    utility.post("/v1/signals", meter("shady-dc", busy=True))

    # 2. the chips' own usage reports (the authority's evidence): both owners report
    # normal work, which cannot explain the shady site's power
    for day in range(15, 55, 5):
        for owner, chips in (("acme", honest), ("shady", shady)):
            ops[owner].submit_reports([c.report(time=START + day * DAY) for c in chips])

    # 3. the supply chain signs the smuggled chip's custody: exported to NL under licence
    fab, vendor = party(api, "fab", "fab", "TW"), party(api, "vendor", "vendor", "US")
    party(api, "importer-nl", "importer", "NL")
    api.admin.post(
        "/v1/supply/export-licences",
        {"id": "EL-1", "exporter_id": "vendor", "importer_id": "importer-nl", "country": "NL",
         "quantity": 10, "not_before": START, "not_after": NOW + DAY},
    )  # fmt: skip
    cid = smuggled.chip_id
    fab.post(
        "/v1/supply/custody",
        {"chip_id": cid, "kind": "fabrication", "at": START, "to_party": "vendor"},
    )
    vendor.post(
        "/v1/supply/custody",
        {"chip_id": cid, "kind": "export", "at": START + DAY, "country": "NL",
         "to_party": "importer-nl", "export_licence": "EL-1"},
    )  # fmt: skip
    # ... but a customs office declares it arriving in AE
    customs = source(api, "customs AE", ["customs"])
    customs.post(
        "/v1/signals",
        {"kind": "customs", "rows": [
            {"record_id": "AE-1", "time": iso(START + 5 * DAY), "hs_code": "8542.31",
             "shipper": "vendor", "consignee": "shadow-trading", "origin": "US",
             "destination": "AE", "quantity": "1", "value_usd": "30000",
             "serials": serial[cid]},
        ]},
    )  # fmt: skip

    # 4. a shady chip's receiver is spoofed to say "honest-dc", 1,100 km from where the
    # landmarks measure it; an honest chip's fix agrees with its landmarks
    measure(api, shady[0], SITES["shady-dc"][1])
    measure(api, honest[0], SITES["honest-dc"][1])
    (spoofed,) = ops["shady"].post(
        "/v1/location/fixes",
        {"fixes": [{"chip_id": shady[0].chip_id, "time": NOW, "lat": 40.0, "lon": -100.0}]},
    )
    assert spoofed["verdict"] == "spoofed"
    (fine,) = ops["acme"].post(
        "/v1/location/fixes",
        {"fixes": [{"chip_id": honest[0].chip_id, "time": NOW, "lat": 40.0, "lon": -100.0}]},
    )
    assert fine["verdict"] == "consistent"

    # the engine joins it all
    run = api.admin.post("/v1/detection/runs")
    assert run["signals"] == 481 and run["own_evidence"] > 0
    alerts = api.admin.get("/v1/detection/alerts", kind="owner")
    assert [a["subject"] for a in alerts] == ["shady"]
    (cheater,) = alerts
    assert {"energy", "usage_report", "customs", "location"} <= set(cheater["methods"])
    rules = {f["rule"] for f in cheater["findings"]}
    assert {"unlicensed_run", "usage_silent", "custody_diverted", "location_inconsistent"} <= rules
    assert all(f["evidence"] for f in cheater["findings"])
    diverted = next(f for f in cheater["findings"] if f["rule"] == "custody_diverted")
    assert diverted["chips"] == [serial[cid]]
    assert api.admin.get("/v1/detection/alerts", owner="acme") == []
