"""Governing the trust root: the rules every root proposal keeps, and root changes. Pure.

Protocol step G (docs/governance.md, "The rules"), on top of R1-R4:

G1. The member roles (``root`` and ``pause``) hold exactly the members' keys, and their
    thresholds are at least the *floor*: a strict majority of the members
    (``N // 2 + 1``). A root below the floor is refused (``below_floor``).
G2. No change removes the last key of a role (the last chip vendor, the last time key):
    ``last_key``.
G3. A root change is version v+1 of the trusted root v (``rollback`` / ``chain`` for any
    other version), keeps the log origin, is signed by the root-role threshold of v
    *and* of v+1 (R3) and by every key it adds, in any role (proof of possession); keys
    revoked on the verifier's side do not count towards v's threshold
    (``below_threshold``).
G4. A chain of roots v+1, v+2, ... is checked link by link (G3); only the last link's
    expiry is checked against the clock, so a chip that was offline across several
    changes catches up through the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from pausebutton.errors import (
    BelowThresholdError,
    ChainError,
    ExpiredError,
    FloorError,
    LastKeyError,
    RollbackError,
    SchemaError,
    UsageError,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.genesis import MEMBER_ROLES
from pausebutton.protocol.keys import PublicKey
from pausebutton.protocol.trustroot import ROLES, Member, Role, TrustRoot
from pausebutton.protocol.units import format_instant


def member_floor(members: int) -> int:
    """G1: the lowest threshold a member role may have (a strict majority)."""
    return members // 2 + 1


def check_root(root: TrustRoot) -> None:
    """G1 for one root (a founding root or a successor)."""
    member_keys = sorted(m.key for m in root.members)
    if not member_keys:
        raise SchemaError("a trust root needs at least one member", field="members")
    floor = member_floor(len(member_keys))
    for name in MEMBER_ROLES:
        role = root.role(name)
        if sorted(role.keys) != member_keys:
            raise SchemaError(
                f"role {name} must hold exactly the members' keys", field=f"roles.{name}"
            )
        if role.threshold < floor:
            raise FloorError(
                f"role {name} threshold {role.threshold} is below its floor {floor}"
                f" (a strict majority of {len(member_keys)} members)",
                role=name,
                threshold=role.threshold,
                floor=floor,
            )


def _all_keys(root: TrustRoot) -> set[bytes]:
    keys = {m.key for m in root.members}
    for role in root.roles.values():
        keys.update(role.keys)
    return keys


def added_keys(old: TrustRoot, new: TrustRoot) -> set[bytes]:
    """Raw public keys ``new`` holds (as a member or in any role) that ``old`` does not."""
    return _all_keys(new) - _all_keys(old)


@dataclass(frozen=True)
class RootChange:
    """What a root proposal changes; ``apply_change`` makes the successor root."""

    add_members: tuple[Member, ...] = ()
    remove_members: tuple[str, ...] = ()
    rotate_members: tuple[tuple[str, bytes], ...] = ()
    """(member name, new raw public key)."""
    thresholds: Mapping[str, int] = field(default_factory=dict)
    add_keys: tuple[tuple[str, bytes], ...] = ()
    """(role, raw public key) for a role other than the member roles."""
    remove_keys: tuple[tuple[str, bytes], ...] = ()
    """(role, key id) for a role other than the member roles."""
    expires: int | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.add_members
            or self.remove_members
            or self.rotate_members
            or self.thresholds
            or self.add_keys
            or self.remove_keys
            or self.expires is not None
        )


def _members(old: TrustRoot, change: RootChange) -> dict[str, Member]:
    members = {m.name: m for m in old.members}
    for name in change.remove_members:
        if name not in members:
            raise UsageError(f"no member named {name!r} to remove")
        del members[name]
    for name, key in change.rotate_members:
        if name not in members:
            raise UsageError(f"no member named {name!r} to rotate")
        members[name] = Member(name=name, key=key, region=members[name].region)
    for m in change.add_members:
        if m.name in members:
            raise UsageError(f"a member named {m.name!r} already exists")
        members[m.name] = m
    if not members:
        raise LastKeyError("a change cannot remove the last member", role="root")
    return members


def _role_keys(old: TrustRoot, name: str, change: RootChange) -> tuple[bytes, ...]:
    keys = list(old.role(name).keys)
    for role, kid in change.remove_keys:
        if role != name:
            continue
        match = [k for k in keys if PublicKey.from_bytes(k).key_id == kid]
        if not match:
            raise UsageError(f"role {name} has no key {kid.hex()[:16]}")
        keys.remove(match[0])
    for role, raw in change.add_keys:
        if role == name and raw not in keys:
            keys.append(raw)
    if not keys:
        raise LastKeyError(f"a change cannot remove the last {name} key", role=name)
    return tuple(keys)


def apply_change(old: TrustRoot, change: RootChange) -> TrustRoot:
    """The successor (version v+1) of ``old`` under ``change``; G1 and G2 checked."""
    if change.empty:
        raise UsageError("the proposal changes nothing")
    for role, _ in (*change.add_keys, *change.remove_keys):
        if role in MEMBER_ROLES or role not in ROLES:
            raise UsageError(f"keys of role {role!r} are not added or removed directly")
    for role in change.thresholds:
        if role not in ROLES:
            raise UsageError(f"no role {role!r} (roles: {', '.join(ROLES)})")
    members = _members(old, change)
    roles: dict[str, Role] = {}
    for name in ROLES:
        if name in MEMBER_ROLES:
            keys = tuple(m.key for m in members.values())
        else:
            keys = _role_keys(old, name, change)
        threshold = int(change.thresholds.get(name, old.role(name).threshold))
        if not 1 <= threshold <= len(keys):
            raise SchemaError(
                f"role {name}: threshold {threshold} is not between 1 and {len(keys)} keys",
                field=f"roles.{name}",
            )
        roles[name] = Role(keys=keys, threshold=threshold)
    new = TrustRoot(
        version=old.version + 1,
        expires=old.expires if change.expires is None else change.expires,
        members=tuple(members.values()),
        roles=roles,
        log_origin=old.log_origin,
    )
    new.validate()
    check_root(new)
    return new


def verify_change(
    old: TrustRoot,
    data: bytes,
    now: int | None,
    *,
    revoked: AbstractSet[bytes] = frozenset(),
) -> tuple[Envelope, TrustRoot]:
    """G3: check a successor root against the trusted ``old``; returns (envelope, new)."""
    env = Envelope.decode(data)
    new: TrustRoot = env.open_as(TrustRoot)
    if new.version <= old.version:
        raise RollbackError(f"root v{new.version} is not newer than trusted v{old.version}")
    if new.version != old.version + 1:
        raise ChainError(
            f"root v{new.version} skips versions after v{old.version}",
            trusted=old.version,
            offered=new.version,
        )
    if new.log_origin != old.log_origin:
        raise SchemaError("a root change keeps the log origin", field="log_origin")
    check_root(new)
    old.verify_role(env, "root", revoked).require(
        f"root v{new.version}, signatures of the members of v{old.version}"
    )
    new.verify_role(env, "root").require(f"root v{new.version}, signatures of its own members")
    signers = {s.key_id for s in env.signatures}
    message = env.signing_input()
    for raw in sorted(added_keys(old, new)):
        key = PublicKey.from_bytes(raw)
        ok = key.key_id in signers and any(
            s.key_id == key.key_id and key.is_valid(message, s.sig) for s in env.signatures
        )
        if not ok:
            raise BelowThresholdError(
                f"root v{new.version} adds key {key.key_id.hex()[:16]}, which has not signed it",
                key_id=key.key_id.hex(),
            )
    if now is not None and now >= new.expires:
        raise ExpiredError(f"trust root v{new.version} expired at {new.expires}")
    return env, new


def verify_founding(data: bytes, now: int | None) -> tuple[Envelope, TrustRoot]:
    """R2 and G1 for a first root (version 1)."""
    env = Envelope.decode(data)
    root: TrustRoot = env.open_as(TrustRoot)
    if root.version != 1:
        raise ChainError(f"a founding root is version 1, not v{root.version}")
    check_root(root)
    root.verify_role(env, "root").require("founding root, signatures of its members")
    if now is not None and now >= root.expires:
        raise ExpiredError(f"trust root v{root.version} expired at {root.expires}")
    return env, root


def verify_chain(
    trusted: TrustRoot, chain: Sequence[bytes], now: int | None
) -> list[tuple[Envelope, TrustRoot]]:
    """G4: each root of ``chain`` in order, from ``trusted``; the expiry of the last only."""
    out: list[tuple[Envelope, TrustRoot]] = []
    current = trusted
    for i, data in enumerate(chain):
        last = i == len(chain) - 1
        env, current = verify_change(current, data, now if last else None)
        out.append((env, current))
    return out


def describe_change(old: TrustRoot | None, new: TrustRoot) -> list[str]:
    """Human lines saying what ``new`` changes against ``old`` (what a signer reviews)."""
    when = format_instant
    lines = [f"trust root v{new.version}, log {new.log_origin}, expires {when(new.expires)}"]
    if old is None:
        lines += [f"member {m.name} ({m.region or '-'})" for m in new.members]
        lines += [
            f"role {name}: {len(new.role(name).keys)} key(s), threshold {new.role(name).threshold}"
            for name in ROLES
        ]
        return lines
    before = {m.name: m for m in old.members}
    after = {m.name: m for m in new.members}
    lines += [f"+ member {n} ({after[n].region or '-'})" for n in after if n not in before]
    lines += [f"- member {n}" for n in before if n not in after]
    lines += [
        f"~ member {n}: key rotated" for n in after if n in before and after[n].key != before[n].key
    ]
    for name in ROLES:
        a, b = old.role(name), new.role(name)
        if a.threshold != b.threshold:
            lines.append(f"~ role {name}: threshold {a.threshold} -> {b.threshold}")
        if name in MEMBER_ROLES:
            continue
        for k in b.keys:
            if k not in a.keys:
                lines.append(f"+ {name} key {PublicKey.from_bytes(k).key_id.hex()[:16]}")
        for k in a.keys:
            if k not in b.keys:
                lines.append(f"- {name} key {PublicKey.from_bytes(k).key_id.hex()[:16]}")
    if old.expires != new.expires:
        lines.append(f"~ expires {when(old.expires)} -> {when(new.expires)}")
    return lines
