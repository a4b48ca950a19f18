"""Independent witnesses: each made by ``witness init`` on its own (here: its own folder),
named in the trust root only by its card; they cosign what they checked, keep their own
record, and refuse a fork. Nobody else holds a witness key."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pausebutton.errors import BelowThresholdError
from pausebutton.issuing.ceremony import WITNESS_CARD, Card, founding_root, read_card
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.trustroot import TrustRoot
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.http import create_log_app
from pausebutton.translog.note import SignedCheckpoint
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.store import LogService, LogStore, create_log_engine
from pausebutton.translog.witness import state_from_bytes


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free 127.0.0.1 port in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


Cli = Callable[..., Any]
EXIT_INCONSISTENT = 5


def _key(label: str) -> PrivateKey:
    return PrivateKey.from_seed_material(b"independent/" + label.encode())


@pytest.fixture
def world(cli: Cli, tmp_path: Path) -> dict[str, Any]:
    """Two witnesses from ``witness init`` and a root founded from cards (the witnesses'
    private keys never leave their folders)."""
    cards = []
    for i in range(3):
        r = cli("witness", "init", tmp_path / f"w{i}", "--name", f"w{i}")
        assert r.returncode == 0, r.stderr
        if i < 2:  # w2 is not in the root
            cards.append(read_card(tmp_path / f"w{i}" / WITNESS_CARD))
    members = [_key(f"member-{i}") for i in range(3)]
    cards += [Card("member", f"m{i}", k.public.raw, "NL") for i, k in enumerate(members)]
    log_key = _key("log")
    for role in ("licensing", "time", "vendor", "landmark"):
        cards.append(Card(role, role, _key(role).public.raw))
    cards.append(Card("log", "log", log_key.public.raw))
    root = founding_root(cards, thresholds={}, expires=int(time.time()) + 86400)
    assert root.role("witness").threshold == 2
    path = tmp_path / "trust-root.cbor"
    path.write_bytes(Envelope.create(root, members).encode())
    return {"root": root, "root_path": path, "log_key": log_key, "dir": tmp_path}


def _service(path: Path, root: TrustRoot, log_key: PrivateKey, entries: list[bytes]) -> LogService:
    svc = LogService(
        LogStore(create_log_engine(f"sqlite:///{path}")), log_key, LogPolicy.from_trust_root(root)
    )
    svc.append(entries)
    return svc


def _run(cli: Cli, w: dict[str, Any], i: int, url: str) -> Any:
    return cli(
        "witness", "run", "--log", f"{url}/v1/log", "--state", w["dir"] / f"w{i}",
        "--trust", w["root_path"], "--once", "--json", timeout=60,
    )  # fmt: skip


def test_two_independent_witnesses_cosign_and_catch_a_fork(cli: Cli, world: dict[str, Any]) -> None:
    root, key, base = world["root"], world["log_key"], world["dir"]
    policy = LogPolicy.from_trust_root(root)
    honest = _service(base / "honest.db", root, key, [f"licence {i}".encode() for i in range(6)])
    with serve(create_log_app(honest)) as url:
        for i in range(2):
            r = _run(cli, world, i, url)
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout.splitlines()[-1]) == {
                "verdict": "cosign",
                "size": 6,
                "posted": 200,
            }
        # a witness outside the root cosigns too: the log refuses it, chips would not count it
        r = _run(cli, world, 2, url)
        assert r.returncode == 0 and "is not a witness key of the trust root" in r.stderr
        raw = httpx.get(f"{url}/v1/log/bundle", params={"index": 3}).content
    bundle = InclusionBundle.decode(raw)
    policy.verify_entry(bundle.entry, bundle)  # two cosignatures from the root's witnesses
    assert len(SignedCheckpoint.parse(bundle.checkpoint).note.signatures) == 3
    for i in range(2):  # each keeps its own record of what it cosigned
        state = state_from_bytes((base / f"w{i}" / "state.json").read_bytes())
        assert state.size == 6

    # a second history under the same log key and size: both witnesses refuse it
    forked = _service(base / "forked.db", root, key, [f"other {i}".encode() for i in range(6)])
    with serve(create_log_app(forked)) as url:
        for i in range(2):
            r = _run(cli, world, i, url)
            assert r.returncode == EXIT_INCONSISTENT, r.stdout + r.stderr
            assert "FORK" in r.stderr and "Traceback" not in r.stderr
            alert = json.loads(next((base / f"w{i}").glob("alert-*.json")).read_text())
            assert "two roots" in alert["reason"]
            state = state_from_bytes((base / f"w{i}" / "state.json").read_bytes())
            assert state.root_hash == honest.store.root(6)[1]
        # nobody cosigned the forked history: chips refuse it
        with pytest.raises(BelowThresholdError):
            policy.verify_checkpoint(forked.checkpoint_at(6).encode())


def test_a_ceremony_authority_holds_no_witness_key(cli: Cli, tmp_path: Path) -> None:
    r = cli("authority", "init", tmp_path / "auth", "--ceremony")
    assert r.returncode == 0, r.stderr
    held = sorted(p.name for p in (tmp_path / "auth" / "keys").iterdir())
    assert held == ["licensing-0.key", "log-0.key", "time-0.key"]
    r = cli("witness", "init", tmp_path / "w")
    assert r.returncode == 0
    again = cli("witness", "init", tmp_path / "w")
    assert again.returncode == 3 and "already holds a key" in again.stderr
