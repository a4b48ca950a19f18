from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import httpx
import pytest
from detect_world import t
from fastapi import FastAPI

from pausebutton.authority.api.errors import install as install_error_handlers
from pausebutton.detect import whistle
from pausebutton.detect.api import make_whistle_router
from pausebutton.detect.signals import WhistleReport
from pausebutton.errors import BadSignatureError, DataError, NotFoundError


def test_seal_open_roundtrip_and_padding() -> None:
    sk, pk = whistle.keygen()
    sealed, receipt = whistle.seal_report(
        pk, {"claim": "run at f1", "site": "f1", "claimed_chips": 4000}
    )
    short, _ = whistle.seal_report(pk, {"claim": "x"})
    assert len(sealed) == len(short)  # padded: length does not leak the claim
    rep = whistle.open_report(sk, "s1", sealed)
    assert rep.receipt == receipt and rep.fields["site"] == "f1"
    sig = rep.to_signal(t(3))
    assert isinstance(sig, WhistleReport) and sig.claimed_chips == 4000 and sig.report_id == "s1"
    other_sk, _ = whistle.keygen()
    with pytest.raises(BadSignatureError):
        whistle.open_report(other_sk, "s1", sealed)


def test_report_fields_checked() -> None:
    _, pk = whistle.keygen()
    with pytest.raises(DataError, match="claim"):
        whistle.seal_report(pk, {"site": "f1"})
    with pytest.raises(DataError, match="unknown report field"):
        whistle.seal_report(pk, {"claim": "x", "ip": "1.2.3.4"})
    with pytest.raises(DataError):
        whistle.seal_report(b"short", {"claim": "x"})


def test_receipts_lookup_and_replies() -> None:
    r = whistle.new_receipt()
    assert len(r.replace("-", "")) == 26
    assert whistle.lookup_id(r) == whistle.lookup_id(r.lower().replace("-", " "))
    lookup, box = whistle.seal_reply(r, "Which building?")
    assert lookup == whistle.lookup_id(r)
    assert whistle.open_reply(r, box) == "Which building?"
    with pytest.raises(BadSignatureError):
        whistle.open_reply(whistle.new_receipt(), box)
    with pytest.raises(DataError):
        whistle.lookup_id("not-a-receipt")


def test_store_holds_no_metadata_and_queue_works(tmp_path: Path) -> None:
    sk, pk = whistle.keygen()
    store = whistle.WhistleStore(tmp_path / "wb.sqlite")
    sealed, receipt = whistle.seal_report(pk, {"claim": "hidden chips", "owner": "o2"})
    sid = store.submit(sealed)
    with pytest.raises(DataError):
        store.submit(b"garbage")
    db = sqlite3.connect(tmp_path / "wb.sqlite")
    cols = {r[1] for r in db.execute("PRAGMA table_info(submissions)")}
    db.close()
    assert cols == {"id", "sealed", "opened"}  # no address, no time, no headers
    opened, errs = whistle.intake(store, sk, t(5))
    assert [o.submission_id for o in opened] == [sid] and not errs
    assert whistle.intake(store, sk, t(6)) == ([], [])  # each opened once
    lookup, box = whistle.seal_reply(opened[0].receipt, "thanks")
    store.add_reply(lookup, box)
    assert [whistle.open_reply(receipt, b) for b in store.replies(whistle.lookup_id(receipt))] == [
        "thanks"
    ]
    with pytest.raises(NotFoundError):
        store.get("nope")


def test_router_accepts_sealed_submissions_without_client_data(tmp_path: Path) -> None:
    import asyncio

    sk, pk = whistle.keygen()
    store = whistle.WhistleStore(tmp_path / "wb.sqlite")
    app = FastAPI()
    install_error_handlers(app)  # the router raises the project's errors
    app.include_router(make_whistle_router(store, pk))
    sealed, receipt = whistle.seal_report(pk, {"claim": "via http"})

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            key = (await c.get("/v1/whistle/key")).json()
            assert bytes.fromhex(key["public_key"]) == pk
            r = await c.post(
                "/v1/whistle/submissions", json={"sealed": base64.b64encode(sealed).decode()}
            )
            assert r.status_code == 202 and r.json() == {"accepted": True}
            bad = await c.post("/v1/whistle/submissions", json={"sealed": "!!!"})
            assert bad.status_code == 400 and bad.json()["field"] == "sealed"
            short = await c.post(
                "/v1/whistle/submissions", json={"sealed": base64.b64encode(b"x").decode()}
            )
            assert short.status_code == 400
            lookup = whistle.lookup_id(receipt)
            assert (await c.get(f"/v1/whistle/replies/{lookup}")).json() == {"replies": []}
            assert (await c.get("/v1/whistle/replies/xyz")).status_code == 400

    asyncio.run(go())
    opened, _ = whistle.intake(store, sk, t(1))
    assert opened[0].fields["claim"] == "via http"
