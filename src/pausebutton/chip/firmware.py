"""The pause-button-compatible chip firmware: a pure state machine.

This is the behaviour a vendor ports into real firmware (docs/firmware.md).
It takes bytes and values only: no clock, no file, no socket. The chip's
*trusted time* comes from authority-signed time tokens advanced by counted
cycles; the host clock is never consulted.

Shape of the machine
--------------------
* :class:`ChipRecord` is everything the chip keeps in secure NVM.
* :class:`Firmware` wraps a record plus RAM-only values (the location-response
  counter). Each input (:meth:`Firmware.install`, :meth:`Firmware.meter`,
  :meth:`Firmware.report`, :meth:`Firmware.respond`, :meth:`Firmware.tamper`)
  returns an :class:`Outcome` holding the decision, the new record, whether the
  edge must persist it (``nvm_write``) *before* acting on the decision, and any
  signed message. Nothing is mutated until the edge calls :meth:`Firmware.commit`.
* A rejected input raises a named error from :mod:`pausebutton.errors`; the
  record is unchanged (it is immutable), so a rejection never writes NVM.
* The chip's state is computed by :data:`STATE_TABLE` from three facts
  (tampered, pause in force, license condition) at the trusted time, and every
  change of state an input causes must be listed in :data:`TRANSITIONS`.

Counters and budgets are Python ints (arbitrary precision; 128-bit in the
firmware spec, CBOR bignums on the wire).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pausebutton.errors import (
    BadSignatureError,
    ChainError,
    CorruptStateError,
    ExpiredError,
    FirmwareTooOldError,
    MalformedError,
    NotLoggedError,
    NotYetValidError,
    PausebuttonError,
    ReplayError,
    RollbackError,
    SchemaError,
    ScopeError,
    TamperedError,
    UnknownTypeError,
    UsageError,
    WrongChipError,
)
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import KEY_ID_SIZE, PrivateKey, PublicKey
from pausebutton.protocol.messages import (
    GENESIS_HASH,
    NONCE_SIZE,
    DeviceCertificate,
    License,
    LocationChallenge,
    LocationResponse,
    PauseOrder,
    ResumeOrder,
    TimeToken,
    UsageReport,
    report_hash,
)
from pausebutton.protocol.reportchain import ChainHead, ChainOutcome, classify_report
from pausebutton.protocol.schema import Struct, check_nonneg
from pausebutton.protocol.trustroot import TrustRoot, load_pinned_root, verify_root_update
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.policy import LogPolicy

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

RESPONSE_BLOCK = 1024
"""Location-response counter values reserved in NVM at once (see :meth:`Firmware.respond`)."""

MAX_APPLIED = 64
"""Hashes of applied licenses kept verbatim; older ones stay covered by the id rule."""

LICENSE_LOG_CONTEXT = b"pausebutton/v1/license-log"


# -- states, facts, tables ------------------------------------------------------------------


class ChipState(enum.Enum):
    THROTTLED = "throttled"
    """No valid license: baseline rate only."""
    LICENSED = "licensed"
    """A valid license with budget left: full rate up to the budget."""
    EXHAUSTED = "exhausted"
    """The license's budget is spent: baseline rate until a new license."""
    PAUSED = "paused"
    """A pause order is in force: baseline rate whatever the license."""
    TAMPERED = "tampered"
    """A tamper signal: keys zeroised, every input refused. Absorbing."""


class LicenseCondition(enum.Enum):
    NONE = "none"
    """No license, or it expired, or no fresh time token within its max offline period."""
    VALID = "valid"
    SPENT = "spent"


class Event(enum.Enum):
    """The inputs of the machine (one per kind of input)."""

    LICENSE = "license"
    PAUSE = "pause"
    RESUME = "resume"
    TIME = "time"
    ROOT = "root"
    METER = "meter"
    REPORT = "report"
    CHALLENGE = "challenge"
    TAMPER = "tamper"
    BOOT = "boot"


STATE_TABLE: Mapping[tuple[bool, LicenseCondition], ChipState] = {
    # (pause in force, license condition) -> state; tampered overrides all.
    (True, LicenseCondition.NONE): ChipState.PAUSED,
    (True, LicenseCondition.VALID): ChipState.PAUSED,
    (True, LicenseCondition.SPENT): ChipState.PAUSED,
    (False, LicenseCondition.NONE): ChipState.THROTTLED,
    (False, LicenseCondition.VALID): ChipState.LICENSED,
    (False, LicenseCondition.SPENT): ChipState.EXHAUSTED,
}
"""The decision table: which state a chip is in, from its facts at its trusted time."""

_S = ChipState
_ALL_LIVE = frozenset({_S.THROTTLED, _S.LICENSED, _S.EXHAUSTED, _S.PAUSED})
TIMED: Mapping[ChipState, frozenset[ChipState]] = {
    # where time passing alone can take a state: a license expiring or going stale, a
    # pending pause taking effect, a resume's effective time arriving
    _S.THROTTLED: frozenset({_S.THROTTLED, _S.PAUSED}),
    _S.LICENSED: frozenset({_S.LICENSED, _S.THROTTLED, _S.PAUSED}),
    _S.EXHAUSTED: frozenset({_S.EXHAUSTED, _S.THROTTLED, _S.PAUSED}),
    _S.PAUSED: _ALL_LIVE,
}
"""States reachable by trusted time moving forward (cycles, time tokens, signed order times)."""

TRANSITIONS: Mapping[tuple[ChipState, Event], frozenset[ChipState]] = {
    **{(s, Event.LICENSE): frozenset({_S.LICENSED, _S.PAUSED}) for s in _ALL_LIVE - {_S.PAUSED}},
    (_S.PAUSED, Event.LICENSE): frozenset({_S.PAUSED}),
    **{(s, Event.PAUSE): TIMED[s] | {_S.PAUSED} for s in _ALL_LIVE},
    **{(s, Event.RESUME): TIMED[s] for s in _ALL_LIVE},
    # a fresh token also revives a license that had gone stale (dead man's switch)
    **{(s, Event.TIME): TIMED[s] for s in _ALL_LIVE - {_S.THROTTLED}},
    (_S.THROTTLED, Event.TIME): _ALL_LIVE,
    **{(s, Event.METER): TIMED[s] for s in _ALL_LIVE - {_S.LICENSED}},
    (_S.LICENSED, Event.METER): TIMED[_S.LICENSED] | {_S.EXHAUSTED},
    # root updates, reports, challenges and boots never change the state
    **{(s, e): frozenset({s}) for s in _ALL_LIVE for e in (Event.ROOT, Event.REPORT)},
    **{(s, e): frozenset({s}) for s in _ALL_LIVE for e in (Event.CHALLENGE, Event.BOOT)},
    # a tamper signal from anywhere; TAMPERED is absorbing and refuses every other input
    **{(s, Event.TAMPER): frozenset({_S.TAMPERED}) for s in ChipState},
}
"""The transition table: for each (state, input), the states the input may lead to.

An input not listed for a state is refused. The firmware checks every step
against this table (a violation is a firmware bug, raised as CorruptStateError)."""


# -- the NVM record ---------------------------------------------------------------------------


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


# -- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """How a metered amount of work was split between full and baseline rate."""

    flop_full: int
    flop_throttled: int
    cycles: int
    energy_mj: int


@dataclass(frozen=True)
class Decision:
    """What the firmware decided about one input."""

    event: Event
    accepted: bool
    state_before: ChipState
    state_after: ChipState
    detail: str


@dataclass(frozen=True)
class Outcome:
    """The result of one input: persist ``record`` if ``nvm_write``, then act."""

    decision: Decision
    record: ChipRecord
    nvm_write: bool
    message: bytes | None = None
    """A signed envelope the chip produced (usage report, location response)."""
    run: RunResult | None = None
    next_counter: int | None = None
    """RAM: the next location-response counter after this input."""


InclusionVerifier = Callable[[TrustRoot, bytes, bytes | None], None]
"""Checks that ``entry`` (envelope bytes) is in the log: (root, entry, inclusion bundle) ->
None, raising NotLoggedError / ProofError. Permissive inputs need it (fail-safe asymmetry)."""


def translog_verifier(root: TrustRoot, entry: bytes, inclusion: bytes | None) -> None:
    """The default inclusion check: the transparency log's policy (translog step V3) under
    the pinned root: a checkpoint signed by the log role and cosigned by the witness
    role's threshold, and an audit path from the entry to its root hash."""
    if inclusion is None:
        raise NotLoggedError("no log inclusion proof came with it")
    LogPolicy.from_trust_root(root).verify_entry(entry, InclusionBundle.decode(inclusion))


# -- the machine ------------------------------------------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class Firmware:
    """One chip's firmware over its NVM record (pure: no I/O, no clock).

    ``verifier`` checks log inclusion of permissive inputs (licenses, resumes,
    trust-root updates); the default is the transparency log's policy.
    """

    def __init__(
        self,
        record: ChipRecord,
        *,
        verifier: InclusionVerifier = translog_verifier,
        next_counter: int | None = None,
    ) -> None:
        self.record = record
        self._verifier = verifier
        self.next_counter = next_counter
        """RAM-only: the next location-response counter (None until booted)."""
        self._root_cache: tuple[bytes, TrustRoot] | None = None
        self._key_cache: tuple[bytes, PrivateKey] | None = None

    # -- derived values --------------------------------------------------------------------

    @property
    def root(self) -> TrustRoot:
        if self._root_cache is None or self._root_cache[0] != self.record.root:
            env = Envelope.decode(self.record.root)
            self._root_cache = (self.record.root, env.open_as(TrustRoot))
        return self._root_cache[1]

    def _device_key(self) -> PrivateKey:
        if self.record.tampered or not self.record.device_seed:
            raise TamperedError("the device key is zeroised")
        if self._key_cache is None or self._key_cache[0] != self.record.device_seed:
            key = PrivateKey(self.record.device_seed)
            if key.key_id != self.record.chip_id:
                raise CorruptStateError("the sealed device key does not match the chip id")
            self._key_cache = (self.record.device_seed, key)
        return self._key_cache[1]

    @staticmethod
    def trusted_time_of(record: ChipRecord) -> int:
        """Last trusted time plus the whole seconds counted in cycles since then."""
        return record.time_base + (record.cycles - record.cycles_at_base) // record.clock_hz

    @property
    def trusted_time(self) -> int:
        return self.trusted_time_of(self.record)

    @staticmethod
    def license_condition(record: ChipRecord, now: int) -> LicenseCondition:
        lic = record.active_license()
        if lic is None:
            return LicenseCondition.NONE
        if not lic.not_before <= now < lic.not_after:
            return LicenseCondition.NONE
        if now >= record.last_token_time + lic.max_offline:
            return LicenseCondition.NONE  # dead man's switch
        if record.license_used >= lic.flop_budget:
            return LicenseCondition.SPENT
        return LicenseCondition.VALID

    @classmethod
    def state_of(cls, record: ChipRecord) -> ChipState:
        if record.tampered:
            return ChipState.TAMPERED
        now = cls.trusted_time_of(record)
        paused = any(p.in_force(now) for p in record.pauses)
        return STATE_TABLE[(paused, cls.license_condition(record, now))]

    @property
    def state(self) -> ChipState:
        return self.state_of(self.record)

    # -- plumbing ----------------------------------------------------------------------------

    def _live(self) -> ChipState:
        state = self.state
        if state is ChipState.TAMPERED:
            raise TamperedError(
                f"the chip is tampered ({self.record.tamper_reason or 'no reason'});"
                " it refuses every input"
            )
        return state

    def _outcome(
        self,
        event: Event,
        before: ChipState,
        record: ChipRecord,
        detail: str,
        *,
        nvm_write: bool = True,
        message: bytes | None = None,
        run: RunResult | None = None,
        next_counter: int | None = None,
    ) -> Outcome:
        after = self.state_of(record)
        allowed = TRANSITIONS.get((before, event), frozenset())
        if after not in allowed:
            raise CorruptStateError(
                f"firmware bug: {event.value} may not lead from {before.value} to {after.value}"
            )
        return Outcome(
            Decision(event, True, before, after, detail),
            record,
            nvm_write,
            message,
            run,
            self.next_counter if next_counter is None else next_counter,
        )

    def commit(self, outcome: Outcome) -> None:
        """Adopt an outcome's record and RAM values (after the edge persisted the record)."""
        self.record = outcome.record
        self.next_counter = outcome.next_counter

    # -- install -----------------------------------------------------------------------------

    def install(self, data: bytes, inclusion: bytes | None = None) -> Outcome:
        """Install a license, pause order, resume order, time token or trust-root update.

        ``inclusion`` is the log inclusion bundle that permissive inputs need.
        Raises a named error on rejection (the record is unchanged)."""
        before = self._live()
        env = Envelope.decode(data)
        if env.type == License.TYPE:
            return self._install_license(before, env, data, inclusion)
        if env.type == PauseOrder.TYPE:
            return self._install_pause(before, env)
        if env.type == ResumeOrder.TYPE:
            return self._install_resume(before, env, data, inclusion)
        if env.type == TimeToken.TYPE:
            return self._install_time(before, env)
        if env.type == TrustRoot.TYPE:
            return self._install_root(before, data, inclusion)
        raise UnknownTypeError(f"a chip cannot install a {env.type!r}")

    def _install_license(
        self, before: ChipState, env: Envelope, data: bytes, inclusion: bytes | None
    ) -> Outcome:
        rec = self.record
        lic = env.open_as(License)
        self.root.require_role(env, "licensing")
        if lic.chip_id != rec.chip_id:
            raise WrongChipError(
                f"license {lic.license_id} is for chip {lic.chip_id.hex()[:16]},"
                f" not {rec.chip_id.hex()[:16]}"
            )
        digest = _sha256(env.payload)
        if digest in rec.applied:
            raise ReplayError(f"license {lic.license_id} was already applied")
        if lic.license_id <= rec.max_license_id:
            raise RollbackError(
                f"license id {lic.license_id} is not above {rec.max_license_id}, the highest"
                " accepted"
            )
        now = self.trusted_time
        if now < lic.not_before:
            raise NotYetValidError(
                f"license {lic.license_id} is valid from {lic.not_before}; trusted time is {now}"
            )
        if now >= lic.not_after:
            raise ExpiredError(
                f"license {lic.license_id} expired at {lic.not_after}; trusted time is {now}"
            )
        if now >= rec.last_token_time + lic.max_offline:
            raise ExpiredError(
                f"no time token within the license's max offline period of {lic.max_offline} s;"
                " install a fresh time token first",
                cause="offline",
            )
        if rec.firmware_version < lic.firmware_floor:
            raise FirmwareTooOldError(
                f"firmware {rec.firmware_version} is below the license's floor {lic.firmware_floor}"
            )
        if lic.region is not None and lic.region != rec.region:
            raise ScopeError(f"license is for region {lic.region}, chip is in {rec.region}")
        if lic.owner is not None and lic.owner != rec.owner:
            raise ScopeError(f"license is for owner {lic.owner!r}, chip belongs to {rec.owner!r}")
        self._verifier(self.root, data, inclusion)
        record = dataclasses.replace(
            rec,
            max_license_id=lic.license_id,
            license_log=_sha256(LICENSE_LOG_CONTEXT + rec.license_log + digest),
            applied=(*rec.applied, digest)[-MAX_APPLIED:],
            license=env.payload,
            license_used=0,
            budgets_accepted=rec.budgets_accepted + lic.flop_budget,
            licenses_accepted=rec.licenses_accepted + 1,
        )
        return self._outcome(
            Event.LICENSE,
            before,
            record,
            f"license {lic.license_id} accepted: {lic.flop_budget} FLOP until {lic.not_after}",
        )

    def _check_order_sequence(self, sequence: int, what: str) -> None:
        if sequence == self.record.order_seq:
            raise ReplayError(f"{what} {sequence} was already applied")
        if sequence < self.record.order_seq:
            raise RollbackError(
                f"{what} sequence {sequence} is below {self.record.order_seq}, the latest applied"
            )

    def _check_scope(self, order: PauseOrder | ResumeOrder, what: str) -> None:
        rec = self.record
        if not order.scope.applies_to(rec.chip_id, rec.region, rec.owner):
            raise ScopeError(
                f"{what} {order.sequence} ({order.scope.kind.value} scope) does not apply to"
                f" this chip (region {rec.region}, owner {rec.owner!r})"
            )

    def _advance_time(self, signed_time: int) -> ChipRecord:
        """A quorum-signed order's ``issued_at`` is a time the authority vouches has passed:
        trusted time moves up to it (never down). This only brings expiry and pauses
        sooner; the offline deadline still needs a time token."""
        rec = self.record
        if signed_time <= self.trusted_time:
            return rec
        return dataclasses.replace(rec, time_base=signed_time, cycles_at_base=rec.cycles)

    def _live_pauses(self, now: int) -> tuple[PauseEntry, ...]:
        """Drop pauses whose lift has taken effect (they can never apply again)."""
        return tuple(p for p in self.record.pauses if p.lifted_at is None or now < p.lifted_at)

    def _install_pause(self, before: ChipState, env: Envelope) -> Outcome:
        order = env.open_as(PauseOrder)
        self.root.require_role(env, "pause")  # fail-safe: a quorum alone, no log proof
        self._check_scope(order, "pause order")
        self._check_order_sequence(order.sequence, "pause order")
        now = max(self.trusted_time, order.issued_at)
        entry = PauseEntry(order.sequence, order.effective_at)
        record = dataclasses.replace(
            self._advance_time(order.issued_at),
            order_seq=order.sequence,
            pauses=(*self._live_pauses(now), entry),
        )
        when = "now" if order.effective_at <= now else f"at {order.effective_at}"
        return self._outcome(
            Event.PAUSE, before, record, f"pause {order.sequence} accepted, in force {when}"
        )

    def _install_resume(
        self, before: ChipState, env: Envelope, data: bytes, inclusion: bytes | None
    ) -> Outcome:
        order = env.open_as(ResumeOrder)
        self.root.require_role(env, "pause")
        self._check_scope(order, "resume order")
        now = max(self.trusted_time, order.issued_at)
        pauses = self._live_pauses(now)
        target = next((p for p in pauses if p.sequence == order.lifts), None)
        # A late resume (its log proof came after a later order was installed) is taken
        # when the pause it lifts is held and not lifted: a pause never waits for the log,
        # so a later pause may overtake a resume, and the chip must still converge.
        late = (
            order.sequence < self.record.order_seq
            and target is not None
            and target.lifted_at is None
            and order.lifts < order.sequence
        )
        if not late:
            self._check_order_sequence(order.sequence, "resume order")
        if target is None or target.lifted_at is not None:
            raise ScopeError(
                f"resume {order.sequence} lifts pause {order.lifts}, not in force here"
            )
        self._verifier(self.root, data, inclusion)
        lifted = dataclasses.replace(target, lifted_at=order.effective_at)
        record = dataclasses.replace(
            self._advance_time(order.issued_at),
            order_seq=max(order.sequence, self.record.order_seq),
            pauses=tuple(lifted if p is target else p for p in pauses),
        )
        return self._outcome(
            Event.RESUME,
            before,
            record,
            f"resume {order.sequence} accepted: lifts pause {order.lifts} at {order.effective_at}",
        )

    def _install_time(self, before: ChipState, env: Envelope) -> Outcome:
        rec = self.record
        token = env.open_as(TimeToken)
        self.root.require_role(env, "time")
        if token.chip_id is not None and token.chip_id != rec.chip_id:
            raise WrongChipError("the time token is for another chip")
        if token.sequence == rec.last_token_seq:
            raise ReplayError(f"time token {token.sequence} was already applied")
        if token.sequence < rec.last_token_seq:
            raise RollbackError(
                f"time token sequence {token.sequence} is below {rec.last_token_seq}"
            )
        if token.time < rec.last_token_time:
            raise RollbackError(
                f"time token says {token.time}, before the last token's {rec.last_token_time}"
            )
        now = self.trusted_time
        record = dataclasses.replace(
            rec,
            time_base=max(now, token.time),  # trusted time never goes back
            cycles_at_base=rec.cycles,
            last_token_time=token.time,
            last_token_seq=token.sequence,
        )
        return self._outcome(
            Event.TIME,
            before,
            record,
            f"time token {token.sequence} accepted: trusted time {max(now, token.time)}",
        )

    def _install_root(self, before: ChipState, data: bytes, inclusion: bytes | None) -> Outcome:
        now = self.trusted_time
        _, new = verify_root_update(self.root, data, now)
        self._verifier(self.root, data, inclusion)
        record = dataclasses.replace(self.record, root=data)
        return self._outcome(Event.ROOT, before, record, f"trust root v{new.version} accepted")

    # -- metering ----------------------------------------------------------------------------

    def full_rate_allowance(self) -> int:
        """FLOP the chip may still run at full rate now (0 unless LICENSED)."""
        rec = self.record
        if self.state is not ChipState.LICENSED:
            return 0
        lic = rec.active_license()
        assert lic is not None
        now = self.trusted_time
        deadline = min(lic.not_after, rec.last_token_time + lic.max_offline)
        upcoming = [p.effective_at for p in rec.pauses if p.effective_at > now]
        if upcoming:
            deadline = min(deadline, *upcoming)
        return max(0, min(lic.flop_budget - rec.license_used, (deadline - now) * rec.peak_flops))

    def meter(
        self, flop: int, *, cycles: int | None = None, energy_mj: int | None = None
    ) -> Outcome:
        """Account for ``flop`` of work: as much as the license allows at full rate, the rest
        at baseline. The budget is drawn down in the returned record, which the edge persists
        before the work runs. ``cycles``/``energy_mj`` are measurements; when omitted they
        are modelled from the peak rate, the baseline rate and the board power."""
        before = self._live()
        if (
            flop < 0
            or (cycles is not None and cycles < 0)
            or (energy_mj is not None and energy_mj < 0)
        ):
            raise UsageError("work, cycles and energy must not be negative")
        rec = self.record
        full = min(flop, self.full_rate_allowance())
        throttled = flop - full
        if cycles is None:
            cycles = _ceil_div(full * rec.clock_hz, rec.peak_flops) + _ceil_div(
                throttled * rec.clock_hz * 1_000_000, rec.peak_flops * rec.throttle_ppm
            )
        if energy_mj is None:
            energy_mj = cycles * rec.power_mw // rec.clock_hz
        record = dataclasses.replace(
            rec,
            cycles=rec.cycles + cycles,
            flop_full=rec.flop_full + full,
            flop_throttled=rec.flop_throttled + throttled,
            energy_mj=rec.energy_mj + energy_mj,
            license_used=rec.license_used + full if rec.license is not None else 0,
        )
        run = RunResult(full, throttled, cycles, energy_mj)
        return self._outcome(
            Event.METER,
            before,
            record,
            f"{full} FLOP at full rate, {throttled} FLOP throttled",
            run=run,
        )

    # -- reports, challenges, tamper ---------------------------------------------------------

    def usage_report(self) -> UsageReport:
        rec = self.record
        lic = rec.active_license()
        return UsageReport(
            chip_id=rec.chip_id,
            sequence=rec.report_seq + 1,
            prev_hash=rec.report_prev,
            time=self.trusted_time,
            flop_full=rec.flop_full,
            flop_throttled=rec.flop_throttled,
            cycles=rec.cycles,
            energy_mj=rec.energy_mj,
            state=self.state.value,
            license_id=None if lic is None else lic.license_id,
            license_flop_used=None if lic is None else rec.license_used,
        )

    def report(self) -> Outcome:
        """Sign the next usage report (device key), hash-chained to the previous one."""
        before = self._live()
        message = Envelope.create(self.usage_report(), [self._device_key()]).encode()
        record = dataclasses.replace(
            self.record, report_seq=self.record.report_seq + 1, report_prev=report_hash(message)
        )
        return self._outcome(
            Event.REPORT, before, record, f"usage report {record.report_seq}", message=message
        )

    def boot(self) -> Outcome:
        """Reserve a block of location-response counters (one NVM write per block).

        Monotonicity across crashes: NVM holds ``response_reserved``, a bound above
        every counter ever used. A boot starts the RAM counter at that bound and
        persists bound + RESPONSE_BLOCK before answering; a crash loses at most
        the unused rest of a block, never reuses a value."""
        before = self._live()
        start = self.record.response_reserved
        record = dataclasses.replace(self.record, response_reserved=start + RESPONSE_BLOCK)
        return self._outcome(
            Event.BOOT,
            before,
            record,
            f"counters {start}..{start + RESPONSE_BLOCK - 1} reserved",
            next_counter=start,
        )

    def respond(self, nonce: bytes) -> Outcome:
        """Sign (nonce, chip id, counter) at once: constant work, no network.

        The hot path writes no NVM: the counter comes from RAM inside a block
        reserved by :meth:`boot`. Only when a block runs out is the next one
        reserved (``nvm_write`` is then true), once per RESPONSE_BLOCK answers."""
        before = self._live()
        if len(nonce) != NONCE_SIZE:
            raise MalformedError(f"a nonce is {NONCE_SIZE} bytes")
        record = self.record
        counter = self.next_counter
        write = False
        if counter is None or counter >= record.response_reserved:
            start = record.response_reserved if counter is None else counter
            record = dataclasses.replace(record, response_reserved=start + RESPONSE_BLOCK)
            counter = start
            write = True
        response = LocationResponse(chip_id=record.chip_id, nonce=nonce, counter=counter)
        message = Envelope.create(response, [self._device_key()]).encode()
        return self._outcome(
            Event.CHALLENGE,
            before,
            record,
            f"location response {counter}",
            nvm_write=write,
            message=message,
            next_counter=counter + 1,
        )

    def respond_to_challenge(self, data: bytes) -> Outcome:
        """Answer a LocationChallenge envelope addressed to this chip."""
        challenge = Envelope.decode(data).open_as(LocationChallenge)
        if challenge.chip_id != self.record.chip_id:
            raise WrongChipError("the challenge is for another chip")
        return self.respond(challenge.nonce)

    def tamper(self, reason: str = "tamper signal") -> Outcome:
        """A tamper signal: zeroise the device key and refuse everything from now on."""
        before = self.state
        record = dataclasses.replace(
            self.record, tampered=True, tamper_reason=reason[:200] or "tamper", device_seed=b""
        )
        self._key_cache = None
        return self._outcome(Event.TAMPER, before, record, f"tampered: {reason}")

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A JSON-ready summary (bytes as hex; big integers stay integers)."""
        rec = self.record
        lic = rec.active_license()
        now = self.trusted_time
        cert = Envelope.decode(rec.certificate).open_as(DeviceCertificate)
        return {
            "chip_id": rec.chip_id.hex(),
            "state": self.state.value,
            "trusted_time": now,
            "last_token_time": rec.last_token_time,
            "firmware_version": rec.firmware_version,
            "model": cert.model,
            "serial": cert.serial,
            "vendor": cert.vendor,
            "region": rec.region,
            "owner": rec.owner,
            "trust_root_version": self.root.version,
            "flop_full": rec.flop_full,
            "flop_throttled": rec.flop_throttled,
            "cycles": rec.cycles,
            "energy_mj": rec.energy_mj,
            "peak_flops": rec.peak_flops,
            "throttle_ppm": rec.throttle_ppm,
            "license": None
            if lic is None
            else {
                "license_id": lic.license_id,
                "flop_budget": lic.flop_budget,
                "flop_used": rec.license_used,
                "flop_left": max(0, lic.flop_budget - rec.license_used),
                "not_before": lic.not_before,
                "not_after": lic.not_after,
                "max_offline": lic.max_offline,
                "offline_deadline": rec.last_token_time + lic.max_offline,
            },
            "max_license_id": rec.max_license_id,
            "licenses_accepted": rec.licenses_accepted,
            "budgets_accepted": rec.budgets_accepted,
            "license_log": rec.license_log.hex(),
            "order_sequence": rec.order_seq,
            "pauses": [
                {"sequence": p.sequence, "effective_at": p.effective_at, "lifted_at": p.lifted_at}
                for p in rec.pauses
            ],
            "report_sequence": rec.report_seq,
            "tampered": rec.tampered,
            "tamper_reason": rec.tamper_reason,
            "full_rate_allowance": self.full_rate_allowance() if not rec.tampered else 0,
        }


# -- verifying a report chain (for auditors) ----------------------------------------------


def verify_report_chain(
    certificate: bytes,
    reports: Sequence[bytes],
    *,
    prev_hash: bytes = GENESIS_HASH,
    first_sequence: int = 1,
) -> list[UsageReport]:
    """Check a run of usage reports: each signed by the chip's device key, sequences
    consecutive from ``first_sequence``, each ``prev_hash`` the hash of the report
    before. A deleted, reordered or forged report raises ChainError/BadSignatureError.

    The chain rules are :func:`pausebutton.protocol.reportchain.classify_report`'s (the
    authority's ingestion applies the same); a run must be complete, so any outcome
    but ``next`` is refused."""
    cert = Envelope.decode(certificate).open_as(DeviceCertificate)
    device = PublicKey.from_bytes(cert.device_key)
    out: list[UsageReport] = []
    expected_seq = first_sequence
    for i, data in enumerate(reports):
        env = Envelope.decode(data)
        report = env.open_as(UsageReport)
        if not env.signed_by(device):
            raise BadSignatureError(f"report {i} is not signed by the chip's device key")
        if report.chip_id != cert.chip_id:
            raise WrongChipError(f"report {i} is from another chip")
        digest = report_hash(data)
        verdict = classify_report(report, digest, ChainHead(expected_seq - 1, prev_hash))
        if verdict.outcome is ChainOutcome.CHAIN:
            raise ChainError(f"report {report.sequence} does not link to the report before it")
        if verdict.outcome is not ChainOutcome.NEXT:
            raise ChainError(
                f"report {i} has sequence {report.sequence}, expected {expected_seq}"
                " (a report is missing or out of order)"
            )
        if out and (
            report.flop_full < out[-1].flop_full or report.flop_throttled < out[-1].flop_throttled
        ):
            raise ChainError(f"report {report.sequence} has counters that went down")
        out.append(report)
        prev_hash = digest
        expected_seq += 1
    return out


def error_code(exc: PausebuttonError) -> str:
    """The stable reason code of a rejection (used by the conformance kit)."""
    return exc.code
