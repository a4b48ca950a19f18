"""Trust root (R1-R4): pinning, roles, rotation as a chain, rollback, gaps, expiry."""

from __future__ import annotations

import dataclasses

import pytest

from pausebutton.errors import (
    BelowThresholdError,
    ChainError,
    ExpiredError,
    MalformedError,
    RollbackError,
    SchemaError,
    UnknownTypeError,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.genesis import found_authority
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import GLOBAL, PauseOrder, TimeToken
from pausebutton.protocol.trustroot import (
    ROLES,
    Member,
    Role,
    TrustRoot,
    load_pinned_root,
    verify_root_update,
)

NOW = 1_767_225_600
EXPIRES = NOW + 86_400 * 365
AUTH = found_authority(seed=b"trustroot-tests")
MEMBERS = list(AUTH.members.values())
NEW = [PrivateKey.from_seed_material(f"tr/new/{i}".encode()) for i in range(5)]
ROOT_V1 = AUTH.trust_root(version=1, expires=EXPIRES)
V1 = Envelope.create(ROOT_V1, MEMBERS).encode()


def rotated(root: TrustRoot, version: int, keys: list[PrivateKey], **changes: object) -> TrustRoot:
    members = tuple(
        Member(name=m.name, key=k.public.raw) for m, k in zip(root.members, keys, strict=True)
    )
    roles = dict(root.roles)
    roles["root"] = Role(keys=tuple(k.public.raw for k in keys), threshold=3)
    return dataclasses.replace(root, version=version, members=members, roles=roles, **changes)


# v2 keeps members 0 and 1 and replaces 2, 3, 4.
V2_KEYS = [MEMBERS[0], MEMBERS[1], NEW[2], NEW[3], NEW[4]]
ROOT_V2 = rotated(ROOT_V1, 2, V2_KEYS)


def test_pinned_root_r2() -> None:
    env, root = load_pinned_root(V1, NOW)
    assert root == ROOT_V1
    assert set(root.roles) == set(ROLES)
    assert root.log_origin == AUTH.log_origin
    assert root.verify_role(env, "root").ok


def test_pinned_root_needs_its_own_threshold() -> None:
    with pytest.raises(BelowThresholdError):
        load_pinned_root(Envelope.create(ROOT_V1, MEMBERS[:2]).encode(), NOW)
    load_pinned_root(Envelope.create(ROOT_V1, MEMBERS[:3]).encode(), NOW)


def test_pinned_root_expiry() -> None:
    load_pinned_root(V1, EXPIRES - 1)
    with pytest.raises(ExpiredError):
        load_pinned_root(V1, EXPIRES)
    load_pinned_root(V1)  # no time: no expiry check


def test_pinned_root_rejects_other_types_and_garbage() -> None:
    with pytest.raises(UnknownTypeError):
        load_pinned_root(Envelope.create(TimeToken(time=1, sequence=1), MEMBERS).encode())
    with pytest.raises(MalformedError):
        load_pinned_root(V1[:-3])


def test_roles_r4() -> None:
    _, root = load_pinned_root(V1, NOW)
    order = PauseOrder(sequence=1, scope=GLOBAL, effective_at=NOW, issued_at=NOW, reason="r")
    env = Envelope.create(order, MEMBERS[:3])
    root.require_role(env, "pause")
    with pytest.raises(BelowThresholdError):
        root.require_role(Envelope.create(order, MEMBERS[:2]), "pause")
    with pytest.raises(BelowThresholdError):
        root.require_role(env, "licensing")
    with pytest.raises(SchemaError):
        root.role("nope")
    assert root.role("witness").threshold == 2
    assert len(root.role_keys("landmark")) == 3
    assert root.member_by_key(MEMBERS[0].public.raw) == root.members[0]
    assert root.member_by_key(bytes(32)) is None


def test_rotation_needs_old_and_new_thresholds_r3() -> None:
    _, v1 = load_pinned_root(V1)
    both = Envelope.create(ROOT_V2, [MEMBERS[0], MEMBERS[1], MEMBERS[2], NEW[2]]).encode()
    _, v2 = verify_root_update(v1, both, NOW)
    assert v2.version == 2
    old_only = Envelope.create(ROOT_V2, MEMBERS[:3]).encode()
    with pytest.raises(BelowThresholdError, match="new root"):
        verify_root_update(v1, old_only, NOW)
    new_only = Envelope.create(ROOT_V2, [MEMBERS[0], NEW[2], NEW[3]]).encode()
    with pytest.raises(BelowThresholdError, match="current root"):
        verify_root_update(v1, new_only, NOW)


def test_rotation_chain() -> None:
    root_v3 = rotated(ROOT_V2, 3, [NEW[0], NEW[1], NEW[2], NEW[3], NEW[4]])
    v2 = Envelope.create(ROOT_V2, [MEMBERS[0], MEMBERS[1], MEMBERS[2], NEW[2]]).encode()
    v3 = Envelope.create(root_v3, [NEW[2], NEW[3], NEW[4]]).encode()
    _, current = load_pinned_root(V1)
    _, current = verify_root_update(current, v2, None)
    _, current = verify_root_update(current, v3, NOW)
    assert current.version == 3
    # the chain cannot be skipped
    _, v1 = load_pinned_root(V1)
    with pytest.raises(ChainError):
        verify_root_update(v1, v3, NOW)


def test_rollback() -> None:
    _, v1 = load_pinned_root(V1)
    with pytest.raises(RollbackError):
        verify_root_update(v1, V1, NOW)
    v2 = Envelope.create(ROOT_V2, [MEMBERS[0], MEMBERS[1], MEMBERS[2], NEW[2]]).encode()
    _, current = verify_root_update(v1, v2, NOW)
    with pytest.raises(RollbackError):
        verify_root_update(current, V1, NOW)
    with pytest.raises(RollbackError):
        verify_root_update(current, v2, NOW)


def test_rotation_expiry() -> None:
    _, v1 = load_pinned_root(V1)
    short = dataclasses.replace(ROOT_V2, expires=NOW)
    data = Envelope.create(short, [MEMBERS[0], MEMBERS[1], MEMBERS[2], NEW[2]]).encode()
    with pytest.raises(ExpiredError):
        verify_root_update(v1, data, NOW)
    verify_root_update(v1, data, NOW - 1)
    verify_root_update(v1, data, None)  # an intermediate step of a chain


def test_expired_current_root_can_still_rotate() -> None:
    _, v1 = load_pinned_root(V1)
    later = EXPIRES + 10
    root_v2 = dataclasses.replace(ROOT_V2, expires=later + 1000)
    data = Envelope.create(root_v2, [MEMBERS[0], MEMBERS[1], MEMBERS[2], NEW[2]]).encode()
    _, v2 = verify_root_update(v1, data, later)
    assert v2.expires > later


@pytest.mark.parametrize(
    "change",
    [
        lambda r: dataclasses.replace(r, version=0),
        lambda r: dataclasses.replace(r, expires=-1),
        lambda r: dataclasses.replace(r, log_origin=""),
        lambda r: dataclasses.replace(r, roles={k: v for k, v in r.roles.items() if k != "time"}),
        lambda r: dataclasses.replace(r, members=(*r.members, r.members[0])),
        lambda r: dataclasses.replace(
            r, roles={**r.roles, "root": Role(keys=r.roles["root"].keys, threshold=6)}
        ),
        lambda r: dataclasses.replace(
            r, roles={**r.roles, "root": Role(keys=r.roles["root"].keys, threshold=0)}
        ),
        lambda r: dataclasses.replace(
            r,
            roles={
                **r.roles,
                "root": Role(keys=(r.roles["root"].keys[0],) * 3, threshold=2),
            },
        ),
    ],
)
def test_invalid_roots_are_schema_errors(change: object) -> None:
    bad = change(ROOT_V1)  # type: ignore[operator]
    with pytest.raises(SchemaError):
        TrustRoot.decode_payload(bad.encode())


def test_member_validation() -> None:
    with pytest.raises(SchemaError):
        Member.from_value({"name": "", "key": bytes(32)})
    with pytest.raises(SchemaError):
        Member.from_value({"name": "m", "key": bytes(31)})
