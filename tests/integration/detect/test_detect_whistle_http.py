"""The whistleblower channel over HTTP: CLI submitter -> uvicorn on 127.0.0.1 -> intake."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from pausebutton.authority.api.errors import install as install_error_handlers
from pausebutton.detect import whistle
from pausebutton.detect.api import make_whistle_router


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, whistle.WhistleStore, bytes, Path]]:
    sk, pk = whistle.keygen()
    (tmp_path / "wb.pub").write_text(pk.hex())
    store = whistle.WhistleStore(tmp_path / "wb.sqlite")
    app = FastAPI()
    install_error_handlers(app)  # the router raises the project's errors
    app.include_router(make_whistle_router(store, pk))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", store, sk, tmp_path / "wb.pub"
    finally:
        srv.should_exit = True
        th.join(10)
        sock.close()


def test_submit_and_follow_up_over_http(cli, server) -> None:  # type: ignore[no-untyped-def]
    url, store, sk, pub = server
    r = cli(
        "detect",
        "whistle",
        "submit",
        "--key",
        pub,
        "--url",
        url,
        "--claim",
        "night shift training",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    receipt = json.loads(r.stdout)["receipt"]
    (rep,), errs = whistle.intake(store, sk, whistle_now())
    assert not errs and rep.fields["claim"] == "night shift training"
    lookup, box = whistle.seal_reply(rep.receipt, "How many racks?")
    store.add_reply(lookup, box)
    st = cli("detect", "whistle", "status", "--url", url, "--receipt", receipt, "--json")
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout) == {"replies": ["How many racks?"]}
    down = cli(
        "detect", "whistle", "submit", "--key", pub, "--url", "http://127.0.0.1:9", "--claim", "x"
    )
    assert down.returncode != 0 and "service" in down.stderr and "Traceback" not in down.stderr


def whistle_now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 2, 1, tzinfo=UTC)
