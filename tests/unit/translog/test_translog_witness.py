"""Witness decisions (pure): cosign extensions, refuse bad checkpoints, catch forks."""

from __future__ import annotations

import json

import pytest

from pausebutton.errors import BelowThresholdError, MalformedError, ProofError
from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.protocol.keys import PrivateKey
from pausebutton.translog import merkle
from pausebutton.translog.note import CheckpointBody, SignedCheckpoint
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.witness import (
    Verdict,
    Witness,
    WitnessState,
    refuses_proof,
    state_from_bytes,
    state_to_bytes,
)

NOW = 1_800_000_000
A = [merkle.leaf_hash(f"a{i}".encode()) for i in range(20)]
B = A[:5] + [merkle.leaf_hash(f"b{i}".encode()) for i in range(5, 20)]


@pytest.fixture(scope="module")
def auth() -> AuthorityKeys:
    return found_authority(seed=b"witness-test")


@pytest.fixture(scope="module")
def witness(auth: AuthorityKeys) -> Witness:
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    return Witness(policy, auth.key("witness", 0))


def _cp(auth: AuthorityKeys, leaves: list[bytes], size: int, key: PrivateKey | None = None) -> str:
    body = CheckpointBody(auth.log_origin, size, merkle.tree_root(leaves[:size]))
    return SignedCheckpoint.sign(body, key or auth.key("log")).encode()


def _step(witness: Witness, state: WitnessState | None, note: str, leaves: list[bytes]):  # type: ignore[no-untyped-def]
    cp = witness.parse(note)
    need = witness.proof_needed(state, cp)
    proof = merkle.consistency_proof(leaves[: need[1]], need[0]) if need else None
    return witness.evaluate(state, cp, proof, now=NOW)


def test_follow_an_honest_log(witness: Witness, auth: AuthorityKeys) -> None:
    assert witness.in_trust_root
    step = _step(witness, None, _cp(auth, A, 3), A)
    assert step.verdict is Verdict.COSIGN and step.state is not None
    assert (
        witness.policy.witness_verifiers[0].verify(step.checkpoint.note.text, step.cosignature)
        == NOW
    )  # type: ignore[arg-type]
    state = step.state
    for size in (3, 4, 9, 16, 17):
        step = _step(witness, state, _cp(auth, A, size), A)
        assert step.verdict is (Verdict.UNCHANGED if size == state.size else Verdict.COSIGN)
        assert step.cosignature is not None
        state = step.state  # type: ignore[assignment]
        assert state.size == size
    stale = _step(witness, state, _cp(auth, A, 10), A)
    assert stale.verdict is Verdict.STALE and stale.state == state and stale.cosignature is None
    # the cosigned note carries the log signature and the cosignature, nothing else
    cosigned = SignedCheckpoint.parse(step.cosigned_note())
    assert [s.name for s in cosigned.note.signatures] == [auth.log_origin, witness.name]
    assert state_from_bytes(state_to_bytes(state)) == state


def test_fork_by_bad_consistency_proof(witness: Witness, auth: AuthorityKeys) -> None:
    state = _step(witness, None, _cp(auth, A, 8), A).state
    step = _step(witness, state, _cp(auth, B, 12), B)
    assert step.verdict is Verdict.FORK and step.cosignature is None
    assert step.state == state  # nothing changes
    ev = step.evidence
    assert ev is not None
    assert ev.old_checkpoint == state.checkpoint  # type: ignore[union-attr]
    assert SignedCheckpoint.parse(ev.new_checkpoint).size == 12
    # the evidence convinces anyone with the trust root
    with pytest.raises(ProofError):
        witness.policy.verify_consistency(ev.bundle())
    doc = ev.to_json(log_url="http://log", detected_at=NOW)
    assert doc["format"] == "pausebutton-witness-fork/1" and len(doc["proof"]) == len(ev.proof)


def test_fork_by_second_root_for_one_size(witness: Witness, auth: AuthorityKeys) -> None:
    state = _step(witness, None, _cp(auth, A, 8), A).state
    step = _step(witness, state, _cp(auth, B, 8), B)
    assert step.verdict is Verdict.FORK and step.evidence is not None
    assert "two roots" in step.evidence.reason


def test_fork_by_older_inconsistent_checkpoint(witness: Witness, auth: AuthorityKeys) -> None:
    state = _step(witness, None, _cp(auth, A, 12), A).state
    step = _step(witness, state, _cp(auth, B, 8), B)
    assert step.verdict is Verdict.FORK


def test_refuses_checkpoints_not_signed_by_the_log(witness: Witness, auth: AuthorityKeys) -> None:
    with pytest.raises(BelowThresholdError):
        witness.parse(_cp(auth, A, 5, key=PrivateKey.from_seed_material(b"rogue")))
    with pytest.raises(MalformedError):
        witness.parse("garbage")
    state = _step(witness, None, _cp(auth, A, 8), A).state
    cp = witness.parse(_cp(auth, A, 9))
    with pytest.raises(ProofError):
        witness.evaluate(state, cp, None, now=NOW)


def test_state_rejects_tampering(witness: Witness, auth: AuthorityKeys) -> None:
    state = _step(witness, None, _cp(auth, A, 8), A).state
    assert state is not None
    raw = state_to_bytes(state)
    with pytest.raises(MalformedError):
        state_from_bytes(raw.replace(b'"size": 8', b'"size": 9'))
    with pytest.raises(MalformedError):
        state_from_bytes(b"{")
    with pytest.raises(MalformedError):
        state_from_bytes(b'{"format": "other"}')


def test_review_alert(witness: Witness, auth: AuthorityKeys) -> None:
    from pausebutton.errors import BadSignatureError
    from pausebutton.translog.witness import AlertFinding, parse_alert, review_alert

    policy = witness.policy
    state = _step(witness, None, _cp(auth, A, 8), A).state
    fork = _step(witness, state, _cp(auth, B, 12), B).evidence
    assert fork is not None
    evidence = parse_alert(json.dumps(fork.to_json()).encode())
    assert evidence == fork
    assert review_alert(policy, evidence).finding is AlertFinding.UNRESOLVED
    honest = merkle.consistency_proof(A[:12], 8)
    assert review_alert(policy, evidence, honest).finding is AlertFinding.PROVEN
    b_proof = merkle.consistency_proof(B[:12], 8)
    assert review_alert(policy, evidence, b_proof).finding is AlertFinding.PROVEN
    # a consistent pair is refuted by a valid proof
    ok = _step(witness, state, _cp(auth, A, 12), A)
    fake = ok.checkpoint
    from pausebutton.translog.witness import ForkEvidence

    benign = ForkEvidence(auth.log_origin, state.checkpoint, fake.encode(), (), "bogus")  # type: ignore[union-attr]
    assert review_alert(policy, benign).finding is AlertFinding.UNRESOLVED
    assert review_alert(policy, benign, honest).finding is AlertFinding.REFUTED
    same = _step(witness, state, _cp(auth, B, 8), B).evidence
    assert same is not None
    assert review_alert(policy, same).finding is AlertFinding.PROVEN
    # an alert whose checkpoints the log never signed proves nothing
    forged = ForkEvidence(
        auth.log_origin,
        _cp(auth, A, 8, key=PrivateKey.from_seed_material(b"x")),
        fake.encode(),
        (),
        "x",
    )
    with pytest.raises(BelowThresholdError):
        review_alert(policy, forged)
    tampered = ForkEvidence(
        auth.log_origin,
        state.checkpoint.replace("\n8\n", "\n9\n"),
        fake.encode(),
        (),
        "x",  # type: ignore[union-attr]
    )
    with pytest.raises(BadSignatureError):
        review_alert(policy, tampered)
    with pytest.raises(MalformedError):
        parse_alert(b"{}")


def test_an_unprovable_shrink_is_a_fork(witness: Witness, auth: AuthorityKeys) -> None:
    state = _step(witness, None, _cp(auth, A, 5), A).state
    shrunk = witness.parse(_cp(auth, A, 3))
    assert witness.proof_needed(state, shrunk) == (3, 5)
    # the log refused the proof (refuses_proof): the empty proof stands for it, and fails
    step = witness.evaluate(state, shrunk, [], now=NOW)
    assert step.verdict is Verdict.FORK and step.state == state and step.cosignature is None
    assert step.evidence is not None and step.evidence.proof == ()
    # with the log's real proof, the same checkpoint is only stale
    proof = merkle.consistency_proof(A[:5], 3)
    assert witness.evaluate(state, shrunk, proof, now=NOW).verdict is Verdict.STALE


@pytest.mark.parametrize(
    ("status", "refusal"),
    [(400, True), (404, True), (422, True), (401, False), (403, False), (429, False),
     (408, False), (200, False), (500, False), (503, False)],
)  # fmt: skip
def test_which_answers_refuse_a_proof(status: int, refusal: bool) -> None:
    assert refuses_proof(status) is refusal


def test_a_cosign_request_round_trips_and_names_a_missing_proof(auth: AuthorityKeys) -> None:
    from pausebutton.translog.witness import CosignRequest

    note = _cp(auth, A, 8)
    proofs = {5: tuple(merkle.consistency_proof(A[:8], 5))}
    req = CosignRequest(note, proofs, (b"root-2",))
    back = CosignRequest.from_bytes(req.to_bytes())
    assert back == req
    assert back.proof_for(5, 8) == proofs[5]
    with pytest.raises(ProofError, match="from size 3 to 8"):
        back.proof_for(3, 8)
    for bad in (b"not json", b"{}", json.dumps({"format": "other/1"}).encode()):
        with pytest.raises(MalformedError):
            CosignRequest.from_bytes(bad)
    doc = json.loads(req.to_bytes())
    doc["proofs"][0]["proof"] = ["AAAA"] * 65
    with pytest.raises(MalformedError, match="at most 64"):
        CosignRequest.from_bytes(json.dumps(doc).encode())


def test_merged_cosignatures_must_reach_the_witness_threshold(auth: AuthorityKeys) -> None:
    from pausebutton.issuing.offline import merge_cosignatures

    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    signed = SignedCheckpoint.parse(_cp(auth, A, 8))
    copies = [
        signed.with_signatures([signed.cosign(auth.key("witness", i), NOW)]).encode().encode()
        for i in range(3)
    ]
    with pytest.raises(BelowThresholdError):
        merge_cosignatures(policy, signed, copies[:1])
    merged = merge_cosignatures(policy, signed, copies)
    assert len(policy.check_checkpoint(merged).witnesses) == 3
    other = SignedCheckpoint.parse(_cp(auth, A, 9))
    with pytest.raises(ProofError, match="size 9"):
        merge_cosignatures(policy, signed, [other.encode().encode()])
