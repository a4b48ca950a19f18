"""Proof bundles: everything an offline verifier needs, as canonical CBOR. Pure.

Protocol step B (docs/translog.md, "Bundles"):

B1. An inclusion bundle carries one log entry (its exact bytes), its leaf index, the tree
    size of the checkpoint, the audit path (RFC 9162) and the checkpoint note text with
    the log's signature and the witnesses' cosignatures.
B2. A consistency bundle carries two checkpoint notes and the consistency proof between
    them (a witness's fork alert carries one whose proof fails).
B3. Bundles are canonical CBOR maps (step E) of at most ``MAX_BUNDLE_SIZE`` bytes;
    unknown fields are kept (P4).
"""

from __future__ import annotations

from dataclasses import dataclass

from pausebutton.errors import SchemaError
from pausebutton.protocol import encoding
from pausebutton.protocol.schema import Struct
from pausebutton.translog.merkle import HASH_SIZE
from pausebutton.translog.note import MAX_NOTE_SIZE

MAX_PROOF_HASHES = 64
"""No RFC 9162 proof of a tree below 2^63 leaves is longer."""
MAX_BUNDLE_SIZE = encoding.MAX_MESSAGE_SIZE + 2 * MAX_NOTE_SIZE + MAX_PROOF_HASHES * 40 + 1024
"""Largest encoded bundle accepted (an entry of the largest message size, proofs, notes)."""


def _check_proof(proof: tuple[bytes, ...]) -> None:
    if len(proof) > MAX_PROOF_HASHES:
        raise SchemaError(f"a proof has at most {MAX_PROOF_HASHES} hashes", field="proof")
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise SchemaError(f"proof hash {i} is not {HASH_SIZE} bytes", field="proof")


def _check_note(text: str, name: str) -> None:
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_NOTE_SIZE:
        raise SchemaError(f"field {name!r} exceeds {MAX_NOTE_SIZE} bytes", field=name)


@dataclass(frozen=True)
class InclusionBundle(Struct):
    """B1: an entry with its inclusion proof under a (cosigned) checkpoint."""

    entry: bytes
    leaf_index: int
    tree_size: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def validate(self) -> None:
        if self.leaf_index < 0 or self.tree_size < 0:
            raise SchemaError("leaf_index and tree_size must not be negative")
        if self.leaf_index >= self.tree_size:
            raise SchemaError(
                f"leaf index {self.leaf_index} is outside tree size {self.tree_size}",
                field="leaf_index",
            )
        if len(self.entry) > encoding.MAX_MESSAGE_SIZE:
            raise SchemaError("the entry is larger than a protocol message", field="entry")
        _check_proof(self.proof)
        _check_note(self.checkpoint, "checkpoint")

    @classmethod
    def decode(cls, data: bytes) -> InclusionBundle:
        """B3: decode canonical CBOR (EncodingError subclasses on bad input)."""
        return cls.from_value(encoding.decode(data, max_size=MAX_BUNDLE_SIZE))


@dataclass(frozen=True)
class ConsistencyBundle(Struct):
    """B2: two checkpoints and the consistency proof from the older to the newer."""

    old_checkpoint: str
    new_checkpoint: str
    proof: tuple[bytes, ...]

    def validate(self) -> None:
        _check_proof(self.proof)
        _check_note(self.old_checkpoint, "old_checkpoint")
        _check_note(self.new_checkpoint, "new_checkpoint")

    @classmethod
    def decode(cls, data: bytes) -> ConsistencyBundle:
        return cls.from_value(encoding.decode(data, max_size=MAX_BUNDLE_SIZE))
