"""Protocol step G: the rules every root proposal keeps, root changes and chains."""

from __future__ import annotations

import pytest

from pausebutton.errors import (
    BelowThresholdError,
    ChainError,
    FloorError,
    LastKeyError,
    RollbackError,
    SchemaError,
    UsageError,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.protocol.governance import (
    RootChange,
    apply_change,
    check_root,
    describe_change,
    member_floor,
    verify_chain,
    verify_change,
)
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.trustroot import Member, TrustRoot

EXPIRES = 2_000_000_000


@pytest.fixture(scope="module")
def keys() -> AuthorityKeys:
    return found_authority(members=4, threshold=3, seed=b"governance")


@pytest.fixture(scope="module")
def v1(keys: AuthorityKeys) -> TrustRoot:
    return keys.trust_root(version=1, expires=EXPIRES)


def members(keys: AuthorityKeys) -> list[PrivateKey]:
    return list(keys.members.values())


def new_key(label: str) -> PrivateKey:
    return PrivateKey.from_seed_material(b"governance/" + label.encode())


def test_floor_is_a_strict_majority() -> None:
    assert [member_floor(n) for n in (1, 2, 3, 4, 5, 7)] == [1, 2, 2, 3, 3, 4]


def test_a_root_below_its_floor_is_refused(keys: AuthorityKeys) -> None:
    low = found_authority(members=4, threshold=2, seed=b"governance")
    with pytest.raises(FloorError, match="below its floor 3"):
        check_root(low.trust_root(version=1, expires=EXPIRES))
    check_root(keys.trust_root(version=1, expires=EXPIRES))


def test_add_member_needs_old_threshold_new_threshold_and_the_new_key(
    keys: AuthorityKeys, v1: TrustRoot
) -> None:
    es = new_key("ES")
    v2 = apply_change(v1, RootChange(add_members=(Member("ES", es.public.raw, "ES"),)))
    assert v2.version == 2 and len(v2.members) == 5
    assert v2.role("root").keys == v2.role("pause").keys
    assert "+ member ES (ES)" in describe_change(v1, v2)
    old = members(keys)
    # the old root's K (3) and the new root's K (3 of 5) are met, but the new key is silent
    env = Envelope.create(v2, old[:3])
    with pytest.raises(BelowThresholdError, match="has not signed"):
        verify_change(v1, env.encode(), None)
    verify_change(v1, env.sign(es).encode(), None)
    # the new member's signature does not replace one of the old root's
    with pytest.raises(BelowThresholdError, match="members of v1"):
        verify_change(v1, Envelope.create(v2, [*old[:2], es]).encode(), None)


def test_remove_member_rotate_key_and_change_k(keys: AuthorityKeys, v1: TrustRoot) -> None:
    old = members(keys)
    names = list(keys.members)
    v2 = apply_change(v1, RootChange(remove_members=(names[3],)))
    assert [m.name for m in v2.members] == names[:3]
    env = Envelope.create(v2, old[:3])
    _, got = verify_change(v1, env.encode(), None)
    assert got == v2
    rotated = new_key("rotated")
    v3 = apply_change(v2, RootChange(rotate_members=((names[0], rotated.public.raw),)))
    assert v3.members[0].key == rotated.public.raw
    signed = Envelope.create(v3, [*old[:3], rotated])
    verify_change(v2, signed.encode(), None)
    # the old key no longer counts under v3
    order = Envelope.create(v3, old[:3])
    assert len(v3.verify_role(order, "pause").signed) == 2
    v4 = apply_change(v3, RootChange(thresholds={"pause": 3, "root": 3}))
    assert v4.role("pause").threshold == 3


def test_named_refusals(keys: AuthorityKeys, v1: TrustRoot) -> None:
    with pytest.raises(FloorError):
        apply_change(v1, RootChange(thresholds={"pause": 2}))
    vendor = keys.key("vendor").key_id
    with pytest.raises(LastKeyError, match="last vendor"):
        apply_change(v1, RootChange(remove_keys=(("vendor", vendor),)))
    with pytest.raises(SchemaError):
        apply_change(v1, RootChange(thresholds={"witness": 9}))
    with pytest.raises(UsageError):
        apply_change(v1, RootChange())
    with pytest.raises(UsageError):
        apply_change(v1, RootChange(add_keys=(("pause", new_key("x").public.raw),)))
    v2 = apply_change(v1, RootChange(expires=EXPIRES + 1))
    v3 = apply_change(v2, RootChange(expires=EXPIRES + 2))
    old = members(keys)
    with pytest.raises(ChainError, match="skips"):
        verify_change(v1, Envelope.create(v3, old).encode(), None)
    with pytest.raises(RollbackError):
        verify_change(v2, Envelope.create(v2, old).encode(), None)
    with pytest.raises(BelowThresholdError):
        verify_change(v1, Envelope.create(v2, old[:2]).encode(), None)


def test_revoked_keys_do_not_count_towards_the_old_threshold(
    keys: AuthorityKeys, v1: TrustRoot
) -> None:
    old = members(keys)
    v2 = apply_change(v1, RootChange(expires=EXPIRES + 1))
    data = Envelope.create(v2, old[:3]).encode()
    verify_change(v1, data, None)
    with pytest.raises(BelowThresholdError):
        verify_change(v1, data, None, revoked={old[0].key_id})


def test_vendor_added_and_chain_catch_up(keys: AuthorityKeys, v1: TrustRoot) -> None:
    old = members(keys)
    vendor2 = new_key("vendor-2")
    v2 = apply_change(v1, RootChange(add_keys=(("vendor", vendor2.public.raw),)))
    assert len(v2.role("vendor").keys) == 2
    e2 = Envelope.create(v2, [*old[:3], vendor2])
    v3 = apply_change(v2, RootChange(expires=EXPIRES + 5))
    e3 = Envelope.create(v3, old[1:4])
    chain = verify_chain(v1, [e2.encode(), e3.encode()], now=EXPIRES)
    assert [r.version for _, r in chain] == [2, 3]
    with pytest.raises(ChainError):
        verify_chain(v1, [e3.encode()], now=None)
