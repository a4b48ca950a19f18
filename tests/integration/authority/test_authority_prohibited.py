"""Prohibited-artifacts lists through the authority (K-of-N pause signatures, logged,
sequence only grows) and refused-load reports from agents (stored, alerted)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pausebutton.errors import (
    AuthError,
    BelowThresholdError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    ReplayError,
    RollbackError,
    SchemaError,
)
from pausebutton.guard.artifacts import ProhibitedList
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts
from pausebutton.protocol.trustroot import load_pinned_root


def signed_list(world, sequence: int, signers: int = 3, tag: bytes = b"w") -> bytes:
    plist = ProhibitedArtifacts(
        sequence=sequence,
        issued_at=1_700_000_000,
        artifacts=(
            Artifact(ArtifactKind.TENSOR, hashlib.sha256(tag + b"%d" % sequence).digest(), "w"),
        ),
    )
    return Envelope.create(plist, [world.member(i) for i in range(signers)]).encode()


def test_publish_log_and_serve_the_newest_list(api):
    member = api.member(0)
    assert member.prohibited() is None
    with pytest.raises(NotFoundError):
        member.get("/v1/prohibited")
    first = member.publish_prohibited(signed_list(api.world, 1))
    assert first["sequence"] == 1 and first["duplicate"] is False
    # the exact envelope is in the transparency log at its index
    entries = api.admin.get("/v1/audit/log", start=first["log_index"], end=first["log_index"] + 1)
    assert base64.b64decode(entries["entries"][0]["data"]) == base64.b64decode(first["envelope"])
    assert member.publish_prohibited(signed_list(api.world, 1))["duplicate"] is True
    second = api.member(1).publish_prohibited(signed_list(api.world, 2))
    newest = api.admin.with_key(None).prohibited()
    assert newest is not None and newest["sequence"] == 2
    assert newest["log_index"] == second["log_index"] > first["log_index"]
    _, root = load_pinned_root(api.world.root_bytes)
    plist = ProhibitedList.verify(base64.b64decode(newest["envelope"]), root)
    assert plist.sequence == 2 and len(plist) == 1
    size = api.admin.get("/v1/audit/log")["size"]
    # rejections: named errors, nothing changes
    with pytest.raises(RollbackError):
        member.publish_prohibited(signed_list(api.world, 1, tag=b"other"))
    with pytest.raises(ReplayError):
        member.publish_prohibited(signed_list(api.world, 2, tag=b"other"))
    with pytest.raises(BelowThresholdError):
        member.publish_prohibited(signed_list(api.world, 3, signers=2))
    with pytest.raises(MalformedError):
        member.publish_prohibited(b"\xff\x00garbage")
    with pytest.raises(ForbiddenError):
        api.admin.publish_prohibited(signed_list(api.world, 3))  # members publish, not admins
    assert api.admin.get("/v1/audit/log")["size"] == size
    assert api.admin.with_key(None).prohibited()["sequence"] == 2  # type: ignore[index]


def test_artifact_reports_are_stored_once_and_raise_alerts(api):
    op = api.owner("acme")
    report = {
        "event": "prohibited-artifact",
        "what": "model weights",
        "list_sequence": 2,
        "hits": [{"kind": "tensor", "sha256": "ab" * 32, "description": "w", "where": "x"}],
        "pid": 7,
        "uid": 1000,
        "gpu": "GPU-1",
    }
    rid = hashlib.sha256(b"line 1").hexdigest()
    out = op.report_artifacts([{"id": rid, "report": report}])
    assert out["accepted"] == 1 and out["duplicates"] == 0 and len(out["alerts"]) == 1
    again = op.report_artifacts([{"id": rid, "report": report}])  # a retry after a lost ack
    assert again == {"accepted": 0, "duplicates": 1, "alerts": []}
    alerts = api.admin.get("/v1/alerts", kind="prohibited_artifact")
    assert len(alerts) == 1
    assert alerts[0]["detail"]["owner_id"] == "acme"
    assert alerts[0]["detail"]["artifact"] == "ab" * 32
    stored = api.admin.get("/v1/artifact-reports", owner_id="acme")
    assert len(stored) == 1 and stored[0]["report"] == report
    with pytest.raises(SchemaError):
        op.report_artifacts([{"id": "not hex", "report": report}])
    with pytest.raises(ForbiddenError):
        api.member(0).report_artifacts([{"id": "cd" * 32, "report": report}])
    unsigned = api.admin.with_key(None)
    with pytest.raises(AuthError, match="unauthenticated"):
        unsigned.request("POST", "/v1/artifact-reports", json_body={"reports": []}, sign=False)
    assert len(api.admin.get("/v1/artifact-reports")) == 1
