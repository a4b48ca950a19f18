"""Vectors below the envelope: Ed25519 signatures and canonical CBOR encoding."""

from __future__ import annotations

from typing import Any

from pausebutton.protocol import encoding
from pausebutton.protocol.jsonview import to_json
from vectorgen.common import ED25519_L, Keys, file_doc, item


def ed25519_vectors(keys: Keys) -> dict[str, Any]:
    signer = keys.role("licensing")
    message = b"pausebutton ed25519 vector"
    sig = signer.sign(message)
    s_int = int.from_bytes(sig[32:], "little")
    non_canonical_s = sig[:32] + (s_int + ED25519_L).to_bytes(32, "little")
    flipped = bytes([sig[0] ^ 0x01]) + sig[1:]
    identity = bytes([1]) + bytes(31)

    def vec(
        name: str, description: str, public: bytes, msg: bytes, signature: bytes, expect: str
    ) -> dict[str, Any]:
        return {
            "name": name,
            "description": description,
            "public_key": public.hex(),
            "message": msg.hex(),
            "signature": signature.hex(),
            "expect": expect,
        }

    vectors = [
        vec(
            "valid",
            "an RFC 8032 signature by the licensing key",
            signer.public.raw,
            message,
            sig,
            "ok",
        ),
        vec(
            "flipped-bit",
            "the first bit of R flipped",
            signer.public.raw,
            message,
            flipped,
            "bad_signature",
        ),
        vec(
            "other-message",
            "a valid signature over another message",
            signer.public.raw,
            message + b"!",
            sig,
            "bad_signature",
        ),
        vec(
            "non-canonical-s",
            "S replaced by S + L (malleability); K2 requires S < L",
            signer.public.raw,
            message,
            non_canonical_s,
            "bad_signature",
        ),
        vec(
            "small-order-key",
            "identity public key with R = identity and S = 0, which satisfies the "
            "verification equation for every message; K2 rejects small-order keys",
            identity,
            message,
            identity + bytes(32),
            "bad_signature",
        ),
        vec(
            "short-signature",
            "63-byte signature",
            signer.public.raw,
            message,
            sig[:63],
            "bad_signature",
        ),
        vec("short-key", "31-byte public key", signer.public.raw[:31], message, sig, "malformed"),
    ]
    return file_doc(
        "K1-K2: raw Ed25519 checks. "
        "Check: PublicKey.from_bytes(public_key).verify(message, signature).",
        None,
        vectors,
    )


def encoding_vectors() -> dict[str, Any]:
    def vec(
        name: str, description: str, data: bytes, expect: str, decoded: Any = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": name,
            "description": description,
            "data": data.hex(),
            "expect": expect,
        }
        if expect == "ok":
            out["decoded"] = to_json(encoding.decode(data))
            assert to_json(decoded) == out["decoded"], name
        return out

    big = 2**64
    vectors = [
        vec(
            "map-sorted",
            "text keys sorted by length, then bytewise",
            item({"a": 1, "bb": 2, "ab": 3}),
            "non_canonical",
        ),
        vec(
            "map-canonical",
            "the same map in canonical order",
            encoding.encode({"a": 1, "ab": 3, "bb": 2}),
            "ok",
            {"a": 1, "ab": 3, "bb": 2},
        ),
        vec(
            "uint-max-64",
            "2**64-1 is a plain major-type-0 integer",
            encoding.encode(2**64 - 1),
            "ok",
            2**64 - 1,
        ),
        vec(
            "bignum-64",
            "2**64 is a tag-2 bignum with a minimal 9-byte content",
            encoding.encode(big),
            "ok",
            big,
        ),
        vec(
            "negative-bignum",
            "-(2**64)-1 is a tag-3 bignum",
            encoding.encode(-(2**64) - 1),
            "ok",
            -(2**64) - 1,
        ),
        vec(
            "bignum-small",
            "1 as a tag-2 bignum: a bignum is only for values beyond 64 bits",
            bytes.fromhex("c24101"),
            "non_canonical",
        ),
        vec(
            "bignum-leading-zero",
            "2**64 as a bignum with a leading zero byte",
            bytes.fromhex("c24a00010000000000000000"),
            "non_canonical",
        ),
        vec(
            "int-not-shortest",
            "1 encoded with a one-byte argument (0x18 0x01)",
            bytes.fromhex("1801"),
            "non_canonical",
        ),
        vec(
            "length-not-shortest",
            "text 'a' with a one-byte length argument",
            bytes.fromhex("780161"),
            "non_canonical",
        ),
        vec("indefinite-array", "indefinite-length array", bytes.fromhex("9f01ff"), "malformed"),
        vec(
            "indefinite-bytes",
            "indefinite-length byte string",
            bytes.fromhex("5f4101ff"),
            "malformed",
        ),
        vec("duplicate-key", "the key 'a' twice", bytes.fromhex("a2616101616102"), "malformed"),
        vec("float", "1.0 as a half-precision float", bytes.fromhex("f93c00"), "malformed"),
        vec(
            "float-in-map",
            "a float value inside a map",
            bytes.fromhex("a16161fb3ff0000000000000"),
            "malformed",
        ),
        vec("tag-datetime", "tag 1 (epoch time)", bytes.fromhex("c11a514b67b0"), "malformed"),
        vec("tag-unknown", "tag 24 (embedded CBOR)", bytes.fromhex("d818430a0b0c"), "malformed"),
        vec(
            "tag-self-describe",
            "tag 55799 around 1 (decoders drop it; re-encoding differs)",
            bytes.fromhex("d9d9f701"),
            "non_canonical",
        ),
        vec("undefined", "the simple value undefined", bytes.fromhex("f7"), "malformed"),
        vec("simple-value", "simple value 16", bytes.fromhex("f0"), "malformed"),
        vec("int-key", "an integer map key", bytes.fromhex("a10101"), "malformed"),
        vec("bad-utf8", "a text string that is not UTF-8", bytes.fromhex("62c328"), "malformed"),
        vec("truncated", "a two-item array with one item", bytes.fromhex("8201"), "malformed"),
        vec(
            "trailing-byte",
            "a valid item followed by another byte",
            bytes.fromhex("0100"),
            "non_canonical",
        ),
        vec("empty", "no bytes at all", b"", "malformed"),
        vec(
            "depth-16",
            "16 nested arrays around 1 (the limit)",
            b"\x81" * 16 + b"\x01",
            "ok",
            _nest(16),
        ),
        vec("depth-17", "17 nested arrays around 1", b"\x81" * 17 + b"\x01", "malformed"),
        vec(
            "oversized",
            "65537 bytes of 0xff: refused for its size before any parsing",
            b"\xff" * (encoding.MAX_MESSAGE_SIZE + 1),
            "oversized",
        ),
    ]
    return file_doc("E1-E4: canonical CBOR. Check: encoding.decode(data).", None, vectors)


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value
