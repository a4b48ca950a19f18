"""An authority's key directory on disk (I/O edge; for demos, tests and air-gapped use).

Layout::

    DIR/authority.json        public metadata: members, thresholds, origin, root version
    DIR/trust-root.cbor       the signed trust root (pin this in chips and witnesses)
    DIR/members/NAME.key      each member state's private key (0600)
    DIR/keys/ROLE-I.key       each role key (licensing, log, time, vendor, witness, landmark)
    DIR/roots/V.cbor          every root version the directory installed (the chain)

``authority init`` writes this single-operator form (mode ``demo``: every key on one
machine, for demos and tests). In a real deployment each member keeps its own key and
no directory holds them all: ``authority init --ceremony`` makes a directory with the
operator's keys only, and the founding ceremony installs its root (issuing/ceremony.py,
docs/governance.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pausebutton import keystore
from pausebutton.errors import ConflictError, DataError, MalformedError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.genesis import MEMBER_ROLES, AuthorityKeys
from pausebutton.protocol.keys import PrivateKey, key_id
from pausebutton.protocol.trustroot import ROLES, TrustRoot, load_pinned_root

ROOT_FILE = "trust-root.cbor"
META_FILE = "authority.json"
ROOTS_DIR = "roots"
DEMO = "demo"
"""One machine holds every key: demos and tests only."""
CEREMONY = "ceremony"
"""The operator's keys only; members and witnesses keep theirs (docs/governance.md)."""


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
    atomic_write(base / ROOTS_DIR / "1.cbor", root_bytes)
    meta = {
        "mode": DEMO,
        "members": [
            {"name": n, "region": keys.member_regions.get(n), "key_id": k.key_id.hex()}
            for n, k in keys.members.items()
        ],
        "thresholds": keys.thresholds,
        "log_origin": keys.log_origin,
        "role_counts": {r: len(v) for r, v in keys.role_keys.items()},
    }
    atomic_write(base / META_FILE, (json.dumps(meta, indent=2) + "\n").encode())


def held_role_keys(directory: Path, root: TrustRoot) -> dict[str, list[PrivateKey]]:
    """The private keys under ``directory/keys`` that hold a role of ``root``, by role."""
    out: dict[str, list[PrivateKey]] = {}
    for role in ROLES:
        if role in MEMBER_ROLES:
            continue
        wanted = list(root.role(role).keys)
        found: dict[bytes, PrivateKey] = {}
        for path in sorted((directory / "keys").glob(f"{role}-*.key")):
            key = keystore.read_private_key(path)
            if key.public.raw in wanted:
                found[key.public.raw] = key
        out[role] = [found[k] for k in wanted if k in found]
    return out


@dataclass
class AuthorityDir:
    """A loaded authority directory: its current trust root and the private keys it holds.

    Who holds what follows from the root: a key file counts only if its public key holds
    a member or a role of the current root (after a rotation the old file is ignored).
    A ceremony directory (``mode`` ``ceremony`` in authority.json) holds only the
    operator's keys; a demo directory holds every key."""

    path: Path
    root_bytes: bytes
    root: TrustRoot
    keys: AuthorityKeys
    mode: str = DEMO

    @classmethod
    def load(cls, path: str | Path) -> AuthorityDir:
        base = Path(path)
        if not (base / META_FILE).is_file():
            raise DataError(
                f"{base} is not an authority directory (no {META_FILE})", file=str(base)
            )
        try:
            meta = json.loads(read_limited(base / META_FILE, 1 << 20))
            mode = str(meta.get("mode", DEMO))
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            raise MalformedError(f"{base / META_FILE}: {exc}", file=str(base / META_FILE)) from None
        root_bytes = read_limited(base / ROOT_FILE)
        _, root = load_pinned_root(root_bytes)
        members: dict[str, PrivateKey] = {}
        for m in root.members:
            key_path = base / "members" / f"{m.name}.key"
            if key_path.is_file():
                key = keystore.read_private_key(key_path)
                if key.public.raw == m.key:
                    members[m.name] = key
        role_keys: dict[str, list[PrivateKey]] = held_role_keys(base, root)
        for role in MEMBER_ROLES:
            role_keys[role] = list(members.values())
        thresholds = {r: root.role(r).threshold for r in ROLES}
        regions = {m.name: m.region for m in root.members}
        keys = AuthorityKeys(members, regions, role_keys, thresholds, root.log_origin)
        return cls(base, root_bytes, root, keys, mode)

    def member_key(self, name: str) -> PrivateKey:
        try:
            return self.keys.members[name]
        except KeyError:
            raise DataError(f"no member named {name!r}") from None


def install_root(path: str | Path, root_bytes: bytes, *, mode: str | None = None) -> TrustRoot:
    """Make ``root_bytes`` the directory's current root (kept also as roots/VERSION.cbor, the
    chain chips catch up through) and rewrite authority.json. The caller has verified the
    root (founding or change); this only writes, root file last."""
    base = Path(path)
    _, root = load_pinned_root(root_bytes)
    old_mode = DEMO
    if (base / META_FILE).is_file():
        try:
            old_mode = str(json.loads(read_limited(base / META_FILE, 1 << 20)).get("mode", DEMO))
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise MalformedError(f"{base / META_FILE}: unreadable", file=str(base)) from None
    meta = {
        "mode": mode or old_mode,
        "version": root.version,
        "members": [
            {"name": m.name, "region": m.region, "key_id": key_id(m.key).hex()}
            for m in root.members
        ],
        "thresholds": {r: root.role(r).threshold for r in ROLES},
        "log_origin": root.log_origin,
        "role_counts": {r: len(root.role(r).keys) for r in ROLES},
    }
    atomic_write(base / ROOTS_DIR / f"{root.version}.cbor", root_bytes)
    atomic_write(base / META_FILE, (json.dumps(meta, indent=2) + "\n").encode())
    atomic_write(base / ROOT_FILE, root_bytes)
    return root


def root_chain(path: str | Path, after: int) -> list[bytes]:
    """The roots after version ``after`` that the directory keeps, in order."""
    base = Path(path) / ROOTS_DIR
    out = []
    version = after + 1
    while (base / f"{version}.cbor").is_file():
        out.append(read_limited(base / f"{version}.cbor"))
        version += 1
    return out
