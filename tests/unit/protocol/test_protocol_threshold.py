"""K-of-N threshold checks (T1-T4)."""

from __future__ import annotations

import pytest

from pausebutton.errors import BelowThresholdError
from pausebutton.protocol.envelope import Envelope, Signature
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import TimeToken
from pausebutton.protocol.threshold import verify_threshold

KEYS = [PrivateKey.from_seed_material(f"thr/{i}".encode()) for i in range(5)]
PUBLIC = [k.public for k in KEYS]
OUTSIDER = PrivateKey.from_seed_material(b"thr/outsider")
TOKEN = TimeToken(time=100, sequence=1)


def signed(*keys: PrivateKey) -> Envelope:
    return Envelope.create(TOKEN, keys)


def with_sigs(env: Envelope, *extra: Signature) -> Envelope:
    return Envelope(env.type, env.version, env.payload, (*env.signatures, *extra))


def test_k_signatures_pass() -> None:
    result = verify_threshold(signed(*KEYS[:3]), PUBLIC, 3)
    assert result.ok
    assert result.signed == {k.key_id for k in KEYS[:3]}
    assert result.unsigned == {k.key_id for k in KEYS[3:]}
    assert result.missing == 0
    result.require()


def test_k_minus_one_fails_with_result() -> None:
    result = verify_threshold(signed(*KEYS[:2]), PUBLIC, 3)
    assert not result.ok
    assert result.missing == 1
    assert len(result.unsigned) == 3
    with pytest.raises(BelowThresholdError) as info:
        result.require("pause")
    assert info.value.details == {"signed": 2, "threshold": 3, "missing": 1}


def test_one_members_signature_duplicated_counts_once() -> None:
    env = signed(*KEYS[:2])
    dup = next(s for s in env.signatures if s.key_id == KEYS[0].key_id)
    env = with_sigs(env, dup, dup, dup)
    result = verify_threshold(env, PUBLIC, 3)
    assert len(result.signed) == 2
    assert not result.ok


def test_same_key_listed_twice_counts_once() -> None:
    env = signed(KEYS[0], KEYS[1])
    # the authorised list repeats key 0; the threshold of 3 must not be met by it
    result = verify_threshold(env, [PUBLIC[0], PUBLIC[0], PUBLIC[1], PUBLIC[2]], 3)
    assert len(result.signed) == 2
    assert not result.ok
    assert result.unsigned == {KEYS[2].key_id}


def test_unknown_key_ids_are_ignored() -> None:
    env = signed(KEYS[0], KEYS[1], KEYS[2], OUTSIDER)
    result = verify_threshold(env, PUBLIC, 3)
    assert result.ok
    assert OUTSIDER.key_id not in result.signed
    junk = Signature(bytes(32), bytes(64))
    assert verify_threshold(with_sigs(env, junk), PUBLIC, 3).signed == result.signed


def test_bad_signature_is_ignored_not_fatal() -> None:
    env = signed(KEYS[0], KEYS[1])
    forged = Signature(KEYS[2].key_id, bytes(64))
    result = verify_threshold(with_sigs(env, forged), PUBLIC, 3)
    assert len(result.signed) == 2 and not result.ok


def test_valid_after_invalid_for_same_key_counts() -> None:
    env = signed(KEYS[0])
    bad = Signature(KEYS[0].key_id, bytes(64))
    good = env.signatures[0]
    assert verify_threshold(Envelope(env.type, 1, env.payload, (bad, good)), PUBLIC, 1).ok


def test_key_id_alias_does_not_count() -> None:
    env = signed(KEYS[0], KEYS[1])
    sig0 = next(s.sig for s in env.signatures if s.key_id == KEYS[0].key_id)
    alias = Signature(KEYS[2].key_id, sig0)  # key 2's id with key 0's signature
    assert len(verify_threshold(with_sigs(env, alias), PUBLIC, 3).signed) == 2


def test_signature_over_other_payload_does_not_count() -> None:
    other = Envelope.create(TimeToken(time=101, sequence=1), [KEYS[2]])
    env = with_sigs(signed(KEYS[0], KEYS[1]), other.signatures[0])
    assert not verify_threshold(env, PUBLIC, 3).ok


def test_threshold_zero_is_never_ok() -> None:
    assert not verify_threshold(signed(*KEYS), PUBLIC, 0).ok


def test_no_keys() -> None:
    result = verify_threshold(signed(KEYS[0]), [], 1)
    assert not result.ok and result.missing == 1 and result.unsigned == frozenset()
