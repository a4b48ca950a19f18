"""Signed webhooks: a member subscribes a URL; a proposal awaiting its signature is
POSTed there, signed with HMAC-SHA256 under the subscription's secret, and retried when
the receiver fails."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from pausebutton import errors


@contextmanager
def receiver(fail_first: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1 that answers 500 to its first ``fail_first`` calls."""
    got: list[dict[str, Any]] = []
    calls = {"n": 0}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        calls["n"] += 1
        status = 500 if calls["n"] <= fail_first else 200
        if status == 200:
            got.append({"headers": dict(scope["headers"]), "body": body})
        await send({"type": "http.response.start", "status": status, "headers": []})
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


@pytest.mark.timeout(60)
def test_a_signed_webhook_is_delivered_after_a_failure(api: Any) -> None:
    with receiver(fail_first=1) as (url, got):
        hook = api.member(1).post("/v1/webhooks", {"url": url})
        assert len(hook["secret"]) == 64
        prop = api.member(0).post(
            "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "t"}
        )
        deadline = time.monotonic() + 30
        while not got:
            assert time.monotonic() < deadline, "no delivery"
            time.sleep(0.1)
    body = got[0]["body"]
    headers = got[0]["headers"]
    expected = hmac.new(bytes.fromhex(hook["secret"]), body, hashlib.sha256).hexdigest()
    assert headers[b"x-pausebutton-signature"].decode() == f"sha256={expected}"
    note = json.loads(body)
    assert note["kind"] == "awaiting_signature"
    assert note["id"] == f"order-proposal:{prop['id']}"
    done = api.member(1).request("GET", f"/v1/webhooks/{hook['id']}/deliveries", sign=True)
    assert done[0]["status"] == "delivered" and done[0]["attempts"] == 2
    assert done[0]["last_error"] == ""
    listed = api.member(1).request("GET", "/v1/webhooks", sign=True)
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    # another key sees none of them
    assert api.member(2).request("GET", f"/v1/webhooks/{hook['id']}/deliveries", sign=True) == []
    with pytest.raises(errors.InputError):
        api.member(1).post("/v1/webhooks", {"url": "file:///etc/passwd"})
