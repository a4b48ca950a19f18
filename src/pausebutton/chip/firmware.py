"""The pause-button-compatible chip firmware: a pure state machine.

This is the behaviour a vendor ports into real firmware (docs/firmware.md).
It takes bytes and values only: no clock, no file, no socket. The chip's
*trusted time* comes from authority-signed time tokens advanced by counted
cycles; the host clock is never consulted.

Shape of the machine
--------------------
* :class:`ChipRecord` is everything the chip keeps in secure NVM
  (:mod:`pausebutton.chip.record`).
* :class:`Firmware` wraps a record plus RAM-only values (the location-response
  counter). Each input (:meth:`Firmware.install`, :meth:`Firmware.meter`,
  :meth:`Firmware.report`, :meth:`Firmware.respond`, :meth:`Firmware.tamper`)
  returns an :class:`Outcome` (:mod:`pausebutton.chip.outcome`) holding the decision,
  the new record, whether the edge must persist it (``nvm_write``) *before* acting on
  the decision, and any signed message. Nothing is mutated until the edge calls
  :meth:`Firmware.commit`.
* A rejected input raises a named error from :mod:`pausebutton.errors`; the
  record is unchanged (it is immutable), so a rejection never writes NVM. The
  rules each input must pass are :mod:`pausebutton.chip.acceptance`'s.
* The chip's state is computed by :data:`STATE_TABLE` from three facts
  (tampered, pause in force, license condition) at the trusted time
  (:mod:`pausebutton.chip.derived`), and every change of state an input causes
  must be listed in :data:`TRANSITIONS` (:mod:`pausebutton.chip.tables`).

Usage reports, the status summary and the auditors' :func:`verify_report_chain` are
:mod:`pausebutton.chip.reports`'. Every name of those modules that callers use stays
importable from here.

Counters and budgets are Python ints (arbitrary precision; 128-bit in the
firmware spec, CBOR bignums on the wire).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pausebutton.chip import derived
from pausebutton.chip.acceptance import (
    LICENSE_LOG_CONTEXT,
    MAX_APPLIED,
    InclusionVerifier,
    apply_license,
    apply_time_token,
    check_license,
    check_order_scope,
    check_order_sequence,
    check_time_token,
    lifted_pause,
    sha256,
    translog_verifier,
)
from pausebutton.chip.outcome import Decision, Outcome, RunResult
from pausebutton.chip.record import (
    DEFAULT_CLOCK_HZ,
    DEFAULT_PEAK_FLOPS,
    DEFAULT_POWER_MW,
    DEFAULT_THROTTLE_PPM,
    FIRMWARE_VERSION,
    ChipRecord,
    PauseEntry,
    provision,
)
from pausebutton.chip.reports import status_summary, usage_report, verify_report_chain
from pausebutton.chip.tables import (
    STATE_TABLE,
    TIMED,
    TRANSITIONS,
    ChipState,
    Event,
    LicenseCondition,
)
from pausebutton.errors import (
    CorruptStateError,
    MalformedError,
    PausebuttonError,
    TamperedError,
    UnknownTypeError,
    UsageError,
    WrongChipError,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.flop import format_flop
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import (
    NONCE_SIZE,
    License,
    LocationChallenge,
    LocationResponse,
    PauseOrder,
    ResumeOrder,
    TimeToken,
    UsageReport,
    report_hash,
)
from pausebutton.protocol.trustroot import TrustRoot, verify_root_update
from pausebutton.protocol.units import format_instant

__all__ = [
    "DEFAULT_CLOCK_HZ",
    "DEFAULT_PEAK_FLOPS",
    "DEFAULT_POWER_MW",
    "DEFAULT_THROTTLE_PPM",
    "FIRMWARE_VERSION",
    "LICENSE_LOG_CONTEXT",
    "MAX_APPLIED",
    "RESPONSE_BLOCK",
    "STATE_TABLE",
    "TIMED",
    "TRANSITIONS",
    "ChipRecord",
    "ChipState",
    "Decision",
    "Event",
    "Firmware",
    "InclusionVerifier",
    "LicenseCondition",
    "Outcome",
    "PauseEntry",
    "RunResult",
    "error_code",
    "provision",
    "translog_verifier",
    "verify_report_chain",
]

RESPONSE_BLOCK = 1024
"""Location-response counter values reserved in NVM at once (see :meth:`Firmware.respond`)."""


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

    # the derived state of any record (pausebutton.chip.derived), as the machine's own
    trusted_time_of = staticmethod(derived.trusted_time)
    license_condition = staticmethod(derived.license_condition)
    state_of = staticmethod(derived.state_of)

    @property
    def trusted_time(self) -> int:
        return derived.trusted_time(self.record)

    @property
    def state(self) -> ChipState:
        return derived.state_of(self.record)

    @property
    def key_state(self) -> str:
        """``sealed``, ``zeroised`` (device key gone) or ``tampered`` (derived.key_state)."""
        return derived.key_state(self.record)

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
        after = derived.state_of(record)
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
        lic = env.open_as(License)
        self.root.require_role(env, "licensing")
        digest = sha256(env.payload)
        check_license(self.record, lic, digest, self.trusted_time)
        self._verifier(self.root, data, inclusion)
        record = apply_license(self.record, lic, env.payload, digest)
        return self._outcome(
            Event.LICENSE,
            before,
            record,
            f"license {lic.license_id} accepted: {format_flop(lic.flop_budget)} until"
            f" {format_instant(lic.not_after)}",
        )

    def _install_pause(self, before: ChipState, env: Envelope) -> Outcome:
        order = env.open_as(PauseOrder)
        self.root.require_role(env, "pause")  # fail-safe: a quorum alone, no log proof
        check_order_scope(self.record, order, "pause order")
        check_order_sequence(self.record, order.sequence, "pause order")
        now = max(self.trusted_time, order.issued_at)
        entry = PauseEntry(order.sequence, order.effective_at)
        record = dataclasses.replace(
            derived.advance_time(self.record, order.issued_at),
            order_seq=order.sequence,
            pauses=(*derived.live_pauses(self.record, now), entry),
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
        check_order_scope(self.record, order, "resume order")
        now = max(self.trusted_time, order.issued_at)
        pauses = derived.live_pauses(self.record, now)
        held = next((p for p in pauses if p.sequence == order.lifts), None)
        # A late resume (its log proof came after a later order was installed) is taken
        # when the pause it lifts is held and not lifted: a pause never waits for the log,
        # so a later pause may overtake a resume, and the chip must still converge.
        late = (
            order.sequence < self.record.order_seq
            and held is not None
            and held.lifted_at is None
            and order.lifts < order.sequence
        )
        if not late:
            check_order_sequence(self.record, order.sequence, "resume order")
        target = lifted_pause(pauses, order)
        self._verifier(self.root, data, inclusion)
        lifted = dataclasses.replace(target, lifted_at=order.effective_at)
        record = dataclasses.replace(
            derived.advance_time(self.record, order.issued_at),
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
        token = env.open_as(TimeToken)
        self.root.require_role(env, "time")
        check_time_token(self.record, token)
        now = self.trusted_time
        record = apply_time_token(self.record, token, now)
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
        return derived.full_rate_allowance(self.record)

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
            f"{format_flop(full)} at full rate, {format_flop(throttled)} throttled",
            run=run,
        )

    # -- reports, challenges, tamper ---------------------------------------------------------

    def usage_report(self) -> UsageReport:
        """The next usage report, unsigned (:meth:`report` signs it)."""
        return usage_report(self.record)

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
        return status_summary(self.record, self.root)


def error_code(exc: PausebuttonError) -> str:
    """The stable reason code of a rejection (used by the conformance kit)."""
    return exc.code
