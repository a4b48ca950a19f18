#!/usr/bin/env python3
"""Generate the protocol test vectors in tests/vectors/protocol/ from fixed seeds.

    python scripts/gen_vectors.py            write the files
    python scripts/gen_vectors.py --check    exit 1 if the files differ from a fresh run

Every key comes from ``PrivateKey.from_seed_material`` and Ed25519 signatures are
deterministic, so the output is the same byte for byte on every run;
tests/unit/protocol/test_protocol_vectors.py regenerates the files in memory
and compares them with the committed ones. docs/protocol.md, section
"Test vectors", says how each kind of vector is checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cbor2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from pausebutton.protocol import encoding  # noqa: E402
from pausebutton.protocol.envelope import Envelope, Signature, signing_input  # noqa: E402
from pausebutton.protocol.genesis import AuthorityKeys, found_authority  # noqa: E402
from pausebutton.protocol.jsonview import to_json  # noqa: E402
from pausebutton.protocol.keys import PrivateKey  # noqa: E402
from pausebutton.protocol.messages import (  # noqa: E402
    GENESIS_HASH,
    GLOBAL,
    Artifact,
    ArtifactKind,
    Checkpoint,
    DeviceCertificate,
    License,
    LocationChallenge,
    LocationResponse,
    Measurement,
    PauseOrder,
    ProhibitedArtifacts,
    ResumeOrder,
    Scope,
    ScopeKind,
    TimeToken,
    UsageReport,
    report_hash,
)
from pausebutton.protocol.schema import Payload  # noqa: E402
from pausebutton.protocol.trustroot import Member, TrustRoot  # noqa: E402

OUT_DIR = REPO / "tests" / "vectors" / "protocol"
GENERATOR = "scripts/gen_vectors.py"
SEED = b"pausebutton-vectors"
NOW = 1_767_225_600
"""2026-01-01T00:00:00Z: the verifier's time in every vector unless one says otherwise."""
DAY = 86_400
ROOT_EXPIRES = NOW + 365 * DAY
ED25519_L = 2**252 + 27742317777372353535851937790883648493
"""The order of the Ed25519 base point; a canonical S is below it."""


# -- keys --------------------------------------------------------------------------------------


class Keys:
    """Every key of the vectors, with the seed material that makes it."""

    def __init__(self) -> None:
        self.authority: AuthorityKeys = found_authority(seed=SEED)
        self.labels: dict[str, tuple[bytes, PrivateKey]] = {}
        for name, key in self.authority.members.items():
            self._add(f"member/{name}", SEED + b"/member/" + name.encode(), key)
        for role, role_keys in self.authority.role_keys.items():
            if role in ("root", "pause"):
                continue
            for i, key in enumerate(role_keys):
                self._add(f"{role}/{i}", SEED + f"/{role}/{i}".encode(), key)
        self.device = self._new("device/0")
        self.device_other = self._new("device/1")
        self.outsider = self._new("outsider")
        self.new_members = [self._new(f"member-v2/{i}") for i in range(3)]
        self.new_members_v3 = [self._new(f"member-v3/{i}") for i in range(1)]

    def _add(self, label: str, material: bytes, key: PrivateKey) -> None:
        assert PrivateKey.from_seed_material(material).key_id == key.key_id, label
        self.labels[label] = (material, key)

    def _new(self, label: str) -> PrivateKey:
        material = SEED + b"/" + label.encode()
        key = PrivateKey.from_seed_material(material)
        self.labels[label] = (material, key)
        return key

    def member(self, i: int) -> PrivateKey:
        return list(self.authority.members.values())[i]

    def role(self, role: str, i: int = 0) -> PrivateKey:
        return self.authority.key(role, i)

    def doc(self) -> dict[str, Any]:
        return {
            label: {
                "seed_material": material.decode(),
                "seed": key.seed().hex(),
                "public_key": key.public.raw.hex(),
                "key_id": key.key_id.hex(),
            }
            for label, (material, key) in self.labels.items()
        }


# -- raw CBOR helpers for hand-made (invalid) encodings --------------------------------------


def item(value: object) -> bytes:
    """One data item with cbor2's plain encoder (definite lengths, shortest heads)."""
    return cbor2.dumps(value)


def cbor_map(pairs: Iterable[tuple[str, bytes]], head: bytes | None = None) -> bytes:
    """A map from (key, encoded value) pairs, in the order given."""
    pairs = list(pairs)
    assert len(pairs) < 24
    return (head or bytes([0xA0 | len(pairs)])) + b"".join(item(k) + v for k, v in pairs)


def sigs_item(sigs: Iterable[Signature]) -> bytes:
    # canonical order: "sig" (3 bytes) sorts before "key_id" (6 bytes)
    return item([{"sig": s.sig, "key_id": s.key_id} for s in sigs])


def envelope_bytes(
    type_name: str,
    version: bytes | int,
    payload: bytes,
    signatures: bytes | Iterable[Signature],
    order: tuple[str, ...] = ("type", "payload", "version", "signatures"),
    head: bytes | None = None,
) -> bytes:
    """An envelope with each member pre-encoded (for non-canonical variants)."""
    values = {
        "type": item(type_name),
        "version": version if isinstance(version, bytes) else item(version),
        "payload": item(payload),
        "signatures": signatures if isinstance(signatures, bytes) else sigs_item(signatures),
    }
    return cbor_map(((k, values[k]) for k in order), head)


def sign_raw(type_name: str, version: int, payload: bytes, keys: Iterable[PrivateKey]) -> bytes:
    """A canonical envelope over arbitrary payload bytes (valid signatures)."""
    message = signing_input(type_name, version, payload)
    sigs = sorted((Signature(k.key_id, k.sign(message)) for k in keys), key=lambda s: s.key_id)
    return Envelope(type_name, version, payload, tuple(sigs)).encode()


# -- vector records ----------------------------------------------------------------------------


def decoded_json(env: Envelope, payload: Payload, signers: Iterable[bytes]) -> dict[str, Any]:
    return {
        "type": env.type,
        "version": env.version,
        "payload": to_json(payload),
        "signers": sorted(k.hex() for k in signers),
    }


def ok(
    name: str, description: str, data: bytes, signers: Iterable[PrivateKey], **check: Any
) -> dict[str, Any]:
    env = Envelope.decode(data, max_size=check.get("max_size", encoding.MAX_MESSAGE_SIZE))
    return {
        "name": name,
        "description": description,
        **check,
        "envelope": data.hex(),
        "expect": "ok",
        "decoded": decoded_json(env, env.open(), (k.key_id for k in signers)),
    }


def bad(name: str, description: str, data: bytes, error: str, **check: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        **check,
        "envelope": data.hex(),
        "expect": error,
    }


def signed(payload: Payload, keys: Iterable[PrivateKey]) -> bytes:
    return Envelope.create(payload, keys).encode()


def file_doc(
    description: str, trust_root: bytes | None, vectors: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "description": description,
        "generated_by": GENERATOR,
        "keys": "keys.json",
        "now": NOW,
    }
    if trust_root is not None:
        doc["trust_root"] = trust_root.hex()
    doc.update(extra)
    doc["vectors"] = vectors
    return doc


# -- the payloads ------------------------------------------------------------------------------


def chip_id(keys: Keys) -> bytes:
    return keys.device.key_id


def sample_license(keys: Keys, **changes: Any) -> License:
    base = License(
        license_id=1001,
        chip_id=chip_id(keys),
        not_before=NOW - DAY,
        not_after=NOW + 30 * DAY,
        flop_budget=10**25,
        max_offline=DAY,
        firmware_floor=3,
        owner="example-lab",
        facility="fac-nl-0001",
        region="NL",
    )
    return dataclasses.replace(base, **changes)


def payload_with(payload: Payload, **fields: Any) -> bytes:
    """The payload's canonical encoding with fields replaced, added, or removed (None)."""
    value = payload.to_value()
    for k, v in fields.items():
        if v is None:
            value.pop(k, None)
        else:
            value[k] = v
    return encoding.encode(value)


# -- files ---------------------------------------------------------------------------------------


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


def root_docs(keys: Keys) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """The pinned v1 root, the trust-root file, and the root-rotation file."""
    auth = keys.authority
    members = [keys.member(i) for i in range(5)]
    root_v1 = auth.trust_root(version=1, expires=ROOT_EXPIRES)
    v1 = Envelope.create(root_v1, auth.role_keys["root"]).encode()

    def with_members(
        root: TrustRoot, version: int, new_keys: list[PrivateKey], expires: int = ROOT_EXPIRES
    ) -> TrustRoot:
        names = [m.name for m in root.members]
        new_members = tuple(
            Member(name=name, key=key.public.raw) for name, key in zip(names, new_keys, strict=True)
        )
        roles = dict(root.roles)
        for role in ("root", "pause"):
            roles[role] = dataclasses.replace(
                roles[role], keys=tuple(k.public.raw for k in new_keys)
            )
        return dataclasses.replace(
            root, version=version, expires=expires, members=new_members, roles=roles
        )

    # v2 replaces members 3-5 with new keys; v3 replaces member 1.
    v2_keys = [members[0], members[1], *keys.new_members]
    v3_keys = [keys.new_members_v3[0], members[1], *keys.new_members]
    root_v2 = with_members(root_v1, 2, v2_keys)
    root_v3 = with_members(root_v2, 3, v3_keys)
    old3 = members[:3]
    new3 = [members[0], members[1], keys.new_members[0]]
    v2 = signed(root_v2, {k.key_id: k for k in (*old3, *new3)}.values())
    v3 = signed(root_v3, [members[1], *keys.new_members[:2], keys.new_members_v3[0]])

    # trust-root.json: pinned-root checks.
    pinned = [
        ok(
            "pinned-v1",
            "the first root, signed by all five members (threshold 3)",
            v1,
            auth.role_keys["root"],
        ),
        ok(
            "pinned-v1-threshold",
            "signed by exactly three members",
            signed(root_v1, members[:3]),
            members[:3],
        ),
        bad(
            "pinned-two-of-five",
            "signed by two members only",
            signed(root_v1, members[:2]),
            "below_threshold",
        ),
        bad(
            "pinned-duplicate-signature",
            "three signatures, but member-1 twice",
            _dup_sig(root_v1, members[:2], members[0]),
            "below_threshold",
        ),
        bad(
            "pinned-expired",
            "verified one second after it expires",
            v1,
            "expired",
            now=ROOT_EXPIRES,
        ),
        ok(
            "pinned-just-valid",
            "verified one second before it expires",
            v1,
            auth.role_keys["root"],
            now=ROOT_EXPIRES - 1,
        ),
        bad(
            "pinned-key-listed-twice",
            "the root role lists the same key twice",
            sign_raw("trust-root", 1, _root_dup_key(root_v1), members),
            "schema",
        ),
        bad(
            "pinned-threshold-too-high",
            "root threshold 6 with five keys",
            sign_raw("trust-root", 1, _root_threshold(root_v1, 6), members),
            "schema",
        ),
        bad(
            "pinned-missing-role",
            "no 'time' role",
            sign_raw("trust-root", 1, _root_without_role(root_v1, "time"), members),
            "schema",
        ),
        bad(
            "pinned-wrong-type",
            "a license where a trust root is expected",
            signed(sample_license(keys), members),
            "unknown_type",
        ),
    ]
    trust_doc = file_doc(
        "R1-R2: pinned first roots. Check: load_pinned_root(envelope, now).",
        None,
        pinned,
    )

    def upd(
        name: str,
        description: str,
        updates: list[bytes],
        expect: str,
        signers: Iterable[PrivateKey] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": name,
            "description": description,
            **extra,
            "updates": [u.hex() for u in updates],
            "expect": expect,
        }
        if expect == "ok":
            env = Envelope.decode(updates[-1])
            out["decoded"] = decoded_json(env, env.open(), (k.key_id for k in signers))
        return out

    v2_expired = signed(
        dataclasses.replace(root_v2, expires=NOW - 1),
        {k.key_id: k for k in (*old3, *new3)}.values(),
    )
    rotations = [
        upd("v1-to-v2", "three members replaced; signed by 3 of v1 and 3 of v2", [v2], "ok", new3),
        upd(
            "v1-to-v2-to-v3",
            "a chain of two rotations",
            [v2, v3],
            "ok",
            [members[1], *keys.new_members[:2], keys.new_members_v3[0]],
        ),
        upd(
            "v2-old-only",
            "v2 signed by three v1 members, but only two of them are in v2",
            [signed(root_v2, old3)],
            "below_threshold",
        ),
        upd(
            "v2-new-only",
            "v2 signed by three v2 members, but only two of them are in v1",
            [signed(root_v2, [members[0], *keys.new_members[:2]])],
            "below_threshold",
        ),
        upd(
            "v2-duplicated",
            "members 1, 2 and a new member, plus member 1's signature again: "
            "two distinct v1 signers",
            [_dup_sig(root_v2, [members[0], members[1], keys.new_members[0]], members[0])],
            "below_threshold",
        ),
        upd("same-version", "v1 again", [v1], "rollback"),
        upd("back-to-v1", "v2, then v1 again", [v2, v1], "rollback"),
        upd("gap", "v3 straight after v1", [v3], "chain"),
        upd("expired-last", "v2 has expired at the verifier's time", [v2_expired], "expired"),
        upd(
            "expired-intermediate",
            "v2 has expired, but v3 after it is valid: only the last root's expiry matters",
            [v2_expired, v3],
            "ok",
            [members[1], *keys.new_members[:2], keys.new_members_v3[0]],
        ),
        upd(
            "not-a-root",
            "a license as a root update",
            [signed(sample_license(keys), members)],
            "unknown_type",
        ),
        upd("malformed", "a truncated update", [v2[:-1]], "malformed"),
    ]
    rotation_doc = file_doc(
        "R3: root rotation. Check: load_pinned_root(trust_root) without a time; then "
        "verify_root_update(current, update, now) for the last update "
        "and with no time for the others.",
        v1,
        rotations,
    )
    return v1, trust_doc, rotation_doc


def _dup_sig(payload: Payload, keys: list[PrivateKey], again: PrivateKey) -> bytes:
    """Signatures by ``keys`` plus a second copy of ``again``'s signature entry."""
    env = Envelope.create(payload, keys)
    extra = next(s for s in env.signatures if s.key_id == again.key_id)
    return envelope_bytes(env.type, env.version, env.payload, [*env.signatures, extra])


def _root_dup_key(root: TrustRoot) -> bytes:
    value = root.to_value()
    keys = value["roles"]["root"]["keys"]
    value["roles"]["root"]["keys"] = [keys[0], *keys[:-1]]
    return encoding.encode(value)


def _root_threshold(root: TrustRoot, threshold: int) -> bytes:
    value = root.to_value()
    value["roles"]["root"]["threshold"] = threshold
    return encoding.encode(value)


def _root_without_role(root: TrustRoot, role: str) -> bytes:
    value = root.to_value()
    del value["roles"][role]
    return encoding.encode(value)


def message_vectors(keys: Keys, root: bytes) -> dict[str, dict[str, Any]]:
    members = [keys.member(i) for i in range(5)]
    licensing = keys.role("licensing")
    vendor = keys.role("vendor")
    time_key = keys.role("time")
    log = keys.role("log")
    landmark = keys.role("landmark")
    device = keys.device
    device_key = {"device_key": device.public.raw.hex()}
    files: dict[str, dict[str, Any]] = {}

    def doc(type_name: str, description: str, vectors: list[dict[str, Any]]) -> None:
        files[type_name] = file_doc(description, root, vectors)

    # M1 device certificate (vendor role)
    cert = DeviceCertificate(
        serial="GH100-0001-2345",
        model="H100-SXM5-80GB",
        device_key=device.public.raw,
        vendor="example-vendor",
        firmware_floor=3,
        issued_at=NOW - 90 * DAY,
        hardware_uuid="GPU-5fb7c4a2-0d8e-4f5e-9c39-2f1a9e7b6c01",
        peak_flops=989_000_000_000_000,
    )
    cert_min = DeviceCertificate(
        serial="S-2",
        model="M",
        device_key=keys.device_other.public.raw,
        vendor="example-vendor",
        firmware_floor=0,
        issued_at=NOW,
    )
    doc(
        "device-certificate",
        "M1 device certificates (vendor role).",
        [
            ok("full", "every field", signed(cert, [vendor]), [vendor], role="vendor"),
            ok(
                "minimal",
                "required fields only",
                signed(cert_min, [vendor]),
                [vendor],
                role="vendor",
            ),
            bad(
                "not-vendor",
                "signed by the licensing key instead of the vendor",
                signed(cert, [licensing]),
                "below_threshold",
                role="vendor",
            ),
            bad(
                "short-device-key",
                "device_key of 31 bytes",
                sign_raw(
                    "device-certificate",
                    1,
                    payload_with(cert, device_key=device.public.raw[:31]),
                    [vendor],
                ),
                "schema",
                role="vendor",
            ),
            bad(
                "zero-peak",
                "peak_flops 0",
                sign_raw("device-certificate", 1, payload_with(cert, peak_flops=0), [vendor]),
                "schema",
                role="vendor",
            ),
            bad(
                "null-uuid",
                "hardware_uuid encoded as null instead of omitted",
                sign_raw("device-certificate", 1, _with_null(cert, "hardware_uuid"), [vendor]),
                "schema",
                role="vendor",
            ),
        ],
    )

    # M2 license (licensing role)
    lic = sample_license(keys)
    lic_min = License(
        license_id=1,
        chip_id=chip_id(keys),
        not_before=NOW,
        not_after=NOW + DAY,
        flop_budget=10**18,
        max_offline=3600,
    )
    lic_pod = sample_license(
        keys, license_id=1002, pod=(keys.device.key_id, keys.device_other.key_id), run_id="run-42"
    )
    lic_extra = payload_with(lic, **{"x-future-field": {"note": "kept", "n": 7}})
    doc(
        "license",
        "M2 licenses (licensing role). A verifier also checks not_before <= now < not_after.",
        [
            ok(
                "full",
                "owner, facility and region constraints; a 10**25 FLOP budget (a bignum)",
                signed(lic, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "minimal",
                "required fields only; valid from exactly now",
                signed(lic_min, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "pod",
                "a pod constraint (two chip ids) and a run id",
                signed(lic_pod, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "unknown-field",
                "a field this version does not know is kept (P4)",
                sign_raw("license", 1, lic_extra, [licensing]),
                [licensing],
                role="licensing",
            ),
            ok(
                "last-second",
                "verified one second before not_after",
                signed(lic, [licensing]),
                [licensing],
                role="licensing",
                now=lic.not_after - 1,
            ),
            bad(
                "expired",
                "verified at not_after",
                signed(lic, [licensing]),
                "expired",
                role="licensing",
                now=lic.not_after,
            ),
            bad(
                "not-yet-valid",
                "verified one second before not_before",
                signed(lic, [licensing]),
                "not_yet_valid",
                role="licensing",
                now=lic.not_before - 1,
            ),
            bad(
                "unsigned",
                "no signatures",
                Envelope.wrap(lic).encode(),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "outsider",
                "signed by a key the trust root does not know",
                signed(lic, [keys.outsider]),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "wrong-role",
                "signed by the time key",
                signed(lic, [time_key]),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "corrupt-signature",
                "the last byte of the signature changed",
                _corrupt_sig(signed(lic, [licensing])),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "alias",
                "the licensing key id carrying the time key's signature",
                _alias(lic, licensing, time_key),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "payload-changed",
                "budget raised after signing",
                _swap_payload(
                    signed(lic, [licensing]), sample_license(keys, flop_budget=10**26).encode()
                ),
                "below_threshold",
                role="licensing",
            ),
            bad(
                "missing-field",
                "no flop_budget",
                sign_raw("license", 1, payload_with(lic, flop_budget=None), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "missing-firmware-floor",
                "no firmware_floor: a field with a default (0) is always encoded (P2)",
                sign_raw("license", 1, payload_with(lic_min, firmware_floor=None), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "wrong-field-type",
                "license_id as text",
                sign_raw("license", 1, payload_with(lic, license_id="1001"), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "bool-as-int",
                "max_offline as true",
                sign_raw("license", 1, payload_with(lic, max_offline=True), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "null-optional",
                "region encoded as null",
                sign_raw("license", 1, _with_null(lic, "region"), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "empty-pod",
                "pod encoded as an empty array instead of omitted",
                sign_raw("license", 1, payload_with(lic, pod=[]), [licensing]),
                "non_canonical",
                role="licensing",
            ),
            bad(
                "lowercase-region",
                "region 'nl'",
                sign_raw("license", 1, payload_with(lic, region="nl"), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "empty-window",
                "not_after equal to not_before",
                sign_raw("license", 1, payload_with(lic, not_after=lic.not_before), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "zero-budget",
                "flop_budget 0",
                sign_raw("license", 1, payload_with(lic, flop_budget=0), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "short-chip-id",
                "chip_id of 16 bytes",
                sign_raw("license", 1, payload_with(lic, chip_id=bytes(16)), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "reserved-extra",
                "a field named 'extra'",
                sign_raw("license", 1, payload_with(lic, extra=1), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "payload-not-map",
                "the payload is an array",
                sign_raw("license", 1, encoding.encode([1, 2]), [licensing]),
                "schema",
                role="licensing",
            ),
            bad(
                "payload-not-canonical",
                "payload keys in declaration order, not canonical order",
                sign_raw("license", 1, item(_declared_order(lic)), [licensing]),
                "non_canonical",
                role="licensing",
            ),
            bad(
                "payload-not-cbor",
                "payload bytes are not CBOR",
                sign_raw("license", 1, b"\xff\xff", [licensing]),
                "malformed",
                role="licensing",
            ),
            bad(
                "version-2",
                "license version 2 is unknown",
                sign_raw("license", 2, lic.encode(), [licensing]),
                "unknown_type",
                role="licensing",
            ),
            bad(
                "unknown-type",
                "type 'licence'",
                sign_raw("licence", 1, lic.encode(), [licensing]),
                "unknown_type",
                role="licensing",
            ),
        ],
    )

    # M3 pause order and M4 resume order (pause role: 3 of 5 members)
    pause = PauseOrder(
        sequence=7,
        scope=GLOBAL,
        effective_at=NOW,
        issued_at=NOW - 60,
        reason="Frontier training moratorium in force",
    )
    pause_region = PauseOrder(
        sequence=8,
        scope=Scope(ScopeKind.REGION, regions=("NL", "US")),
        effective_at=NOW,
        issued_at=NOW,
        reason="regional pause",
    )
    pause_owner = PauseOrder(
        sequence=9,
        scope=Scope(ScopeKind.OWNER, owners=("example-lab",)),
        effective_at=NOW,
        issued_at=NOW,
        reason="owner breach",
    )
    pause_chips = PauseOrder(
        sequence=10,
        scope=Scope(ScopeKind.CHIPS, chips=(keys.device.key_id,)),
        effective_at=NOW,
        issued_at=NOW,
        reason="chip reported missing",
    )
    resume = ResumeOrder(
        sequence=11,
        lifts=7,
        scope=GLOBAL,
        effective_at=NOW + 3600,
        issued_at=NOW,
        reason="moratorium lifted",
    )
    doc(
        "pause-order",
        "M3 pause orders (pause role: 3 of 5 member signatures).",
        [
            ok(
                "global",
                "a global pause signed by members 1-3",
                signed(pause, members[:3]),
                members[:3],
                role="pause",
            ),
            ok(
                "region",
                "two regions, signed by all five",
                signed(pause_region, members),
                members,
                role="pause",
            ),
            ok(
                "owner",
                "one owner, signed by members 3-5",
                signed(pause_owner, members[2:]),
                members[2:],
                role="pause",
            ),
            ok("chips", "one chip", signed(pause_chips, members[1:4]), members[1:4], role="pause"),
            ok(
                "with-outsider",
                "three members and an outsider: unknown keys are ignored",
                signed(pause, [*members[:3], keys.outsider]),
                members[:3],
                role="pause",
            ),
            bad(
                "two-of-five",
                "two member signatures",
                signed(pause, members[:2]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "duplicate-signature",
                "member-1's signature twice and member-2's",
                _dup_sig(pause, members[:2], members[0]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "alias",
                "member-3's key id carrying member-1's signature",
                _alias_multi(pause, members[:2], members[2], members[0]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "region-scope-empty",
                "a region scope without regions",
                sign_raw(
                    "pause-order", 1, payload_with(pause, scope={"kind": "region"}), members[:3]
                ),
                "schema",
                role="pause",
            ),
            bad(
                "scope-mixed",
                "a global scope that lists regions",
                sign_raw(
                    "pause-order",
                    1,
                    payload_with(pause, scope={"kind": "global", "regions": ["NL"]}),
                    members[:3],
                ),
                "schema",
                role="pause",
            ),
            bad(
                "scope-unknown-kind",
                "scope kind 'planet'",
                sign_raw(
                    "pause-order", 1, payload_with(pause, scope={"kind": "planet"}), members[:3]
                ),
                "schema",
                role="pause",
            ),
            bad(
                "sequence-zero",
                "sequence 0",
                sign_raw("pause-order", 1, payload_with(pause, sequence=0), members[:3]),
                "schema",
                role="pause",
            ),
            bad(
                "relabelled-resume",
                "a resume order's envelope relabelled as a pause order "
                "(its payload decodes as both): "
                "the type is signed (S2)",
                _relabel(signed(resume, members[:3]), "pause-order"),
                "below_threshold",
                role="pause",
            ),
        ],
    )
    doc(
        "resume-order",
        "M4 resume orders (pause role: 3 of 5 member signatures).",
        [
            ok("global", "lifts pause 7", signed(resume, members[:3]), members[:3], role="pause"),
            bad(
                "two-of-five",
                "two member signatures",
                signed(resume, members[3:]),
                "below_threshold",
                role="pause",
            ),
            bad(
                "sequence-not-after",
                "sequence equal to the pause it lifts",
                sign_raw("resume-order", 1, payload_with(resume, sequence=7), members[:3]),
                "schema",
                role="pause",
            ),
            bad(
                "relabelled-pause",
                "a pause order relabelled as a resume order",
                _relabel(
                    signed(dataclasses.replace(pause, extra={"lifts": 5}), members[:3]),
                    "resume-order",
                ),
                "below_threshold",
                role="pause",
            ),
        ],
    )

    # M5 time token (time role)
    token = TimeToken(time=NOW, sequence=1)
    token_chip = TimeToken(time=NOW + 60, sequence=2, chip_id=keys.device.key_id)
    doc(
        "time-token",
        "M5 time tokens (time role).",
        [
            ok("broadcast", "for every chip", signed(token, [time_key]), [time_key], role="time"),
            ok("for-chip", "for one chip", signed(token_chip, [time_key]), [time_key], role="time"),
            bad(
                "not-time-key",
                "signed by the log key",
                signed(token, [log]),
                "below_threshold",
                role="time",
            ),
            bad(
                "negative-time",
                "time -1",
                sign_raw("time-token", 1, payload_with(token, time=-1), [time_key]),
                "schema",
                role="time",
            ),
            bad(
                "sequence-not-shortest",
                "sequence 1 encoded as 0x18 0x01",
                sign_raw("time-token", 1, _non_shortest_time_token(token), [time_key]),
                "non_canonical",
                role="time",
            ),
        ],
    )

    # M6 usage report (the chip's device key)
    first = UsageReport(
        chip_id=keys.device.key_id,
        sequence=1,
        prev_hash=GENESIS_HASH,
        time=NOW,
        flop_full=3 * 10**20,
        flop_throttled=0,
        cycles=2**70,
        energy_mj=123_456_789,
        state="licensed",
        license_id=1001,
        license_flop_used=3 * 10**20,
    )
    first_bytes = signed(first, [device])
    second = UsageReport(
        chip_id=keys.device.key_id,
        sequence=2,
        prev_hash=report_hash(first_bytes),
        time=NOW + 3600,
        flop_full=5 * 10**20,
        flop_throttled=10**15,
        cycles=2**70 + 10**12,
        energy_mj=223_456_789,
        state="throttled",
    )
    doc(
        "usage-report",
        "M6 usage reports (signed by the chip's device key, given as device_key).",
        [
            ok(
                "first",
                "the first report (prev_hash all zero); cycles beyond 64 bits",
                first_bytes,
                [device],
                **device_key,
            ),
            ok(
                "second",
                "chained to the first by SHA-256 of its envelope bytes",
                signed(second, [device]),
                [device],
                **device_key,
            ),
            bad(
                "other-chip",
                "signed by another chip's key",
                signed(first, [keys.device_other]),
                "below_threshold",
                **device_key,
            ),
            bad(
                "negative-counter",
                "flop_full -1",
                sign_raw("usage-report", 1, payload_with(first, flop_full=-1), [device]),
                "schema",
                **device_key,
            ),
            bad(
                "short-prev-hash",
                "prev_hash of 31 bytes",
                sign_raw("usage-report", 1, payload_with(first, prev_hash=bytes(31)), [device]),
                "schema",
                **device_key,
            ),
        ],
    )

    # M7 location challenge (landmark role) and M8 response (device key)
    challenge = LocationChallenge(
        landmark_id=landmark.key_id, chip_id=keys.device.key_id, nonce=bytes(range(32))
    )
    response = LocationResponse(chip_id=keys.device.key_id, nonce=bytes(range(32)), counter=17)
    doc(
        "location-challenge",
        "M7 location challenges (landmark role).",
        [
            ok(
                "challenge",
                "a nonce for one chip",
                signed(challenge, [landmark]),
                [landmark],
                role="landmark",
            ),
            bad(
                "short-nonce",
                "a 16-byte nonce",
                sign_raw(
                    "location-challenge", 1, payload_with(challenge, nonce=bytes(16)), [landmark]
                ),
                "schema",
                role="landmark",
            ),
            bad(
                "device-signed",
                "signed by the chip instead of a landmark",
                signed(challenge, [device]),
                "below_threshold",
                role="landmark",
            ),
        ],
    )
    doc(
        "location-response",
        "M8 location responses (the chip's device key).",
        [
            ok("response", "the chip's answer", signed(response, [device]), [device], **device_key),
            bad(
                "landmark-signed",
                "signed by the landmark",
                signed(response, [landmark]),
                "below_threshold",
                **device_key,
            ),
            bad(
                "negative-counter",
                "counter -1",
                sign_raw("location-response", 1, payload_with(response, counter=-1), [device]),
                "schema",
                **device_key,
            ),
        ],
    )

    # M11 location measurement (landmark role): a timed, signed record of one challenge
    measurement = Measurement(
        landmark_id=landmark.key_id,
        chip_id=keys.device.key_id,
        nonce=bytes(range(32)),
        rtt_ns=1_250_000,
        time=1_800_000_000,
        counter=17,
        lat_e6=52_370_216,
        lon_e6=4_895_168,
        response=signed(response, [device]),
    )
    doc(
        "location-measurement",
        "M11 location measurements (landmark role).",
        [
            ok(
                "measurement",
                "a 1.25 ms round trip measured from Amsterdam",
                signed(measurement, [landmark]),
                [landmark],
                role="landmark",
            ),
            bad(
                "zero-rtt",
                "a round trip of 0 ns",
                sign_raw(
                    "location-measurement", 1, payload_with(measurement, rtt_ns=0), [landmark]
                ),
                "schema",
                role="landmark",
            ),
            bad(
                "latitude-out-of-range",
                "latitude 91 degrees",
                sign_raw(
                    "location-measurement",
                    1,
                    payload_with(measurement, lat_e6=91_000_000),
                    [landmark],
                ),
                "schema",
                role="landmark",
            ),
            bad(
                "device-signed",
                "signed by the chip instead of a landmark",
                signed(measurement, [device]),
                "below_threshold",
                role="landmark",
            ),
        ],
    )

    # M9 checkpoint (log role)
    cp = Checkpoint(
        origin="pausebutton.example/log", size=12345, root_hash=bytes.fromhex("ab" * 32)
    )
    doc(
        "checkpoint",
        "M9 checkpoints (log role).",
        [
            ok("checkpoint", "a tree head", signed(cp, [log]), [log], role="log"),
            ok(
                "empty-log",
                "size 0",
                signed(
                    Checkpoint(
                        origin="pausebutton.example/log",
                        size=0,
                        root_hash=bytes.fromhex(
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                        ),
                    ),
                    [log],
                ),
                [log],
                role="log",
            ),
            bad(
                "witness-signed",
                "signed by one witness",
                signed(cp, [keys.role("witness")]),
                "below_threshold",
                role="log",
            ),
            bad(
                "short-root",
                "root_hash of 20 bytes",
                sign_raw("checkpoint", 1, payload_with(cp, root_hash=bytes(20)), [log]),
                "schema",
                role="log",
            ),
        ],
    )

    # M10 prohibited artifacts (pause role: it restricts compute)
    arts = ProhibitedArtifacts(
        sequence=3,
        issued_at=NOW,
        artifacts=(
            Artifact(
                kind=ArtifactKind.FILE,
                sha256=bytes.fromhex("01" * 32),
                description="weights of model X, trained in breach",
            ),
            Artifact(kind=ArtifactKind.TENSOR, sha256=bytes.fromhex("02" * 32), description=""),
        ),
    )
    empty_list = ProhibitedArtifacts(sequence=4, issued_at=NOW, artifacts=())
    doc(
        "prohibited-artifacts",
        "M10 prohibited-artifact lists (pause role: 3 of 5 member signatures).",
        [
            ok(
                "two-artifacts",
                "a file and a tensor",
                signed(arts, members[:3]),
                members[:3],
                role="pause",
            ),
            ok(
                "empty",
                "an empty list (a required list may be empty)",
                signed(empty_list, members[:3]),
                members[:3],
                role="pause",
            ),
            bad(
                "unknown-kind",
                "artifact kind 'dataset'",
                sign_raw(
                    "prohibited-artifacts",
                    1,
                    payload_with(
                        arts,
                        artifacts=[{"kind": "dataset", "sha256": bytes(32), "description": ""}],
                    ),
                    members[:3],
                ),
                "schema",
                role="pause",
            ),
            bad(
                "two-of-five",
                "two member signatures",
                signed(arts, members[:2]),
                "below_threshold",
                role="pause",
            ),
        ],
    )
    return files


def envelope_vectors(keys: Keys, root: bytes) -> dict[str, Any]:
    """S1: envelope-level encodings of one license (licensing role)."""
    licensing = keys.role("licensing")
    lic = sample_license(keys)
    env = Envelope.create(lic, [licensing])
    good = env.encode()
    sigs = env.signatures
    ver = env.version
    chk = {"role": "licensing"}

    def eb(**kw: Any) -> bytes:
        args: dict[str, Any] = {
            "type_name": env.type,
            "version": ver,
            "payload": env.payload,
            "signatures": sigs,
        }
        args.update(kw)
        return envelope_bytes(**args)

    assert eb() == good
    sig_entry_unsorted = item([{"key_id": s.key_id, "sig": s.sig} for s in sigs])
    deep = b"\x81" * 16 + b"\x80"
    vectors = [
        ok("canonical", "a license envelope", good, [licensing], **chk),
        ok(
            "at-size-limit",
            "checked with a size limit equal to its length",
            good,
            [licensing],
            max_size=len(good),
            **chk,
        ),
        bad(
            "over-size-limit",
            "checked with a size limit one byte below its length",
            good,
            "oversized",
            max_size=len(good) - 1,
            **chk,
        ),
        bad(
            "keys-unsorted",
            "envelope keys in the order type, version, payload, signatures",
            eb(order=("type", "version", "payload", "signatures")),
            "non_canonical",
            **chk,
        ),
        bad(
            "signature-keys-unsorted",
            "a signature map with key_id before sig",
            eb(signatures=sig_entry_unsorted),
            "non_canonical",
            **chk,
        ),
        bad(
            "version-not-shortest",
            "version 1 as 0x18 0x01",
            eb(version=bytes.fromhex("1801")),
            "non_canonical",
            **chk,
        ),
        bad(
            "version-bignum",
            "version 1 as a tag-2 bignum",
            eb(version=bytes.fromhex("c24101")),
            "non_canonical",
            **chk,
        ),
        bad(
            "version-float", "version 1.0", eb(version=bytes.fromhex("f93c00")), "malformed", **chk
        ),
        bad("version-zero", "version 0", eb(version=0), "malformed", **chk),
        bad("version-text", "version '1'", eb(version=item("1")), "malformed", **chk),
        bad(
            "signatures-indefinite",
            "an indefinite-length signature array",
            eb(signatures=b"\x9f" + sig_entry_unsorted[1:] + b"\xff"),
            "malformed",
            **chk,
        ),
        bad(
            "duplicate-key",
            "the type key twice",
            envelope_bytes(
                env.type,
                ver,
                env.payload,
                sigs,
                order=("type", "type", "payload", "version", "signatures"),
                head=b"\xa5",
            ),
            "malformed",
            **chk,
        ),
        bad(
            "missing-signatures",
            "no signatures key",
            cbor_map(
                [("type", item(env.type)), ("payload", item(env.payload)), ("version", item(ver))]
            ),
            "malformed",
            **chk,
        ),
        bad(
            "extra-key",
            "an unknown envelope key",
            encoding.encode({**env.to_value(), "note": "x"}),
            "malformed",
            **chk,
        ),
        bad(
            "not-a-map",
            "an array of the four values",
            encoding.encode([env.type, ver, env.payload, []]),
            "malformed",
            **chk,
        ),
        bad("payload-text", "payload as a text string", eb(payload="x"), "malformed", **chk),
        bad(
            "short-key-id",
            "a 31-byte key id",
            eb(signatures=item([{"sig": sigs[0].sig, "key_id": sigs[0].key_id[:31]}])),
            "malformed",
            **chk,
        ),
        bad(
            "long-sig",
            "a 65-byte signature",
            eb(signatures=item([{"sig": sigs[0].sig + b"\x00", "key_id": sigs[0].key_id}])),
            "malformed",
            **chk,
        ),
        bad(
            "too-deep", "signatures nested 17 arrays deep", eb(signatures=deep), "malformed", **chk
        ),
        bad("truncated", "the last byte missing", good[:-1], "malformed", **chk),
        bad("trailing-byte", "one byte after the envelope", good + b"\x00", "non_canonical", **chk),
        bad("empty-type", "type ''", sign_raw("", 1, env.payload, [licensing]), "malformed", **chk),
    ]
    return file_doc(
        "S1-S4: envelope encodings. Check as for message vectors (decode, open, threshold, time).",
        root,
        vectors,
    )


def _with_null(payload: Payload, field: str) -> bytes:
    value = payload.to_value()
    value[field] = None
    return encoding.encode(value)


def _declared_order(payload: Payload) -> dict[str, Any]:
    value = payload.to_value()
    names = [f.name for f in dataclasses.fields(payload) if f.name in value]
    return {name: value[name] for name in names}


def _non_shortest_time_token(token: TimeToken) -> bytes:
    canonical = token.encode()
    marker = item("sequence") + b"\x01"
    assert canonical.count(marker) == 1
    return canonical.replace(marker, item("sequence") + b"\x18\x01")


def _corrupt_sig(data: bytes) -> bytes:
    env = Envelope.decode(data)
    s = env.signatures[0]
    bad_sig = Signature(s.key_id, s.sig[:-1] + bytes([s.sig[-1] ^ 0x01]))
    return Envelope(env.type, env.version, env.payload, (bad_sig,)).encode()


def _alias(payload: Payload, claimed: PrivateKey, actual: PrivateKey) -> bytes:
    env = Envelope.create(payload, [actual])
    return Envelope(
        env.type, env.version, env.payload, (Signature(claimed.key_id, env.signatures[0].sig),)
    ).encode()


def _alias_multi(
    payload: Payload, honest: list[PrivateKey], claimed: PrivateKey, actual: PrivateKey
) -> bytes:
    env = Envelope.create(payload, honest)
    sig = next(s.sig for s in env.signatures if s.key_id == actual.key_id)
    sigs = sorted([*env.signatures, Signature(claimed.key_id, sig)], key=lambda s: s.key_id)
    return Envelope(env.type, env.version, env.payload, tuple(sigs)).encode()


def _swap_payload(data: bytes, payload: bytes) -> bytes:
    env = Envelope.decode(data)
    return Envelope(env.type, env.version, payload, env.signatures).encode()


def _relabel(data: bytes, type_name: str) -> bytes:
    env = Envelope.decode(data)
    return Envelope(type_name, env.version, env.payload, env.signatures).encode()


# -- output ------------------------------------------------------------------------------------


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def build() -> dict[str, str]:
    """Every vector file: name -> exact file text."""
    keys = Keys()
    root, trust_doc, rotation_doc = root_docs(keys)
    docs: dict[str, dict[str, Any]] = {
        "ed25519": ed25519_vectors(keys),
        "encoding": encoding_vectors(),
        "envelope": envelope_vectors(keys, root),
        "trust-root": trust_doc,
        "root-rotation": rotation_doc,
        **message_vectors(keys, root),
    }
    docs["keys"] = {
        "description": (
            "Every key of the vectors: seed = SHA-256('pausebutton-test-key:' + seed_material)."
        ),
        "generated_by": GENERATOR,
        "keys": keys.doc(),
    }
    return {f"{name}.json": render(doc) for name, doc in sorted(docs.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [
            n
            for n, text in files.items()
            if not (args.out / n).is_file() or (args.out / n).read_text() != text
        ]
        extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in files)
        for name in stale + extra:
            print(f"differs: {name}", file=sys.stderr)
        return 1 if stale or extra else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
