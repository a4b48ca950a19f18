"""The one signed envelope over typed payloads.

Protocol step S (docs/protocol.md, "Envelope"):

S1. An envelope is the canonical CBOR map
    ``{"type": tstr, "version": uint, "payload": bstr, "signatures": [sig...]}``
    where ``payload`` holds the canonical CBOR of the payload map and each
    ``sig`` is ``{"key_id": bstr .size 32, "sig": bstr .size 64}``.
S2. What a key signs is the canonical CBOR array
    ``["pausebutton/v1/sig", type, version, payload]`` (SIG_CONTEXT first): the
    payload type and version are signed, so a signature over one type can
    never be replayed as another (domain separation).
S3. Signatures may be in any order and any number; a verifier counts each
    distinct trusted public key at most once (threshold.py, step T).
S4. Unknown payload types or versions are rejected (UnknownTypeError) when the
    payload is opened; the envelope itself still decodes, so it can be stored
    and forwarded.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import cbor2

from pausebutton.errors import MalformedError, SchemaError, UnknownTypeError
from pausebutton.protocol import encoding
from pausebutton.protocol.keys import KEY_ID_SIZE, SIGNATURE_SIZE, PrivateKey, PublicKey
from pausebutton.protocol.schema import Payload, payload_class

SIG_CONTEXT = "pausebutton/v1/sig"
MAX_SIGNATURES = 64
"""More signatures than this on one envelope are rejected as malformed."""

_P = TypeVar("_P", bound=Payload)
_ENVELOPE_KEYS = frozenset({"type", "version", "payload", "signatures"})
_SIGNATURE_KEYS = frozenset({"key_id", "sig"})


@dataclass(frozen=True, slots=True)
class Signature:
    key_id: bytes
    sig: bytes


_SIG_PREFIXES: dict[tuple[str, int], bytes] = {}
_SIG_PREFIXES_MAX = 1024


def signing_input(type_name: str, version: int, payload: bytes) -> bytes:
    """S2: the exact bytes every signer signs (an array holds no maps, so cbor2's
    plain encoder already gives the canonical form).

    The array's head and first three items depend only on (type, version): they
    are encoded once (the encoding of ``[..., b""]`` without its final 0x40 byte)
    and the payload's byte-string encoding is appended."""
    prefix = _SIG_PREFIXES.get((type_name, version))
    if prefix is None:
        prefix = cbor2.dumps([SIG_CONTEXT, type_name, version, b""])[:-1]
        if len(_SIG_PREFIXES) < _SIG_PREFIXES_MAX and len(type_name) <= 64:
            _SIG_PREFIXES[(type_name, version)] = prefix
    return prefix + cbor2.dumps(payload)


@dataclass(frozen=True, slots=True)
class Envelope:
    type: str
    version: int
    payload: bytes
    signatures: tuple[Signature, ...] = ()

    @classmethod
    def wrap(cls, payload: Payload) -> Envelope:
        return cls(payload.TYPE, payload.VERSION, payload.encode())

    @classmethod
    def create(cls, payload: Payload, signers: Iterable[PrivateKey]) -> Envelope:
        env = cls.wrap(payload)
        for key in signers:
            env = env.sign(key)
        return env

    def signing_input(self) -> bytes:
        return signing_input(self.type, self.version, self.payload)

    def sign(self, key: PrivateKey) -> Envelope:
        """A copy with ``key``'s signature added (replacing an earlier one by the same key)."""
        sig = Signature(key.key_id, key.sign(self.signing_input()))
        others = [s for s in self.signatures if s.key_id != sig.key_id]
        sigs = tuple(sorted([*others, sig], key=lambda s: s.key_id))
        return Envelope(self.type, self.version, self.payload, sigs)

    def merge(self, other: Envelope) -> Envelope:
        """Combine the signatures of two envelopes over the same payload."""
        if (self.type, self.version, self.payload) != (other.type, other.version, other.payload):
            raise SchemaError("cannot merge signatures over different payloads")
        seen: dict[tuple[bytes, bytes], Signature] = {}
        for s in (*self.signatures, *other.signatures):
            seen[(s.key_id, s.sig)] = s
        sigs = tuple(sorted(seen.values(), key=lambda s: (s.key_id, s.sig)))
        return Envelope(self.type, self.version, self.payload, sigs)

    def signed_by(self, key: PublicKey) -> bool:
        """True if any signature carrying ``key``'s id verifies under ``key``."""
        message = self.signing_input()
        kid = key.key_id
        return any(s.key_id == kid and key.is_valid(message, s.sig) for s in self.signatures)

    def to_value(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "version": self.version,
            "payload": self.payload,
            "signatures": [{"key_id": s.key_id, "sig": s.sig} for s in self.signatures],
        }

    def encode(self) -> bytes:
        return encoding.encode(self.to_value())

    @classmethod
    def from_value(cls, value: Any) -> Envelope:
        if type(value) is not dict or value.keys() != _ENVELOPE_KEYS:
            raise MalformedError("an envelope is a map of type, version, payload and signatures")
        type_name, version, payload, sigs = (
            value["type"],
            value["version"],
            value["payload"],
            value["signatures"],
        )
        if not isinstance(type_name, str) or not type_name:
            raise MalformedError("envelope type must be non-empty text")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise MalformedError("envelope version must be a positive integer")
        if not isinstance(payload, bytes):
            raise MalformedError("envelope payload must be a byte string")
        if not isinstance(sigs, list) or len(sigs) > MAX_SIGNATURES:
            raise MalformedError(f"signatures must be an array of at most {MAX_SIGNATURES}")
        parsed = []
        for item in sigs:
            if type(item) is not dict or item.keys() != _SIGNATURE_KEYS:
                raise MalformedError("a signature is a map of key_id and sig")
            kid, sig = item["key_id"], item["sig"]
            if not isinstance(kid, bytes) or len(kid) != KEY_ID_SIZE:
                raise MalformedError(f"key_id must be {KEY_ID_SIZE} bytes")
            if not isinstance(sig, bytes) or len(sig) != SIGNATURE_SIZE:
                raise MalformedError(f"sig must be {SIGNATURE_SIZE} bytes")
            parsed.append(Signature(kid, sig))
        return cls(type_name, version, payload, tuple(parsed))

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = encoding.MAX_MESSAGE_SIZE) -> Envelope:
        """Parse an envelope (E1-E4, S1). Signatures are *not* checked here."""
        return cls.from_value(encoding.decode(data, max_size=max_size))

    def open(self) -> Payload:
        """S4: decode the payload as its registered type."""
        cls = payload_class(self.type, self.version)
        if cls is None:
            raise UnknownTypeError(f"unknown payload type {self.type!r} version {self.version}")
        return cls.decode_payload(self.payload)

    def open_as(self, expected: builtins.type[_P]) -> _P:
        """Decode the payload, insisting on one type (any other is UnknownTypeError)."""
        if (self.type, self.version) != (expected.TYPE, expected.VERSION):
            raise UnknownTypeError(
                f"expected {expected.TYPE} v{expected.VERSION}, got {self.type} v{self.version}"
            )
        return expected.decode_payload(self.payload)


def decode_as(
    data: bytes, expected: type[_P], *, max_size: int = encoding.MAX_MESSAGE_SIZE
) -> tuple[Envelope, _P]:
    """Parse an envelope and its payload of one expected type (no signature check)."""
    env = Envelope.decode(data, max_size=max_size)
    return env, env.open_as(expected)
