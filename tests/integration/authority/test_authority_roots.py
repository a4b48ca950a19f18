"""Root changes end to end: the members change the root (a fifth... sixth member joins
and K rises, a member leaves and a key is rotated, a vendor is added), the authority
checks, logs and applies each, node agents install each on every connected chip within
a round, an offline chip catches up through the chain, and bad proposals are refused
with named errors."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pausebutton import errors
from pausebutton.agent.daemon import Agent
from pausebutton.agent.logcheck import BundleLogCheck
from pausebutton.agent.nvml import FakeBackend
from pausebutton.authority.api import create_app
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.demo import DemoWorld, demo_world
from pausebutton.authority.inprocess import serve_in_process
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.governance import RootChange, apply_change
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import PauseOrder, Scope, ScopeKind
from pausebutton.protocol.trustroot import Member, TrustRoot
from pausebutton.translog.note import SignedCheckpoint

BASE = "http://authority.test"


def new_key(label: str) -> PrivateKey:
    return PrivateKey.from_seed_material(b"roots-test/" + label.encode())


class Stack:
    def __init__(self, tmp: Path, db_url: str) -> None:
        self.tmp = tmp
        self.db_url = db_url
        self.world: DemoWorld = demo_world(seed=b"roots-test")
        self.stack = contextlib.ExitStack()
        self.http = self.serve()
        self.admin = AuthorityClient(BASE, self.world.admin, http=self.http)
        self.admin.post("/v1/owners", {"id": "acme", "name": "Acme", "country": "US"})
        op_key = self.world.operator_key("acme")
        self.admin.post(
            "/v1/keys",
            {
                "public_key": op_key.public.raw.hex(),
                "role": "operator",
                "name": "acme-ops",
                "owner_id": "acme",
            },
        )
        self.operator = self.admin.with_key(op_key)
        self.keys: dict[str, PrivateKey] = {
            n: self.world.keys.members[n] for n in self.world.member_names
        }

    def serve(self) -> Any:
        app = create_app(self.world.settings(self.db_url, checkpoint_interval=0.05))
        return self.stack.enter_context(serve_in_process(app, BASE))

    def agent(self, name: str, seed: str) -> Agent:
        state = self.tmp / name
        backend = FakeBackend(2, seed=seed)
        Agent.enroll(
            state,
            backend,
            trust_root=self.world.root_bytes,
            vendor_key=self.world.keys.key("vendor"),
            issued_at=int(time.time()),
            owner="acme",
            region="US",
        )
        client = self.operator.with_key(self.world.operator_key("acme"))
        return Agent(state, backend, client, verifier=BundleLogCheck(client))

    def member(self, name: str) -> AuthorityClient:
        return self.admin.with_key(self.keys[name])

    def submit(self, by: str, env: Envelope) -> dict[str, Any]:
        out: dict[str, Any] = self.member(by).request(
            "POST", "/v1/roots", content=env.encode(), content_type="application/cbor"
        )
        return out

    def cosign(self) -> None:
        """Two of the three witnesses cosign a checkpoint covering the whole log."""
        size = int(self.admin.get("/v1/stats")["log_size"])
        deadline = time.monotonic() + 15
        cp = SignedCheckpoint.parse(self.admin.get("/v1/log/checkpoint"))
        while cp.body.size < size:
            assert time.monotonic() < deadline, f"no checkpoint covers {size} entries"
            time.sleep(0.02)
            cp = SignedCheckpoint.parse(self.admin.get("/v1/log/checkpoint"))
        now = int(time.time())
        for i in range(2):
            note = cp.with_signatures([cp.cosign(self.world.keys.key("witness", i), now)])
            resp = self.http.post(f"{BASE}/v1/log/cosignature", content=note.encode())
            assert resp.status_code == 200, resp.text


@pytest.fixture
def stack(tmp_path: Path, db_url: str) -> Iterator[Stack]:
    s = Stack(tmp_path, db_url)
    try:
        yield s
    finally:
        s.stack.close()


def versions(agent: Agent) -> set[int]:
    return {gpu.chip.firmware.root.version for gpu in agent.gpus.values()}


@pytest.mark.timeout(120)
def test_members_change_the_root_and_every_chip_follows(stack: Stack) -> None:
    names = stack.world.member_names  # five members, K = 3
    connected = stack.agent("connected", "gpus-a")
    offline = stack.agent("offline", "gpus-b")
    v1: TrustRoot = stack.world.root
    assert versions(connected) == {1}

    # a sixth member joins; K rises to 4 (the floor of six members)
    f_key = new_key("F")
    v2 = apply_change(
        v1,
        RootChange(
            add_members=(Member("F", f_key.public.raw, "FR"),),
            thresholds={"root": 4, "pause": 4},
        ),
    )
    env2 = Envelope.create(v2, [stack.keys[n] for n in names[:4]] + [f_key])
    out = stack.submit(names[0], env2)
    assert out["version"] == 2 and out["log_index"] is not None and not out["duplicate"]
    assert stack.submit(names[0], env2)["duplicate"] is True
    stack.keys["F"] = f_key
    stack.cosign()
    connected.tick()
    assert versions(connected) == {2}
    # the new member is a member of the authority at once; a pause now needs 4
    prop = stack.member("F").post(
        "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "t"}
    )
    assert prop["threshold"] == 4

    # a member leaves and another rotates its key: the old key no longer counts
    rotated = new_key("rotated")
    v3 = apply_change(
        v2, RootChange(remove_members=(names[4],), rotate_members=((names[0], rotated.public.raw),))
    )
    env3 = Envelope.create(v3, [stack.keys[n] for n in names[:4]] + [f_key, rotated])
    assert stack.submit(names[1], env3)["version"] == 3
    stack.cosign()
    connected.tick()
    assert versions(connected) == {3}
    with pytest.raises(errors.AuthError):  # the old key of names[0] is no member key now
        stack.member(names[0]).post(
            "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "x"}
        )
    pause = PauseOrder(1, Scope(ScopeKind.GLOBAL), 0, 0, "old key")
    old_signed = Envelope.create(pause, [stack.keys[n] for n in (names[0], names[1], names[2])])
    gpu = next(iter(connected.gpus.values()))
    with pytest.raises(errors.BelowThresholdError):
        gpu.chip.firmware.install(old_signed.sign(f_key).encode())
    stack.keys[names[0]] = rotated

    # a second chip vendor is added (its key signs the change too)
    vendor2 = new_key("vendor-2")
    v4 = apply_change(v3, RootChange(add_keys=(("vendor", vendor2.public.raw),)))
    members4 = [stack.keys[n] for n in (*names[:4], "F")]
    env4 = Envelope.create(v4, [*members4, vendor2])
    assert stack.submit("F", env4)["version"] == 4
    stack.cosign()
    connected.tick()
    assert versions(connected) == {4}

    # the chip that was offline for all of it catches up through the chain in one round
    assert versions(offline) == {1}
    offline.tick()
    assert versions(offline) == {4}
    chain = stack.admin.with_key(None).get("/v1/roots", after=1)
    assert [r["version"] for r in chain] == [2, 3, 4]
    assert stack.admin.with_key(None).get("/v1/roots/latest")["version"] == 4

    # refusals, each named; nothing is stored
    v6 = dataclasses.replace(v4, version=6)
    with pytest.raises(errors.ChainError):
        stack.submit("F", Envelope.create(v6, members4))
    low = dataclasses.replace(
        v4,
        version=5,
        roles={**v4.roles, "pause": dataclasses.replace(v4.roles["pause"], threshold=2)},
    )
    with pytest.raises(errors.FloorError):
        stack.submit("F", Envelope.create(low, members4))
    v5 = apply_change(v4, RootChange(expires=v4.expires + 86400))
    with pytest.raises(errors.BelowThresholdError):
        stack.submit("F", Envelope.create(v5, members4[:3]))
    # a revoked member's signature does not complete a root change
    stack.admin.post(f"/v1/keys/{stack.keys[names[1]].key_id.hex()}/revoke")
    with pytest.raises(errors.BelowThresholdError):
        stack.submit("F", Envelope.create(v5, members4[:4]))
    assert stack.admin.with_key(None).get("/v1/roots/latest")["version"] == 4

    # a restarted authority starts under the newest root
    stack.stack.close()
    stack.stack = contextlib.ExitStack()
    stack.http = stack.serve()
    stack.admin = AuthorityClient(BASE, stack.world.admin, http=stack.http)
    prop = stack.member("F").post(
        "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "t"}
    )
    assert prop["threshold"] == 4
    assert base64.b64decode(stack.admin.with_key(None).get("/v1/roots/4")["envelope"])
