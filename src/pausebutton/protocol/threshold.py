"""Threshold (K-of-N) signature checks.

Protocol step T (docs/protocol.md, "Threshold"):

T1. The authorised keys of a role are a set of raw public keys; duplicates
    in the list count once.
T2. A signature counts only if its key id is the id of an authorised key and
    it verifies under that key; signatures by unknown key ids are ignored.
T3. Each distinct authorised public key counts at most once, however many
    signatures it brings.
T4. The result names the keys that signed, the authorised keys that did not,
    and how many more signatures the threshold still needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pausebutton.errors import BelowThresholdError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PublicKey


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """T4: who signed, who did not, and what is missing."""

    threshold: int
    signed: frozenset[bytes]
    """Key ids of distinct authorised keys with a valid signature."""
    unsigned: frozenset[bytes]
    """Key ids of authorised keys without a valid signature."""

    @property
    def missing(self) -> int:
        return max(0, self.threshold - len(self.signed))

    @property
    def ok(self) -> bool:
        return self.threshold > 0 and len(self.signed) >= self.threshold

    def require(self, what: str = "message") -> None:
        if not self.ok:
            raise BelowThresholdError(
                f"{what}: {len(self.signed)} of {self.threshold} required signatures",
                signed=len(self.signed),
                threshold=self.threshold,
                missing=self.missing,
            )


def verify_threshold(
    envelope: Envelope, keys: Iterable[PublicKey], threshold: int
) -> ThresholdResult:
    """T1-T4 over one envelope. Never raises for bad or unknown signatures."""
    by_id: dict[bytes, PublicKey] = {}
    for key in keys:  # T1: the id is derived from the key, so a key has exactly one id
        by_id[key.key_id] = key
    message = envelope.signing_input()
    signed: set[bytes] = set()
    for sig in envelope.signatures:
        candidate = by_id.get(sig.key_id)  # T2
        if candidate is None or sig.key_id in signed:  # T3
            continue
        if candidate.is_valid(message, sig.sig):
            signed.add(sig.key_id)
    return ThresholdResult(threshold, frozenset(signed), frozenset(set(by_id) - signed))
