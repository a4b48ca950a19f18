"""The authority's HTTP API end to end (in-process, real routing, signatures and database)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from sqlalchemy import inspect

from pausebutton import errors
from pausebutton.authority import tables
from pausebutton.authority.auth import sign_request
from pausebutton.authority.db import Database, current_revision, head_revision, migrate
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import License, PauseOrder, ResumeOrder

NOW = int(time.time())
DAY = 86400


def application(chips: list[Any], budget: str = "1e20", run: str = "run-1") -> dict[str, Any]:
    return {
        "chips": [c.chip_id for c in chips],
        "flop_budget": budget,
        "not_before": NOW,
        "not_after": NOW + 30 * DAY,
        "run_id": run,
        "purpose": "testing",
    }


def test_migrations_reach_head_and_match_the_tables(db_url: str) -> None:
    db = Database.connect(db_url)
    migrate(db)
    assert current_revision(db) == head_revision()
    names = set(inspect(db.read).get_table_names())
    assert set(tables.metadata.tables) <= names
    for name, table in tables.metadata.tables.items():
        cols = {c["name"] for c in inspect(db.read).get_columns(name)}
        assert cols == {c.name for c in table.columns}, name
    migrate(db)  # idempotent
    db.dispose()


def test_registry_chip_with_vendor_certificate_and_custody(api: Any) -> None:
    api.owner("acme")
    api.owner("beta", "DE")
    api.facility("dc1")
    api.facility("dc2", "DE")
    (chip,) = api.chips(1)
    got = api.admin.get(f"/v1/chips/{chip.chip_id}")
    assert got["serial"] == "SN00000000" and got["status"] == "installed"
    assert got["owner_id"] == "acme" and got["log_index"] is not None
    api.admin.post(
        f"/v1/chips/{chip.chip_id}/custody",
        {"kind": "export", "at": NOW, "actor": "Acme", "country": "DE"},
    )
    api.admin.post(
        f"/v1/chips/{chip.chip_id}/custody",
        {"kind": "sale", "at": NOW + 1, "actor": "Acme", "owner_id": "beta"},
    )
    api.admin.post(
        f"/v1/chips/{chip.chip_id}/custody",
        {"kind": "installation", "at": NOW + 2, "actor": "Beta", "facility_id": "dc2"},
    )
    got = api.admin.get(f"/v1/chips/{chip.chip_id}")
    assert got["owner_id"] == "beta" and got["facility_id"] == "dc2"
    assert [e["kind"] for e in got["custody"]] == ["export", "sale", "installation"]
    assert [e["seq"] for e in got["custody"]] == [1, 2, 3]
    api.admin.post(
        f"/v1/chips/{chip.chip_id}/custody", {"kind": "destruction", "at": NOW + 3, "actor": "B"}
    )
    with pytest.raises(errors.ConflictError):
        api.admin.post(
            f"/v1/chips/{chip.chip_id}/custody",
            {"kind": "transfer", "at": NOW + 4, "actor": "B", "owner_id": "acme"},
        )
    log = api.admin.get("/v1/audit/log")
    kinds = [e["kind"] for e in log["entries"]]
    assert kinds == ["device-certificate"] + ["custody-event"] * 4


def test_chip_certificate_must_be_signed_by_the_vendor_role(api: Any) -> None:
    api.owner()
    chip = api.world.make_chip()
    env = Envelope.decode(chip.certificate)
    forged = Envelope(env.type, env.version, env.payload).sign(PrivateKey.generate())
    with pytest.raises(errors.BadSignatureError) as info:
        api.admin.post("/v1/chips", {"certificate": base64.b64encode(forged.encode()).decode()})
    assert info.value.details["field"] == "certificate"
    with pytest.raises(errors.InputError):
        api.admin.post("/v1/chips", {"certificate": base64.b64encode(b"\xa0junk").decode()})
    assert api.admin.get("/v1/chips") == []


def test_auto_licence_ids_increase_and_licences_verify(api: Any) -> None:
    op = api.owner()
    api.facility()
    chips = api.chips(3)
    a = op.post("/v1/licenses/applications", application(chips))
    b = op.post("/v1/licenses/applications", application(chips, run="run-2"))
    assert a["status"] == b["status"] == "issued"
    ids = a["license_ids"] + b["license_ids"]
    assert ids == sorted(ids) and len(set(ids)) == 6
    lic_keys = api.world.root.role_keys("licensing")
    total = 0
    for lid in a["license_ids"]:
        got = api.admin.get(f"/v1/licenses/{lid}")
        env, lic = decode_as(base64.b64decode(got["envelope"]), License)
        assert env.signed_by(lic_keys[0])
        assert lic.license_id == lid and lic.owner == "acme" and lic.region == "US"
        total += lic.flop_budget
    assert total == 10**20
    assert [e["kind"] for e in api.admin.get("/v1/audit/log")["entries"]].count("license") == 6


def test_frontier_run_needs_k_member_approvals(frontier_api: Any) -> None:
    api = frontier_api
    op = api.owner()
    api.facility()
    chips = api.chips(2)
    app = op.post("/v1/licenses/applications", application(chips, budget="2e21"))
    assert app["status"] == "pending" and app["license_ids"] == []
    assert any("at or above" in r for r in app["reasons"])
    with pytest.raises(errors.ForbiddenError):
        op.post(f"/v1/licenses/applications/{app['id']}/approvals")
    api.member(0).post(f"/v1/licenses/applications/{app['id']}/approvals")
    with pytest.raises(errors.ConflictError):
        api.member(0).post(f"/v1/licenses/applications/{app['id']}/approvals")
    app = api.member(1).post(f"/v1/licenses/applications/{app['id']}/approvals")
    assert app["status"] == "pending"
    app = api.member(2).post(f"/v1/licenses/applications/{app['id']}/approvals")
    assert app["status"] == "issued" and len(app["license_ids"]) == 2


def test_run_splitting_is_caught(frontier_api: Any) -> None:
    api = frontier_api
    op = api.owner()
    api.facility()
    chips = api.chips(2)
    first = op.post("/v1/licenses/applications", application(chips, budget="6e20", run="big"))
    assert first["status"] == "issued"
    second = op.post("/v1/licenses/applications", application(chips, budget="6e20", run="big"))
    assert second["status"] == "pending"
    assert any(f["rule"] == "run_splitting" for f in second["decision"]["findings"])


def test_refusals_name_their_reasons(api: Any) -> None:
    op = api.owner()
    api.owner("beta", "DE")
    api.facility()
    (mine,) = api.chips(1)
    (theirs,) = api.chips(1, owner="beta")
    stranger = api.world.make_chip(index=999)
    app = op.post("/v1/licenses/applications", application([mine, theirs, stranger]))
    assert app["status"] == "refused" and app["license_ids"] == []
    text = " ".join(app["reasons"])
    assert "not owned by acme" in text and "not registered" in text
    with pytest.raises(errors.InputError) as info:
        op.post("/v1/licenses/applications", {**application([mine]), "flop_budget": "lots"})
    assert info.value.details["field"] == "flop_budget"
    with pytest.raises(errors.InputError) as info:
        op.post("/v1/licenses/applications", {**application([mine]), "chips": ["zz" * 32]})
    assert info.value.details["field"] == "chips"


def test_pause_assembles_once_at_k_and_stops_renewals(api: Any) -> None:
    op = api.owner()
    api.facility()
    chips = api.chips(2)
    assert op.post("/v1/licenses/applications", application(chips))["status"] == "issued"
    prop = api.member(0).post(
        "/v1/orders/proposals",
        {"kind": "pause", "scope": {"kind": "region", "regions": ["US"]}, "reason": "treaty"},
    )
    assert prop["status"] == "open" and prop["missing"] == 3
    si = bytes.fromhex(prop["signing_input"])
    k0 = api.world.member(0)
    bad = {"key_id": k0.key_id.hex(), "sig": api.world.member(1).sign(si).hex()}
    with pytest.raises(errors.BadSignatureError):
        api.member(0).post(f"/v1/orders/proposals/{prop['id']}/signatures", bad)
    good0 = {"key_id": k0.key_id.hex(), "sig": k0.sign(si).hex()}
    api.member(0).post(f"/v1/orders/proposals/{prop['id']}/signatures", good0)
    again = api.member(0).post(f"/v1/orders/proposals/{prop['id']}/signatures", good0)
    assert again["signed_by"] == ["member-1"] and again["missing"] == 2  # a key counts once
    assert api.admin.watch(0, timeout=0)["orders"] == []
    out = api.sign(prop, 3)
    assert out["status"] == "assembled"
    orders = api.admin.get("/v1/orders")
    assert len(orders) == 1
    env, order = decode_as(base64.b64decode(orders[0]["envelope"]), PauseOrder)
    assert api.world.root.verify_role(env, "pause").ok and order.scope.regions == ("US",)
    extra = api.sign(prop, 4)  # a 4th signature after assembly changes nothing
    assert extra["status"] == "assembled" and len(api.admin.get("/v1/orders")) == 1
    watched = api.admin.watch(0, timeout=5)
    assert [o["sequence"] for o in watched["orders"]] == [order.sequence]
    renewal = op.post("/v1/licenses/applications", application(chips, run="run-2"))
    assert renewal["status"] == "refused"
    assert any("pause" in r for r in renewal["reasons"])
    # resume lifts it
    rprop = api.member(1).post(
        "/v1/orders/proposals", {"kind": "resume", "lifts": order.sequence, "reason": "lifted"}
    )
    assert api.sign(rprop, 3)["status"] == "assembled"
    renv, resume = decode_as(
        base64.b64decode(api.admin.get("/v1/orders", after=order.sequence)[0]["envelope"]),
        ResumeOrder,
    )
    assert resume.lifts == order.sequence and api.world.root.verify_role(renv, "pause").ok
    assert op.post("/v1/licenses/applications", application(chips, run="r3"))["status"] == "issued"


def test_only_members_propose_and_sign(api: Any) -> None:
    op = api.owner()
    with pytest.raises(errors.ForbiddenError):
        op.post(
            "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "x"}
        )
    with pytest.raises(errors.ForbiddenError):
        api.admin.post(
            "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "x"}
        )
    with pytest.raises(errors.InputError) as info:
        api.member(0).post(
            "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "region"}, "reason": "x"}
        )
    assert info.value.details["field"] == "scope"


def test_ingestion_chains_alerts_and_idempotence(api: Any) -> None:
    op = api.owner()
    api.owner("beta", "DE")
    api.facility()
    a, b = api.chips(2)
    (other,) = api.chips(1, owner="beta")
    lic = op.post("/v1/licenses/applications", application([a], budget="1000000"))
    lid = lic["license_ids"][0]
    r1 = a.report(time=NOW, license_id=lid, license_flop_used=10)
    r2 = a.report(time=NOW + 1, license_id=lid, license_flop_used=2_000_000)  # over licence
    res = op.submit_reports([r1, r2])
    assert res["accepted"] == 2 and res["rejected"] == []
    assert [x["kind"] for x in res["alerts"]] == ["over_license"]
    again = op.submit_reports([r1, r2])
    assert again["accepted"] == 0 and again["duplicates"] == 2
    late = a.report(time=NOW + 31 * DAY, license_id=lid, license_flop_used=20)
    assert [x["kind"] for x in op.submit_reports([late])["alerts"]] == ["outside_license_period"]
    # replay: a different report at a stored sequence
    a.sequence, a.prev_hash = 0, bytes(32)
    fake = a.report(time=NOW + 5, flop=7)
    res = op.submit_reports([fake])
    assert res["rejected"][0]["error"] == "replay"
    # gap then late fill
    b1 = b.report(time=NOW)
    b2 = b.report(time=NOW + 1)
    b3 = b.report(time=NOW + 2)
    res = op.submit_reports([b1, b3])
    assert res["accepted"] == 2 and [x["kind"] for x in res["alerts"]] == ["gap"]
    assert op.submit_reports([b2])["accepted"] == 1
    assert [r["sequence"] for r in api.admin.get(f"/v1/chips/{b.chip_id}/reports")] == [1, 2, 3]
    # broken chain at the next sequence
    b.prev_hash = bytes(32)
    res = op.submit_reports([b.report(time=NOW + 3)])
    assert res["rejected"][0]["error"] == "chain"
    # bad signature, foreign chip, unknown chip, garbage
    env = Envelope.decode(b.report(time=NOW + 4, advance=False))
    forged = Envelope(env.type, env.version, env.payload).sign(PrivateKey.generate()).encode()
    stranger = api.world.make_chip(index=777)
    res = op.submit_reports([forged, other.report(time=NOW), stranger.report(time=NOW), b"\xa1"])
    assert [r["error"] for r in res["rejected"]] == [
        "bad_signature",
        "forbidden",
        "not_found",
        "malformed",
    ]
    kinds = {x["kind"] for x in api.admin.get("/v1/alerts")}
    assert {"over_license", "replay", "gap", "chain", "bad_signature", "unknown_chip"} <= kinds
    with pytest.raises(errors.InputError):
        op.request("POST", "/v1/reports", content=b"\xff", content_type="application/cbor")


def test_a_replayed_report_batch_is_refused_and_stores_nothing(api: Any) -> None:
    """The reports route records the request's nonce while it checks the reports: a
    replay of a batch is still refused (401, nonce) before anything of it is written,
    whatever its body, and the refusal is recorded."""
    api.owner()
    api.facility()
    (chip,) = api.chips(1)
    url = "http://testserver/v1/reports"
    headers = {"content-type": "application/cbor"}
    op_key = api.world.operator_key("acme")
    first = encoding.encode([chip.report(time=NOW)])
    signed = sign_request("POST", url, headers, first, op_key)
    ok = api.http.post(url, content=first, headers={**headers, **signed})
    assert ok.status_code == 200 and ok.json()["accepted"] == 1
    replay = api.http.post(url, content=first, headers={**headers, **signed})
    assert replay.status_code == 401 and replay.json()["field"] == "nonce"
    # a body that does not decode: 400 the first time (its nonce is recorded all the
    # same), a replay the second
    bad = b"\xff"
    signed_bad = sign_request("POST", url, headers, bad, op_key)
    assert api.http.post(url, content=bad, headers={**headers, **signed_bad}).status_code == 400
    again = api.http.post(url, content=bad, headers={**headers, **signed_bad})
    assert again.status_code == 401 and again.json()["field"] == "nonce"
    assert [r["sequence"] for r in api.admin.get(f"/v1/chips/{chip.chip_id}/reports")] == [1]
    events = api.admin.post("/v1/audit/auth-events")
    assert [(e["status"], e["path"]) for e in events] == [(401, "/v1/reports")] * 2


def test_auth_rejections_are_recorded_and_change_nothing(api: Any) -> None:
    http = api.http
    body = b'{"id": "x", "name": "X", "country": "US"}'
    resp = http.post("/v1/owners", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 401 and resp.json()["field"] == "signature"
    url = "http://testserver/v1/owners"
    stranger = PrivateKey.generate()
    h = sign_request("POST", url, {"content-type": "application/json"}, body, stranger)
    resp = http.post(url, content=body, headers={"content-type": "application/json", **h})
    assert resp.status_code == 401 and resp.json()["field"] == "keyid"
    h = sign_request("POST", url, {"content-type": "application/json"}, body, api.world.admin)
    tampered = body.replace(b"X", b"Y")
    resp = http.post(url, content=tampered, headers={"content-type": "application/json", **h})
    assert resp.status_code == 401
    old = sign_request("POST", url, {}, body, api.world.admin, created=NOW - 3600)
    resp = http.post(url, content=body, headers={"content-type": "application/json", **old})
    assert resp.status_code == 401 and resp.json()["field"] == "created"
    ok = http.post(url, content=body, headers={"content-type": "application/json", **h})
    assert ok.status_code == 201
    replay = http.post(url, content=body, headers={"content-type": "application/json", **h})
    assert replay.status_code == 401 and replay.json()["field"] == "nonce"
    h = sign_request("POST", url, {}, body, api.world.member(0))
    resp = http.post(url, content=body, headers={"content-type": "application/json", **h})
    assert resp.status_code == 403
    assert [o["id"] for o in api.admin.get("/v1/owners")] == ["x"]
    events = api.admin.post("/v1/audit/auth-events")
    assert sorted(e["status"] for e in events) == [401, 401, 401, 401, 401, 403]


def test_validation_errors_name_the_field(api: Any) -> None:
    with pytest.raises(errors.InputError) as info:
        api.admin.post("/v1/owners", {"id": "x", "name": "X", "country": "usa"})
    assert info.value.details["field"] == "country"
    with pytest.raises(errors.InputError) as info:
        api.admin.post("/v1/owners", {"id": "x", "name": "X", "country": "us"})
    assert info.value.details["field"] == "country"
    with pytest.raises(errors.InputError) as info:
        api.admin.post("/v1/facilities", {"id": "f", "name": "F", "country": "US", "latitude": 123})
    assert info.value.details["field"] == "latitude"
    resp = api.http.get("/v1/chips/nothex")
    assert resp.status_code == 422 and resp.json()["field"] == "chip_id"
    resp = api.http.get("/v1/licenses/99")
    assert resp.status_code == 404 and resp.json()["field"] == "license_id"


def test_oversized_body_is_refused_before_reading(api: Any) -> None:
    body = b"x" * (2 << 20)
    resp = api.http.post("/v1/owners", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"] == "oversized"


def test_rate_limit(world: Any, db_url: str) -> None:
    from pausebutton.authority.api import create_app
    from pausebutton.authority.client import AuthorityClient
    from pausebutton.authority.inprocess import serve_in_process

    app = create_app(world.settings(db_url, write_rate=0.01, write_burst=2))
    with serve_in_process(app) as http:
        admin = AuthorityClient("http://testserver", world.admin, http=http)
        admin.post("/v1/owners", {"id": "a", "name": "A", "country": "US"})
        admin.post("/v1/owners", {"id": "b", "name": "B", "country": "US"})
        with pytest.raises(errors.RateLimitError):
            admin.post("/v1/owners", {"id": "c", "name": "C", "country": "US"})
        assert [o["id"] for o in admin.get("/v1/owners")] == ["a", "b"]


def test_csv_round_trip_and_atomic_import(api: Any) -> None:
    api.owner()
    api.facility()
    api.chips(2)
    text = api.admin.get("/v1/registry/facilities.csv")
    assert text.splitlines()[0].startswith("facility_id,name,owner_id,country")
    bad = "id,name,country\nf1,F1,US\nf2,F2,usa\n"
    with pytest.raises(errors.DataError) as info:
        api.admin.request(
            "POST", "/v1/registry/facilities.csv", content=bad.encode(), content_type="text/csv"
        )
    assert info.value.details["row"] == 3
    assert [f["id"] for f in api.admin.get("/v1/facilities")] == ["dc1"]
    good = "id,name,country,latitude,longitude,power_mw,verified\nf1,F1,US,1.5,2.5,10,true\n"
    out = api.admin.request(
        "POST", "/v1/registry/facilities.csv", content=good.encode(), content_type="text/csv"
    )
    assert out["imported"] == 1
    assert api.admin.get("/v1/facilities/f1")["verified"] is True
    chips_csv = api.admin.get("/v1/registry/chips.csv")
    assert len(chips_csv.splitlines()) == 3


def test_openapi_and_metrics_are_published(api: Any) -> None:
    spec = api.http.get("/openapi.json").json()
    assert "/v1/reports" in spec["paths"] and "/v1/orders/watch" in spec["paths"]
    metrics = api.http.get("/metrics").text
    assert "pausebutton_authority_chips 0" in metrics
    policy = api.http.get("/v1/policy").json()
    assert policy["frontier_flop"] == str(10**25)  # above 2**53: a decimal string
    assert policy["max_chips"] == 100_000 and policy["owner_caps"] == {}


def test_licences_and_orders_verify_as_chips_verify_them(api: Any) -> None:
    """A chip accepts a licence only with an inclusion bundle under a checkpoint with W
    witness cosignatures: the logged entry must be the licence envelope itself."""
    from pausebutton.translog.bundle import InclusionBundle
    from pausebutton.translog.note import SignedCheckpoint
    from pausebutton.translog.policy import LogPolicy

    op = api.owner()
    api.facility()
    (chip,) = api.chips(1)
    issued = op.post("/v1/licenses/applications", application([chip]))
    lic = api.admin.get(f"/v1/licenses/{issued['license_ids'][0]}")
    api.pause()
    order = api.admin.get("/v1/orders")[0]
    deadline = time.monotonic() + 10
    while True:  # the worker signs a checkpoint within a second of the log growing
        resp = api.http.get("/v1/log/checkpoint")
        if resp.status_code == 200:
            signed = SignedCheckpoint.parse(resp.text)
            if signed.size > order["log_index"]:
                break
        assert time.monotonic() < deadline, resp.text
        time.sleep(0.1)
    witnesses = api.world.keys.role_keys["witness"][:2]
    cosigned = signed.with_signatures([signed.cosign(w, NOW) for w in witnesses]).encode()
    assert api.http.post("/v1/log/cosignature", content=cosigned).status_code == 200
    policy = LogPolicy.from_trust_root(api.world.root)
    for record in (lic, order):
        envelope = base64.b64decode(record["envelope"])
        bundle = api.http.get("/v1/log/bundle", params={"index": record["log_index"]})
        assert bundle.status_code == 200, bundle.text
        checkpoint = policy.verify_entry(envelope, InclusionBundle.decode(bundle.content))
        assert checkpoint.size == signed.size
    kinds = [e["kind"] for e in api.admin.get("/v1/audit/log")["entries"]]
    assert kinds == ["device-certificate", "license", "pause-order"]


def test_unknown_path_and_method_answer_the_error_body(api: Any) -> None:
    resp = api.http.get("/v1/nothing-here")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    resp = api.http.delete("/v1/reports")
    assert resp.status_code == 405 and resp.json()["error"] == "method_not_allowed"
    assert resp.headers["allow"] == "POST"


def test_openapi_documents_every_answer(api: Any) -> None:
    """Every route declares its answer's schema and the error body of its 4xx codes."""
    spec = api.http.get("/openapi.json").json()
    error_ref = "#/components/schemas/ErrorOut"
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            ok = op["responses"].get("200") or op["responses"].get("201")
            assert ok and ok.get("content"), f"{method} {path}: no success body"
            assert all(c.get("schema") for c in ok["content"].values()), f"{method} {path}"
            if path.startswith("/v1/") and not path.startswith("/v1/log/"):
                codes = [c for c in op["responses"] if c.startswith("4")]
                assert codes or method == "get", f"{method} {path}: no error answers"
                for code in codes:
                    schema = op["responses"][code]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": error_ref}, f"{method} {path} {code}"


def test_routes_answer_the_service_results_and_refuse_what_does_not_fit(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A route's response model is its service's result dataclass: the result's fields
    are the JSON. A result that does not fit (another class, a field too many, a field
    of the wrong type) is a server fault: logged, answered 500 ``internal``, never sent."""
    from pausebutton.authority.services.registry import Owner, OwnerDetail

    api.owner()
    as_dict = api.http.get("/v1/owners/acme").json()
    assert as_dict == {"id": "acme", "name": "Acme", "country": "US", "chips": 0}
    registry = api.http._transport._inner.app.state.pb.service.registry
    registry.get_owner = lambda owner_id: OwnerDetail(**{**as_dict, "chips": 7})
    assert api.http.get("/v1/owners/acme").json() == {**as_dict, "chips": 7}
    misfits = [
        OwnerDetail(**as_dict),  # another class (a field too many)
        {**as_dict},  # a dict with a field too many
        Owner("acme", "Acme", 5),  # type: ignore[arg-type]  # a field of the wrong type
    ]
    for misfit in misfits:
        caplog.clear()
        registry.list_owners = lambda misfit=misfit: [misfit]
        resp = api.http.get("/v1/owners")
        assert resp.status_code == 500 and resp.json()["error"] == "internal", misfit
        assert "does not match its response model" in caplog.text
        assert "name='Acme'" not in caplog.text  # where and what, never the object
