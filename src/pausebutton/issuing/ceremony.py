"""Key ceremonies on disk (I/O edge): each party's own key directory, the public cards they
exchange, and the founding root proposal built from those cards.

A *card* is the public half of a party's key, as a small JSON file anyone may copy::

    {"kind": "pausebutton-card", "role": "member", "name": "NL", "region": "NL",
     "public_key": "<base64>", "key_id": "<hex>"}

``role`` is ``member`` or a trust-root role (``witness``, ``vendor``, ``landmark``,
``licensing``, ``log``, ``time``). Layouts::

    MEMBER/member.key  MEMBER/member-card.json      pausebutton member init
    WITNESS/witness.key  WITNESS/witness-card.json  pausebutton witness init
    AUTH/keys/ROLE-0.key  AUTH/cards/ROLE.json       pausebutton authority init --ceremony
                                                     (the operator's licensing, log, time keys)

No directory ever holds another party's private key: a member, a witness and the operator
each send only their card, and sign proposals with their own key on their own machine.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pausebutton import keystore
from pausebutton.errors import ConflictError, MalformedError, UsageError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.issuing.keydir import META_FILE
from pausebutton.protocol.genesis import DEFAULT_ORIGIN, MEMBER_ROLES
from pausebutton.protocol.governance import check_root, member_floor
from pausebutton.protocol.keys import PUBLIC_KEY_SIZE, PrivateKey, PublicKey
from pausebutton.protocol.trustroot import ROLES, Member, Role, TrustRoot

CARD_KIND = "pausebutton-card"
MEMBER_KEY = "member.key"
MEMBER_CARD = "member-card.json"
WITNESS_KEY = "witness.key"
WITNESS_CARD = "witness-card.json"
OPERATOR_ROLES = ("licensing", "log", "time")
"""The roles whose keys the authority's operator holds (a ceremony directory)."""
CARD_ROLES = ("member", *(r for r in ROLES if r not in MEMBER_ROLES))


@dataclass(frozen=True)
class Card:
    """One party's public key, with its role, name and (members) region."""

    role: str
    name: str
    public_key: bytes
    region: str | None = None

    @property
    def key_id(self) -> str:
        return PublicKey.from_bytes(self.public_key).key_id.hex()

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "kind": CARD_KIND,
            "role": self.role,
            "name": self.name,
            "public_key": base64.b64encode(self.public_key).decode(),
            "key_id": self.key_id,
        }
        if self.region is not None:
            doc["region"] = self.region
        return doc

    def member(self) -> Member:
        if self.role != "member":
            raise UsageError(f"card {self.name!r} is a {self.role} card, not a member card")
        return Member(name=self.name, key=self.public_key, region=self.region)


def check_region(region: str | None) -> str | None:
    if region is None:
        return None
    code = region.strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise UsageError(f"region must be an ISO 3166 alpha-2 code, not {region!r}")
    return code


def write_card(path: Path, card: Card) -> None:
    atomic_write(path, (json.dumps(card.to_json(), indent=2) + "\n").encode())


def read_card(path: Path, role: str | None = None) -> Card:
    """A card file, or a plain public key file (``keys generate --public``, ``vendor.json``)
    when ``role`` says what the key is for."""
    try:
        doc = json.loads(read_limited(path, 1 << 16))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedError(f"{path}: not a card ({exc})", file=str(path)) from None
    if not isinstance(doc, dict):
        raise MalformedError(f"{path}: not a card", file=str(path))
    try:
        raw_text = doc["public_key"]
        raw = (
            bytes.fromhex(raw_text)
            if isinstance(raw_text, str) and len(raw_text) == 2 * PUBLIC_KEY_SIZE
            else base64.b64decode(raw_text, validate=True)
        )
        PublicKey.from_bytes(raw)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise MalformedError(f"{path}: no usable public_key ({exc})", file=str(path)) from None
    if "seed" in doc:
        raise UsageError(f"{path} is a private key file: send only the public card")
    card_role = doc.get("role") if doc.get("kind") == CARD_KIND else role
    if card_role is None:
        raise UsageError(f"{path} is a bare public key: say its role (ROLE=FILE)")
    if role is not None and card_role != role:
        raise UsageError(f"{path} is a {card_role} card, not a {role} card")
    if card_role not in CARD_ROLES:
        raise UsageError(f"{path}: unknown card role {card_role!r}")
    name = str(doc.get("name") or PublicKey.from_bytes(raw).key_id.hex()[:16])
    region = doc.get("region")
    return Card(str(card_role), name, raw, check_region(region) if region else None)


def _new_key_dir(directory: Path, key_file: str, card_file: str) -> None:
    if (directory / key_file).exists() or (directory / card_file).exists():
        raise ConflictError(f"{directory} already holds a key", file=str(directory))


def init_member(directory: Path, name: str, region: str | None) -> Card:
    """``member init``: a member state's own key and its card (only the card leaves)."""
    if not name or len(name) > 128:
        raise UsageError("member name must be 1-128 characters")
    _new_key_dir(directory, MEMBER_KEY, MEMBER_CARD)
    key = PrivateKey.generate()
    keystore.write_private_key(directory / MEMBER_KEY, key)
    card = Card("member", name, key.public.raw, check_region(region))
    write_card(directory / MEMBER_CARD, card)
    return card


def init_witness(directory: Path, name: str) -> Card:
    """``witness init``: a witness's own key and its card."""
    _new_key_dir(directory, WITNESS_KEY, WITNESS_CARD)
    key = PrivateKey.generate()
    keystore.write_private_key(directory / WITNESS_KEY, key)
    card = Card("witness", name, key.public.raw)
    write_card(directory / WITNESS_CARD, card)
    return card


def init_operator(directory: Path) -> list[Card]:
    """``authority init --ceremony``: the operator's licensing, log and time keys, and cards;
    the trust root comes later from the founding ceremony."""
    if (directory / META_FILE).exists() or (directory / "cards").exists():
        raise ConflictError(f"{directory} already holds an authority", file=str(directory))
    cards = []
    for role in OPERATOR_ROLES:
        key = PrivateKey.generate()
        keystore.write_private_key(directory / "keys" / f"{role}-0.key", key)
        card = Card(role, f"operator-{role}", key.public.raw)
        write_card(directory / "cards" / f"{role}.json", card)
        cards.append(card)
    return cards


def founding_root(
    cards: Sequence[Card],
    *,
    thresholds: Mapping[str, int],
    expires: int,
    log_origin: str = DEFAULT_ORIGIN,
) -> TrustRoot:
    """The first trust root (version 1) from the parties' cards. Member roles take
    ``thresholds['root']`` / ``['pause']`` (default: the floor); ``witness`` defaults to a
    majority of the witnesses, every other role to 1."""
    members = [c.member() for c in cards if c.role == "member"]
    if not members:
        raise UsageError("a founding root needs member cards")
    by_role: dict[str, list[bytes]] = {r: [] for r in ROLES if r not in MEMBER_ROLES}
    for c in cards:
        if c.role != "member" and c.public_key not in by_role[c.role]:
            by_role[c.role].append(c.public_key)
    missing = [r for r, keys in by_role.items() if not keys]
    if missing:
        raise UsageError(f"no card for role(s) {', '.join(missing)}")
    for name in thresholds:
        if name not in ROLES:
            raise UsageError(f"no role {name!r} (roles: {', '.join(ROLES)})")
    roles: dict[str, Role] = {}
    for name in ROLES:
        keys = tuple(m.key for m in members) if name in MEMBER_ROLES else tuple(by_role[name])
        default = (
            member_floor(len(keys))
            if name in MEMBER_ROLES
            else (len(keys) // 2 + 1 if name == "witness" else 1)
        )
        roles[name] = Role(keys=keys, threshold=int(thresholds.get(name, default)))
    root = TrustRoot(
        version=1, expires=expires, members=tuple(members), roles=roles, log_origin=log_origin
    )
    root.validate()
    check_root(root)
    return root
