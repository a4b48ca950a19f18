"""C2SP signed notes, tlog checkpoints and tlog cosignatures. Pure.

Protocol step N (docs/translog.md, "Checkpoints"):

N1. A signed note (c2sp.org/signed-note) is UTF-8 text without ASCII control characters
    other than newline: the note text (ending in a newline), one blank line, then one or
    more lines ``— NAME base64(key_hash || signature)``. Key names are non-empty and hold
    no whitespace and no ``+``. A note is at most ``MAX_NOTE_SIZE`` bytes with at most
    ``MAX_SIGNATURES`` signature lines; a signer (name and key hash) appears at most once.
N2. The key hash is ``SHA-256(name || 0x0A || type || public key)[:4]``; type 0x01 is a
    plain Ed25519 signature over the note text (the log's signature), type 0x04 a
    timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature, ``cosignature/v1``):
    ``u64 timestamp || Ed25519 signature`` over ``"cosignature/v1\\ntime T\\n" || text``.
N3. A checkpoint (c2sp.org/tlog-checkpoint) is a note whose text is the origin line, the
    tree size in decimal (no leading zeros), the base64 root hash, and optional non-empty
    extension lines.
N4. The log's key is named by the trust root's ``log_origin``; a witness key is named
    ``witness-`` followed by the first 16 hex digits of its key id (K1), so a verifier
    derives every expected name and key hash from the trust root alone.
N5. Signatures by keys the verifier does not know are ignored (as the spec requires); a
    known key whose signature fails rejects the whole note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pausebutton.errors import BadSignatureError, MalformedError, OversizedError
from pausebutton.protocol.keys import PrivateKey, PublicKey
from pausebutton.protocol.messages import Checkpoint

MAX_NOTE_SIZE = 16 * 1024
"""Largest note accepted, in bytes (N1)."""
MAX_SIGNATURES = 64
"""Most signature lines accepted in one note (the spec asks for at least 16)."""
MAX_TIMESTAMP = (1 << 63) - 1

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
COSIGNATURE_HEADER = "cosignature/v1"
WITNESS_NAME_PREFIX = "witness-"

_DASH = "\u2014 "
_NAME_BAD = re.compile(r"[\s+]")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


# -- names and key hashes --------------------------------------------------------------


def check_key_name(name: str) -> str:
    """N1: raise MalformedError unless ``name`` is a valid note key name."""
    if not isinstance(name, str) or not name or _NAME_BAD.search(name) or len(name) > 256:
        raise MalformedError(f"invalid note key name {name!r}")
    if _CONTROL.search(name) or "\n" in name:
        raise MalformedError(f"invalid note key name {name!r}")
    return name


def key_hash(name: str, sig_type: int, public_key: bytes) -> bytes:
    """N2: the 4-byte key hash of a note key."""
    check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def witness_name(public_key: PublicKey) -> str:
    """N4: the note key name of a witness key."""
    return WITNESS_NAME_PREFIX + public_key.key_id.hex()[:16]


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise MalformedError(f"{what} is not canonical base64")
    return raw


# -- notes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash, and the signature bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_hash + self.signature).decode()
        return f"{_DASH}{self.name} {blob}\n"

    @property
    def signer(self) -> tuple[str, bytes]:
        return self.name, self.key_hash


@dataclass(frozen=True)
class Note:
    """A signed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def to_bytes(self) -> bytes:
        return self.encode().encode()

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        """A copy with ``extra`` added; a signer already present is not added twice."""
        have = {s.signer for s in self.signatures}
        sigs = list(self.signatures)
        for sig in extra:
            if sig.signer not in have:
                sigs.append(sig)
                have.add(sig.signer)
        if len(sigs) > MAX_SIGNATURES:
            raise OversizedError(f"a note holds at most {MAX_SIGNATURES} signatures")
        return Note(self.text, tuple(sigs))

    @classmethod
    def parse(cls, data: str | bytes) -> Note:  # noqa: C901 (the C2SP signed-note grammar, checked line by line as the spec writes it)
        """N1: parse a signed note strictly (MalformedError / OversizedError)."""
        if isinstance(data, str):
            raw = data.encode("utf-8", errors="surrogatepass")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
        else:
            raise MalformedError(f"a note is text, not {type(data).__name__}")
        if len(raw) > MAX_NOTE_SIZE:
            raise OversizedError(
                f"note of {len(raw)} bytes exceeds the limit of {MAX_NOTE_SIZE}", size=len(raw)
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("a note must be valid UTF-8") from None
        if _CONTROL.search(text):
            raise MalformedError("a note must not contain control characters other than newline")
        cut = text.rfind("\n\n")
        if cut < 0:
            raise MalformedError("a note needs a blank line before its signatures")
        body, sig_block = text[: cut + 1], text[cut + 2 :]
        if not body or body == "\n":
            raise MalformedError("a note needs a non-empty text")
        if not sig_block:
            raise MalformedError("a note needs at least one signature")
        if not sig_block.endswith("\n"):
            raise MalformedError("a note must end with a newline")
        lines = sig_block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise OversizedError(f"a note holds at most {MAX_SIGNATURES} signatures")
        sigs: list[NoteSignature] = []
        seen: set[tuple[str, bytes]] = set()
        for line in lines:
            if not line.startswith(_DASH):
                raise MalformedError("a signature line starts with an em dash and a space")
            parts = line[len(_DASH) :].split(" ")
            if len(parts) != 2:
                raise MalformedError("a signature line is '— NAME SIGNATURE'")
            name = check_key_name(parts[0])
            blob = _b64decode(parts[1], "a note signature")
            if len(blob) < 5:
                raise MalformedError("a note signature is a key hash and at least one byte")
            sig = NoteSignature(name, blob[:4], blob[4:])
            if sig.signer in seen:
                raise MalformedError(f"signer {name} appears twice in the note", signer=name)
            seen.add(sig.signer)
            sigs.append(sig)
        return cls(body, tuple(sigs))


# -- signers and verifiers ------------------------------------------------------------------


@dataclass(frozen=True)
class NoteVerifier:
    """A known note key: name, public key and signature type (0x01 or 0x04)."""

    name: str
    public_key: PublicKey
    sig_type: int = SIG_ED25519

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if self.sig_type not in (SIG_ED25519, SIG_COSIGNATURE_V1):
            raise MalformedError(f"unsupported note signature type {self.sig_type:#04x}")

    @property
    def key_hash(self) -> bytes:
        return key_hash(self.name, self.sig_type, self.public_key.raw)

    @property
    def signer(self) -> tuple[str, bytes]:
        return self.name, self.key_hash

    def verify(self, text: str, sig: NoteSignature) -> int | None:
        """Raise BadSignatureError unless ``sig`` is this key's valid signature on ``text``;
        return the cosignature timestamp (None for a plain Ed25519 signature)."""
        if sig.signer != self.signer:
            raise BadSignatureError(f"signature is not by note key {self.name}")
        if self.sig_type == SIG_ED25519:
            self.public_key.verify(text.encode(), sig.signature)
            return None
        if len(sig.signature) != 8 + 64:
            raise BadSignatureError(f"cosignature by {self.name} is not 72 bytes")
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise BadSignatureError(f"cosignature by {self.name} has a timestamp beyond 2^63-1")
        self.public_key.verify(cosigned_message(text, timestamp), sig.signature[8:])
        return timestamp


def cosigned_message(text: str, timestamp: int) -> bytes:
    """N2: the bytes a ``cosignature/v1`` cosignature signs."""
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{text}".encode()


def sign_note_text(text: str, name: str, key: PrivateKey) -> NoteSignature:
    """N2: the log's plain Ed25519 signature on a note text."""
    return NoteSignature(name, key_hash(name, SIG_ED25519, key.public.raw), key.sign(text.encode()))


def cosign_note_text(text: str, name: str, key: PrivateKey, timestamp: int) -> NoteSignature:
    """N2: a witness's ``cosignature/v1`` on a checkpoint text at ``timestamp``."""
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedError("a cosignature timestamp is between 0 and 2^63-1")
    sig = key.sign(cosigned_message(text, timestamp))
    return NoteSignature(
        name,
        key_hash(name, SIG_COSIGNATURE_V1, key.public.raw),
        timestamp.to_bytes(8, "big") + sig,
    )


@dataclass(frozen=True)
class Verified:
    """A signature that verified: its key and, for cosignatures, the timestamp."""

    verifier: NoteVerifier
    timestamp: int | None


def verify_note(note: Note, verifiers: Sequence[NoteVerifier]) -> list[Verified]:
    """N5: verify every signature by a known key; ignore unknown keys. A known key's bad
    signature raises BadSignatureError. Returns the verified signatures (each key once)."""
    known = {v.signer: v for v in verifiers}
    out: list[Verified] = []
    for sig in note.signatures:
        verifier = known.get(sig.signer)
        if verifier is None:
            continue
        out.append(Verified(verifier, verifier.verify(note.text, sig)))
    return out


# -- checkpoints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointBody:
    """N3: the text of a checkpoint note."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise MalformedError("a checkpoint origin is one non-empty line")
        if isinstance(self.size, bool) or not 0 <= self.size < (1 << 64):
            raise MalformedError("a checkpoint size is between 0 and 2^64-1")
        if len(self.root_hash) != 32:
            raise MalformedError("a checkpoint root hash is 32 bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext or _CONTROL.search(ext):
                raise MalformedError("a checkpoint extension is one non-empty line")

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    def to_message(self) -> Checkpoint:
        return Checkpoint(origin=self.origin, size=self.size, root_hash=self.root_hash)

    @classmethod
    def parse(cls, text: str) -> CheckpointBody:
        """N3: parse a checkpoint text strictly (MalformedError)."""
        if not text.endswith("\n"):
            raise MalformedError("a checkpoint text ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedError("a checkpoint has an origin, a size and a root hash line")
        origin, size_line, root_line, *ext = lines
        if not _SIZE.fullmatch(size_line):
            raise MalformedError(f"checkpoint size {size_line[:32]!r} is not a decimal number")
        root = _b64decode(root_line, "the checkpoint root hash")
        try:
            return cls(origin, int(size_line), root, tuple(ext))
        except MalformedError as exc:
            raise MalformedError(f"malformed checkpoint: {exc.message}") from None


@dataclass(frozen=True)
class SignedCheckpoint:
    """A parsed checkpoint note: its body and the note (with every signature line)."""

    body: CheckpointBody
    note: Note

    @classmethod
    def parse(cls, data: str | bytes) -> SignedCheckpoint:
        note = Note.parse(data)
        return cls(CheckpointBody.parse(note.text), note)

    @classmethod
    def sign(cls, body: CheckpointBody, log_key: PrivateKey) -> SignedCheckpoint:
        """A checkpoint signed by the log key, named by the origin (N4)."""
        text = body.text()
        return cls(body, Note(text, (sign_note_text(text, body.origin, log_key),)))

    def cosign(self, key: PrivateKey, timestamp: int) -> NoteSignature:
        """A witness's cosignature of this checkpoint (named per N4)."""
        return cosign_note_text(self.note.text, witness_name(key.public), key, timestamp)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> SignedCheckpoint:
        return SignedCheckpoint(self.body, self.note.with_signatures(extra))

    def encode(self) -> str:
        return self.note.encode()

    @property
    def size(self) -> int:
        return self.body.size

    @property
    def root_hash(self) -> bytes:
        return self.body.root_hash

    @property
    def origin(self) -> str:
        return self.body.origin


def log_verifier(origin: str, key: PublicKey) -> NoteVerifier:
    """N4: the verifier of a log key."""
    return NoteVerifier(origin, key, SIG_ED25519)


def witness_verifier(key: PublicKey) -> NoteVerifier:
    """N4: the verifier of a witness key's cosignatures."""
    return NoteVerifier(witness_name(key), key, SIG_COSIGNATURE_V1)
