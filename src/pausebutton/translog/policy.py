"""What a chip or auditor accepts from the log. Pure.

Protocol step V (docs/translog.md, "Verification policy"):

V1. A checkpoint is accepted only if its origin is the trust root's ``log_origin``, it
    carries valid signatures of at least the log role's threshold of log keys (named by
    the origin), and valid ``cosignature/v1`` cosignatures of at least the witness role's
    threshold W of distinct witness keys (named per N4). Unknown signers are ignored;
    a known key's bad signature rejects the note.
V2. With ``now`` given, a cosignature dated more than ``max_skew`` seconds in the future
    does not count.
V3. An entry is accepted only with an inclusion bundle whose entry bytes are exactly the
    entry, whose tree size is the checkpoint's, and whose audit path leads from the
    entry's leaf hash to the checkpoint's root (step L3), under a checkpoint passing V1.
V4. Fail-safe asymmetry (docs/architecture.md): what permits compute (licenses, resumes,
    trust-root changes) must pass V3; what restricts compute (pause orders) must not wait
    for the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pausebutton.errors import (
    BelowThresholdError,
    NotLoggedError,
    ProofError,
)
from pausebutton.protocol.keys import PublicKey
from pausebutton.protocol.messages import Checkpoint
from pausebutton.protocol.trustroot import TrustRoot
from pausebutton.translog import merkle
from pausebutton.translog.bundle import ConsistencyBundle, InclusionBundle
from pausebutton.translog.note import (
    NoteVerifier,
    SignedCheckpoint,
    Verified,
    log_verifier,
    verify_note,
    witness_verifier,
)

DEFAULT_MAX_SKEW = 300


@dataclass(frozen=True)
class CheckpointReport:
    """The outcome of V1 for a checkpoint that passed: who signed, and when witnesses did."""

    checkpoint: Checkpoint
    signed: SignedCheckpoint
    log_signers: tuple[bytes, ...]
    witnesses: dict[bytes, int] = field(default_factory=dict)
    """Key id of each witness whose cosignature counted -> its timestamp."""


@dataclass(frozen=True)
class LogPolicy:
    """V1-V3 for one log, from a trust root."""

    origin: str
    log_keys: tuple[PublicKey, ...]
    log_threshold: int
    witness_keys: tuple[PublicKey, ...]
    witness_threshold: int
    max_skew: int = DEFAULT_MAX_SKEW

    @classmethod
    def from_trust_root(cls, root: TrustRoot) -> LogPolicy:
        return cls(
            origin=root.log_origin,
            log_keys=root.role_keys("log"),
            log_threshold=root.role("log").threshold,
            witness_keys=root.role_keys("witness"),
            witness_threshold=root.role("witness").threshold,
        )

    @property
    def log_verifiers(self) -> list[NoteVerifier]:
        return [log_verifier(self.origin, k) for k in self.log_keys]

    @property
    def witness_verifiers(self) -> list[NoteVerifier]:
        return [witness_verifier(k) for k in self.witness_keys]

    def parse_log_signed(self, note: str | bytes | SignedCheckpoint) -> SignedCheckpoint:
        """V1 without the witness threshold: origin and log signatures only (what a
        witness checks before it cosigns)."""
        return self._log_checked(note)[0]

    def _log_checked(
        self, note: str | bytes | SignedCheckpoint
    ) -> tuple[SignedCheckpoint, list[Verified]]:
        signed = note if isinstance(note, SignedCheckpoint) else SignedCheckpoint.parse(note)
        if signed.origin != self.origin:
            raise NotLoggedError(
                f"checkpoint is for log {signed.origin!r}, not {self.origin!r}",
                origin=signed.origin,
            )
        verified = verify_note(signed.note, self.log_verifiers)
        if len(verified) < self.log_threshold:
            raise BelowThresholdError(
                f"checkpoint has {len(verified)} of {self.log_threshold} log signatures",
                signed=len(verified),
                threshold=self.log_threshold,
            )
        return signed, verified

    def check_checkpoint(
        self, note: str | bytes | SignedCheckpoint, *, now: int | None = None
    ) -> CheckpointReport:
        """V1, V2: the full report of a checkpoint, or a named error."""
        signed, verified = self._log_checked(note)
        log_signers = tuple(v.verifier.public_key.key_id for v in verified)
        witnesses: dict[bytes, int] = {}
        for v in verify_note(signed.note, self.witness_verifiers):
            assert v.timestamp is not None
            if now is not None and v.timestamp > now + self.max_skew:
                continue
            witnesses[v.verifier.public_key.key_id] = v.timestamp
        if len(witnesses) < self.witness_threshold:
            raise BelowThresholdError(
                f"checkpoint of size {signed.size} has {len(witnesses)} of"
                f" {self.witness_threshold} witness cosignatures",
                signed=len(witnesses),
                threshold=self.witness_threshold,
            )
        return CheckpointReport(signed.body.to_message(), signed, log_signers, witnesses)

    def verify_checkpoint(
        self, note: str | bytes | SignedCheckpoint, *, now: int | None = None
    ) -> Checkpoint:
        """V1, V2: the checkpoint if acceptable, else a named error."""
        return self.check_checkpoint(note, now=now).checkpoint

    def verify_entry(
        self, entry: bytes, bundle: InclusionBundle | None, *, now: int | None = None
    ) -> Checkpoint:
        """V3: accept ``entry`` only with a valid inclusion bundle; returns the checkpoint
        it is logged under (NotLoggedError / ProofError / BelowThresholdError otherwise)."""
        if bundle is None:
            raise NotLoggedError("no inclusion proof was given")
        if bundle.entry != entry:
            raise NotLoggedError("the inclusion bundle is for another entry")
        checkpoint = self.verify_checkpoint(bundle.checkpoint, now=now)
        if bundle.tree_size != checkpoint.size:
            raise ProofError(
                f"proof is for tree size {bundle.tree_size}, checkpoint is of size"
                f" {checkpoint.size}"
            )
        merkle.verify_inclusion(
            merkle.leaf_hash(entry),
            bundle.leaf_index,
            bundle.tree_size,
            bundle.proof,
            checkpoint.root_hash,
        )
        return checkpoint

    def verify_consistency(
        self, bundle: ConsistencyBundle, *, cosigned: bool = False, now: int | None = None
    ) -> tuple[Checkpoint, Checkpoint]:
        """Both checkpoints signed by the log (and cosigned, if ``cosigned``), and the
        proof from the older to the newer."""
        if cosigned:
            old = self.verify_checkpoint(bundle.old_checkpoint, now=now)
            new = self.verify_checkpoint(bundle.new_checkpoint, now=now)
        else:
            old = self.parse_log_signed(bundle.old_checkpoint).body.to_message()
            new = self.parse_log_signed(bundle.new_checkpoint).body.to_message()
        merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, bundle.proof)
        return old, new
