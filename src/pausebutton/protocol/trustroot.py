"""The trust root: member states, named roles with keys and thresholds, and rotation.

Protocol step R (docs/protocol.md, "Trust root"):

R1. A trust root lists the members (name, public key, optional ISO region)
    and, for every role in ROLES, its public keys and threshold, plus a
    version, an expiry and the log origin.
R2. A first trust root is pinned out of band (in the chip at manufacture, in a
    witness's config); it must carry its own root-role threshold.
R3. Version v+1 replaces version v only if it is signed by the root-role
    threshold of v *and* of v+1, its version is exactly v+1 (lower or equal is
    a rollback; higher is a gap), and it has not expired at the verifier's time.
R4. Messages of a role are accepted only with that role's threshold of
    distinct valid signatures (step T).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cached_property

from pausebutton.errors import ChainError, ExpiredError, RollbackError, SchemaError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PUBLIC_KEY_SIZE, PublicKey
from pausebutton.protocol.schema import Payload, Struct, check_len, check_nonneg, register
from pausebutton.protocol.threshold import ThresholdResult, verify_threshold

ROLES = ("root", "licensing", "pause", "log", "witness", "landmark", "vendor", "time")
"""Every trust root defines these roles (R1)."""


@dataclass(frozen=True)
class Member(Struct):
    name: str
    key: bytes
    region: str | None = None

    def validate(self) -> None:
        check_len(self.key, PUBLIC_KEY_SIZE, "key")
        if not self.name or len(self.name) > 128:
            raise SchemaError("member name must be 1-128 characters", field="name")


@dataclass(frozen=True)
class Role(Struct):
    keys: tuple[bytes, ...]
    threshold: int

    def validate(self) -> None:
        for i, key in enumerate(self.keys):
            check_len(key, PUBLIC_KEY_SIZE, f"keys[{i}]")
        if len(set(self.keys)) != len(self.keys):
            raise SchemaError("a role lists the same key twice", field="keys")
        if not 1 <= self.threshold <= len(self.keys):
            raise SchemaError(
                f"threshold {self.threshold} is not between 1 and {len(self.keys)} keys",
                field="threshold",
            )


@register
@dataclass(frozen=True)
class TrustRoot(Payload):
    TYPE = "trust-root"

    version: int
    expires: int
    members: tuple[Member, ...]
    roles: Mapping[str, Role]
    log_origin: str

    def validate(self) -> None:
        if self.version < 1:
            raise SchemaError("version must be positive", field="version")
        check_nonneg(self.expires, "expires")
        missing = [r for r in ROLES if r not in self.roles]
        if missing:
            raise SchemaError(f"trust root lacks roles {missing}", field="roles")
        names = [m.name for m in self.members]
        keys = [m.key for m in self.members]
        if len(set(names)) != len(names) or len(set(keys)) != len(keys):
            raise SchemaError("members must have distinct names and keys", field="members")
        if not self.log_origin or len(self.log_origin) > 256:
            raise SchemaError("log_origin must be 1-256 characters", field="log_origin")

    @cached_property
    def _public_keys(self) -> dict[str, tuple[PublicKey, ...]]:
        return {
            name: tuple(PublicKey.from_bytes(k) for k in role.keys)
            for name, role in self.roles.items()
        }

    def role(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            raise SchemaError(f"trust root has no role {name!r}", field="roles") from None

    def role_keys(self, name: str) -> tuple[PublicKey, ...]:
        self.role(name)
        return self._public_keys[name]

    def verify_role(
        self, envelope: Envelope, name: str, revoked: AbstractSet[bytes] = frozenset()
    ) -> ThresholdResult:
        """R4: the threshold result of ``envelope`` for role ``name``. Keys whose id is in
        ``revoked`` do not count (the threshold stays what the root says)."""
        keys = self.role_keys(name)
        if revoked:
            keys = tuple(k for k in keys if k.key_id not in revoked)
        return verify_threshold(envelope, keys, self.role(name).threshold)

    def require_role(
        self, envelope: Envelope, name: str, revoked: AbstractSet[bytes] = frozenset()
    ) -> None:
        """R4, raising BelowThresholdError."""
        self.verify_role(envelope, name, revoked).require(f"{envelope.type} for role {name}")

    def member_by_key(self, raw_key: bytes) -> Member | None:
        return next((m for m in self.members if m.key == raw_key), None)


def load_pinned_root(data: bytes, now: int | None = None) -> tuple[Envelope, TrustRoot]:
    """R2: parse a pinned first root and check its self-signature (and expiry if ``now``)."""
    env = Envelope.decode(data)
    root: TrustRoot = env.open_as(TrustRoot)
    root.require_role(env, "root")
    if now is not None and now >= root.expires:
        raise ExpiredError(f"trust root v{root.version} expired at {root.expires}")
    return env, root


def verify_root_update(
    current: TrustRoot, data: bytes, now: int | None
) -> tuple[Envelope, TrustRoot]:
    """R3: check a successor root against the trusted one; returns the new root.

    Pass ``now=None`` for an intermediate step of a chain (only the last root's
    expiry matters, as in TUF).
    """
    env = Envelope.decode(data)
    new: TrustRoot = env.open_as(TrustRoot)
    if new.version <= current.version:
        raise RollbackError(f"root v{new.version} is not newer than trusted v{current.version}")
    if new.version != current.version + 1:
        raise ChainError(f"root v{new.version} skips versions after v{current.version}")
    current.verify_role(env, "root").require("root update, signatures of the current root")
    new.verify_role(env, "root").require("root update, signatures of the new root")
    if now is not None and now >= new.expires:
        raise ExpiredError(f"trust root v{new.version} expired at {new.expires}")
    return env, new
