"""Fixtures for the authority's tests: a database (SQLite, or PostgreSQL when
PB_TEST_POSTGRES_URL is set), a demo world, and the app served in-process."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pausebutton.authority.api import create_app
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.db import normalise_url
from pausebutton.authority.demo import DemoChip, DemoWorld, demo_world
from pausebutton.authority.inprocess import serve_in_process
from pausebutton.protocol.keys import PrivateKey


def reset_postgres(url: str) -> None:
    engine = create_engine(normalise_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    pg = os.environ.get("PB_TEST_POSTGRES_URL")
    if pg:
        reset_postgres(pg)
        return pg
    return f"sqlite:///{tmp_path / 'authority.db'}"


@pytest.fixture
def world() -> DemoWorld:
    return demo_world(seed=b"authority-tests")


@dataclass
class Api:
    world: DemoWorld
    http: Any
    admin: AuthorityClient

    def certificate(self, seed: bytes, serial: str, uuid: str | None) -> str:
        """Base64 of a vendor-signed DeviceCertificate for a chip of this serial and GPU UUID
        (its device key from ``seed``)."""
        from pausebutton.protocol.envelope import Envelope
        from pausebutton.protocol.messages import DeviceCertificate

        key = PrivateKey.from_seed_material(seed)
        cert = DeviceCertificate(
            serial=serial,
            model="H100 SXM5",
            device_key=key.public.raw,
            vendor="DemoVendor",
            firmware_floor=1,
            issued_at=1_700_000_000,
            hardware_uuid=uuid,
        )
        env = Envelope.create(cert, [self.world.keys.key("vendor")])
        return base64.b64encode(env.encode()).decode()

    def client(self, key: PrivateKey | None) -> AuthorityClient:
        return self.admin.with_key(key)

    def member(self, i: int) -> AuthorityClient:
        return self.client(self.world.member(i))

    def owner(self, owner: str = "acme", country: str = "US") -> AuthorityClient:
        """Create an owner with an operator key; return the operator's client."""
        self.admin.post("/v1/owners", {"id": owner, "name": owner.title(), "country": country})
        key = self.world.operator_key(owner)
        self.admin.post(
            "/v1/keys",
            {
                "public_key": key.public.raw.hex(),
                "role": "operator",
                "name": f"{owner}-ops",
                "owner_id": owner,
            },
        )
        return self.client(key)

    def facility(self, fid: str = "dc1", country: str = "US", verified: bool = True) -> None:
        self.admin.post(
            "/v1/facilities",
            {
                "id": fid,
                "name": fid.upper(),
                "country": country,
                "latitude": 40.0,
                "longitude": -100.0,
                "power_mw": 50.0,
                "verified": verified,
            },
        )

    def chips(self, n: int, owner: str = "acme", facility: str | None = "dc1") -> list[DemoChip]:
        out = []
        for _ in range(n):
            chip = self.world.make_chip()
            self.admin.post(
                "/v1/chips",
                {
                    "certificate": base64.b64encode(chip.certificate).decode(),
                    "owner_id": owner,
                    "facility_id": facility,
                },
            )
            out.append(chip)
        return out

    def pause(self, scope: dict[str, Any] | None = None, signers: int = 3) -> dict[str, Any]:
        prop = self.member(0).post(
            "/v1/orders/proposals",
            {"kind": "pause", "scope": scope or {"kind": "global"}, "reason": "test"},
        )
        return self.sign(prop, signers)

    def sign(self, prop: dict[str, Any], signers: int) -> dict[str, Any]:
        si = bytes.fromhex(prop["signing_input"])
        out = prop
        for i in range(signers):
            k = self.world.member(i)
            out = self.member(i).post(
                f"/v1/orders/proposals/{prop['id']}/signatures",
                {"key_id": k.key_id.hex(), "sig": k.sign(si).hex()},
            )
        return out


@pytest.fixture
def api_settings() -> dict[str, Any]:
    """Settings the ``api`` fixture's app gets beside the world's (a test overrides this
    with ``@pytest.mark.parametrize("api_settings", [{...}])``)."""
    return {}


@pytest.fixture
def api(world: DemoWorld, db_url: str, api_settings: dict[str, Any]) -> Iterator[Api]:
    app = create_app(world.settings(db_url, **api_settings))
    with serve_in_process(app) as http:
        yield Api(world, http, AuthorityClient("http://testserver", world.admin, http=http))


FRONTIER_FLOP = 10**21
"""The frontier threshold of ``frontier_api``: two H100s reach it in 30 days (the law's 1e25
would need thousands of chips, and the authority refuses budgets chips cannot compute)."""


@pytest.fixture
def frontier_api(world: DemoWorld, db_url: str) -> Iterator[Api]:
    """The API under a policy whose frontier threshold is ``FRONTIER_FLOP``."""
    from pausebutton.authority.policy import Policy

    app = create_app(world.settings(db_url, policy=Policy(frontier_flop=FRONTIER_FLOP)))
    with serve_in_process(app) as http:
        yield Api(world, http, AuthorityClient("http://testserver", world.admin, http=http))


SRC = Path(__file__).resolve().parents[3] / "src"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: Any
    directory: Path
    db_url: str

    def stop(self, kill: bool = False) -> None:
        import signal

        # the server runs in its own session: signal its whole process group
        # (the uvicorn supervisor and its workers), which this test started
        sig = signal.SIGKILL if kill else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def start_server(
    directory: Path,
    db_url: str,
    admin_pub: Path,
    *,
    workers: int = 1,
    extra: tuple[str, ...] = (),
) -> Server:
    """Run ``pausebutton authority serve`` as a real process; wait until it answers."""
    import subprocess
    import sys

    import httpx

    port = free_port()
    log = directory.parent / f"server-{port}.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pausebutton",
                "authority",
                "serve",
                str(directory),
                "--db",
                db_url,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--admin-key",
                str(admin_pub),
                "--write-rate",
                "100000",
                *extra,
            ],
            env=cli_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(url, proc, directory, db_url)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.fixture
def server_factory() -> Iterator[Any]:
    """``server_factory(dir, db_url, admin_pub, workers=1)`` starts servers; all are
    stopped at the end of the test."""
    started: list[Server] = []

    def make(*args: Any, **kw: Any) -> Server:
        s = start_server(*args, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop(kill=True)


@dataclass
class Deployment:
    """A DemoWorld written to an authority directory, with an admin key file."""

    world: DemoWorld
    directory: Path
    admin_pub: Path


@pytest.fixture
def deployment(world: DemoWorld, tmp_path: Path) -> Deployment:
    from pausebutton import keystore
    from pausebutton.issuing.keydir import write_authority_dir

    directory = tmp_path / "authority"
    write_authority_dir(directory, world.keys, world.root_bytes)
    admin_pub = tmp_path / "admin.pub"
    keystore.write_public_key(admin_pub, world.admin.public)
    return Deployment(world, directory, admin_pub)


def remote(server: Server, world: DemoWorld) -> Api:
    import httpx

    http = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64))
    return Api(world, http, AuthorityClient(server.url, world.admin, http=http))


@pytest.fixture
def remote_factory() -> Iterator[Any]:
    """``remote_factory(server, world)`` gives an Api over real HTTP to ``server``."""
    made: list[Api] = []

    def make(server: Server, world: DemoWorld) -> Api:
        api = remote(server, world)
        made.append(api)
        return api

    yield make
    for api in made:
        api.http.close()
