"""The message types of the pause-button protocol (payloads of step S envelopes).

Each class is a frozen dataclass; field names are the CBOR map keys (step P1).
Times are integer Unix seconds; FLOP counts and budgets are integers of any
size (CBOR bignums beyond 2**64); hashes and key ids are 32 bytes.
docs/protocol.md section M lists every field with its meaning.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from pausebutton.errors import ExpiredError, NotYetValidError, SchemaError
from pausebutton.protocol.keys import KEY_ID_SIZE, PUBLIC_KEY_SIZE, key_id
from pausebutton.protocol.schema import Payload, Struct, check_len, check_nonneg, register

HASH_SIZE = 32
NONCE_SIZE = 32
MAX_TEXT = 1024
MAX_LIST = 4096


def _text(value: str, name: str, *, max_len: int = MAX_TEXT, empty: bool = False) -> None:
    if len(value) > max_len:
        raise SchemaError(f"field {name!r} is longer than {max_len} characters", field=name)
    if not empty and not value:
        raise SchemaError(f"field {name!r} must not be empty", field=name)


def _window(not_before: int, not_after: int) -> None:
    check_nonneg(not_before, "not_before")
    if not_after <= not_before:
        raise SchemaError("not_after must be later than not_before", field="not_after")


def _is_region(code: str) -> bool:
    return len(code) == 2 and code.isascii() and code.isalpha() and code.isupper()


def _region(code: str, name: str) -> None:
    if not _is_region(code):
        raise SchemaError(f"field {name!r}: {code!r} is not an ISO 3166 alpha-2 code", field=name)


# -- M1 device certificate -------------------------------------------------------------


@register
@dataclass(frozen=True)
class DeviceCertificate(Payload):
    """M1: a vendor's statement that a device key lives in one chip (signed by the vendor)."""

    TYPE = "device-certificate"

    serial: str
    model: str
    device_key: bytes
    vendor: str
    firmware_floor: int
    issued_at: int
    hardware_uuid: str | None = None
    peak_flops: int | None = None
    """Dense peak FLOP/s of the model, for metering and throttling."""

    def validate(self) -> None:
        check_len(self.device_key, PUBLIC_KEY_SIZE, "device_key")
        _text(self.serial, "serial")
        _text(self.model, "model")
        _text(self.vendor, "vendor")
        check_nonneg(self.firmware_floor, "firmware_floor")
        check_nonneg(self.issued_at, "issued_at")
        if self.peak_flops is not None and self.peak_flops <= 0:
            raise SchemaError("peak_flops must be positive", field="peak_flops")

    @property
    def chip_id(self) -> bytes:
        """The chip id is the key id of the device key (docs/architecture.md, decisions)."""
        return key_id(self.device_key)


# -- M2 license ----------------------------------------------------------------------------


@register
@dataclass(frozen=True)
class License(Payload):
    """M2: permission for one chip to run a FLOP budget at full rate within a window."""

    TYPE = "license"

    license_id: int
    chip_id: bytes
    not_before: int
    not_after: int
    flop_budget: int
    max_offline: int
    """Seconds the chip may run without a fresh time token (dead man's switch)."""
    firmware_floor: int = 0
    owner: str | None = None
    facility: str | None = None
    region: str | None = None
    pod: tuple[bytes, ...] | None = None
    run_id: str | None = None

    def validate(self) -> None:
        # Every licence a chip opens is checked, so the common case (every number in
        # range, a region code, short text) is one expression; anything else runs the
        # checks one by one, which name the first failure.
        region, owner, facility, run_id = self.region, self.owner, self.facility, self.run_id
        if (
            len(self.chip_id) == KEY_ID_SIZE
            and self.license_id >= 1
            and 0 <= self.not_before < self.not_after
            and self.flop_budget > 0
            and self.max_offline > 0
            and self.firmware_floor >= 0
            and (region is None or _is_region(region))
            and (owner is None or 0 < len(owner) <= MAX_TEXT)
            and (facility is None or 0 < len(facility) <= MAX_TEXT)
            and (run_id is None or 0 < len(run_id) <= MAX_TEXT)
            and self.pod is None
        ):
            return
        check_len(self.chip_id, KEY_ID_SIZE, "chip_id")
        if self.license_id < 1:
            raise SchemaError("license_id must be positive", field="license_id")
        _window(self.not_before, self.not_after)
        if self.flop_budget <= 0:
            raise SchemaError("flop_budget must be positive", field="flop_budget")
        if self.max_offline <= 0:
            raise SchemaError("max_offline must be positive", field="max_offline")
        check_nonneg(self.firmware_floor, "firmware_floor")
        if self.region is not None:
            _region(self.region, "region")
        for name in ("owner", "facility", "run_id"):
            value = getattr(self, name)
            if value is not None:
                _text(value, name)
        if self.pod is not None:
            if len(self.pod) > MAX_LIST:
                raise SchemaError("pod is too long", field="pod")
            for i, member in enumerate(self.pod):
                check_len(member, KEY_ID_SIZE, f"pod[{i}]")

    def check_time(self, now: int) -> None:
        """M2: a license is usable only while ``not_before <= now < not_after``.

        ``now`` is the verifier's trusted time (a chip's time from time tokens)."""
        if now < self.not_before:
            raise NotYetValidError(
                f"license {self.license_id} is valid from {self.not_before}, now is {now}"
            )
        if now >= self.not_after:
            raise ExpiredError(f"license {self.license_id} expired at {self.not_after}")


# -- M3 pause order, M4 resume order ----------------------------------------------------


class ScopeKind(enum.Enum):
    GLOBAL = "global"
    REGION = "region"
    OWNER = "owner"
    CHIPS = "chips"


@dataclass(frozen=True)
class Scope(Struct):
    """Which chips an order applies to."""

    kind: ScopeKind
    regions: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    chips: tuple[bytes, ...] = ()

    def validate(self) -> None:
        given = {
            ScopeKind.REGION: self.regions,
            ScopeKind.OWNER: self.owners,
            ScopeKind.CHIPS: self.chips,
        }
        for kind, values in given.items():
            if kind is self.kind and not values:
                raise SchemaError(f"a {kind.value} scope needs at least one entry", field="scope")
            if kind is not self.kind and values:
                raise SchemaError(f"a {self.kind.value} scope lists {kind.value}s", field="scope")
        for i, region in enumerate(self.regions):
            _region(region, f"regions[{i}]")
        for i, owner in enumerate(self.owners):
            _text(owner, f"owners[{i}]")
        for i, chip in enumerate(self.chips):
            check_len(chip, KEY_ID_SIZE, f"chips[{i}]")
        if max(len(self.regions), len(self.owners), len(self.chips)) > MAX_LIST:
            raise SchemaError("scope lists too many entries", field="scope")

    def applies_to(self, chip_id: bytes, region: str | None, owner: str | None) -> bool:
        if self.kind is ScopeKind.GLOBAL:
            return True
        if self.kind is ScopeKind.REGION:
            return region is not None and region in self.regions
        if self.kind is ScopeKind.OWNER:
            return owner is not None and owner in self.owners
        return chip_id in self.chips


GLOBAL = Scope(ScopeKind.GLOBAL)


@register
@dataclass(frozen=True)
class PauseOrder(Payload):
    """M3: stop full-rate compute in a scope (signed by the pause role's threshold)."""

    TYPE = "pause-order"

    sequence: int
    scope: Scope
    effective_at: int
    issued_at: int
    reason: str

    def validate(self) -> None:
        if self.sequence < 1:
            raise SchemaError("sequence must be positive", field="sequence")
        check_nonneg(self.effective_at, "effective_at")
        check_nonneg(self.issued_at, "issued_at")
        _text(self.reason, "reason")


@register
@dataclass(frozen=True)
class ResumeOrder(Payload):
    """M4: lift the pause with sequence ``lifts``; must itself have a higher sequence."""

    TYPE = "resume-order"

    sequence: int
    lifts: int
    scope: Scope
    effective_at: int
    issued_at: int
    reason: str

    def validate(self) -> None:
        if self.lifts < 1 or self.sequence <= self.lifts:
            raise SchemaError("a resume's sequence must exceed the pause it lifts", field="lifts")
        check_nonneg(self.effective_at, "effective_at")
        check_nonneg(self.issued_at, "issued_at")
        _text(self.reason, "reason")


# -- M5 time token -------------------------------------------------------------------------


@register
@dataclass(frozen=True)
class TimeToken(Payload):
    """M5: the time role's statement of the current time (chips trust no host clock)."""

    TYPE = "time-token"

    time: int
    sequence: int
    chip_id: bytes | None = None
    """If set, the token is only for this chip."""

    def validate(self) -> None:
        check_nonneg(self.time, "time")
        if self.sequence < 1:
            raise SchemaError("sequence must be positive", field="sequence")
        if self.chip_id is not None:
            check_len(self.chip_id, KEY_ID_SIZE, "chip_id")


# -- M6 usage report -----------------------------------------------------------------------


GENESIS_HASH = bytes(HASH_SIZE)
"""prev_hash of a chip's first usage report."""


@register
@dataclass(frozen=True)
class UsageReport(Payload):
    """M6: a chip's signed, hash-chained account of the work it did."""

    TYPE = "usage-report"

    chip_id: bytes
    sequence: int
    prev_hash: bytes
    """SHA-256 of the previous report's envelope bytes (GENESIS_HASH for the first)."""
    time: int
    """The chip's trusted time when it made the report."""
    flop_full: int
    flop_throttled: int
    cycles: int
    energy_mj: int
    """Cumulative energy in millijoules."""
    state: str
    license_id: int | None = None
    license_flop_used: int | None = None

    def validate(self) -> None:
        check_len(self.chip_id, KEY_ID_SIZE, "chip_id")
        check_len(self.prev_hash, HASH_SIZE, "prev_hash")
        if self.sequence < 1:
            raise SchemaError("sequence must be positive", field="sequence")
        for name in ("time", "flop_full", "flop_throttled", "cycles", "energy_mj"):
            check_nonneg(getattr(self, name), name)
        if self.license_id is not None and self.license_id < 1:
            raise SchemaError("license_id must be positive", field="license_id")
        if self.license_flop_used is not None:
            check_nonneg(self.license_flop_used, "license_flop_used")
        _text(self.state, "state", max_len=32)


def report_hash(envelope_bytes: bytes) -> bytes:
    """The chain link: SHA-256 of a report's full envelope bytes (signatures included)."""
    return hashlib.sha256(envelope_bytes).digest()


# -- M7 location challenge, M8 location response ---------------------------------------------


@register
@dataclass(frozen=True)
class LocationChallenge(Payload):
    """M7: a landmark's fresh nonce for one chip."""

    TYPE = "location-challenge"

    landmark_id: bytes
    chip_id: bytes
    nonce: bytes

    def validate(self) -> None:
        check_len(self.landmark_id, KEY_ID_SIZE, "landmark_id")
        check_len(self.chip_id, KEY_ID_SIZE, "chip_id")
        check_len(self.nonce, NONCE_SIZE, "nonce")


@register
@dataclass(frozen=True)
class LocationResponse(Payload):
    """M8: the chip's immediate signed answer: (nonce, chip id, response counter)."""

    TYPE = "location-response"

    chip_id: bytes
    nonce: bytes
    counter: int

    def validate(self) -> None:
        check_len(self.chip_id, KEY_ID_SIZE, "chip_id")
        check_len(self.nonce, NONCE_SIZE, "nonce")
        check_nonneg(self.counter, "counter")


# -- M9 checkpoint -------------------------------------------------------------------------


@register
@dataclass(frozen=True)
class Checkpoint(Payload):
    """M9: a log's tree head. On the wire between logs and witnesses the same data
    travels as a C2SP signed note (translog.checkpoint); this is its CBOR form."""

    TYPE = "checkpoint"

    origin: str
    size: int
    root_hash: bytes

    def validate(self) -> None:
        _text(self.origin, "origin", max_len=256)
        check_nonneg(self.size, "size")
        check_len(self.root_hash, HASH_SIZE, "root_hash")


# -- M10 prohibited artifacts ----------------------------------------------------------------


class ArtifactKind(enum.Enum):
    FILE = "file"
    TENSOR = "tensor"
    TENSOR_SET = "tensor-set"
    CODE = "code"


@dataclass(frozen=True)
class Artifact(Struct):
    kind: ArtifactKind
    sha256: bytes
    description: str

    def validate(self) -> None:
        check_len(self.sha256, HASH_SIZE, "sha256")
        _text(self.description, "description", empty=True)


@register
@dataclass(frozen=True)
class ProhibitedArtifacts(Payload):
    """M10: the list of artifacts guards must refuse to load (e.g. weights of a model
    trained in breach). Each list replaces the previous; sequence only grows."""

    TYPE = "prohibited-artifacts"

    sequence: int
    issued_at: int
    artifacts: tuple[Artifact, ...]

    def validate(self) -> None:
        if self.sequence < 1:
            raise SchemaError("sequence must be positive", field="sequence")
        check_nonneg(self.issued_at, "issued_at")
        if len(self.artifacts) > MAX_LIST:
            raise SchemaError("too many artifacts in one list", field="artifacts")

    def hashes(self) -> frozenset[bytes]:
        return frozenset(a.sha256 for a in self.artifacts)


# -- location verification -------------------------------------------------------------------


MICRODEGREES = 1_000_000
"""Landmark coordinates travel as integer microdegrees (the encoding has no floats)."""


@register
@dataclass(frozen=True)
class Measurement(Payload):
    """M11: a landmark's signed record of one timed challenge: it sent ``nonce`` to
    ``chip_id`` and got the chip's signed LocationResponse (``response``, the full
    envelope) back after ``rtt_ns`` nanoseconds on its monotonic clock."""

    TYPE = "location-measurement"

    landmark_id: bytes
    chip_id: bytes
    nonce: bytes
    rtt_ns: int
    time: int
    """The landmark's Unix time when the response arrived."""
    counter: int
    """The chip's response counter, copied from the response."""
    lat_e6: int
    lon_e6: int
    """The landmark's own position in microdegrees (WGS84)."""
    response: bytes

    def validate(self) -> None:
        check_len(self.landmark_id, KEY_ID_SIZE, "landmark_id")
        check_len(self.chip_id, KEY_ID_SIZE, "chip_id")
        check_len(self.nonce, NONCE_SIZE, "nonce")
        if self.rtt_ns <= 0:
            raise SchemaError("rtt_ns must be positive", field="rtt_ns")
        check_nonneg(self.time, "time")
        check_nonneg(self.counter, "counter")
        if not -90 * MICRODEGREES <= self.lat_e6 <= 90 * MICRODEGREES:
            raise SchemaError("lat_e6 is outside [-90, 90] degrees", field="lat_e6")
        if not -180 * MICRODEGREES <= self.lon_e6 <= 180 * MICRODEGREES:
            raise SchemaError("lon_e6 is outside [-180, 180] degrees", field="lon_e6")
        if not self.response or len(self.response) > 4096:
            raise SchemaError("response must hold one signed envelope", field="response")

    @property
    def rtt_ms(self) -> float:
        return self.rtt_ns / 1e6
