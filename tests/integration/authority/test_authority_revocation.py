"""Revoking a member key: it stops counting at once in every threshold check of the
authority (pauses, approvals, prohibited lists) and no longer authenticates."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pausebutton import errors
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts

NOW = int(time.time())
DAY = 86400


def kid(api: Any, i: int) -> str:
    return str(api.world.member(i).key_id.hex())


def sign(api: Any, prop: dict[str, Any], i: int) -> dict[str, Any]:
    k = api.world.member(i)
    out: dict[str, Any] = api.member(i).post(
        f"/v1/orders/proposals/{prop['id']}/signatures",
        {"key_id": k.key_id.hex(), "sig": k.sign(bytes.fromhex(prop["signing_input"])).hex()},
    )
    return out


def test_an_admin_revokes_a_member_key_at_once(api: Any) -> None:
    out = api.admin.post(f"/v1/keys/{kid(api, 0)}/revoke")
    assert out["revoked"] is True
    listed = {k["key_id"]: k for k in api.admin.get("/v1/keys")}
    assert listed[kid(api, 0)]["revoked"] is True and listed[kid(api, 1)]["revoked"] is False
    with pytest.raises(errors.RevokedKeyError):
        api.member(0).post(
            "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "x"}
        )
    # an operator cannot revoke a member
    op = api.owner()
    with pytest.raises(errors.ForbiddenError):
        op.post(f"/v1/keys/{kid(api, 1)}/revoke")


def test_a_revoked_member_cannot_complete_a_pause(api: Any) -> None:
    prop = api.member(1).post(
        "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "x"}
    )
    sign(api, prop, 0)
    sign(api, prop, 1)
    api.admin.post(f"/v1/keys/{kid(api, 0)}/revoke")
    # member 0's signature, given before, no longer counts: 2 signatures, 1 valid + member 2
    out = sign(api, prop, 2)
    assert out["status"] == "open" and not out["assembled_now"]
    assert api.member(1).get("/v1/orders") == []
    with pytest.raises(errors.RevokedKeyError):
        sign(api, prop, 0)
    out = sign(api, prop, 3)
    assert out["status"] == "assembled" and out["assembled_now"]


def test_members_vote_a_member_key_out(api: Any) -> None:
    target = kid(api, 4)
    for i, expected in ((0, False), (1, False)):
        out = api.member(i).post(f"/v1/keys/{target}/revoke")
        assert out["revoked"] is expected and out["needed"] == 3
    # one vote counts once
    assert api.member(1).post(f"/v1/keys/{target}/revoke")["votes"] == 2
    out = api.member(2).post(f"/v1/keys/{target}/revoke")
    assert out == {"key_id": target, "revoked": True, "votes": 3, "needed": 3}
    with pytest.raises(errors.RevokedKeyError):
        api.member(4).post(
            "/v1/orders/proposals", {"kind": "pause", "scope": {"kind": "global"}, "reason": "x"}
        )


def test_a_member_revokes_its_own_key(api: Any) -> None:
    out = api.member(3).post(f"/v1/keys/{kid(api, 3)}/revoke")
    assert out["revoked"] is True


def test_a_revoked_member_cannot_complete_an_approval(frontier_api: Any) -> None:
    api = frontier_api
    op = api.owner()
    api.facility()
    chips = api.chips(2)
    body = {
        "chips": [c.chip_id for c in chips],
        "flop_budget": "2e21",
        "not_before": NOW,
        "not_after": NOW + 30 * DAY,
        "run_id": "run-1",
        "purpose": "testing",
    }
    app = op.post("/v1/licenses/applications", body)
    assert app["status"] == "pending"
    url = f"/v1/licenses/applications/{app['id']}/approvals"
    api.member(0).post(url)
    api.member(1).post(url)
    api.admin.post(f"/v1/keys/{kid(api, 0)}/revoke")
    app = api.member(2).post(url)
    assert app["status"] == "pending", "a revoked member's approval still counted"
    app = api.member(3).post(url)
    assert app["status"] == "issued"


def test_a_revoked_members_signature_does_not_publish_a_prohibited_list(api: Any) -> None:
    plist = ProhibitedArtifacts(
        sequence=1,
        issued_at=NOW,
        artifacts=(Artifact(ArtifactKind.FILE, bytes(32), "weights"),),
    )
    env = Envelope.create(plist, [api.world.member(i) for i in range(3)])
    api.admin.post(f"/v1/keys/{kid(api, 0)}/revoke")
    with pytest.raises(errors.BelowThresholdError):
        api.member(1).publish_prohibited(env.encode())
    assert api.member(1).publish_prohibited(env.sign(api.world.member(3)).encode())["sequence"] == 1
