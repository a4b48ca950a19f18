"""A database that goes away: every request answers 503 ``service`` with Retry-After
(never a bare 500; every route documents it), and the service recovers by itself when
the database is back.

The outage runs on PostgreSQL (PB_TEST_POSTGRES_URL): the app reaches the database through a TCP
proxy that the test cuts (closing every open connection and refusing new ones) and
then restores, as a database restart or a network partition would.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from pausebutton import errors
from pausebutton.authority.api import create_app
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.demo import DemoWorld
from pausebutton.authority.inprocess import serve_in_process


class Proxy:
    """A TCP forwarder to ``target`` that can be cut and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open = True
        self.closed = False
        self._socks: list[socket.socket] = []
        self._mutex = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._mutex:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        with self._mutex:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(db_url: str) -> Iterator[tuple[Proxy, str]]:
    url = make_url(db_url)
    p = Proxy((url.host or "127.0.0.1", url.port or 5432))
    yield p, url.set(host="127.0.0.1", port=p.port).render_as_string(hide_password=False)
    p.close()


def _until(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except errors.ServiceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_every_route_documents_its_503(api: Any) -> None:
    spec = api.http.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert "503" in op["responses"], f"{method} {path}"


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("PB_TEST_POSTGRES_URL"), reason="needs PostgreSQL")
def test_database_outage_answers_503_and_recovers(
    world: DemoWorld, proxy: tuple[Proxy, str]
) -> None:
    p, url = proxy
    app = create_app(world.settings(url, checkpoint_interval=0.2, poll_interval=0.2))
    with serve_in_process(app) as http:
        admin = AuthorityClient("http://testserver", world.admin, http=http)
        admin.post("/v1/owners", {"id": "acme", "name": "Acme", "country": "US"})
        p.cut()
        read = http.get("/v1/owners")
        assert read.status_code == 503
        assert read.json()["error"] == "service"
        assert int(read.headers["Retry-After"]) >= 1
        with pytest.raises(errors.ServiceError) as caught:
            admin.post("/v1/owners", {"id": "bolt", "name": "Bolt", "country": "US"})
        assert caught.value.details["status"] == 503
        p.restore()
        # the pool drops its dead connections (pre-ping) and the service answers again
        _until(lambda: admin.post("/v1/owners", {"id": "bolt", "name": "Bolt", "country": "US"}))
        owners = [o["id"] for o in admin.get("/v1/owners")]
        assert owners == ["acme", "bolt"]
