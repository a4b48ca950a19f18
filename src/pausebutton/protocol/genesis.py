"""Build a first trust root and its keys (pure: randomness only, no I/O).

Used by ``pausebutton authority init``, the demo, the simulator and tests.
The layout follows docs/architecture.md: the root and pause roles are the member
states' keys with threshold K of N; every other role has its own keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pausebutton.errors import UsageError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.trustroot import ROLES, Member, Role, TrustRoot

DEFAULT_ORIGIN = "pausebutton.example/log"
MEMBER_ROLES = ("root", "pause")
"""Roles held by the member states' own keys (threshold K of N)."""


@dataclass
class AuthorityKeys:
    """Every private key of a freshly founded authority, by role."""

    members: dict[str, PrivateKey]
    member_regions: dict[str, str | None]
    role_keys: dict[str, list[PrivateKey]]
    thresholds: dict[str, int]
    log_origin: str = DEFAULT_ORIGIN
    extra_vendor_keys: list[PrivateKey] = field(default_factory=list)

    def trust_root(self, *, version: int, expires: int) -> TrustRoot:
        roles = {
            name: Role(
                keys=tuple(k.public.raw for k in self.role_keys[name]),
                threshold=self.thresholds[name],
            )
            for name in ROLES
        }
        members = tuple(
            Member(name=name, key=key.public.raw, region=self.member_regions.get(name))
            for name, key in self.members.items()
        )
        return TrustRoot(
            version=version,
            expires=expires,
            members=members,
            roles=roles,
            log_origin=self.log_origin,
        )

    def signed_root(self, *, version: int, expires: int) -> Envelope:
        """The root signed by every root-role key (R2: a self-signed first root)."""
        return Envelope.create(
            self.trust_root(version=version, expires=expires), self.role_keys["root"]
        )

    def key(self, role: str, index: int = 0) -> PrivateKey:
        return self.role_keys[role][index]


def found_authority(
    *,
    members: int = 5,
    threshold: int = 3,
    witnesses: int = 3,
    witness_threshold: int = 2,
    landmarks: int = 3,
    member_names: list[str] | None = None,
    member_regions: list[str | None] | None = None,
    log_origin: str = DEFAULT_ORIGIN,
    seed: bytes | None = None,
) -> AuthorityKeys:
    """Generate the keys of a new authority.

    ``seed`` makes every key deterministic (test vectors, simulations); leave it
    ``None`` for real keys from the OS random source.
    """
    if not 1 <= threshold <= members:
        raise UsageError(f"threshold must be between 1 and {members}")
    if not 1 <= witness_threshold <= witnesses:
        raise UsageError(f"witness threshold must be between 1 and {witnesses}")
    if landmarks < 1:
        raise UsageError("at least one landmark key is needed")
    names = member_names or [f"member-{i + 1}" for i in range(members)]
    if len(names) != members or len(set(names)) != members:
        raise UsageError("member names must be distinct, one per member")
    regions = member_regions or [None] * members

    def make(label: str) -> PrivateKey:
        if seed is None:
            return PrivateKey.generate()
        return PrivateKey.from_seed_material(seed + b"/" + label.encode())

    member_keys = {name: make(f"member/{name}") for name in names}
    role_keys: dict[str, list[PrivateKey]] = {}
    thresholds: dict[str, int] = {}
    for role in MEMBER_ROLES:
        role_keys[role] = list(member_keys.values())
        thresholds[role] = threshold
    counts = {
        "licensing": 1,
        "log": 1,
        "time": 1,
        "vendor": 1,
        "witness": witnesses,
        "landmark": landmarks,
    }
    for role, count in counts.items():
        role_keys[role] = [make(f"{role}/{i}") for i in range(count)]
        thresholds[role] = witness_threshold if role == "witness" else 1
    return AuthorityKeys(
        members=member_keys,
        member_regions=dict(zip(names, regions, strict=True)),
        role_keys=role_keys,
        thresholds=thresholds,
        log_origin=log_origin,
    )
