"""docs/protocol.md is enough: an independent implementation, written from the
document with only cbor2 and PyNaCl (no pausebutton code), builds every valid
vector byte for byte from its decoded JSON and its keys, verifies it, and reaches
the same verdict as the reference on the encoding, Ed25519 and envelope vectors."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import cbor2
import nacl.exceptions
import nacl.signing
import pytest

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "protocol"
MAX_MESSAGE_SIZE = 65536  # E1
MAX_DEPTH = 16  # E2
SIG_CONTEXT = "pausebutton/v1/sig"  # S2
MESSAGE_FILES = [
    "checkpoint",
    "device-certificate",
    "envelope",
    "license",
    "location-challenge",
    "location-response",
    "pause-order",
    "prohibited-artifacts",
    "resume-order",
    "time-token",
    "usage-report",
]
# Section M and R: the fields whose type is bytes32 or [bytes32]; every other
# hex-looking JSON string is text.
BYTE_FIELDS = {
    "chip_id",
    "chips",
    "device_key",
    "key",
    "keys",
    "landmark_id",
    "nonce",
    "pod",
    "prev_hash",
    "root_hash",
    "sha256",
}


class Reject(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@cache
def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return doc


# -- E: canonical CBOR ------------------------------------------------------------------------


def walk(value: Any, depth: int) -> None:
    """E2: the data model, and at most MAX_DEPTH nested containers."""
    if isinstance(value, (list, dict)):
        if depth > MAX_DEPTH:
            raise Reject("malformed")
        items = value.values() if isinstance(value, dict) else value
        if isinstance(value, dict) and not all(type(k) is str for k in value):
            raise Reject("malformed")
        for item in items:
            walk(item, depth + 1)
    elif type(value) not in (int, bytes, str, bool, type(None)):
        raise Reject("malformed")


def spec_decode(data: bytes, max_size: int = MAX_MESSAGE_SIZE) -> Any:
    if len(data) > max_size:  # E1
        raise Reject("oversized")
    if not data:
        raise Reject("malformed")
    try:
        value = cbor2.loads(data, allow_indefinite=False, allow_duplicate_keys=False)
    except Exception:  # noqa: BLE001 - any parse failure is malformed
        raise Reject("malformed") from None
    walk(value, 1)
    if cbor2.dumps(value, canonical=True) != data:  # E3, E4
        raise Reject("non_canonical")
    return value


# -- S: envelope ------------------------------------------------------------------------------


def spec_envelope(value: Any) -> tuple[str, int, bytes, list[tuple[bytes, bytes]]]:
    """S1: exactly four keys of the right types; signatures of 32 + 64 bytes."""
    if type(value) is not dict or set(value) != {"type", "version", "payload", "signatures"}:
        raise Reject("malformed")
    t, v, p, sigs = value["type"], value["version"], value["payload"], value["signatures"]
    if type(t) is not str or not t or type(v) is not int or v < 1 or type(p) is not bytes:
        raise Reject("malformed")
    if type(sigs) is not list or len(sigs) > 64:
        raise Reject("malformed")
    out = []
    for s in sigs:
        if type(s) is not dict or set(s) != {"key_id", "sig"}:
            raise Reject("malformed")
        kid, sig = s["key_id"], s["sig"]
        if type(kid) is not bytes or len(kid) != 32 or type(sig) is not bytes or len(sig) != 64:
            raise Reject("malformed")
        out.append((kid, sig))
    return t, v, p, out


def signing_input(type_name: str, version: int, payload: bytes) -> bytes:
    return cbor2.dumps([SIG_CONTEXT, type_name, version, payload], canonical=True)  # S2


def verified_signers(
    type_name: str, version: int, payload: bytes, sigs: list[tuple[bytes, bytes]], keys: list[bytes]
) -> set[bytes]:
    """T1-T3: distinct authorised keys with a valid signature."""
    by_id = {hashlib.sha256(k).digest(): k for k in keys}  # K1
    message = signing_input(type_name, version, payload)
    signed = set()
    for kid, sig in sigs:
        if kid in by_id and kid not in signed:
            try:
                nacl.signing.VerifyKey(by_id[kid]).verify(message, sig)  # K2
            except nacl.exceptions.BadSignatureError:
                continue
            signed.add(kid)
    return signed


# -- P: payloads from JSON --------------------------------------------------------------------


def from_json(value: Any, field: str = "") -> Any:
    """The CBOR value of a vector's decoded JSON, typed by the field tables."""
    if isinstance(value, dict):
        return {k: from_json(v, k if field != "roles" else "") for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v, field) for v in value]
    if isinstance(value, str) and field in BYTE_FIELDS:
        return bytes.fromhex(value)
    return value


def private_keys() -> dict[bytes, nacl.signing.SigningKey]:
    out = {}
    for entry in load("keys")["keys"].values():
        seed = hashlib.sha256(b"pausebutton-test-key:" + entry["seed_material"].encode()).digest()
        assert seed.hex() == entry["seed"]
        key = nacl.signing.SigningKey(seed)
        kid = hashlib.sha256(bytes(key.verify_key)).digest()
        assert kid.hex() == entry["key_id"]
        out[kid] = key
    return out


def role_keys(root_envelope: bytes, role: str) -> tuple[list[bytes], int]:
    _, _, payload, _ = spec_envelope(spec_decode(root_envelope))
    root = spec_decode(payload)
    return root["roles"][role]["keys"], root["roles"][role]["threshold"]


def valid_cases() -> list[Any]:
    out = []
    for name in [*MESSAGE_FILES, "trust-root"]:
        for vec in load(name)["vectors"]:
            if vec["expect"] == "ok":
                out.append(pytest.param(name, vec["name"], id=f"{name}:{vec['name']}"))
    return out


def find(name: str, vec_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = load(name)
    return doc, next(v for v in doc["vectors"] if v["name"] == vec_name)


@pytest.mark.parametrize(("name", "vec_name"), valid_cases())
def test_build_and_verify_valid_vectors_from_the_spec(name: str, vec_name: str) -> None:
    doc, vec = find(name, vec_name)
    data = bytes.fromhex(vec["envelope"])
    decoded = vec["decoded"]
    # Verify: E, S1, S2, K, T against the pinned root's role (or the device key).
    type_name, version, payload, sigs = spec_envelope(
        spec_decode(data, vec.get("max_size", MAX_MESSAGE_SIZE))
    )
    if name == "trust-root":
        keys, threshold = role_keys(data, "root")
    elif "role" in vec:
        keys, threshold = role_keys(bytes.fromhex(doc["trust_root"]), vec["role"])
    else:
        keys, threshold = [bytes.fromhex(vec["device_key"])], 1
    signed = verified_signers(type_name, version, payload, sigs, keys)
    assert len(signed) >= threshold
    assert sorted(k.hex() for k in signed) == decoded["signers"]
    assert spec_decode(payload) == from_json(decoded["payload"])
    # Build: payload from the decoded JSON (P1-P3), signatures by the listed
    # signers sorted by key id (S3), envelope in canonical form (S1, E3).
    if len(sigs) != len(decoded["signers"]):
        return  # the envelope also carries signatures that do not count
    built_payload = cbor2.dumps(from_json(decoded["payload"]), canonical=True)
    assert built_payload == payload
    secret = private_keys()
    message = signing_input(decoded["type"], decoded["version"], built_payload)
    signatures = [
        {"key_id": kid, "sig": secret[kid].sign(message).signature}
        for kid in sorted(bytes.fromhex(k) for k in decoded["signers"])
    ]
    envelope = {
        "type": decoded["type"],
        "version": decoded["version"],
        "payload": built_payload,
        "signatures": signatures,
    }
    assert cbor2.dumps(envelope, canonical=True) == data


def cases(name: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in load(name)["vectors"]]


@pytest.mark.parametrize("vec", cases("encoding"))
def test_encoding_vectors_from_the_spec(vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["data"])
    try:
        spec_decode(data)
        outcome = "ok"
    except Reject as exc:
        outcome = exc.code
    assert outcome == vec["expect"]


@pytest.mark.parametrize("vec", cases("ed25519"))
def test_ed25519_vectors_from_the_spec(vec: dict[str, Any]) -> None:
    public = bytes.fromhex(vec["public_key"])
    if len(public) != 32:
        outcome = "malformed"
    else:
        try:
            nacl.signing.VerifyKey(public).verify(
                bytes.fromhex(vec["message"]), bytes.fromhex(vec["signature"])
            )
            outcome = "ok"
        except (nacl.exceptions.BadSignatureError, ValueError):
            outcome = "bad_signature"
    assert outcome == vec["expect"]


@pytest.mark.parametrize("vec", cases("envelope"))
def test_envelope_vectors_from_the_spec(vec: dict[str, Any]) -> None:
    data = bytes.fromhex(vec["envelope"])
    try:
        spec_envelope(spec_decode(data, vec.get("max_size", MAX_MESSAGE_SIZE)))
        outcome = "ok"
    except Reject as exc:
        outcome = exc.code
    assert outcome == vec["expect"]
