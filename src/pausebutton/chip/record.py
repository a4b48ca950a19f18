"""What a chip keeps in secure NVM: the :class:`ChipRecord`, its pause entries, and the
first record written at manufacture (:func:`provision`).

Pure: values in, values out; the edge (``chip/nvm.py``, ``chip/simulated.py``, the
agent's ledger) persists the record as canonical CBOR.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from pausebutton.errors import FirmwareTooOldError, SchemaError, WrongChipError
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import KEY_ID_SIZE, PrivateKey
from pausebutton.protocol.messages import GENESIS_HASH, DeviceCertificate, License
from pausebutton.protocol.schema import Struct, check_nonneg
from pausebutton.protocol.trustroot import load_pinned_root

FIRMWARE_VERSION = 1
"""Version of this reference firmware (compared with a license's ``firmware_floor``)."""

DEFAULT_THROTTLE_PPM = 10_000
"""Baseline rate without a valid license: parts per million of peak (1 %)."""

DEFAULT_CLOCK_HZ = 1_755_000_000
"""Cycle counter rate used to advance trusted time (H100 SXM5 boost clock)."""

DEFAULT_PEAK_FLOPS = 989_000_000_000_000
"""H100 SXM5 dense BF16 peak FLOP/s (Epoch AI ml_hardware)."""

DEFAULT_POWER_MW = 700_000
"""Board power used to model energy when the caller measures none (700 W)."""


@dataclass(frozen=True)
class PauseEntry(Struct):
    """A pause order the chip accepted: in force from ``effective_at`` until ``lifted_at``."""

    sequence: int
    effective_at: int
    lifted_at: int | None = None

    def in_force(self, now: int) -> bool:
        return self.effective_at <= now and (self.lifted_at is None or now < self.lifted_at)


@dataclass(frozen=True)
class ChipRecord(Struct):
    """Everything the chip keeps in secure NVM (persisted as canonical CBOR by the edge)."""

    chip_id: bytes
    device_seed: bytes
    """The sealed device key seed; empty once zeroised by a tamper signal."""
    certificate: bytes
    """The vendor-signed DeviceCertificate envelope."""
    root: bytes
    """The pinned trust-root envelope (replaced only by a verified update)."""
    firmware_version: int
    peak_flops: int
    clock_hz: int
    throttle_ppm: int
    power_mw: int
    region: str | None = None
    owner: str | None = None
    tampered: bool = False
    tamper_reason: str | None = None
    # trusted time: time_base at cycles_at_base, advanced by counted cycles
    time_base: int = 0
    cycles_at_base: int = 0
    last_token_time: int = 0
    last_token_seq: int = 0
    # meters (cumulative, only go up)
    cycles: int = 0
    flop_full: int = 0
    flop_throttled: int = 0
    energy_mj: int = 0
    # licensing
    max_license_id: int = 0
    license_log: bytes = GENESIS_HASH
    """Hash chain over every applied license: H(context || previous || H(license envelope))."""
    applied: tuple[bytes, ...] = ()
    """SHA-256 of the most recent applied license envelopes (replay log)."""
    license: bytes | None = None
    """The active License payload (canonical CBOR)."""
    license_used: int = 0
    budgets_accepted: int = 0
    """Sum of the budgets of every license ever accepted (audit figure)."""
    licenses_accepted: int = 0
    # orders
    order_seq: int = 0
    pauses: tuple[PauseEntry, ...] = ()
    # usage reports
    report_seq: int = 0
    report_prev: bytes = GENESIS_HASH
    # location responses
    response_reserved: int = 0
    """Every response counter below this value may have been used (reserved block)."""

    def validate(self) -> None:
        if len(self.chip_id) != KEY_ID_SIZE:
            raise SchemaError("chip_id must be 32 bytes", field="chip_id")
        if self.device_seed and len(self.device_seed) != 32:
            raise SchemaError("device_seed must be 32 bytes or empty", field="device_seed")
        for name in ("peak_flops", "clock_hz", "throttle_ppm"):
            if getattr(self, name) <= 0:
                raise SchemaError(f"{name} must be positive", field=name)
        if self.region is not None and not (
            len(self.region) == 2 and self.region.isascii() and self.region.isupper()
        ):
            raise SchemaError(f"region {self.region!r} is not an ISO 3166 code", field="region")
        if self.throttle_ppm > 1_000_000:
            raise SchemaError("throttle_ppm is at most 1000000", field="throttle_ppm")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool):
                check_nonneg(value, f.name)

    @classmethod
    def decode(cls, data: bytes) -> ChipRecord:
        """Parse a record (raises an EncodingError subclass on damage)."""
        return cls.from_value(encoding.decode(data, max_size=1 << 20))

    def active_license(self) -> License | None:
        if self.license is None:
            return None
        return _license_of(self.license)


@functools.lru_cache(maxsize=64)
def _license_of(payload: bytes) -> License:
    """Decoded active license (cached: the payload bytes are immutable)."""
    return License.decode_payload(payload)


def provision(
    *,
    device_key: PrivateKey,
    certificate: bytes,
    root: bytes,
    region: str | None = None,
    owner: str | None = None,
    firmware_version: int = FIRMWARE_VERSION,
    clock_hz: int = DEFAULT_CLOCK_HZ,
    throttle_ppm: int = DEFAULT_THROTTLE_PPM,
    power_mw: int = DEFAULT_POWER_MW,
) -> ChipRecord:
    """The first NVM record of a chip, written once at manufacture.

    ``certificate`` must be a DeviceCertificate envelope for ``device_key``;
    the chip's trusted time starts at the certificate's ``issued_at`` (the
    vendor's statement, the only time the chip knows before its first token).
    """
    env = Envelope.decode(certificate)
    cert = env.open_as(DeviceCertificate)
    if cert.device_key != device_key.public.raw:
        raise WrongChipError("the certificate is for another device key")
    if firmware_version < cert.firmware_floor:
        raise FirmwareTooOldError(
            f"firmware {firmware_version} is below the vendor's floor {cert.firmware_floor}"
        )
    load_pinned_root(root)
    return ChipRecord(
        chip_id=device_key.key_id,
        device_seed=device_key.seed(),
        certificate=certificate,
        root=root,
        firmware_version=firmware_version,
        peak_flops=cert.peak_flops or DEFAULT_PEAK_FLOPS,
        clock_hz=clock_hz,
        throttle_ppm=throttle_ppm,
        power_mw=power_mw,
        region=region,
        owner=owner,
        time_base=cert.issued_at,
        last_token_time=cert.issued_at,
    )
