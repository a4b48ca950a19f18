"""Notifications: each caller sees what concerns it (proposals awaiting its signature,
quorums reached, alerts about its own chips), as a list and as server-sent events."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from pausebutton.authority.api import create_app
from pausebutton.authority.auth import sign_request
from pausebutton.authority.demo import DemoWorld


def notes(client: Any, since: int = 0) -> list[dict[str, Any]]:
    """The caller's notifications (a GET the client signs)."""
    out: list[dict[str, Any]] = client.request(
        "GET", "/v1/notifications", params={"since": since}, sign=True
    )
    return out


def kinds(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(n["kind"], n["id"]) for n in items}


def test_each_caller_sees_what_concerns_it(api: Any) -> None:
    op = api.owner()
    api.facility()
    (chip,) = api.chips(1)
    prop = api.member(0).post(
        "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "t"}
    )
    pid = f"order-proposal:{prop['id']}"
    api.sign(prop, 1)  # member 0 signed
    assert ("awaiting_signature", pid) not in kinds(notes(api.member(0)))
    assert ("awaiting_signature", pid) in kinds(notes(api.member(1)))
    api.sign(prop, 3)  # members 0-2: assembled
    seen = kinds(notes(api.member(3)))
    assert ("awaiting_signature", pid) not in seen
    assert ("quorum_reached", "order:1") in seen
    assert ("quorum_reached", "order:1") in kinds(notes(api.admin))
    # an alert about the operator's chip reaches that operator, not another
    op.post(f"/v1/chips/{chip.chip_id}/health", {"state": "silent"})
    mine = [n for n in notes(op) if n["kind"] == "alert"]
    assert len(mine) == 1 and "chip_silent" in mine[0]["summary"]
    other = api.owner("beta")
    assert [n for n in notes(other) if n["kind"] == "alert"] == []
    later = int(time.time()) + 10
    assert notes(api.member(3), later) == []


@contextmanager
def serve(app: Any) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the authority did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_a_member_is_told_at_once_a_proposal_waits(world: DemoWorld, db_url: str) -> None:
    from pausebutton.authority.client import AuthorityClient

    app = create_app(world.settings(db_url, poll_interval=0.05))
    with serve(app) as url, httpx.Client(timeout=30) as http:
        url_stream = f"{url}/v1/notifications/stream"
        headers = sign_request("GET", url_stream, {}, b"", world.member(1))
        with http.stream("GET", url_stream, headers=headers) as resp:
            assert resp.status_code == 200
            started = time.monotonic()
            AuthorityClient(url, world.member(0), http=http).post(
                "/v1/orders/proposals",
                {"kind": "pause", "scope": {"kind": "global"}, "reason": "t"},
            )
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    break
        assert event["kind"] == "awaiting_signature"
        assert event["path"].startswith("/v1/orders/proposals/")
        assert time.monotonic() - started < 5
