"""A witness's decisions: cosign a checkpoint only if it extends the last one cosigned. Pure.

Protocol step W (docs/translog.md, "Witness"):

W1. A witness keeps one state per log: the last checkpoint it cosigned (note text, size,
    root). It starts with none and then trusts the first checkpoint it sees (a deployment
    may pin a first state instead).
W2. A new checkpoint must carry the log role's signatures (V1 without the witness
    threshold) and the trust root's origin; otherwise it is refused, the state unchanged.
W3. Same size: the same root is *unchanged* (re-cosigned with a fresh timestamp); another
    root is a *fork*. Larger size: the RFC 9162 consistency proof from the state to the
    new checkpoint must verify; then the witness cosigns and the new checkpoint becomes its
    state. Smaller size: the proof from the new checkpoint to the state must verify; the
    witness does not cosign an older tree and keeps its state.
W4. A failed proof or a second root for one size is a *fork*: the witness stops, and its
    evidence holds both checkpoint notes and the proof that failed. A log that refuses a
    proof between two sizes it signed gives the empty proof (the edge decides what a
    refusal is), which fails: an unprovable shrink is a fork too.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pausebutton.errors import MalformedError, ProofError
from pausebutton.protocol.keys import PrivateKey
from pausebutton.translog import merkle
from pausebutton.translog.bundle import ConsistencyBundle
from pausebutton.translog.note import Note, NoteSignature, SignedCheckpoint, witness_name
from pausebutton.translog.policy import LogPolicy

STATE_FORMAT = "pausebutton-witness-state/1"
ALERT_FORMAT = "pausebutton-witness-fork/1"


@dataclass(frozen=True)
class WitnessState:
    """W1: the last checkpoint this witness cosigned for a log."""

    origin: str
    size: int
    root_hash: bytes
    checkpoint: str
    """The log-signed checkpoint note (without cosignatures)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "size": self.size,
            "root_hash": base64.b64encode(self.root_hash).decode(),
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_json(cls, doc: Any) -> WitnessState:
        try:
            if doc["format"] != STATE_FORMAT:
                raise MalformedError(f"witness state is not {STATE_FORMAT}")
            cp = SignedCheckpoint.parse(doc["checkpoint"])
            state = cls(str(doc["origin"]), int(doc["size"]), cp.root_hash, cp.encode())
            if base64.b64decode(doc["root_hash"], validate=True) != state.root_hash:
                raise MalformedError("witness state root does not match its checkpoint")
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedError(f"witness state is unreadable: {exc}") from None
        if (state.origin, state.size) != (cp.origin, cp.size):
            raise MalformedError("witness state does not match its checkpoint")
        return state


class Verdict(enum.Enum):
    COSIGN = "cosign"
    """A new, consistent checkpoint: cosign it and make it the state."""
    UNCHANGED = "unchanged"
    """The same checkpoint again: re-cosign it; the state stays."""
    STALE = "stale"
    """An older checkpoint, consistent with the state: nothing to cosign."""
    FORK = "fork"
    """Two checkpoints that cannot both be true: stop and raise the alarm."""


@dataclass(frozen=True)
class ForkEvidence:
    """W4: both checkpoints and the proof that failed."""

    origin: str
    old_checkpoint: str
    new_checkpoint: str
    proof: tuple[bytes, ...]
    reason: str

    def bundle(self) -> ConsistencyBundle:
        """The evidence as a consistency bundle (old = the smaller tree)."""
        return ConsistencyBundle(
            old_checkpoint=self.old_checkpoint,
            new_checkpoint=self.new_checkpoint,
            proof=self.proof,
        )

    def to_json(
        self, *, log_url: str | None = None, detected_at: int | None = None
    ) -> dict[str, Any]:
        return {
            "format": ALERT_FORMAT,
            "origin": self.origin,
            "log": log_url,
            "detected_at": detected_at,
            "reason": self.reason,
            "old_checkpoint": self.old_checkpoint,
            "new_checkpoint": self.new_checkpoint,
            "proof": [base64.b64encode(p).decode() for p in self.proof],
            "consistency_bundle": base64.b64encode(self.bundle().encode()).decode(),
        }


@dataclass(frozen=True)
class Step:
    """What the witness does with one checkpoint."""

    verdict: Verdict
    checkpoint: SignedCheckpoint
    state: WitnessState | None
    """The state to keep afterwards."""
    cosignature: NoteSignature | None = None
    evidence: ForkEvidence | None = None

    def cosigned_note(self) -> str:
        """The checkpoint with this witness's cosignature, to post back to the log."""
        if self.cosignature is None:
            raise ProofError("nothing was cosigned")
        return self.checkpoint.with_signatures([self.cosignature]).encode()


class Witness:
    """W1-W4 for one log under one trust root."""

    def __init__(self, policy: LogPolicy, key: PrivateKey) -> None:
        self.policy = policy
        self.key = key

    @property
    def name(self) -> str:
        return witness_name(self.key.public)

    @property
    def in_trust_root(self) -> bool:
        return self.key.public.raw in {k.raw for k in self.policy.witness_keys}

    def parse(self, note: str | bytes) -> SignedCheckpoint:
        """W2: parse a checkpoint and check the log's signatures; drop other signatures."""
        signed = self.policy.parse_log_signed(note)
        log_names = {v.signer for v in self.policy.log_verifiers}
        sigs = tuple(s for s in signed.note.signatures if s.signer in log_names)
        return SignedCheckpoint(signed.body, Note(signed.note.text, sigs))

    @staticmethod
    def proof_needed(state: WitnessState | None, new: SignedCheckpoint) -> tuple[int, int] | None:
        """The (old, new) sizes of the consistency proof W3 needs, or None."""
        if state is None or state.size == new.size:
            return None
        if new.size > state.size:
            return state.size, new.size
        return new.size, state.size

    def evaluate(
        self,
        state: WitnessState | None,
        new: SignedCheckpoint,
        proof: Sequence[bytes] | None,
        *,
        now: int,
    ) -> Step:
        """W1, W3, W4 for a checkpoint already passed through ``parse``."""
        if state is not None and state.origin != new.origin:
            raise MalformedError("the state is for another log")
        if state is None:
            return self._cosign(new, now)
        if new.size == state.size:
            if new.root_hash == state.root_hash:
                return Step(Verdict.UNCHANGED, new, state, self._sig(new, now))
            return self._fork(
                state.checkpoint, new.encode(), (), "two roots for one size", state, new
            )
        if proof is None:
            raise ProofError("a consistency proof is needed for a checkpoint of another size")
        if new.size > state.size:
            try:
                merkle.verify_consistency(
                    state.size, new.size, state.root_hash, new.root_hash, proof
                )
            except ProofError as exc:
                return self._fork(
                    state.checkpoint, new.encode(), tuple(proof), exc.message, state, new
                )
            return self._cosign(new, now)
        try:
            merkle.verify_consistency(new.size, state.size, new.root_hash, state.root_hash, proof)
        except ProofError as exc:
            return self._fork(new.encode(), state.checkpoint, tuple(proof), exc.message, state, new)
        return Step(Verdict.STALE, new, state)

    def _sig(self, cp: SignedCheckpoint, now: int) -> NoteSignature:
        return cp.cosign(self.key, now)

    def _cosign(self, cp: SignedCheckpoint, now: int) -> Step:
        state = WitnessState(cp.origin, cp.size, cp.root_hash, cp.encode())
        return Step(Verdict.COSIGN, cp, state, self._sig(cp, now))

    @staticmethod
    def _fork(
        old_note: str,
        new_note: str,
        proof: tuple[bytes, ...],
        reason: str,
        state: WitnessState,
        new: SignedCheckpoint,
    ) -> Step:
        evidence = ForkEvidence(new.origin, old_note, new_note, proof, reason)
        return Step(Verdict.FORK, new, state, evidence=evidence)


NOT_NOW = frozenset({401, 403, 407, 408, 425, 429})
"""HTTP 4xx statuses that say "not you" or "not now" (authentication, a proxy, a timeout,
a rate limit) rather than "no such proof": a log's answer with one is no evidence."""


def refuses_proof(status: int) -> bool:
    """Whether a log's HTTP ``status`` to a consistency-proof request between two sizes it
    signed is a refusal: a 4xx other than ``NOT_NOW``. Such a refusal proves nothing, and
    counts as the empty proof (which fails): the witness and ``log check-alert`` both read
    it so."""
    return 400 <= status < 500 and status not in NOT_NOW


def state_from_bytes(data: bytes) -> WitnessState:
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedError(f"witness state is not JSON: {exc}") from None
    return WitnessState.from_json(doc)


def state_to_bytes(state: WitnessState) -> bytes:
    return (json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n").encode()


class AlertFinding(enum.Enum):
    PROVEN = "proven"
    """The log signed two checkpoints that cannot both be true."""
    REFUTED = "refuted"
    """A valid consistency proof joins the two checkpoints: no fork."""
    UNRESOLVED = "unresolved"
    """Both are log-signed, but only the log's (failed) proof speaks against them."""


@dataclass(frozen=True)
class AlertReview:
    finding: AlertFinding
    old: SignedCheckpoint
    new: SignedCheckpoint
    reason: str


def parse_alert(data: bytes) -> ForkEvidence:
    """Read a witness's alert file (W4) back into evidence (MalformedError if unreadable)."""
    try:
        doc = json.loads(data)
        if doc["format"] != ALERT_FORMAT:
            raise MalformedError(f"not a {ALERT_FORMAT} alert")
        proof = tuple(base64.b64decode(p, validate=True) for p in doc["proof"])
        return ForkEvidence(
            str(doc["origin"]),
            str(doc["old_checkpoint"]),
            str(doc["new_checkpoint"]),
            proof,
            str(doc["reason"]),
        )
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedError(f"the alert is unreadable: {exc}") from None


def review_alert(
    policy: LogPolicy, evidence: ForkEvidence, fresh_proof: Sequence[bytes] | None = None
) -> AlertReview:
    """Judge fork evidence under a trust root. Both checkpoints must carry the log's
    signatures (else BelowThresholdError / BadSignatureError: the alert proves nothing).
    Two roots for one size prove a fork. For two sizes, a ``fresh_proof`` the log gives
    now (old size to new size) refutes the alert if it verifies and proves the fork if it
    fails; without one the alert is unresolved."""
    a = policy.parse_log_signed(evidence.old_checkpoint)
    b = policy.parse_log_signed(evidence.new_checkpoint)
    old, new = (a, b) if a.size <= b.size else (b, a)
    if old.size == new.size:
        if old.root_hash != new.root_hash:
            return AlertReview(
                AlertFinding.PROVEN, old, new, f"two log-signed roots for size {old.size}"
            )
        return AlertReview(AlertFinding.REFUTED, old, new, "the two checkpoints are the same")
    if fresh_proof is None:
        try:
            merkle.verify_consistency(
                old.size, new.size, old.root_hash, new.root_hash, evidence.proof
            )
        except ProofError as exc:
            return AlertReview(
                AlertFinding.UNRESOLVED, old, new, f"the alert's proof fails: {exc.message}"
            )
        return AlertReview(AlertFinding.REFUTED, old, new, "the alert's own proof verifies")
    try:
        merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, fresh_proof)
    except ProofError as exc:
        return AlertReview(
            AlertFinding.PROVEN,
            old,
            new,
            f"the log's own consistency proof from {old.size} to {new.size} fails: {exc.message}",
        )
    return AlertReview(AlertFinding.REFUTED, old, new, "the log proved the two consistent")


REQUEST_FORMAT = "pausebutton-cosign-request/1"


@dataclass(frozen=True)
class CosignRequest:
    """A checkpoint handed to a witness as a file (air-gap friendly): the log-signed note,
    the consistency proofs from every size the log handed out before (the witness's last
    cosigned size is one of them), and the roots after the founding one, in order (a
    witness adopts those that chain from the root it holds)."""

    checkpoint: str
    proofs: dict[int, tuple[bytes, ...]]
    """Old size -> consistency proof from it to the checkpoint's size."""
    roots: tuple[bytes, ...] = ()

    def proof_for(self, old: int, new: int) -> tuple[bytes, ...]:
        size = SignedCheckpoint.parse(self.checkpoint).size
        if new != size or old not in self.proofs:
            raise ProofError(
                f"the request carries no consistency proof from size {old} to {new}",
                old=old,
                new=new,
            )
        return self.proofs[old]

    def to_bytes(self) -> bytes:
        doc = {
            "format": REQUEST_FORMAT,
            "checkpoint": self.checkpoint,
            "proofs": [
                {"old_size": old, "proof": [base64.b64encode(h).decode() for h in proof]}
                for old, proof in sorted(self.proofs.items())
            ],
            "roots": [base64.b64encode(r).decode() for r in self.roots],
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CosignRequest:
        try:
            doc = json.loads(data)
            if doc["format"] != REQUEST_FORMAT:
                raise MalformedError(f"a cosign request is {REQUEST_FORMAT}")
            checkpoint = str(doc["checkpoint"])
            SignedCheckpoint.parse(checkpoint)
            proofs = {
                int(p["old_size"]): tuple(base64.b64decode(h, validate=True) for h in p["proof"])
                for p in doc["proofs"]
            }
            roots = tuple(base64.b64decode(r, validate=True) for r in doc.get("roots", []))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise MalformedError(f"the cosign request is unreadable: {exc}") from None
        if any(len(p) > 64 for p in proofs.values()):
            raise MalformedError("a consistency proof holds at most 64 hashes")
        return cls(checkpoint, proofs, roots)
