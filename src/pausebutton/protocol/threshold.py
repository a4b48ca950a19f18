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
        if self.threshold > 0 and len(self.signed) >= self.threshold:  # self.ok, inline
            return
        raise BelowThresholdError(
            f"{what}: {len(self.signed)} of {self.threshold} required signatures",
            signed=len(self.signed),
            threshold=self.threshold,
            missing=self.missing,
        )


_new = object.__new__
_NONE: frozenset[bytes] = frozenset()
_set_threshold = ThresholdResult.__dict__["threshold"].__set__
_set_signed = ThresholdResult.__dict__["signed"].__set__
_set_unsigned = ThresholdResult.__dict__["unsigned"].__set__


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
        kid = sig.key_id
        candidate = by_id.get(kid)  # T2
        if candidate is None or kid in signed:  # T3
            continue
        if candidate.is_valid(message, sig.sig):
            signed.add(kid)
    # The same object ThresholdResult(...) builds, its slots filled directly.
    result = _new(ThresholdResult)
    _set_threshold(result, threshold)
    _set_signed(result, frozenset(signed))
    _set_unsigned(result, _NONE if len(signed) == len(by_id) else frozenset(by_id.keys() - signed))
    return result
