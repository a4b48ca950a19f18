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
        """Parse an envelope (E1-E4, S1). Signatures are *not* checked here.

        An envelope has one fixed layout, so its bytes are first read as exactly that
        layout in canonical form (``_decode_canonical``: one pass, no re-encoding, which
        E4 allows: the bytes accepted are by construction the canonical encoding of the
        value read). Anything else takes the full path (``encoding.decode``: cbor2, the
        E2 walk, the E4 re-encoding), which accepts or names the error as before."""
        if type(data) is bytes and len(data) <= max_size:
            env = _decode_canonical(data)
            if env is not None:
                return env
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


_ENVELOPE_HEAD = b"\xa4\x64type"
_PAYLOAD_KEY = b"\x67payload"
_VERSION_KEY = b"\x67version"
_SIGNATURES_KEY = b"\x6asignatures"
_SIG_HEAD = b"\xa2\x63sig\x58\x40"
_KEY_ID_HEAD = b"\x66key_id\x58\x20"
_SIG_ITEM = len(_SIG_HEAD) + SIGNATURE_SIZE + len(_KEY_ID_HEAD) + KEY_ID_SIZE
_MIN_ARG = (24, 256, 65536, 1 << 32)
"""The smallest argument each longer head (1, 2, 4, 8 bytes) may carry (E3)."""


def _head(data: bytes, pos: int, major: int) -> tuple[int, int] | None:
    """The argument of the head at ``pos`` if it has ``major`` type and its shortest
    form (E3), and the position after it; None otherwise."""
    if pos >= len(data):
        return None
    initial = data[pos]
    if initial >> 5 != major:
        return None
    info = initial & 31
    if info < 24:
        return info, pos + 1
    if info > 27:
        return None
    width = 1 << (info - 24)
    end = pos + 1 + width
    if end > len(data):
        return None
    value = int.from_bytes(data[pos + 1 : end], "big")
    if value < _MIN_ARG[info - 24]:
        return None
    return value, end


def _decode_canonical(data: bytes) -> Envelope | None:
    """S1 read as the one canonical layout of an envelope (E1-E4 hold for what it
    accepts), or None if ``data`` is not exactly that: the map of four keys in canonical
    order, each item with its shortest head, a valid non-empty UTF-8 type, a version
    from 1 below 2**64, at most ``MAX_SIGNATURES`` signature maps of ``sig`` (64 bytes)
    then ``key_id`` (32 bytes), and nothing after."""
    if not data.startswith(_ENVELOPE_HEAD):
        return None
    head = _head(data, len(_ENVELOPE_HEAD), 3)
    if head is None or head[0] == 0:
        return None
    n, pos = head
    try:
        type_name = data[pos : pos + n].decode("utf-8")
    except UnicodeDecodeError:
        return None
    pos += n
    if not data.startswith(_PAYLOAD_KEY, pos):
        return None
    head = _head(data, pos + len(_PAYLOAD_KEY), 2)
    if head is None:
        return None
    n, pos = head
    payload = data[pos : pos + n]
    pos += n
    if len(payload) != n or not data.startswith(_VERSION_KEY, pos):
        return None
    head = _head(data, pos + len(_VERSION_KEY), 0)
    if head is None or head[0] < 1:
        return None
    version, pos = head
    if not data.startswith(_SIGNATURES_KEY, pos):
        return None
    head = _head(data, pos + len(_SIGNATURES_KEY), 4)
    if head is None or head[0] > MAX_SIGNATURES:
        return None
    count, pos = head
    if len(data) != pos + count * _SIG_ITEM:
        return None
    sigs = []
    key_at = len(_SIG_HEAD) + SIGNATURE_SIZE
    for _ in range(count):
        if not (data.startswith(_SIG_HEAD, pos) and data.startswith(_KEY_ID_HEAD, pos + key_at)):
            return None
        sig = data[pos + len(_SIG_HEAD) : pos + key_at]
        pos += key_at + len(_KEY_ID_HEAD)
        sigs.append(Signature(data[pos : pos + KEY_ID_SIZE], sig))
        pos += KEY_ID_SIZE
    return Envelope(type_name, version, payload, tuple(sigs))


def decode_as(
    data: bytes, expected: type[_P], *, max_size: int = encoding.MAX_MESSAGE_SIZE
) -> tuple[Envelope, _P]:
    """Parse an envelope and its payload of one expected type (no signature check)."""
    env = Envelope.decode(data, max_size=max_size)
    return env, env.open_as(expected)
