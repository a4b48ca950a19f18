"""An authority's key directory on disk (I/O edge; for demos, tests and air-gapped use).

Layout::

    DIR/authority.json        public metadata: members, thresholds, origin, root version
    DIR/trust-root.cbor       the signed trust root (pin this in chips and witnesses)
    DIR/members/NAME.key      each member state's private key (0600)
    DIR/keys/ROLE-I.key       each role key (licensing, log, time, vendor, witness, landmark)

In a real deployment each member keeps its own key and no directory holds them
all; this layout is the single-operator form for demos and tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pausebutton import keystore
from pausebutton.errors import ConflictError, DataError, MalformedError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.genesis import MEMBER_ROLES, AuthorityKeys
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.trustroot import ROLES, TrustRoot, load_pinned_root

ROOT_FILE = "trust-root.cbor"
META_FILE = "authority.json"


def write_authority_dir(path: str | Path, keys: AuthorityKeys, root_bytes: bytes) -> None:
    """Write a new authority directory; refuses a directory that already holds one."""
    base = Path(path)
    if (base / META_FILE).exists():
        raise ConflictError(f"{base} already holds an authority", file=str(base))
    for name, key in keys.members.items():
        keystore.write_private_key(base / "members" / f"{name}.key", key)
    for role, role_keys in keys.role_keys.items():
        if role in MEMBER_ROLES:
            continue
        for i, key in enumerate(role_keys):
            keystore.write_private_key(base / "keys" / f"{role}-{i}.key", key)
    atomic_write(base / ROOT_FILE, root_bytes)
    meta = {
        "members": [
            {"name": n, "region": keys.member_regions.get(n), "key_id": k.key_id.hex()}
            for n, k in keys.members.items()
        ],
        "thresholds": keys.thresholds,
        "log_origin": keys.log_origin,
        "role_counts": {r: len(v) for r, v in keys.role_keys.items()},
    }
    atomic_write(base / META_FILE, (json.dumps(meta, indent=2) + "\n").encode())


@dataclass
class AuthorityDir:
    """A loaded authority directory."""

    path: Path
    root_bytes: bytes
    root: TrustRoot
    keys: AuthorityKeys

    @classmethod
    def load(cls, path: str | Path) -> AuthorityDir:
        base = Path(path)
        if not (base / META_FILE).is_file():
            raise DataError(
                f"{base} is not an authority directory (no {META_FILE})", file=str(base)
            )
        try:
            meta = json.loads(read_limited(base / META_FILE, 1 << 20))
            names = [m["name"] for m in meta["members"]]
            regions = {m["name"]: m.get("region") for m in meta["members"]}
            thresholds = {r: int(meta["thresholds"][r]) for r in ROLES}
            counts = {r: int(c) for r, c in meta["role_counts"].items()}
            origin = str(meta["log_origin"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise MalformedError(f"{base / META_FILE}: {exc}", file=str(base / META_FILE)) from None
        root_bytes = read_limited(base / ROOT_FILE)
        _, root = load_pinned_root(root_bytes)
        members = {n: keystore.read_private_key(base / "members" / f"{n}.key") for n in names}
        role_keys: dict[str, list[PrivateKey]] = {}
        for role in ROLES:
            if role in MEMBER_ROLES:
                role_keys[role] = list(members.values())
            else:
                role_keys[role] = [
                    keystore.read_private_key(base / "keys" / f"{role}-{i}.key")
                    for i in range(counts.get(role, 0))
                ]
        keys = AuthorityKeys(members, regions, role_keys, thresholds, origin)
        return cls(base, root_bytes, root, keys)

    def member_key(self, name: str) -> PrivateKey:
        try:
            return self.keys.members[name]
        except KeyError:
            raise DataError(f"no member named {name!r}") from None
