"""Sign-in to the console with a key the authority knows (members from the trust root,
operators and admins from its key table).

1. ``challenge()`` gives a one-use text, ``pausebutton-console-signin:v1:<nonce>:<expiry>:
   <tag>``; the tag (HMAC-SHA256 under a secret derived from the licensing key, so every
   worker agrees) shows the authority made it.
2. The person signs the text's UTF-8 bytes with their Ed25519 key: in the browser
   (WebCrypto, the key file never leaves the page) or with ``pausebutton console
   sign-challenge``.
3. ``verify()`` checks tag, expiry, the signature under the key's registered public key
   and that the nonce was not used before (the authority's request-nonce table), and the
   console sets a session cookie: the key id and an expiry under the same HMAC.

Each request looks the key up again, so a revoked key loses its session at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from pausebutton import errors

PREFIX = "pausebutton-console-signin:v1"
CHALLENGE_TTL = 300
SESSION_TTL = 8 * 3600
COOKIE = "pb_console"

PUBLIC = "public"


@dataclass(frozen=True)
class Viewer:
    """Who looks at the console: ``public`` (not signed in) or a signed-in key's role."""

    role: str = PUBLIC
    name: str = ""
    key_id: str = ""
    owner_id: str | None = None
    expired: bool = False
    """A session cookie came with the request but is expired, forged or its key revoked."""

    @property
    def signed_in(self) -> bool:
        return self.role != PUBLIC


class Sessions:
    """Challenges and session cookies under one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = hashlib.sha256(b"pausebutton-console-session\x00" + secret).digest()

    def _tag(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    def challenge(self, now: int) -> str:
        body = f"{PREFIX}:{secrets.token_hex(16)}:{now + CHALLENGE_TTL}"
        return f"{body}:{self._tag(body)}"

    def check_challenge(self, text: str, now: int) -> tuple[str, int]:
        """The challenge's nonce and expiry, or a named error."""
        parts = text.split(":")
        if len(parts) != 5 or ":".join(parts[:2]) != PREFIX:
            raise errors.SchemaError("this is not a console sign-in challenge", field="challenge")
        body = ":".join(parts[:4])
        if not hmac.compare_digest(self._tag(body), parts[4]):
            raise errors.AuthError(
                "this challenge was not issued by this authority", field="challenge"
            )
        try:
            expiry = int(parts[3])
        except ValueError:
            raise errors.SchemaError("malformed challenge expiry", field="challenge") from None
        if expiry < now:
            raise errors.ExpiredError(
                "the challenge has expired: ask for a new one and sign again", field="challenge"
            )
        return parts[2], expiry

    def cookie(self, key_id: str, now: int) -> str:
        body = f"{key_id}.{now + SESSION_TTL}"
        return f"{body}.{self._tag(body)}"

    def read_cookie(self, value: str, now: int) -> str | None:
        """The key id of a valid, unexpired session cookie; None otherwise."""
        parts = value.split(".")
        if len(parts) != 3:
            return None
        body = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._tag(body), parts[2]):
            return None
        try:
            if int(parts[1]) < now:
                return None
        except ValueError:
            return None
        return parts[0]


def parse_signature(text: str) -> bytes:
    """A 64-byte Ed25519 signature as hex or base64."""
    text = text.strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != 64:
        raise errors.SchemaError(
            "the signature must be 64 bytes, as hex or base64", field="signature"
        )
    return raw
