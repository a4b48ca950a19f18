"""The console's JSON and pages over HTTP (no browser): chip states on the map, who may
see what, sign-in refusals, members signing from a session, live delivery."""

from __future__ import annotations

import json
import time

import httpx
from sqlalchemy import create_engine, insert

from pausebutton.authority import tables as t
from pausebutton.authority.db import normalise_url
from pausebutton.console.queries import STATES
from pausebutton.protocol.keys import PrivateKey


def _counts(data: dict, fid: str) -> dict[str, int]:
    (row,) = [f for f in data["facilities"] if f[0] == fid]
    return dict(zip(data["states"], row[6], strict=True))


def test_map_counts_each_state_and_the_public_sees_aggregates_only(site, db_url) -> None:
    now = int(time.time())
    lic, paused, _silent, alerted, unverified = site.register(5, "polder", "ams1")
    site.admin.submit_reports(
        [
            lic.report(time=now, state="licensed"),
            paused.report(time=now, state="paused"),
            unverified.report(time=now, state="licensed"),
        ]
    )
    alerted.report(time=now)  # never sent: the next one skips a sequence (a gap alert)
    site.admin.submit_reports([alerted.report(time=now)])
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        conn.execute(
            insert(t.location_checks).values(
                chip_id=unverified.chip_id,
                facility_id="ams1",
                time=now,
                verdict="inconsistent",
                landmarks=3,
                least_distance_km=800.0,
                newest_measurement=1,
                result={},
            )
        )
    engine.dispose()
    site.register(2, "rhein", "fra2")
    with site.client(site.world.admin) as http:
        data = http.get("/console/api/map").json()
    assert data["states"] == list(STATES)
    assert _counts(data, "ams1") == {
        "licensed": 1,
        "throttled": 1,
        "paused": 1,
        "unverified": 1,
        "alert": 1,
    }
    assert _counts(data, "fra2")["throttled"] == 2
    nl = next(c for c in data["countries"] if c["country"] == "NL")
    assert nl["facilities"] == 1 and sum(nl["chips"]) == 5
    assert sum(data["totals"]["chips"]) == 7
    with site.client() as public:
        pub = public.get("/console/api/map").json()
    assert pub["public"] is True and pub["facilities"] == []
    assert pub["countries"] == data["countries"]


def test_details_need_sign_in_and_an_operator_sees_only_its_own(site) -> None:
    (chip,) = site.register(1, "polder", "ams1")
    ops = site.operator("polder")
    site.admin.post(
        f"/v1/chips/{chip.chip_id}/custody",
        {"kind": "installation", "at": 1_700_000_000, "actor": "Polder", "facility_id": "ams1"},
    )
    with site.client() as public:
        r = public.get("/console/api/facilities/ams1")
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
        page = public.get("/console/facilities/ams1")
        assert page.status_code == 401
        assert "Sign in needed" in page.text and "sign in to see this" in page.text
    with site.client(ops) as http:
        fac = http.get("/console/api/facilities/ams1").json()
        assert fac["total"] == 1 and fac["chips"][0]["chip_id"] == chip.chip_id
        assert http.get("/console/api/facilities/fra2").status_code == 403
        c = http.get(f"/console/api/chips/{chip.chip_id}").json()
        assert c["facility_id"] == "ams1"
        assert [(e["kind"], e["facility_id"]) for e in c["custody"]] == [("installation", "ams1")]
        assert c["location_check"] is None
        page = http.get(f"/console/chips/{chip.chip_id}")
        assert page.status_code == 200 and "Custody" in page.text
        assert http.get("/console/api/chips/" + "0" * 64).status_code == 404
        missing = http.get("/console/facilities/nowhere")
        assert missing.status_code == 404 and "no facility nowhere" in missing.text


def _challenge(http: httpx.Client) -> str:
    return str(http.get("/console/api/challenge").json()["challenge"])


def test_sign_in_refusals_name_the_problem(site) -> None:
    member = site.world.member(1)
    stranger = PrivateKey.generate()
    with site.client() as http:
        ch = _challenge(http)
        r = http.post(
            "/console/api/session",
            json={
                "key_id": stranger.key_id.hex(),
                "challenge": ch,
                "signature": stranger.sign(ch.encode()).hex(),
            },
        )
        assert r.status_code == 401 and "knows no key" in r.json()["message"]
        # a known key id, signed with another key: the wrong key file
        r = http.post(
            "/console/api/session",
            json={
                "key_id": member.key_id.hex(),
                "challenge": ch,
                "signature": stranger.sign(ch.encode()).hex(),
            },
        )
        assert r.status_code == 422 and r.json()["error"] == "bad_signature"
        forged = ch[:-4] + ("0000" if not ch.endswith("0000") else "1111")
        r = http.post(
            "/console/api/session",
            json={
                "key_id": member.key_id.hex(),
                "challenge": forged,
                "signature": member.sign(forged.encode()).hex(),
            },
        )
        assert r.status_code == 401 and "not issued by this authority" in r.json()["message"]
        r = http.post(
            "/console/api/session",
            json={"key_id": member.key_id.hex(), "challenge": ch, "signature": "zz"},
        )
        assert r.status_code == 400 and r.json()["field"] == "signature"
        ok = {
            "key_id": member.key_id.hex(),
            "challenge": ch,
            "signature": member.sign(ch.encode()).hex(),
        }
        r = http.post("/console/api/session", json=ok)
        assert r.status_code == 200 and r.json()["role"] == "member"
        assert http.get("/console/api/whoami").json()["role"] == "member"
        again = http.post("/console/api/session", json=ok)
        assert again.status_code == 422 and "already used" in again.json()["message"]
        http.post("/console/api/signout")
        assert http.get("/console/api/whoami").json()["role"] == "public"
        http.cookies.set("pb_console", "not-a-session")
        assert http.get("/console/api/whoami").json()["role"] == "public"
        r = http.get("/console/api/facilities/ams1")
        assert r.status_code == 401 and "session has expired" in r.json()["message"]
        assert "Your session has expired" in http.get("/console/").text


def test_members_sign_from_a_session_and_other_roles_are_refused(site) -> None:
    prop = site.propose()
    si = bytes.fromhex(prop["signing_input"])
    ops = site.operator("polder")
    with site.client(ops) as http:
        r = http.post(
            f"/console/api/proposals/{prop['id']}/signatures", json={"sig": ops.sign(si).hex()}
        )
        assert r.status_code == 403 and "role operator" in r.json()["message"]
    with site.client() as public:
        r = public.post(f"/console/api/proposals/{prop['id']}/signatures", json={"sig": "00"})
        assert r.status_code == 401
    k = site.world.root.role("pause").threshold
    out: dict = {}
    for i in range(k):
        member = site.world.member(i)
        with site.client(member) as http:
            if i == 0:
                bad = http.post(
                    f"/console/api/proposals/{prop['id']}/signatures",
                    json={"sig": PrivateKey.generate().sign(si).hex()},
                )
                assert bad.status_code == 422 and bad.json()["error"] == "bad_signature"
            r = http.post(
                f"/console/api/proposals/{prop['id']}/signatures",
                json={"sig": member.sign(si).hex()},
            )
            assert r.status_code == 200, r.text
            out = r.json()
    assert out["status"] == "assembled" and len(out["signed_by"]) == k
    late = site.world.member(k)
    with site.client(late) as http:
        r = http.post(
            f"/console/api/proposals/{prop['id']}/signatures", json={"sig": late.sign(si).hex()}
        )
        assert r.status_code == 409 and "no longer takes signatures" in r.json()["message"]


def test_delivery_counts_the_chips_in_scope_that_hold_the_order(site) -> None:
    nl = site.fleet(3, "polder", "ams1", "NL")
    de = site.fleet(2, "rhein", "fra2", "DE")
    nl.start()
    de.start()
    try:
        time.sleep(1.1)  # reports are dated in whole seconds: the registration's are older
        prop = site.propose(
            {"kind": "pause", "scope": {"kind": "region", "regions": ["DE"]}, "reason": "DE"}
        )
        with site.client() as public:
            before = public.get("/console/api/pause").json()
            assert [p["id"] for p in before["proposals"]] == [prop["id"]]
            assert before["proposals"][0]["missing"] == 3
            for i in range(3):
                site.sign(prop, i)
            deadline = time.monotonic() + 20
            while True:
                order = public.get("/console/api/pause").json()["orders"][0]
                if order["delivery"]["held"] == 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert order["delivery"]["total"] == 2, order
            assert order["delivery"]["held"] == 2 and order["delivery"]["share"] == 1.0
            assert order["kth_signature_at"] is not None
            assert sorted(order["signed_by"]) == sorted(site.world.member_names[:3])
            assert de.states() == ["paused", "paused"] and "paused" not in nl.states()
            with public.stream("GET", "/console/api/pause/stream") as stream:
                lines = stream.iter_lines()
                event = next(line for line in lines if line.startswith("data:"))
            data = json.loads(event[5:])
            assert data["orders"][0]["delivery"]["held"] == 2
    finally:
        nl.stop()
        de.stop()


def test_the_pause_page_lists_prohibited_artifact_lists(site) -> None:
    import hashlib

    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts

    plist = ProhibitedArtifacts(
        sequence=1,
        issued_at=1_700_000_000,
        artifacts=(Artifact(ArtifactKind.TENSOR, hashlib.sha256(b"w").digest(), "weights"),),
    )
    env = Envelope.create(plist, [site.world.member(i) for i in range(3)]).encode()
    site.admin.with_key(site.world.member(0)).publish_prohibited(env)
    with site.client() as public:
        (shown,) = public.get("/console/api/pause").json()["prohibited_lists"]
    assert shown["sequence"] == 1 and shown["artifacts"] == 1
    assert shown["issued_at"] == 1_700_000_000 and shown["log_index"] is not None


def test_pages_and_vendored_assets_are_served(site) -> None:
    with site.client() as http:
        assert http.get("/", follow_redirects=False).headers["location"] == "/console/"
        assert http.get("/map", follow_redirects=False).status_code == 307
        for path in (
            "/console/",
            "/console/pause",
            "/console/signin",
            "/console/static/vendor/leaflet/leaflet.js",
            "/console/static/vendor/markercluster/leaflet.markercluster.js",
            "/console/static/vendor/world-atlas/countries-110m.json",
            "/console/static/vendor/topojson-client/topojson-client.min.js",
        ):
            assert http.get(path).status_code == 200, path
        assert http.get("/v1/stats").status_code == 200  # the authority's API beside it
        root = http.get("/console/api/pause").json()["trust_root"]
        assert root["version"] == 1 and root["roles"]["pause"]["threshold"] == 3
        assert len(root["members"]) == 5
        assert [v["version"] for v in root["history"]] == [1]  # the pinned root, no change yet
        page = http.get("/console/pause").text
        assert "Version <strong>1</strong>" in page and 'id="root-history"' in page


def test_alerts_filter_by_country_owner_and_method_and_the_public_sees_counts(site) -> None:
    now = int(time.time())
    (nl,) = site.register(1, "polder", "ams1")
    (de,) = site.register(1, "rhein", "fra2")
    for chip in (nl, de):
        chip.report(time=now)  # never sent: the next skips a sequence (a gap alert)
        site.admin.submit_reports([chip.report(time=now)])
    with site.client(site.world.admin) as http:
        every = http.get("/console/api/alerts").json()
        assert every["total"] == 2 and every["by_method"] == {"chip-based reporting": 2}
        assert {a["country"] for a in every["alerts"]} == {"NL", "DE"}
        assert all(a["kind"] == "gap" and a["detail"] for a in every["alerts"])
        de_only = http.get("/console/api/alerts", params={"country": "de"}).json()
        assert [a["chip_id"] for a in de_only["alerts"]] == [de.chip_id]
        polder = http.get("/console/api/alerts", params={"owner": "polder"}).json()
        assert [a["chip_id"] for a in polder["alerts"]] == [nl.chip_id]
        loc = http.get("/console/api/alerts", params={"method": "chip location tracking"})
        assert loc.json()["total"] == 0
    with site.client(site.operator("rhein")) as http:
        mine = http.get("/console/api/alerts", params={"owner": "polder"}).json()
        assert [a["chip_id"] for a in mine["alerts"]] == [de.chip_id]
    with site.client() as public:
        pub = public.get("/console/api/alerts").json()
        assert pub["public"] is True and pub["total"] == 2 and pub["alerts"] == []
        assert public.get("/console/alerts").status_code == 200


def test_fleet_shows_budget_use_over_time_and_chips_needing_attention(site) -> None:
    now = int(time.time())
    ops = site.operator("polder")
    working, silent = site.register(2, "polder", "ams1")
    (other,) = site.register(1, "rhein", "fra2")
    app = site.admin.with_key(ops).post(
        "/v1/licenses/applications",
        {
            "chips": [working.chip_id],
            "flop_budget": "1e19",
            "not_before": now - 60,
            "not_after": now + 30 * 86400,
            "run_id": "run-1",
            "purpose": "testing",
        },
    )
    assert app["status"] == "issued", app
    (lid,) = app["license_ids"]
    for used in (10**18, 3 * 10**18):
        site.admin.submit_reports(
            [working.report(time=now, license_id=lid, license_flop_used=used, flop=10**18)]
        )
    site.admin.submit_reports([other.report(time=now, state="exhausted")])
    with site.client(site.world.admin) as http:
        fleet = http.get("/console/api/fleet").json()
        (lic,) = fleet["licences"]
        assert lic["license_id"] == lid and lic["status"] == "valid"
        assert lic["flop_used"] == str(3 * 10**18) and abs(lic["share_used"] - 0.3) < 1e-9
        why = {c["chip_id"]: c for c in fleet["attention"]}
        assert working.chip_id not in why
        assert why[silent.chip_id]["silent"] and why[silent.chip_id]["why"] == "has never reported"
        assert why[other.chip_id]["why"] == "its licence's budget is used up"
        usage = http.get(f"/console/api/fleet/licences/{lid}/usage").json()
        assert [p[1] for p in usage["series"]] == [str(10**18), str(3 * 10**18)]
        assert http.get("/console/api/fleet/licences/999999/usage").status_code == 404
    with site.client(site.operator("rhein")) as http:
        mine = http.get("/console/api/fleet").json()
        assert mine["licences"] == [] and [c["chip_id"] for c in mine["attention"]] == [
            other.chip_id
        ]
        assert http.get(f"/console/api/fleet/licences/{lid}/usage").status_code == 403
    with site.client() as public:
        assert public.get("/console/api/fleet").status_code == 401
        page = public.get("/console/fleet")
        assert page.status_code == 401 and "sign in to see the fleet" in page.text


def test_members_approve_a_frontier_licence_from_a_session(site) -> None:
    now = int(time.time())
    ops = site.operator("polder")
    chips = site.register(2, "polder", "ams1")
    app = site.admin.with_key(ops).post(
        "/v1/licenses/applications",
        {
            "chips": [c.chip_id for c in chips],
            "flop_budget": "2e21",
            "not_before": now - 60,
            "not_after": now + 30 * 86400,
            "run_id": "frontier-1",
            "purpose": "a frontier run",
        },
    )
    assert app["status"] == "pending", app
    with site.client() as public:
        (shown,) = public.get("/console/api/pause").json()["applications"]
        assert shown["id"] == app["id"] and shown["approvals_required"] == 3
        assert shown["purpose"] == "" and shown["reasons"] == []  # the public sees figures
        assert public.post(f"/console/api/applications/{app['id']}/approvals").status_code == 401
    with site.client(ops) as http:
        r = http.post(f"/console/api/applications/{app['id']}/approvals")
        assert r.status_code == 403
    out: dict = {}
    for i in range(3):
        with site.client(site.world.member(i)) as http:
            r = http.post(f"/console/api/applications/{app['id']}/approvals")
            assert r.status_code == 200, r.text
            out = r.json()
    assert out["status"] == "issued" and len(out["license_ids"]) == 2
    with site.client(site.world.member(3)) as http:
        r = http.post(f"/console/api/applications/{app['id']}/approvals")
        assert r.status_code == 409 and "no longer takes approvals" in r.json()["message"]
        assert http.get("/console/api/pause").json()["applications"] == []


def test_the_map_is_gzipped_for_a_client_that_takes_it(site) -> None:
    for i in range(40):
        site.facility(f"f{i}", f"Facility {i}", "NL", 52.0 + i / 100, 4.0, "polder")
    with site.client(site.world.admin) as http:
        zipped = http.get("/console/api/map", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.num_bytes_downloaded < len(zipped.content)
        plain = http.get("/console/api/map", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert zipped.json() == plain.json() and len(plain.json()["facilities"]) == 42


def test_the_alerts_page_shows_the_engines_fused_alerts(site) -> None:
    """Customs declares chips nobody registered for an owner, and financial intelligence
    sees it pay for hundreds more: the engine's run names the owner, and the page shows
    the alert with its methods and findings' evidence to a signed-in viewer only."""
    from pausebutton.protocol.keys import PrivateKey

    site.register(1, "polder", "ams1")
    with site.client(site.world.admin) as http:
        first = http.get("/console/api/alerts").json()["fused"]
        assert first == {"run": None, "total": 0, "alerts": []}
    intel = PrivateKey.generate()
    site.admin.post(
        "/v1/signal-sources",
        {
            "public_key": intel.public.raw.hex(),
            "name": "intel",
            "methods": ["customs", "financial"],
        },
    )
    ghosts = ";".join(f"ghost-{i}" for i in range(12))
    declared = {
        "record_id": "C-1", "time": "2026-11-01T00:00:00Z", "hs_code": "8542.31",
        "shipper": "x", "consignee": "polder", "origin": "US", "destination": "NL",
        "quantity": "12", "value_usd": "1", "serials": ghosts,
    }  # fmt: skip
    paid = {
        "txn_id": "F-1", "time": "2026-10-20T00:00:00Z", "payer": "polder", "payee": "broker",
        "amount_usd": "9000000", "purpose": "chips", "quantity": "400",
    }  # fmt: skip
    source = site.admin.with_key(intel)
    source.post("/v1/signals", {"kind": "customs", "rows": [declared]})
    source.post("/v1/signals", {"kind": "financial", "rows": [paid]})
    run = site.admin.post("/v1/detection/runs")
    assert run["alerts"] >= 1
    with site.client(site.world.admin) as http:
        fused = http.get("/console/api/alerts").json()["fused"]
        assert fused["run"]["id"] == run["id"] and fused["total"] >= 1
        owner = next(a for a in fused["alerts"] if a["kind"] == "owner")
        assert owner["subject"] == "polder" and owner["country"] == "NL"
        assert {"customs", "financial"} <= set(owner["methods"])
        assert all(f["evidence"] for f in owner["findings"])
        other = http.get("/console/api/alerts", params={"country": "DE"}).json()["fused"]
        assert other["total"] == 0
        assert "Fused alerts of the verification engine" in http.get("/console/alerts").text
    with site.client() as public:
        pub = public.get("/console/api/alerts").json()["fused"]
        assert pub["total"] == fused["total"] and pub["alerts"] == []
