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
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
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
    return (prefix or _signing_prefix(type_name, version)) + cbor2.dumps(payload)


def _signing_prefix(type_name: str, version: int) -> bytes:
    """The encoding of ``[SIG_CONTEXT, type_name, version, b""]`` without its final
    0x40 byte (the empty payload), cached for the few (type, version) pairs in use."""
    prefix: bytes = cbor2.dumps([SIG_CONTEXT, type_name, version, b""])[:-1]
    if len(_SIG_PREFIXES) < _SIG_PREFIXES_MAX and len(type_name) <= 64:
        _SIG_PREFIXES[(type_name, version)] = prefix
    return prefix


@dataclass(frozen=True, slots=True)
class Envelope:
    type: str
    version: int
    payload: bytes
    signatures: tuple[Signature, ...] = ()
    _signed: bytes = field(default=b"", init=False, repr=False, compare=False)
    """The signing input (S2), kept by ``Envelope.decode`` from the bytes it read (never
    copied by ``dataclasses.replace``: an envelope built otherwise computes it)."""

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
        return self._signed or signing_input(self.type, self.version, self.payload)

    def sign(self, key: PrivateKey) -> Envelope:
        """A copy with ``key``'s signature added (replacing an earlier one by the same key)."""
        sig = Signature(key.key_id, key.sign(self.signing_input()))
        others = [s for s in self.signatures if s.key_id != sig.key_id]
        sigs = tuple(sorted([*others, sig], key=lambda s: s.key_id)) if others else (sig,)
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
        """The canonical encoding (S1). With fields of their exact types the map is
        built in canonical key order and cbor2's plain encoder gives the canonical form
        (as for flat payloads, flat.py); anything else takes the reference encoder."""
        sigs = []
        for s in self.signatures:
            if type(s) is not Signature or type(s.sig) is not bytes or type(s.key_id) is not bytes:
                break
            sigs.append({"sig": s.sig, "key_id": s.key_id})
        else:
            if type(self.type) is str and type(self.version) is int and type(self.payload) is bytes:
                data: bytes = cbor2.dumps(
                    {
                        "type": self.type,
                        "payload": self.payload,
                        "version": self.version,
                        "signatures": sigs,
                    }
                )
                return data
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
        if self.type != expected.TYPE or self.version != expected.VERSION:
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
_SIG_AT = len(_SIG_HEAD)
_SIG_END = _SIG_AT + SIGNATURE_SIZE
_KEY_ID_AT = _SIG_END + len(_KEY_ID_HEAD)
_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_T = len(_ENVELOPE_HEAD)
"""Where the type's head stands."""
_PAYLOAD_KEY_LEN = len(_PAYLOAD_KEY)
_VERSION_KEY_LEN = len(_VERSION_KEY)
_SIGNATURES_KEY_LEN = len(_SIGNATURES_KEY)

# A frozen dataclass's __init__ sets each field through object.__setattr__; the reader
# below fills the same slots through their descriptors, which builds the same object.
_new = object.__new__
_set_kid = Signature.__dict__["key_id"].__set__
_set_sig = Signature.__dict__["sig"].__set__
_set_type = Envelope.__dict__["type"].__set__
_set_version = Envelope.__dict__["version"].__set__
_set_payload = Envelope.__dict__["payload"].__set__
_set_signatures = Envelope.__dict__["signatures"].__set__
_set_signed = Envelope.__dict__["_signed"].__set__


def _decode_canonical(data: bytes) -> Envelope | None:  # noqa: C901 (one branch per head form)
    """S1 read as the one canonical layout of an envelope (E1-E4 hold for what it
    accepts), or None if ``data`` is not exactly that: the map of four keys in canonical
    order, each item with its shortest head, a valid non-empty UTF-8 type (shorter than
    256 bytes), a version from 1 below 2**64, at most ``MAX_SIGNATURES`` signature maps
    of ``sig`` (64 bytes) then ``key_id`` (32 bytes), and nothing after.

    The signing input (S2) is taken from the same bytes: the type, version and payload
    items as they stand in ``data`` follow the cached encoding of the array's head and
    context string."""
    if data[:_T] != _ENVELOPE_HEAD:
        return None
    try:
        b = data[_T]
        if 0x61 <= b < 0x78:  # the type: non-empty text, shortest head
            at = _T + 1
            pos = at + b - 0x60
        elif b == 0x78 and data[_T + 1] >= 24:
            at = _T + 2
            pos = at + data[_T + 1]
        else:
            return None
        type_name = data[at:pos].decode()  # strict UTF-8
        if data[pos : pos + _PAYLOAD_KEY_LEN] != _PAYLOAD_KEY:
            return None
        start = pos = pos + _PAYLOAD_KEY_LEN
        b = data[pos]
        if 0x40 <= b < 0x58:  # the payload: a byte string, shortest head
            n = b - 0x40
            pos += 1
        elif b == 0x58:
            n = data[pos + 1]
            if n < 24:
                return None
            pos += 2
        elif b == 0x59:
            n = _U16(data, pos + 1)[0]
            if n < 256:
                return None
            pos += 3
        elif b == 0x5A:
            n = _U32(data, pos + 1)[0]
            if n < 65536:
                return None
            pos += 5
        else:  # longer than the size limit (E1)
            return None
        payload = data[pos : pos + n]
        pos += n
        item = data[start:pos]
        if data[pos : pos + _VERSION_KEY_LEN] != _VERSION_KEY:
            return None
        pos += _VERSION_KEY_LEN
        b = data[pos]
        if 0 < b < 24:  # the version: from 1, shortest head
            version = b
            pos += 1
        elif b == 24:
            version = data[pos + 1]
            if version < 24:
                return None
            pos += 2
        elif b == 25:
            version = _U16(data, pos + 1)[0]
            if version < 256:
                return None
            pos += 3
        elif b == 26:
            version = _U32(data, pos + 1)[0]
            if version < 65536:
                return None
            pos += 5
        elif b == 27:
            version = _U64(data, pos + 1)[0]
            if version < 1 << 32:
                return None
            pos += 9
        else:
            return None
        if data[pos : pos + _SIGNATURES_KEY_LEN] != _SIGNATURES_KEY:
            return None
        pos += _SIGNATURES_KEY_LEN
        b = data[pos]
        if 0x80 <= b < 0x98:  # the signatures: an array, shortest head
            count = b - 0x80
            pos += 1
        elif b == 0x98 and 24 <= data[pos + 1] <= MAX_SIGNATURES:
            count = data[pos + 1]
            pos += 2
        else:
            return None
    except (IndexError, struct.error, UnicodeDecodeError):  # truncated, or not UTF-8
        return None
    if len(data) != pos + count * _SIG_ITEM:
        return None
    sigs = []
    for _ in range(count):
        if (
            data[pos : pos + _SIG_AT] != _SIG_HEAD
            or data[pos + _SIG_END : pos + _KEY_ID_AT] != _KEY_ID_HEAD
        ):
            return None
        sig = _new(Signature)
        _set_sig(sig, data[pos + _SIG_AT : pos + _SIG_END])
        _set_kid(sig, data[pos + _KEY_ID_AT : pos + _SIG_ITEM])
        sigs.append(sig)
        pos += _SIG_ITEM
    env = _new(Envelope)
    _set_type(env, type_name)
    _set_version(env, version)
    _set_payload(env, payload)
    _set_signatures(env, tuple(sigs))
    prefix = _SIG_PREFIXES.get((type_name, version))
    _set_signed(env, (prefix or _signing_prefix(type_name, version)) + item)
    return env


def decode_as(
    data: bytes, expected: type[_P], *, max_size: int = encoding.MAX_MESSAGE_SIZE
) -> tuple[Envelope, _P]:
    """Parse an envelope and its payload of one expected type (no signature check)."""
    env = Envelope.decode(data, max_size=max_size)
    return env, env.open_as(expected)
