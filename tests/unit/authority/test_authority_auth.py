"""RFC 9421 request signatures and the rate limiter."""

from __future__ import annotations

import pytest

from pausebutton.authority.auth import RateLimiter, sign_request, verify_request
from pausebutton.errors import AuthError, RateLimitError
from pausebutton.protocol.keys import PrivateKey, PublicKey

KEY = PrivateKey.from_seed_material(b"auth-test")
URL = "http://authority.example/v1/owners?x=1"
NOW = 1_800_000_000


def resolve(kid: str) -> PublicKey | None:
    return KEY.public if kid == KEY.key_id.hex() else None


def signed(body: bytes = b"{}", **kw: object) -> list[tuple[str, str]]:
    h = sign_request(
        "POST",
        URL,
        {"content-type": "application/json"},
        body,
        KEY,
        created=kw.pop("created", NOW),
        **kw,
    )  # type: ignore[arg-type]
    return [("content-type", "application/json"), *h.items()]


def test_round_trip() -> None:
    check = verify_request("POST", URL, signed(), b"{}", resolve, now=NOW)
    assert check.key_id == KEY.key_id.hex() and check.created == NOW and len(check.nonce) >= 8


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("PUT", URL, b"{}", "signature"),
        ("POST", "http://authority.example/v1/keys?x=1", b"{}", "signature"),
        ("POST", "http://authority.example/v1/owners?x=2", b"{}", "signature"),
        ("POST", "http://other.example/v1/owners?x=1", b"{}", "signature"),
        ("POST", URL, b"{ }", "signature"),
    ],
)
def test_any_change_breaks_the_signature(method: str, url: str, body: bytes, field: str) -> None:
    with pytest.raises(AuthError) as info:
        verify_request(method, url, signed(), body, resolve, now=NOW)
    assert info.value.details["field"] == field


def test_time_window_nonce_and_key() -> None:
    with pytest.raises(AuthError) as info:
        verify_request("POST", URL, signed(), b"{}", resolve, now=NOW + 301)
    assert info.value.details["field"] == "created"
    with pytest.raises(AuthError) as info:
        verify_request("POST", URL, signed(), b"{}", resolve, now=NOW - 60)
    assert info.value.details["field"] == "created"
    with pytest.raises(AuthError) as info:
        verify_request("POST", URL, signed(nonce="short"), b"{}", resolve, now=NOW)
    assert info.value.details["field"] == "nonce"
    with pytest.raises(AuthError) as info:
        verify_request("POST", URL, signed(), b"{}", lambda kid: None, now=NOW)
    assert info.value.details["field"] == "keyid"
    with pytest.raises(AuthError):
        verify_request("POST", URL, [("content-type", "x")], b"{}", resolve, now=NOW)


def test_rate_limiter() -> None:
    t = [0.0]
    rl = RateLimiter(rate=1.0, burst=2.0, clock=lambda: t[0])
    rl.take("k")
    rl.take("k")
    with pytest.raises(RateLimitError):
        rl.take("k")
    rl.take("other")
    t[0] = 1.0
    rl.take("k")
