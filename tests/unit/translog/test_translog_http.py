"""The log's HTTP API through the ASGI app (no sockets): routes, proofs and 4xx reasons."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.translog import merkle
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.http import create_log_app
from pausebutton.translog.note import SignedCheckpoint
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.store import LogService, LogStore, create_log_engine

NOW = 1_800_000_000
ENTRIES = [f"entry {i}".encode() for i in range(20)]


@pytest.fixture(scope="module")
def auth() -> AuthorityKeys:
    return found_authority(seed=b"http-test", witnesses=3, witness_threshold=2)


@pytest.fixture
def service(tmp_path: Path, auth: AuthorityKeys) -> Iterator[LogService]:
    engine = create_log_engine(f"sqlite:///{tmp_path / 'log.db'}")
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    svc = LogService(LogStore(engine), auth.key("log"), policy)
    svc.append(ENTRIES)
    yield svc
    engine.dispose()


class AsgiClient:
    """Synchronous calls into the ASGI app through ``httpx.ASGITransport``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://log") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def client(service: LogService) -> AsgiClient:
    return AsgiClient(create_log_app(service))


def _cosign_all(client: AsgiClient, auth: AuthorityKeys, n: int = 2) -> SignedCheckpoint:
    cp = SignedCheckpoint.parse(client.get("/v1/log/checkpoint").text)
    for i in range(n):
        r = client.post(
            "/v1/log/cosignature",
            content=cp.with_signatures([cp.cosign(auth.key("witness", i), NOW)]).encode(),
        )
        assert r.status_code == 200, r.text
    return SignedCheckpoint.parse(client.get("/v1/log/checkpoint").text)


def test_checkpoint_entries_and_proofs(client: AsgiClient, auth: AuthorityKeys) -> None:
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    r = client.get("/v1/log/checkpoint")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    cp = policy.parse_log_signed(r.text)
    leaves = [merkle.leaf_hash(e) for e in ENTRIES]
    assert cp.size == 20 and cp.root_hash == merkle.tree_root(leaves)
    cp = _cosign_all(client, auth)
    assert policy.verify_checkpoint(cp.encode()).size == 20
    assert client.get("/v1/log/checkpoint", params={"size": 20}).text == cp.encode()

    r = client.get("/v1/log/entries", params={"start": 3, "end": 6})
    assert [base64.b64decode(x) for x in r.json()["entries"]] == ENTRIES[3:6]

    r = client.get("/v1/log/proof/inclusion", params={"index": 7})
    body = r.json()
    proof = [base64.b64decode(x) for x in body["proof"]]
    merkle.verify_inclusion(leaves[7], 7, body["tree_size"], proof, cp.root_hash)
    by_hash = client.get("/v1/log/proof/inclusion", params={"hash": leaves[7].hex()}).json()
    assert by_hash == body

    r = client.get("/v1/log/bundle", params={"hash": base64.b64encode(leaves[9]).decode()})
    assert r.headers["content-type"] == "application/cbor"
    bundle = InclusionBundle.decode(r.content)
    assert policy.verify_entry(ENTRIES[9], bundle).size == 20

    r = client.get("/v1/log/proof/consistency", params={"old": 11, "new": 20})
    proof = [base64.b64decode(x) for x in r.json()["proof"]]
    merkle.verify_consistency(11, 20, merkle.tree_root(leaves[:11]), cp.root_hash, proof)
    assert client.get("/v1/log/proof/consistency", params={"old": 11}).json()["new_size"] == 20
    assert client.get("/healthz").json()["size"] == 20


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/v1/log/checkpoint", {"size": 19}, 404, "not_found"),
        ("/v1/log/entries", {"start": 5, "end": 21}, 404, "not_found"),
        ("/v1/log/entries", {"start": 5, "end": 5}, 400, "usage"),
        ("/v1/log/entries", {"start": 0, "end": 5000}, 400, "usage"),
        ("/v1/log/proof/inclusion", {"index": 20}, 404, "not_found"),
        ("/v1/log/proof/inclusion", {"index": 1, "size": 99}, 404, "not_found"),
        ("/v1/log/proof/inclusion", {}, 400, "usage"),
        ("/v1/log/proof/inclusion", {"index": 1, "hash": "00" * 32}, 400, "usage"),
        ("/v1/log/proof/inclusion", {"hash": "zz"}, 400, "malformed"),
        ("/v1/log/proof/inclusion", {"hash": "11" * 32}, 404, "not_found"),
        ("/v1/log/bundle", {"index": 25}, 404, "not_found"),
        ("/v1/log/proof/consistency", {"old": 21}, 404, "not_found"),
        ("/v1/log/proof/consistency", {"old": 5, "new": 30}, 404, "not_found"),
    ],
)
def test_bad_requests_get_named_4xx(
    client: AsgiClient, path: str, params: dict[str, object], status: int, code: str
) -> None:
    client.get("/v1/log/checkpoint")
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code


@pytest.mark.parametrize(
    "params",
    [{"index": -1}, {"index": 2**70}, {"index": "x"}, {"start": 0}, {"old": -3}],
)
def test_invalid_parameters_are_422(client: AsgiClient, params: dict[str, object]) -> None:
    path = "/v1/log/proof/consistency" if "old" in params else "/v1/log/proof/inclusion"
    if "start" in params:
        path = "/v1/log/entries"
    r = client.get(path, params=params)
    assert r.status_code == 422
    assert "detail" in r.json()


def test_cosignature_rejections(client: AsgiClient, auth: AuthorityKeys) -> None:
    from pausebutton.protocol.keys import PrivateKey

    cp = SignedCheckpoint.parse(client.get("/v1/log/checkpoint").text)
    cases = [
        (b"not a note", 400, "malformed"),
        (b"x" * 20_000, 413, "oversized"),
        (cp.encode().encode(), 403, "forbidden"),
        (
            cp.with_signatures([cp.cosign(PrivateKey.from_seed_material(b"x"), NOW)]).encode(),
            403,
            "forbidden",
        ),
    ]
    for body, status, code in cases:
        r = client.post("/v1/log/cosignature", content=body)
        assert (r.status_code, r.json()["error"]) == (status, code)
    size = client.get("/healthz").json()["size"]
    assert size == 20
    assert len(SignedCheckpoint.parse(client.get("/v1/log/checkpoint").text).note.signatures) == 1


def test_without_sign_on_read_the_stored_checkpoint_is_served(service: LogService) -> None:
    client = AsgiClient(create_log_app(service, sign_on_read=False))
    r = client.get("/v1/log/checkpoint")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    service.checkpoint()
    service.append([b"later"])
    cp = SignedCheckpoint.parse(client.get("/v1/log/checkpoint").text)
    assert cp.size == 20  # not 21: nothing is signed on a GET


def test_two_routers_in_one_app_each_serve_their_own_log(
    tmp_path: Path, auth: AuthorityKeys, service: LogService
) -> None:
    """The routes are module-level; each router binds its own LogService and mode."""
    from fastapi import FastAPI

    from pausebutton.translog.http import log_router

    engine = create_log_engine(f"sqlite:///{tmp_path / 'other.db'}")
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    other = LogService(LogStore(engine), auth.key("log"), policy)
    other.append([b"only one"])
    app = FastAPI()
    app.include_router(log_router(service), prefix="/a")
    app.include_router(log_router(other, sign_on_read=False), prefix="/b")
    client = AsgiClient(app)
    a = client.get("/a/entries", params={"start": 0, "end": 2}).json()
    b = client.get("/b/entries", params={"start": 0, "end": 1}).json()
    assert [base64.b64decode(e) for e in a["entries"]] == ENTRIES[:2]
    assert [base64.b64decode(e) for e in b["entries"]] == [b"only one"]
    assert SignedCheckpoint.parse(client.get("/a/checkpoint").text).size == 20
    assert client.get("/b/checkpoint").json()["error"] == "not_found"  # b never signs on read
    engine.dispose()


def test_tlog_tiles(tmp_path: Path, auth: AuthorityKeys) -> None:
    """c2sp.org/tlog-tiles: every tile hash is the MTH of its span; bundles hold entries."""
    from pausebutton.translog.http import encode_tile_index, parse_tile_path

    engine = create_log_engine(f"sqlite:///{tmp_path / 'tiles.db'}")
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    svc = LogService(LogStore(engine), auth.key("log"), policy)
    entries = [f"tiled {i}".encode() * (1 + i % 3) for i in range(600)]
    svc.append(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    client = AsgiClient(create_log_app(svc))

    def tile(path: str) -> list[bytes]:
        r = client.get(f"/v1/log/tile/{path}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/octet-stream"
        assert "immutable" in r.headers["cache-control"]
        return [r.content[i : i + 32] for i in range(0, len(r.content), 32)]

    for n in (0, 1):
        assert tile(f"0/{n:03d}") == leaves[n * 256 : (n + 1) * 256]
    assert tile("0/002.p/88") == leaves[512:600]
    assert tile("0/002.p/5") == leaves[512:517]
    assert tile("1/000.p/2") == [merkle.tree_root(leaves[0:256]), merkle.tree_root(leaves[256:512])]
    r = client.get("/v1/log/tile/entries/001")
    data, got = r.content, []
    while data:
        n = int.from_bytes(data[:2], "big")
        got.append(data[2 : 2 + n])
        data = data[2 + n :]
    assert got == entries[256:512]
    assert client.get("/v1/log/tile/entries/002.p/88").status_code == 200
    for bad, status in [
        ("0/002", 404),  # not full yet
        ("0/002.p/89", 404),
        ("1/000", 404),
        ("entries/002.p/100", 404),
        ("0/2", 400),
        ("0/0002", 400),
        ("0/x000/002", 400),  # not canonical
        ("00/000", 400),
        ("64/000", 400),
        ("0/002.p/0", 400),
        ("0/002.p/256", 400),
        ("0/002.p/07", 400),
        ("0", 400),
        ("entries/abc", 400),
    ]:
        r = client.get(f"/v1/log/tile/{bad}")
        assert r.status_code == status, (bad, r.status_code, r.text)
        assert "error" in r.json()
    assert encode_tile_index(1234067) == "x001/x234/067"
    assert parse_tile_path("3/x001/x234/067.p/9") == ("3", 1234067, 9)
    engine.dispose()
