"""Ed25519 keys (libsodium via PyNaCl; see docs/adr/0001-signature-backend.md).

Protocol step K1: a key id is the SHA-256 of the 32-byte raw public key.
Protocol step K2: signatures are plain Ed25519 (RFC 8032) over the bytes the
caller passes; libsodium rejects non-canonical and small-order keys and
signatures with non-canonical S.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing

from pausebutton.errors import BadSignatureError, MalformedError

PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
SIGNATURE_SIZE = 64
KEY_ID_SIZE = 32


def key_id(public_key: bytes) -> bytes:
    """K1: the key id of a raw Ed25519 public key."""
    return hashlib.sha256(public_key).digest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A raw Ed25519 public key and its key id."""

    raw: bytes
    _verifier: nacl.signing.VerifyKey = field(repr=False, compare=False, hash=False)
    _key_id: bytes = field(repr=False, compare=False, hash=False, default=b"")

    @classmethod
    def from_bytes(cls, raw: bytes) -> PublicKey:
        if not isinstance(raw, bytes) or len(raw) != PUBLIC_KEY_SIZE:
            raise MalformedError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
        try:
            verifier = nacl.signing.VerifyKey(raw)
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise MalformedError(f"invalid Ed25519 public key: {exc}") from exc
        return cls(raw, verifier, key_id(raw))

    @property
    def key_id(self) -> bytes:
        """K1, computed once when the key is parsed."""
        return self._key_id or key_id(self.raw)

    def verify(self, message: bytes, signature: bytes) -> None:
        """K2: raise BadSignatureError unless ``signature`` is valid for ``message``."""
        if len(signature) != SIGNATURE_SIZE:
            raise BadSignatureError("an Ed25519 signature is 64 bytes")
        try:
            self._verifier.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError) as exc:
            raise BadSignatureError(
                f"signature by key {self.key_id.hex()[:16]} is invalid"
            ) from exc

    def is_valid(self, message: bytes, signature: bytes) -> bool:
        """K2 as a boolean: what ``verify`` accepts (one call less on the hot path)."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            self._verifier.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
            return False
        return True


class PrivateKey:
    """An Ed25519 signing key. Its secret never appears in repr or str."""

    __slots__ = ("_signer", "public")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            raise MalformedError(f"an Ed25519 seed is {SEED_SIZE} bytes")
        self._signer = nacl.signing.SigningKey(seed)
        self.public = PublicKey.from_bytes(bytes(self._signer.verify_key))

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed_material(cls, material: bytes) -> PrivateKey:
        """Deterministic key from arbitrary material (test vectors, simulations only)."""
        return cls(hashlib.sha256(b"pausebutton-test-key:" + material).digest())

    @property
    def key_id(self) -> bytes:
        return self.public.key_id

    def seed(self) -> bytes:
        """The 32-byte secret seed, for writing a key file. Never log it."""
        return bytes(self._signer)

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message).signature

    def __repr__(self) -> str:
        return f"PrivateKey(key_id={self.key_id.hex()[:16]}…)"

    __str__ = __repr__
