"""The API's answers, byte for byte: one scenario touching every aggregate (registry,
custody, licensing, orders, reports with every chain case, artifacts, location, time
tokens, audit, CSV) runs at a frozen instant, and every response (method, path,
status, content type, body) must equal the recorded one in
tests/vectors/authority/api-responses.json.

A deliberate change of an answer is recorded again with
``PB_UPDATE_GOLDEN=1 pytest tests/integration/authority/test_authority_golden.py``
(and named in docs/ as a migration note)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pausebutton.authority.api import create_app
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.demo import DemoWorld, demo_world
from pausebutton.authority.inprocess import serve_in_process
from pausebutton.authority.policy import Policy
from pausebutton.errors import PausebuttonError
from pausebutton.geo.landmark import LandmarkCore
from pausebutton.geo.physics import distance_km, fibre_rtt_ms
from pausebutton.geo.responder import SoftChip
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import (
    Artifact,
    ArtifactKind,
    ProhibitedArtifacts,
    UsageReport,
)

GOLDEN = Path(__file__).resolve().parents[2] / "vectors" / "authority" / "api-responses.json"
T = 1_800_000_000
SITES = [(39.74, -104.99), (41.26, -95.93), (35.47, -97.52)]


def refused(call: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """A request the scenario expects to be refused (its answer is recorded)."""
    with pytest.raises(PausebuttonError):
        call(*args, **kw)


def registry(world: DemoWorld, admin: AuthorityClient) -> list[Any]:
    for oid, country in (("acme", "US"), ("blue", "FR")):
        admin.post("/v1/owners", {"id": oid, "name": oid.title(), "country": country})
        key = world.operator_key(oid)
        admin.post(
            "/v1/keys",
            {
                "public_key": key.public.raw.hex(),
                "role": "operator",
                "name": oid + "-ops",
                "owner_id": oid,
            },
        )
    refused(admin.post, "/v1/owners", {"id": "acme", "name": "A", "country": "US"})
    refused(admin.post, "/v1/owners", {"id": "bad one", "name": "A", "country": "US"})
    admin.post(
        "/v1/facilities",
        {
            "id": "dc1",
            "name": "DC1",
            "country": "US",
            "latitude": 40.0,
            "longitude": -100.0,
            "power_mw": 50.0,
            "verified": True,
        },
    )
    admin.post(
        "/v1/facilities",
        {
            "id": "dc2",
            "name": "DC2",
            "country": "FR",
            "owner_id": "blue",
            "declared_chips": 5,
            "chip_model": "H100",
            "source": "x",
        },
    )
    admin.post("/v1/facilities/dc2/verification", {"verified": True})
    refused(admin.post, "/v1/facilities", {"id": "dc1", "name": "DC1", "country": "US"})
    chips = []
    for i in range(4):
        chip = world.make_chip()
        admin.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(chip.certificate).decode(),
                "owner_id": "acme" if i < 3 else "blue",
                "facility_id": "dc1" if i < 3 else None,
            },
        )
        chips.append(chip)
    cert = base64.b64encode(chips[0].certificate).decode()
    refused(admin.post, "/v1/chips", {"certificate": cert})
    c2, c3 = chips[2].chip_id, chips[3].chip_id
    custody = [
        (
            c3,
            {"kind": "export", "at": 1_700_000_000, "actor": "sh", "country": "FR", "note": "n"},
        ),
        (c3, {"kind": "installation", "at": 1_700_000_001, "actor": "i", "facility_id": "dc2"}),
        (c2, {"kind": "sale", "at": 1_700_000_002, "actor": "s", "owner_id": "acme"}),
    ]
    for cid, event in custody:
        admin.post(f"/v1/chips/{cid}/custody", event)
    refused(admin.post, f"/v1/chips/{c2}/custody", {"kind": "sale", "at": 1, "actor": "s"})
    for path in (
        "/v1/owners",
        "/v1/owners/acme",
        "/v1/keys",
        "/v1/facilities",
        "/v1/facilities/dc2",
        "/v1/chips",
        f"/v1/chips/{c3}",
        f"/v1/chips/{c3}/custody",
        "/v1/stats",
        "/v1/policy",
        "/v1/trust-root",
    ):
        admin.get(path)
    admin.get("/v1/chips", owner_id="acme", status="installed", limit=2)
    refused(admin.get, "/v1/owners/none")
    refused(admin.get, "/v1/chips/" + "0" * 64)
    for kind in ("owners", "facilities", "chips", "custody"):
        admin.get(f"/v1/registry/{kind}.csv")
    return chips


def licensing(world: DemoWorld, admin: AuthorityClient, chips: list[Any]) -> list[Any]:
    acme = admin.with_key(world.operator_key("acme"))
    blue = admin.with_key(world.operator_key("blue"))
    apply = "/v1/licenses/applications"
    acme.post(
        apply,
        {
            "chips": [c.chip_id for c in chips[:2]],
            "flop_budget": 10**20,
            "not_before": T - 10,
            "not_after": T + 86400,
            "run_id": "r1",
            "purpose": "train",
        },
    )
    big = acme.post(
        apply,
        {
            "chips": [chips[2].chip_id],
            "flop_budget": "2e21",
            "not_before": T,
            "not_after": T + 30 * 86400,
            "run_id": "big",
            "purpose": "big",
        },
    )
    blue.post(
        apply,
        {
            "chips": [chips[0].chip_id],
            "flop_budget": 10**18,
            "not_before": T,
            "not_after": T + 100,
            "run_id": "x",
            "purpose": "x",
        },
    )
    for i in range(3):
        admin.with_key(world.member(i)).post(f"{apply}/{big['id']}/approvals")
    refused(admin.with_key(world.member(0)).post, f"{apply}/{big['id']}/approvals")
    admin.get(apply)
    admin.get(apply, owner_id="acme", status="issued")
    admin.get(f"{apply}/1")
    licences: list[Any] = admin.get("/v1/licenses")
    admin.get("/v1/licenses", chip_id=chips[0].chip_id)
    admin.get(f"/v1/licenses/{licences[0]['license_id']}")
    refused(admin.get, "/v1/licenses/999")
    return licences


def reports(
    world: DemoWorld, admin: AuthorityClient, chips: list[Any], licences: list[Any]
) -> None:
    acme = admin.with_key(world.operator_key("acme"))
    c0, c1, c2, c3 = chips
    lid = next(x["license_id"] for x in licences if x["chip_id"] == c0.chip_id)
    r1 = c0.report(time=T, license_id=lid, license_flop_used=10)
    r2 = c0.report(time=T, license_id=lid, license_flop_used=10**30)  # over_license
    r3 = c0.report(time=T + 10**6, license_id=lid, license_flop_used=11)  # outside period
    acme.submit_reports([r1, r2])
    acme.submit_reports([r1, r3, b"junk", b"\x00" * 5000])  # duplicate, malformed, oversized
    skipped = c1.report(time=T)
    c1.report(time=T)
    replay = c1.report(time=T, license_id=9999, advance=False)
    acme.submit_reports([c1.report(time=T), replay])  # gap, then a different report 3
    acme.submit_reports([skipped])  # late: fills the gap
    admin.with_key(world.operator_key("blue")).submit_reports([c0.report(time=T)])  # not theirs
    c2.prev_hash = b"\x01" * 32
    acme.submit_reports([c2.report(time=T)])  # chain
    admin.submit_reports([c3.report(time=T, license_id=9999), c3.report(time=T, license_id=lid)])
    hole = c3.report(time=T)
    admin.submit_reports([c3.report(time=T)])
    admin.submit_reports([hole, hole])
    stranger = world.make_chip()
    forged = UsageReport(
        chip_id=c0.key.key_id,
        sequence=50,
        prev_hash=bytes(32),
        time=T,
        flop_full=1,
        flop_throttled=0,
        cycles=1,
        energy_mj=1,
        state="licensed",
    )
    admin.submit_reports([stranger.report(time=T), Envelope.create(forged, [c1.key]).encode()])
    admin.get(f"/v1/chips/{c0.chip_id}/reports")
    admin.get(f"/v1/chips/{c1.chip_id}/reports", after=1, limit=2)
    admin.get("/v1/alerts")
    admin.get("/v1/alerts", kind="gap")


def orders(world: DemoWorld, admin: AuthorityClient, chips: list[Any]) -> None:
    def member(i: int) -> AuthorityClient:
        return admin.with_key(world.member(i))

    prop = member(0).post(
        "/v1/orders/proposals",
        {"kind": "pause", "scope": {"kind": "region", "regions": ["US"]}, "reason": "test"},
    )
    si = bytes.fromhex(prop["signing_input"])
    for i in (0, 1, 2, 0):
        key = world.member(i)
        member(i).post(
            f"/v1/orders/proposals/{prop['id']}/signatures",
            {"key_id": key.key_id.hex(), "sig": key.sign(si).hex()},
        )
    resume = member(1).post(
        "/v1/orders/proposals", {"kind": "resume", "lifts": prop["sequence"], "reason": "over"}
    )
    refused(member(1).post, "/v1/orders/proposals", {"kind": "resume", "lifts": 77, "reason": "x"})
    admin.with_key(world.operator_key("acme")).post(
        "/v1/licenses/applications",
        {
            "chips": [chips[1].chip_id],
            "flop_budget": 10**18,
            "not_before": T,
            "not_after": T + 100,
            "run_id": "p",
            "purpose": "during the pause",
        },
    )
    admin.get("/v1/orders/proposals")
    admin.get("/v1/orders/proposals", status="open")
    admin.get(f"/v1/orders/proposals/{resume['id']}")
    admin.get("/v1/orders")
    admin.get(f"/v1/orders/{prop['sequence']}")
    admin.get("/v1/orders/watch", after=0, timeout=0)
    refused(admin.get, "/v1/orders/55")


def artifacts(world: DemoWorld, admin: AuthorityClient) -> None:
    def signed_list(seq: int, tag: bytes = b"w") -> bytes:
        digest = hashlib.sha256(tag + b"%d" % seq).digest()
        plist = ProhibitedArtifacts(
            sequence=seq,
            issued_at=1_700_000_000,
            artifacts=(Artifact(ArtifactKind.TENSOR, digest, "w"),),
        )
        return Envelope.create(plist, [world.member(i) for i in range(3)]).encode()

    member = admin.with_key(world.member(0))
    refused(admin.with_key(None).get, "/v1/prohibited")
    member.publish_prohibited(signed_list(2))
    member.publish_prohibited(signed_list(2))
    refused(member.publish_prohibited, signed_list(2, b"z"))
    refused(member.publish_prohibited, signed_list(1))
    admin.with_key(None).get("/v1/prohibited")
    items = [
        {
            "id": hashlib.sha256(b"%d" % i).hexdigest(),
            "report": {
                "what": "w",
                "gpu": "g",
                "list_sequence": 2,
                "hits": [{"sha256": "ab" * 32}],
            },
        }
        for i in range(2)
    ]
    acme = admin.with_key(world.operator_key("acme"))
    acme.report_artifacts(items)
    acme.report_artifacts(items)
    admin.get("/v1/artifact-reports")


def location(world: DemoWorld, admin: AuthorityClient, chip: Any) -> None:
    soft = SoftChip(chip.key)
    for j, (lat, lon) in enumerate(SITES):
        core = LandmarkCore(world.keys.key("landmark", j), lat, lon)
        nonce = hashlib.sha256(b"nonce%d" % j).digest()
        challenge = core.challenge(soft.device_key, nonce)
        core.sent(nonce, 0)
        rtt_ms = fibre_rtt_ms(distance_km(lat, lon, 40.0, -100.0)) * 1.3 + 0.3
        data, _ = core.complete(soft.respond(challenge), int(rtt_ms * 1e6), now=T)
        admin.submit_measurement(data)
        if j == 0:
            refused(admin.submit_measurement, data)
    admin.get("/v1/location/measurements", chip_id=chip.chip_id)
    admin.run_location_checks()
    admin.run_location_checks()
    admin.get("/v1/location/checks")


def audit(world: DemoWorld, admin: AuthorityClient, chip: Any) -> None:
    admin.get("/v1/time")
    admin.get("/v1/time", chip_id=chip.chip_id)
    admin.get("/v1/audit/log")
    admin.get("/v1/audit/log", start=2, end=5)
    acme = admin.with_key(world.operator_key("acme"))
    refused(acme.post, "/v1/owners", {"id": "z", "name": "z", "country": "US"})
    admin.post("/v1/audit/auth-events")
    admin.post("/v1/keys/" + world.operator_key("blue").key_id.hex() + "/revoke")
    refused(admin.post, "/v1/keys/" + "ab" * 32 + "/revoke")
    admin.get("/v1/keys")
    csv = b"id,name,country\nnew1,New One,DE\nnew2,New Two,DE\n"
    admin.request("POST", "/v1/registry/owners.csv", content=csv, content_type="text/csv")
    bad = b"id,name,country\nnew3,N,DE\nnew1,dup,DE\n"
    refused(admin.request, "POST", "/v1/registry/owners.csv", content=bad, content_type="text/csv")
    admin.get("/v1/stats")


def test_api_answers_are_unchanged(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.time", lambda: float(T))  # signatures and server clock
    world = demo_world(seed=b"golden")
    policy = Policy(frontier_flop=10**21)  # one H100 reaches it in 30 days
    app = create_app(
        world.settings(db_url, location_interval=0, clock=lambda: float(T), policy=policy)
    )
    answers: list[list[Any]] = []

    def record(resp: httpx.Response) -> None:
        resp.read()
        url = resp.request.url
        path = url.path + ("?" + url.query.decode() if url.query else "")
        ctype = resp.headers.get("content-type")
        answers.append([resp.request.method, path, resp.status_code, ctype, resp.text])

    with serve_in_process(app) as http:
        http.event_hooks["response"].append(record)
        admin = AuthorityClient("http://testserver", world.admin, http=http)
        chips = registry(world, admin)
        licences = licensing(world, admin, chips)
        reports(world, admin, chips, licences)
        orders(world, admin, chips)
        artifacts(world, admin)
        location(world, admin, chips[0])
        audit(world, admin, chips[0])
    if os.environ.get("PB_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(answers, indent=1) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert len(answers) == len(expected)
    for got, want in zip(answers, expected, strict=True):
        # the same values; the order of keys inside a JSON object carries no meaning
        assert _parsed(got) == _parsed(want), f"{want[0]} {want[1]}"


def _parsed(answer: list[Any]) -> list[Any]:
    method, path, status, ctype, text = answer
    body = json.loads(text) if ctype == "application/json" else text
    return [method, path, status, ctype, body]
