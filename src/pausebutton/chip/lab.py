"""An in-memory authority and chip factory for tests, benchmarks and the simulator.

Builds deterministic keys (``found_authority(seed=...)``), provisions chips and
issues signed licenses, orders and time tokens, so callers need no files.
Permissive objects come with a log inclusion bundle from :class:`LabLog`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pausebutton.chip.firmware import (
    DEFAULT_PEAK_FLOPS,
    FIRMWARE_VERSION,
    ChipRecord,
    Firmware,
    InclusionVerifier,
    provision,
    translog_verifier,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import (
    GLOBAL,
    DeviceCertificate,
    License,
    PauseOrder,
    ResumeOrder,
    Scope,
    TimeToken,
)
from pausebutton.translog import merkle

T0 = 1_800_000_000
"""The lab's epoch (2027-01-15), the chips' manufacture time."""
YEAR = 365 * 86400


@dataclass
class Lab:
    """A founded authority plus counters for ids and sequences."""

    keys: AuthorityKeys
    root_bytes: bytes
    vendor: PrivateKey
    seed: bytes
    next_license: int = 1
    next_order: int = 1
    next_token: int = 1
    log: LabLog | None = None
    chips: int = field(default=0)

    @classmethod
    def create(cls, seed: bytes = b"lab", *, members: int = 5, threshold: int = 3) -> Lab:
        keys = found_authority(members=members, threshold=threshold, seed=seed)
        root = keys.signed_root(version=1, expires=T0 + 10 * YEAR).encode()
        vendor = PrivateKey.from_seed_material(seed + b"/chip-vendor")
        lab = cls(keys, root, vendor, seed)
        lab.log = LabLog.for_lab(lab)
        return lab

    # -- chips ---------------------------------------------------------------------------

    def certificate(
        self, device: PrivateKey, *, serial: str = "SN-1", peak_flops: int = DEFAULT_PEAK_FLOPS
    ) -> bytes:
        cert = DeviceCertificate(
            serial=serial,
            model="H100-SXM5",
            device_key=device.public.raw,
            vendor="lab-vendor",
            firmware_floor=0,
            issued_at=T0,
            peak_flops=peak_flops,
        )
        return Envelope.create(cert, [self.vendor]).encode()

    def new_record(
        self,
        *,
        region: str | None = "NL",
        owner: str | None = "owner-a",
        firmware_version: int = FIRMWARE_VERSION,
        peak_flops: int = DEFAULT_PEAK_FLOPS,
    ) -> ChipRecord:
        self.chips += 1
        device = PrivateKey.from_seed_material(self.seed + b"/chip/%d" % self.chips)
        return provision(
            device_key=device,
            certificate=self.certificate(device, serial=f"SN-{self.chips}", peak_flops=peak_flops),
            root=self.root_bytes,
            region=region,
            owner=owner,
            firmware_version=firmware_version,
        )

    def new_chip(self, **kwargs: object) -> Firmware:
        return Firmware(self.new_record(**kwargs), verifier=self.verifier())  # type: ignore[arg-type]

    def verifier(self) -> InclusionVerifier:
        return translog_verifier

    # -- signed objects ------------------------------------------------------------------

    def license(
        self,
        chip_id: bytes,
        *,
        flop: int = 10**18,
        license_id: int | None = None,
        not_before: int = T0 - 3600,
        not_after: int = T0 + 30 * 86400,
        max_offline: int = 7 * 86400,
        firmware_floor: int = 0,
        signers: list[PrivateKey] | None = None,
        **extra: object,
    ) -> Envelope:
        if license_id is None:
            license_id = self.next_license
        self.next_license = max(self.next_license, license_id + 1)
        lic = License(
            license_id=license_id,
            chip_id=chip_id,
            not_before=not_before,
            not_after=not_after,
            flop_budget=flop,
            max_offline=max_offline,
            firmware_floor=firmware_floor,
            **extra,  # type: ignore[arg-type]
        )
        return Envelope.create(lic, signers or self.keys.role_keys["licensing"])

    def members(self, count: int | None = None) -> list[PrivateKey]:
        keys = list(self.keys.members.values())
        return keys[: self.keys.thresholds["pause"] if count is None else count]

    def pause(
        self,
        *,
        scope: Scope = GLOBAL,
        sequence: int | None = None,
        effective_at: int = T0,
        signers: list[PrivateKey] | None = None,
        issued_at: int = T0,
    ) -> Envelope:
        if sequence is None:
            sequence = self.next_order
        self.next_order = max(self.next_order, sequence + 1)
        order = PauseOrder(sequence, scope, effective_at, issued_at, "lab pause")
        return Envelope.create(order, self.members() if signers is None else signers)

    def resume(
        self,
        lifts: int,
        *,
        scope: Scope = GLOBAL,
        sequence: int | None = None,
        effective_at: int = T0,
        signers: list[PrivateKey] | None = None,
        issued_at: int = T0,
    ) -> Envelope:
        if sequence is None:
            sequence = self.next_order
        self.next_order = max(self.next_order, sequence + 1)
        order = ResumeOrder(sequence, lifts, scope, effective_at, issued_at, "lab resume")
        return Envelope.create(order, self.members() if signers is None else signers)

    def time_token(
        self, time: int, *, sequence: int | None = None, chip_id: bytes | None = None
    ) -> Envelope:
        if sequence is None:
            sequence = self.next_token
        self.next_token = max(self.next_token, sequence + 1)
        return Envelope.create(TimeToken(time, sequence, chip_id), self.keys.role_keys["time"])

    def logged(self, env: Envelope) -> tuple[bytes, bytes | None]:
        """The envelope's bytes and an inclusion bundle for them (appended to the lab log)."""
        data = env.encode()
        assert self.log is not None
        return data, self.log.include(data)


@dataclass
class LabLog:
    """A lab transparency log: appends entries and returns real inclusion bundles (a
    checkpoint signed by the lab's log key and cosigned by its witness keys)."""

    keys: AuthorityKeys
    leaves: list[bytes] = field(default_factory=list)

    @classmethod
    def for_lab(cls, lab: Lab) -> LabLog:
        return cls(lab.keys)

    def include(self, entry: bytes, *, witnesses: int | None = None) -> bytes:
        from pausebutton.issuing.offline import make_inclusion_bundle

        self.leaves.append(merkle.leaf_hash(entry))
        wit = self.keys.role_keys["witness"]
        return make_inclusion_bundle(
            self.leaves,
            len(self.leaves) - 1,
            entry,
            origin=self.keys.log_origin,
            log_key=self.keys.key("log"),
            witnesses=wit if witnesses is None else wit[:witnesses],
            timestamp=T0,
        )
