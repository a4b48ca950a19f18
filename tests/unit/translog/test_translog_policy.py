"""The chip/auditor policy: log signature, W witness cosignatures, inclusion bundles."""

from __future__ import annotations

import pytest

from pausebutton.errors import (
    BadSignatureError,
    BelowThresholdError,
    EncodingError,
    MalformedError,
    NotLoggedError,
    ProofError,
    SchemaError,
)
from pausebutton.protocol.genesis import found_authority
from pausebutton.protocol.keys import PrivateKey
from pausebutton.translog import merkle
from pausebutton.translog.bundle import ConsistencyBundle, InclusionBundle
from pausebutton.translog.note import CheckpointBody, SignedCheckpoint
from pausebutton.translog.policy import LogPolicy

NOW = 1_800_000_000
ENTRIES = [f"entry {i}".encode() for i in range(11)]
LEAVES = [merkle.leaf_hash(e) for e in ENTRIES]


@pytest.fixture(scope="module")
def auth():  # type: ignore[no-untyped-def]
    return found_authority(seed=b"policy-test", witnesses=3, witness_threshold=2)


@pytest.fixture(scope="module")
def policy(auth) -> LogPolicy:  # type: ignore[no-untyped-def]
    return LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))


def _checkpoint(auth, size: int, witnesses: int = 2, log_key: PrivateKey | None = None):  # type: ignore[no-untyped-def]
    body = CheckpointBody(auth.log_origin, size, merkle.tree_root(LEAVES[:size]))
    cp = SignedCheckpoint.sign(body, log_key or auth.key("log"))
    return cp.with_signatures(
        [cp.cosign(auth.key("witness", i), NOW - 10) for i in range(witnesses)]
    )


def _bundle(auth, index: int, size: int, **kw) -> InclusionBundle:  # type: ignore[no-untyped-def]
    return InclusionBundle(
        entry=ENTRIES[index],
        leaf_index=index,
        tree_size=size,
        proof=tuple(merkle.inclusion_proof(LEAVES[:size], index)),
        checkpoint=_checkpoint(auth, size, **kw).encode(),
    )


def test_policy_from_trust_root(policy: LogPolicy, auth) -> None:  # type: ignore[no-untyped-def]
    assert policy.origin == auth.log_origin
    assert policy.witness_threshold == 2
    assert len(policy.witness_keys) == 3
    assert policy.log_keys[0].raw == auth.key("log").public.raw


def test_verify_entry_accepts_a_good_bundle(policy: LogPolicy, auth) -> None:  # type: ignore[no-untyped-def]
    for size in (1, 7, 11):
        for index in range(size):
            bundle = _bundle(auth, index, size)
            again = InclusionBundle.decode(bundle.encode())
            assert again == bundle
            cp = policy.verify_entry(ENTRIES[index], again, now=NOW)
            assert cp.size == size and cp.root_hash == merkle.tree_root(LEAVES[:size])


def test_checkpoint_needs_w_distinct_witnesses(policy: LogPolicy, auth) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BelowThresholdError):
        policy.verify_checkpoint(_checkpoint(auth, 5, witnesses=1).encode())
    with pytest.raises(BelowThresholdError):
        policy.verify_checkpoint(_checkpoint(auth, 5, witnesses=0).encode())
    assert policy.verify_checkpoint(_checkpoint(auth, 5, witnesses=3).encode()).size == 5
    report = policy.check_checkpoint(_checkpoint(auth, 5, witnesses=3).encode())
    assert len(report.witnesses) == 3
    # one witness cosigning twice under other names does not count twice
    cp = _checkpoint(auth, 5, witnesses=1)
    w0 = auth.key("witness", 0)
    from pausebutton.translog.note import cosign_note_text

    dup = cosign_note_text(cp.note.text, "witness-other", w0, NOW)
    with pytest.raises(BelowThresholdError):
        policy.verify_checkpoint(cp.with_signatures([dup]).encode())
    # cosignatures by keys outside the witness role do not count
    outsider = PrivateKey.from_seed_material(b"outsider")
    with pytest.raises(BelowThresholdError):
        policy.verify_checkpoint(cp.with_signatures([cp.cosign(outsider, NOW)]).encode())


def test_future_cosignatures_do_not_count(policy: LogPolicy, auth) -> None:  # type: ignore[no-untyped-def]
    body = CheckpointBody(auth.log_origin, 3, merkle.tree_root(LEAVES[:3]))
    cp = SignedCheckpoint.sign(body, auth.key("log"))
    cp = cp.with_signatures(
        [cp.cosign(auth.key("witness", 0), NOW), cp.cosign(auth.key("witness", 1), NOW + 10_000)]
    )
    policy.verify_checkpoint(cp.encode())
    with pytest.raises(BelowThresholdError):
        policy.verify_checkpoint(cp.encode(), now=NOW)


def test_checkpoint_must_be_signed_by_the_log(policy: LogPolicy, auth) -> None:  # type: ignore[no-untyped-def]
    forged = _checkpoint(auth, 5, log_key=PrivateKey.from_seed_material(b"rogue"))
    with pytest.raises(BelowThresholdError):
        policy.verify_checkpoint(forged.encode())
    other = found_authority(seed=b"policy-test", log_origin="other.example/log")
    with pytest.raises(NotLoggedError):
        policy.verify_checkpoint(_checkpoint(other, 5).encode())
    good = _checkpoint(auth, 5).encode()
    tampered = good.replace("\n5\n", "\n6\n", 1)
    with pytest.raises(BadSignatureError):
        policy.verify_checkpoint(tampered)
    with pytest.raises(MalformedError):
        policy.verify_checkpoint(good.replace("\n\n", "\n", 1))


def test_verify_entry_rejections(policy: LogPolicy, auth) -> None:  # type: ignore[no-untyped-def]
    bundle = _bundle(auth, 3, 7)
    with pytest.raises(NotLoggedError):
        policy.verify_entry(ENTRIES[3], None)
    with pytest.raises(NotLoggedError):
        policy.verify_entry(ENTRIES[4], bundle)
    with pytest.raises(ProofError):  # wrong index
        policy.verify_entry(ENTRIES[3], _replace(bundle, leaf_index=4))
    with pytest.raises(ProofError):  # size that does not match the checkpoint
        policy.verify_entry(ENTRIES[3], _replace(bundle, tree_size=8))
    with pytest.raises(ProofError):  # truncated proof
        policy.verify_entry(ENTRIES[3], _replace(bundle, proof=bundle.proof[:-1]))
    with pytest.raises(ProofError):  # extended proof
        policy.verify_entry(ENTRIES[3], _replace(bundle, proof=(*bundle.proof, b"\x00" * 32)))
    flipped = (bytes([bundle.proof[0][0] ^ 1]) + bundle.proof[0][1:], *bundle.proof[1:])
    with pytest.raises(ProofError):
        policy.verify_entry(ENTRIES[3], _replace(bundle, proof=flipped))
    with pytest.raises(BelowThresholdError):
        policy.verify_entry(ENTRIES[3], _bundle(auth, 3, 7, witnesses=1))
    # a proof under another checkpoint of the same log
    other_cp = _checkpoint(auth, 8).encode()
    with pytest.raises(ProofError):
        policy.verify_entry(ENTRIES[3], _replace(bundle, checkpoint=other_cp))


def _replace(bundle: InclusionBundle, **changes: object) -> InclusionBundle:
    value = bundle.to_value() | {
        k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()
    }
    return InclusionBundle.from_value(value)


def test_bundle_decoding_rejects_bad_input(auth) -> None:  # type: ignore[no-untyped-def]
    good = _bundle(auth, 0, 3)
    data = good.encode()
    with pytest.raises(EncodingError):
        InclusionBundle.decode(data[:-1])
    with pytest.raises(EncodingError):
        InclusionBundle.decode(b"")
    with pytest.raises(SchemaError):
        _replace(good, leaf_index=3)
    with pytest.raises(SchemaError):
        _replace(good, proof=(b"short",))
    with pytest.raises(SchemaError):
        _replace(good, proof=tuple([b"\x00" * 32] * 65))
    with pytest.raises(SchemaError):
        _replace(good, checkpoint="x" * 20_000)


def test_consistency_bundle(policy: LogPolicy, auth) -> None:  # type: ignore[no-untyped-def]
    old, new = _checkpoint(auth, 4), _checkpoint(auth, 11)
    bundle = ConsistencyBundle(
        old_checkpoint=old.encode(),
        new_checkpoint=new.encode(),
        proof=tuple(merkle.consistency_proof(LEAVES, 4)),
    )
    bundle = ConsistencyBundle.decode(bundle.encode())
    a, b = policy.verify_consistency(bundle, cosigned=True)
    assert (a.size, b.size) == (4, 11)
    bad = ConsistencyBundle(
        old_checkpoint=old.encode(),
        new_checkpoint=new.encode(),
        proof=tuple(merkle.consistency_proof(LEAVES, 5)),
    )
    with pytest.raises(ProofError):
        policy.verify_consistency(bad)
