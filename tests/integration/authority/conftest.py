"""Fixtures for the authority's tests: a database (SQLite, or PostgreSQL when
PB_TEST_POSTGRES_URL is set), a demo world, and the app served in-process."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pausebutton.authority.app import create_app
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
def api(world: DemoWorld, db_url: str) -> Iterator[Api]:
    app = create_app(world.settings(db_url))
    with serve_in_process(app) as http:
        yield Api(world, http, AuthorityClient("http://testserver", world.admin, http=http))
