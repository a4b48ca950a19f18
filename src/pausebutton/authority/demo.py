"""A deterministic demo/test world: an authority's keys, chips with vendor
certificates, and signed usage reports (used by tests, the benchmark and demos).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pausebutton.authority.policy import Policy
from pausebutton.authority.settings import Settings
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import GENESIS_HASH, DeviceCertificate, UsageReport, report_hash
from pausebutton.protocol.trustroot import TrustRoot, load_pinned_root

H100_PEAK = 989_000_000_000_000


@dataclass
class DemoChip:
    index: int
    key: PrivateKey
    certificate: bytes
    sequence: int = 0
    prev_hash: bytes = GENESIS_HASH
    flop: int = 0

    @property
    def chip_id(self) -> str:
        return self.key.key_id.hex()

    def report(
        self,
        *,
        time: int,
        flop: int = 10**15,
        license_id: int | None = None,
        license_flop_used: int | None = None,
        state: str = "licensed",
        advance: bool = True,
    ) -> bytes:
        """The chip's next signed, hash-chained usage report."""
        seq, prev, total = self.sequence + 1, self.prev_hash, self.flop + flop
        rep = UsageReport(
            chip_id=self.key.key_id,
            sequence=seq,
            prev_hash=prev,
            time=time,
            flop_full=total,
            flop_throttled=0,
            cycles=seq * 1000,
            energy_mj=seq * 700_000,
            state=state,
            license_id=license_id,
            license_flop_used=license_flop_used,
        )
        data = Envelope.create(rep, [self.key]).encode()
        if advance:
            self.sequence, self.prev_hash, self.flop = seq, report_hash(data), total
        return data


@dataclass
class DemoWorld:
    keys: AuthorityKeys
    root_bytes: bytes
    root: TrustRoot
    admin: PrivateKey
    seed: bytes
    chips: list[DemoChip] = field(default_factory=list)

    def settings(self, database_url: str, **kw: object) -> Settings:
        kw.setdefault("admin_keys", (self.admin.public.raw,))
        kw.setdefault("time_key", self.keys.key("time"))
        return Settings(
            database_url=database_url,
            root_bytes=self.root_bytes,
            licensing_key=self.keys.key("licensing"),
            log_key=self.keys.key("log"),
            **kw,  # type: ignore[arg-type]
        )

    @property
    def member_names(self) -> list[str]:
        return list(self.keys.members)

    def member(self, i: int) -> PrivateKey:
        return list(self.keys.members.values())[i]

    def operator_key(self, owner: str) -> PrivateKey:
        return PrivateKey.from_seed_material(self.seed + b"/operator/" + owner.encode())

    def make_chip(self, index: int | None = None, model: str = "H100 SXM5") -> DemoChip:
        i = len(self.chips) if index is None else index
        key = PrivateKey.from_seed_material(self.seed + b"/chip/" + str(i).encode())
        cert = DeviceCertificate(
            serial=f"SN{i:08d}",
            model=model,
            device_key=key.public.raw,
            vendor="DemoVendor",
            firmware_floor=1,
            issued_at=1_700_000_000,
            hardware_uuid=f"GPU-{hashlib.sha256(key.public.raw).hexdigest()[:32]}",
            peak_flops=H100_PEAK,
        )
        env = Envelope.create(cert, [self.keys.key("vendor")])
        chip = DemoChip(i, key, env.encode())
        if index is None:
            self.chips.append(chip)
        return chip


def demo_world(
    seed: bytes = b"pausebutton-demo", members: int = 5, threshold: int = 3, expires: int = 2**40
) -> DemoWorld:
    keys = found_authority(members=members, threshold=threshold, seed=seed)
    root_bytes = keys.signed_root(version=1, expires=expires).encode()
    _, root = load_pinned_root(root_bytes)
    admin = PrivateKey.from_seed_material(seed + b"/admin")
    return DemoWorld(keys, root_bytes, root, admin, seed)


def demo_policy(**kw: object) -> Policy:
    return Policy(**kw)  # type: ignore[arg-type]
