"""What every vector file shares: the fixed seeds and time, the keys, raw CBOR helpers for
hand-made (invalid) encodings, the vector records, the sample payloads and hand-made
variants of signed objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import cbor2

from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope, Signature, signing_input
from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.protocol.jsonview import to_json
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import License, TimeToken
from pausebutton.protocol.schema import Payload
from pausebutton.protocol.trustroot import TrustRoot

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


# -- hand-made variants of signed objects ------------------------------------------------------


def dup_sig(payload: Payload, keys: list[PrivateKey], again: PrivateKey) -> bytes:
    """Signatures by ``keys`` plus a second copy of ``again``'s signature entry."""
    env = Envelope.create(payload, keys)
    extra = next(s for s in env.signatures if s.key_id == again.key_id)
    return envelope_bytes(env.type, env.version, env.payload, [*env.signatures, extra])


def root_dup_key(root: TrustRoot) -> bytes:
    value = root.to_value()
    keys = value["roles"]["root"]["keys"]
    value["roles"]["root"]["keys"] = [keys[0], *keys[:-1]]
    return encoding.encode(value)


def root_threshold(root: TrustRoot, threshold: int) -> bytes:
    value = root.to_value()
    value["roles"]["root"]["threshold"] = threshold
    return encoding.encode(value)


def root_without_role(root: TrustRoot, role: str) -> bytes:
    value = root.to_value()
    del value["roles"][role]
    return encoding.encode(value)


def with_null(payload: Payload, field: str) -> bytes:
    value = payload.to_value()
    value[field] = None
    return encoding.encode(value)


def declared_order(payload: Payload) -> dict[str, Any]:
    value = payload.to_value()
    names = [f.name for f in dataclasses.fields(payload) if f.name in value]
    return {name: value[name] for name in names}


def non_shortest_time_token(token: TimeToken) -> bytes:
    canonical = token.encode()
    marker = item("sequence") + b"\x01"
    assert canonical.count(marker) == 1
    return canonical.replace(marker, item("sequence") + b"\x18\x01")


def corrupt_sig(data: bytes) -> bytes:
    env = Envelope.decode(data)
    s = env.signatures[0]
    bad_sig = Signature(s.key_id, s.sig[:-1] + bytes([s.sig[-1] ^ 0x01]))
    return Envelope(env.type, env.version, env.payload, (bad_sig,)).encode()


def aliased(payload: Payload, claimed: PrivateKey, actual: PrivateKey) -> bytes:
    env = Envelope.create(payload, [actual])
    return Envelope(
        env.type, env.version, env.payload, (Signature(claimed.key_id, env.signatures[0].sig),)
    ).encode()


def aliased_multi(
    payload: Payload, honest: list[PrivateKey], claimed: PrivateKey, actual: PrivateKey
) -> bytes:
    env = Envelope.create(payload, honest)
    sig = next(s.sig for s in env.signatures if s.key_id == actual.key_id)
    sigs = sorted([*env.signatures, Signature(claimed.key_id, sig)], key=lambda s: s.key_id)
    return Envelope(env.type, env.version, env.payload, tuple(sigs)).encode()


def swap_payload(data: bytes, payload: bytes) -> bytes:
    env = Envelope.decode(data)
    return Envelope(env.type, env.version, payload, env.signatures).encode()


def relabel(data: bytes, type_name: str) -> bytes:
    env = Envelope.decode(data)
    return Envelope(type_name, env.version, env.payload, env.signatures).encode()


# -- the message files ------------------------------------------------------------------------

Doc = Callable[[str, str, list[dict[str, Any]]], None]
"""Adds one message vector file: (type name, description, vectors)."""


@dataclass(frozen=True)
class Roles:
    """The keys the message vectors sign with."""

    keys: Keys
    members: list[PrivateKey]
    licensing: PrivateKey
    vendor: PrivateKey
    time_key: PrivateKey
    log: PrivateKey
    landmark: PrivateKey
    device: PrivateKey
    device_key: dict[str, str]

    @classmethod
    def of(cls, keys: Keys) -> Roles:
        return cls(
            keys=keys,
            members=[keys.member(i) for i in range(5)],
            licensing=keys.role("licensing"),
            vendor=keys.role("vendor"),
            time_key=keys.role("time"),
            log=keys.role("log"),
            landmark=keys.role("landmark"),
            device=keys.device,
            device_key={"device_key": keys.device.public.raw.hex()},
        )
