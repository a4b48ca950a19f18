"""The node agent against an in-process authority: it installs the newest published
prohibited-artifacts list and delivers the guards' refused-load reports (kept until
acknowledged); a forged or older list from the server is refused."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from pausebutton.agent.daemon import PROHIBITED_FILE, REPORTS_FILE, Agent
from pausebutton.agent.nvml import FakeBackend
from pausebutton.errors import ServiceError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts


def signed_list(world: Any, sequence: int, signers: int = 3) -> bytes:
    plist = ProhibitedArtifacts(
        sequence=sequence,
        issued_at=1_700_000_000,
        artifacts=(Artifact(ArtifactKind.FILE, hashlib.sha256(b"%d" % sequence).digest(), "f"),),
    )
    return Envelope.create(plist, [world.member(i) for i in range(signers)]).encode()


class Unplugged:
    """The operator's client with the network cable pulled."""

    def __getattr__(self, name: str) -> Any:
        def fail(*a: Any, **kw: Any) -> Any:
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

        return fail


def _agent(api: Any, state: Path) -> Agent:
    backend = FakeBackend(1)
    Agent.enroll(
        state,
        backend,
        trust_root=api.world.root_bytes,
        vendor_key=api.world.keys.key("vendor"),
        issued_at=1_700_000_000,
    )
    return Agent(state, backend, api.owner("acme"))


def test_agent_installs_published_lists_and_delivers_reports(api, tmp_path):
    agent = _agent(api, tmp_path)
    client = agent.client
    agent.tick()
    assert agent.prohibited is None and not (tmp_path / PROHIBITED_FILE).exists()
    api.member(0).publish_prohibited(signed_list(api.world, 1))
    agent.tick()
    assert agent.prohibited is not None and agent.prohibited.sequence == 1
    service = agent.lease_service()
    held = service.handle({"op": "artifacts"}, 1, 0)["list"]
    assert base64.b64decode(held) == (tmp_path / PROHIBITED_FILE).read_bytes()
    # a restarted agent holds the same list
    assert Agent(tmp_path, agent.backend).prohibited.sequence == 1  # type: ignore[union-attr]

    # a guard reports a refused load through the lease socket's service
    lease = service.handle({"op": "grant"}, 4242, 1000)["lease"]
    report = {"event": "prohibited-artifact", "what": "weights.pt", "list_sequence": 1, "hits": []}
    service.handle({"op": "report", "lease": lease, "report": report}, 4242, 1000)
    queued = (tmp_path / REPORTS_FILE).read_text().splitlines()
    assert len(queued) == 1 and json.loads(queued[0])["pid"] == 4242
    # the authority is unreachable: the report stays queued, nothing raises
    agent.client = Unplugged()
    agent.tick()
    assert (tmp_path / REPORTS_FILE).read_text().splitlines() == queued
    assert any("unreachable" in e for e in agent.status.errors)
    agent.client = client
    agent.tick()
    assert (tmp_path / REPORTS_FILE).read_text() == ""
    alerts = api.admin.get("/v1/alerts", kind="prohibited_artifact")
    assert len(alerts) == 1 and alerts[0]["detail"]["what"] == "weights.pt"
    assert alerts[0]["detail"]["gpu"] == next(iter(agent.gpus))
    stored = api.admin.get("/v1/artifact-reports")
    assert [r["report"]["pid"] for r in stored] == [4242]

    # a newer list replaces it; the agent never goes back
    api.member(1).publish_prohibited(signed_list(api.world, 2))
    assert agent.sync_prohibited() is True and agent.prohibited.sequence == 2
    assert agent.sync_prohibited() is False


def test_agent_refuses_forged_or_older_lists(api, tmp_path):
    agent = _agent(api, tmp_path)
    rows: list[dict[str, Any]] = []

    class Lying:
        def prohibited(self) -> dict[str, Any] | None:
            return rows[-1] if rows else None

    real = agent.client
    agent.client = Lying()  # type: ignore[assignment]
    assert agent.sync_prohibited() is False
    rows.append(
        {"sequence": 5, "envelope": base64.b64encode(signed_list(api.world, 5, 2)).decode()}
    )
    assert agent.sync_prohibited() is False  # 2 of the 3 pause signatures needed
    assert agent.prohibited is None and not (tmp_path / PROHIBITED_FILE).exists()
    assert any("below_threshold" in e for e in agent.status.errors)
    rows.append({"sequence": 4, "envelope": base64.b64encode(signed_list(api.world, 4)).decode()})
    assert agent.sync_prohibited() is True
    rows.append({"sequence": 9, "envelope": base64.b64encode(signed_list(api.world, 3)).decode()})
    assert agent.sync_prohibited() is False  # the envelope is older than the held list
    assert agent.prohibited is not None and agent.prohibited.sequence == 4
    rows.append({"sequence": 6, "envelope": "not base64!"})
    assert agent.sync_prohibited() is False
    agent.client = real
