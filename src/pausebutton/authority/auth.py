"""Signed HTTP requests: RFC 9421 HTTP Message Signatures with Ed25519.

A write (and any admin read) carries ``Signature-Input`` and ``Signature``
headers made with the ``http-message-signatures`` package. The signature must
cover ``@method``, ``@authority``, ``@path``, ``@query`` and
``content-digest`` (RFC 9530 SHA-256 of the body, checked against the body),
carry ``created``, ``keyid`` (the hex key id of an Ed25519 key: an operator or
admin key registered with the authority, or a member key from the trust root)
and a fresh ``nonce``. Requests older than ``max_age`` seconds or dated in the
future are refused; a nonce is accepted once per key (stored until it could
no longer pass the time window), so a captured request cannot be replayed.
"""

from __future__ import annotations

import datetime
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from pausebutton.errors import AuthError, RateLimitError
from pausebutton.protocol.keys import PrivateKey, PublicKey

COVERED = ("@method", "@authority", "@path", "@query", "content-digest")
LABEL = "pb"
TAG = "pausebutton"
MAX_NONCE = 128


@dataclass
class _Message:
    method: str
    url: str
    headers: Any


class _Resolver(HTTPSignatureKeyResolver):
    def __init__(
        self,
        public: Callable[[str], PublicKey | None] | None = None,
        private: PrivateKey | None = None,
    ) -> None:
        self._public = public
        self._private = private

    def resolve_public_key(self, key_id: str) -> ed25519.Ed25519PublicKey | None:
        if self._public is None:
            return None
        pub = self._public(key_id)
        if pub is None:
            return None
        return ed25519.Ed25519PublicKey.from_public_bytes(pub.raw)

    def resolve_private_key(self, key_id: str) -> ed25519.Ed25519PrivateKey:
        if self._private is None:
            raise KeyError(key_id)
        return ed25519.Ed25519PrivateKey.from_private_bytes(self._private.seed())


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    key: PrivateKey,
    *,
    created: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers to add to a request so the authority accepts it as signed by ``key``."""
    msg = _Message(method.upper(), url, dict(headers))
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(private=key)
    )
    signer.sign(
        msg,
        key_id=key.key_id.hex(),
        created=datetime.datetime.fromtimestamp(
            created if created is not None else time.time(), tz=datetime.UTC
        ),
        nonce=nonce or secrets.token_hex(16),
        label=LABEL,
        tag=TAG,
        covered_component_ids=COVERED[:-1],
        body=body,
    )
    return {
        k: v
        for k, v in msg.headers.items()
        if k.lower() in ("signature", "signature-input", "content-digest")
    }


class _Verifier(HTTPMessageVerifier):
    """Time checks are done by :func:`verify_request` against its explicit ``now``."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        return None


@dataclass
class SignatureCheck:
    """What a verified request says: who signed, when, with which nonce."""

    key_id: str
    created: int
    nonce: str


def verify_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    resolve: Callable[[str], PublicKey | None],
    *,
    now: int,
    max_age: int = 300,
) -> SignatureCheck:
    """Check a request's RFC 9421 signature; raise AuthError naming what is wrong."""
    hdrs: dict[str, str] = {}
    for k, v in headers:
        lk = k.lower()
        hdrs[lk] = f"{hdrs[lk]}, {v}" if lk in hdrs else v
    if "signature" not in hdrs or "signature-input" not in hdrs:
        raise AuthError(
            "this request must be signed (RFC 9421 Signature and Signature-Input headers)",
            field="signature",
        )
    msg = _Message(method.upper(), url, hdrs)
    verifier = _Verifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(public=resolve)
    )
    try:
        results = verifier.verify(
            msg,
            max_age=None,
            expect_tag=TAG,
            expect_label=LABEL,
            require_components=COVERED,
            body=body,
        )
    except HTTPMessageSignaturesException as exc:
        text = str(exc) or "the signature does not verify"
        name = "keyid" if "resolve" in text.lower() else "signature"
        raise AuthError(f"request signature rejected: {text}", field=name) from None
    params = results[0].parameters
    created = params.get("created")
    nonce = params.get("nonce")
    kid = params.get("keyid")
    if not isinstance(created, int):
        raise AuthError("signature lacks 'created'", field="created")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= MAX_NONCE:
        raise AuthError(f"signature needs a nonce of 8-{MAX_NONCE} characters", field="nonce")
    if not isinstance(kid, str):
        raise AuthError("signature lacks 'keyid'", field="keyid")
    expires = params.get("expires")
    if expires is not None and (not isinstance(expires, int) or expires < now):
        raise AuthError("signature has expired", field="expires")
    if created > now + 30:
        raise AuthError("signature 'created' is in the future", field="created")
    if created < now - max_age:
        raise AuthError(f"signature is older than {max_age} s", field="created")
    return SignatureCheck(kid, created, nonce)


@dataclass
class RateLimiter:
    """A token bucket per key (per worker process)."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self, key: str, cost: float = 1.0) -> None:
        """Take ``cost`` tokens of ``key``'s bucket (RateLimitError if it lacks them).
        Thread-safe: requests are authenticated in worker threads."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                raise RateLimitError(f"rate limit of {self.rate:g} requests/s exceeded", key=key)
            self._buckets[key] = (tokens - cost, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
