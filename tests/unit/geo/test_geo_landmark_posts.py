"""``landmark serve --authority-url``: a measurement the authority does not take is
logged and counted, never dropped silently, also when the server stops."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from pausebutton.cli import landmark
from pausebutton.geo.server import Stats

LOGGER = "pausebutton.cli.landmark"


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_authority_is_logged_and_counted(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    stats = Stats()
    url = f"http://127.0.0.1:{_free_port()}/v1/location/measurements"
    asyncio.run(landmark._post(url, b"\xa0", stats))
    assert stats.failures == {"post": 1}
    (record,) = _records(caplog)
    assert record.levelno == logging.WARNING
    assert "could not send a measurement" in record.getMessage()


class _Refuse(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        body = b'{"error": "malformed"}'
        self.send_response(400)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_refused_measurement_is_logged_and_counted(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    httpd = HTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stats = Stats()
    try:
        asyncio.run(landmark._post(f"http://127.0.0.1:{httpd.server_port}/", b"\xa0", stats))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert stats.failures == {"post": 1}
    (record,) = _records(caplog)
    assert "answered 400" in record.getMessage() and "malformed" in record.getMessage()


async def _send_and_drain(posts: landmark._Posts, timeout: float) -> None:
    posts.send(b"\xa0")
    posts.send(b"\xa0")
    await asyncio.sleep(0)
    await posts.drain(timeout)


def test_unexpected_failure_of_a_send_is_logged_and_counted(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)

    async def broken(url: str, data: bytes, stats: Stats) -> None:
        raise RuntimeError("a bug in the sender")

    monkeypatch.setattr(landmark, "_post", broken)
    posts = landmark._Posts("http://127.0.0.1:9/", Stats())
    asyncio.run(_send_and_drain(posts, 5.0))
    assert posts.stats.failures == {"post": 2}
    assert posts.tasks == set()
    records = _records(caplog)
    assert [r.levelno for r in records] == [logging.ERROR, logging.ERROR]
    assert all("a bug in the sender" in r.getMessage() for r in records)


def test_sends_still_running_at_stop_are_cancelled_logged_and_counted(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    cancelled: list[bool] = []

    async def hangs(url: str, data: bytes, stats: Stats) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    monkeypatch.setattr(landmark, "_post", hangs)
    posts = landmark._Posts("http://127.0.0.1:9/", Stats())
    asyncio.run(asyncio.wait_for(_send_and_drain(posts, 0.05), 10))
    assert cancelled == [True, True]
    assert posts.stats.failures == {"post": 2}
    (record,) = _records(caplog)
    assert "2 measurement(s) not delivered" in record.getMessage()
