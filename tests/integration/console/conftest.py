"""Fixtures for the console's tests: an authority with the console, served by uvicorn on
127.0.0.1 (a real socket: the browser tests need one), a small registry, and chips that
follow the orders (``bench.console.Fleet``: the real firmware over file-backed NVM)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.db import normalise_url
from pausebutton.authority.demo import DemoWorld, demo_world
from pausebutton.bench.console import Fleet, sign_in
from pausebutton.console import create_console_app
from pausebutton.protocol.keys import PrivateKey
from pausebutton.sim.server import serve


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    pg = os.environ.get("PB_TEST_POSTGRES_URL")
    if pg:
        engine = create_engine(normalise_url(pg))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        return pg
    return f"sqlite:///{tmp_path / 'authority.db'}"


@dataclass
class Site:
    """A served authority with the console, and what the tests need around it."""

    url: str
    world: DemoWorld
    admin: AuthorityClient
    tmp: Path

    def client(self, key: PrivateKey | None = None) -> httpx.Client:
        """A plain HTTP client, signed in to the console with ``key`` (public without)."""
        http = httpx.Client(base_url=self.url, timeout=30)
        if key is not None:
            http.cookies.set("pb_console", sign_in(self.url, key))
        return http

    def operator(self, owner: str) -> PrivateKey:
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
        return key

    def facility(
        self, fid: str, name: str, country: str, lat: float, lon: float, owner: str
    ) -> None:
        self.admin.post(
            "/v1/facilities",
            {
                "id": fid,
                "name": name,
                "country": country,
                "latitude": lat,
                "longitude": lon,
                "owner_id": owner,
                "verified": True,
            },
        )

    def register(self, n: int, owner: str, facility: str) -> list[Any]:
        chips = []
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
            chips.append(chip)
        return chips

    def fleet(self, n: int, owner: str, facility: str, region: str) -> Fleet:
        fleet = Fleet(self.url, self.world.admin, directory=self.tmp / f"fleet-{facility}")
        fleet.create(
            n,
            root=self.world.root_bytes,
            vendor_key=self.world.keys.key("vendor"),
            owner_id=owner,
            facility_id=facility,
            region=region,
        )
        return fleet

    def propose(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = self.admin.with_key(self.world.member(0)).post(
            "/v1/orders/proposals",
            body or {"kind": "pause", "scope": {"kind": "global"}, "reason": "console test"},
        )
        return out

    def sign(self, prop: dict[str, Any], member: int) -> dict[str, Any]:
        key = self.world.member(member)
        out: dict[str, Any] = self.admin.with_key(key).post(
            f"/v1/orders/proposals/{prop['id']}/signatures",
            {
                "key_id": key.key_id.hex(),
                "sig": key.sign(bytes.fromhex(prop["signing_input"])).hex(),
            },
        )
        return out


FRONTIER_FLOP = 10**21


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    world = demo_world(seed=b"console-tests")
    from pausebutton.authority.policy import Policy

    # a frontier threshold two chips can reach in 30 days (the law's 1e25 needs thousands)
    settings = world.settings(
        db_url,
        location_interval=0,
        checkpoint_interval=0.2,
        policy=Policy(frontier_flop=FRONTIER_FLOP),
    )
    app = create_console_app(settings)
    with serve(app) as url:
        admin = AuthorityClient(url, world.admin)
        for owner, country in (("polder", "NL"), ("rhein", "DE")):
            admin.post("/v1/owners", {"id": owner, "name": owner.title(), "country": country})
        s = Site(url, world, admin, tmp_path)
        s.facility("ams1", "Polder Compute AMS1", "NL", 52.37, 4.90, "polder")
        s.facility("fra2", "Rhein AI FRA2", "DE", 50.11, 8.68, "rhein")
        try:
            yield s
        finally:
            admin.close()
