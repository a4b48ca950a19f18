"""Notifications of deliveries and of the verification engine: an order's share of
acknowledging chips reaching each milestone (``order_delivered``), and the fused alerts
a detection run raises that the run before did not have (``alert``), as a list and as
signed webhooks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from pausebutton.protocol.keys import PrivateKey

DAY = 86400


def notes(client: Any, kind: str) -> list[dict[str, Any]]:
    out = client.request("GET", "/v1/notifications", params={"since": 0}, sign=True)
    return [n for n in out if n["kind"] == kind]


def ids(client: Any, kind: str) -> list[str]:
    return [n["id"] for n in notes(client, kind)]


@contextmanager
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1 keeping every JSON body it gets."""
    got: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        got.append(json.loads(body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook", got
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_for(got: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        found = [n for n in got if n["id"].startswith(prefix)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {prefix} delivery in {got}"
        time.sleep(0.1)


@pytest.mark.timeout(60)
def test_an_order_is_reported_delivered_per_milestone(api: Any) -> None:
    op = api.owner()
    other = api.owner("beta", "DE")
    api.facility()
    a, b, c = api.chips(3)
    now = int(time.time())
    with receiver() as (url, got):
        api.member(1).post("/v1/webhooks", {"url": url})
        api.pause(signers=3)  # order 1, global: the three chips
        assert ids(api.member(0), "order_delivered") == []
        op.submit_reports([a.report(time=now, state="paused")])  # 1 of 3: no milestone
        op.submit_reports([b.report(time=now, state="licensed")])  # not an acknowledgement
        assert ids(api.admin, "order_delivered") == []
        op.submit_reports([b.report(time=now + 1, state="paused")])  # 2 of 3
        assert ids(api.member(2), "order_delivered") == ["delivered:1:50"]
        op.submit_reports([c.report(time=now, state="paused")])  # 3 of 3
        seen = notes(api.member(2), "order_delivered")
        by_id = {n["id"]: n for n in seen}
        assert set(by_id) == {"delivered:1:50", "delivered:1:90", "delivered:1:100"}
        full = by_id["delivered:1:100"]
        assert "(3 of 3)" in full["summary"] and full["path"] == "/v1/orders/1"
        # the operator of the chips is told too; an operator without chips in it is not
        assert "delivered:1:100" in ids(op, "order_delivered")
        assert ids(other, "order_delivered") == []
        # the member subscribed gets it by webhook
        note = wait_for(got, "delivered:1:100")
        assert note["kind"] == "order_delivered"


def energy_doc(site: str, start: int, days: int = 60) -> dict[str, Any]:
    """Six-hourly meter readings: 5 MW, and 15 MW from day 20 to day 45 (a training run)."""
    rows = []
    for i in range(days * 4):
        day = i / 4
        mw = 5.0 + (0.05 if i % 2 else -0.05) + (10.0 if 20 <= day < 45 else 0.0)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + (i + 1) * 6 * 3600))
        rows.append({"site": site, "time": when, "reading": f"{mw} MW", "period_s": "21600"})
    return {"kind": "energy", "version": 1, "rows": rows}


@pytest.mark.timeout(90)
def test_new_fused_alerts_of_a_detection_run_are_notified_once(api: Any) -> None:
    op = api.owner()
    other = api.owner("beta", "DE")
    api.facility()
    chips = api.chips(2)
    start = int(time.time()) - 60 * DAY
    key = PrivateKey.generate()
    api.admin.post(
        "/v1/signal-sources",
        {"public_key": key.public.raw.hex(), "name": "grid utility", "methods": ["energy"]},
    )
    api.client(key).post("/v1/signals", energy_doc("dc1", start))
    for day in range(15, 50, 5):
        op.submit_reports([c.report(time=start + day * DAY, flop=10**15) for c in chips])
    with receiver() as (url, got):
        api.member(0).post("/v1/webhooks", {"url": url})
        run = api.admin.post("/v1/detection/runs")
        fused = api.admin.get("/v1/detection/alerts")
        assert run["alerts"] == len(fused) >= 1
        expected = {f"detection:{run['id']}:{a['alert_id']}" for a in fused}
        mine = {n for n in ids(api.member(3), "alert") if n.startswith("detection:")}
        assert mine == expected
        owner_alert = next(a for a in fused if a["kind"] == "owner")
        assert f"detection:{run['id']}:{owner_alert['alert_id']}" in ids(op, "alert")
        assert not [n for n in ids(other, "alert") if n.startswith("detection:")]
        note = wait_for(got, "detection:")
        assert note["kind"] == "alert" and "fused alert" in note["summary"]
        # the same alerts in the next run are not new: nothing more to tell
        again = api.admin.post("/v1/detection/runs")
        assert again["alerts"] == run["alerts"]
        after = {n for n in ids(api.admin, "alert") if n.startswith("detection:")}
        assert after == expected
    # a second site runs unreported: its alert is new in the third run, and only it
    api.facility("dc2")
    more = api.chips(2, facility="dc2")
    api.client(key).post("/v1/signals", energy_doc("dc2", start))
    for day in range(15, 50, 5):
        op.submit_reports([c.report(time=start + day * DAY, flop=10**15) for c in more])
    third = api.admin.post("/v1/detection/runs")
    fresh = {a["alert_id"] for a in api.admin.get("/v1/detection/alerts")} - {
        n.split(":", 2)[2] for n in expected
    }
    assert fresh, "the second site raised no new alert"
    told = {n for n in ids(api.admin, "alert") if n.startswith(f"detection:{third['id']}:")}
    assert told == {f"detection:{third['id']}:{a}" for a in fresh}
