"""The derived state: what a chip's NVM record means at its trusted time.

The chip stores facts, never its state (ADR 0003). These pure functions compute, from
a :class:`~pausebutton.chip.record.ChipRecord` alone, the trusted time, the license
condition, whether a pause is in force, the state (:data:`~pausebutton.chip.tables.STATE_TABLE`)
and the full-rate allowance; and move trusted time forward to a signed time.
"""

from __future__ import annotations

import dataclasses

from pausebutton.chip.record import ChipRecord, PauseEntry
from pausebutton.chip.tables import STATE_TABLE, ChipState, LicenseCondition


def trusted_time(record: ChipRecord) -> int:
    """Last trusted time plus the whole seconds counted in cycles since then."""
    return record.time_base + (record.cycles - record.cycles_at_base) // record.clock_hz


def license_condition(record: ChipRecord, now: int) -> LicenseCondition:
    """The active license's condition at ``now``: NONE when there is none, it is outside
    its validity window, or no time token came within its max offline period."""
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


def pause_in_force(record: ChipRecord, now: int) -> bool:
    return any(p.in_force(now) for p in record.pauses)


def state_of(record: ChipRecord) -> ChipState:
    """The chip's state: tampered overrides all, else the decision table at trusted time."""
    if record.tampered:
        return ChipState.TAMPERED
    now = trusted_time(record)
    return STATE_TABLE[(pause_in_force(record, now), license_condition(record, now))]


KEY_SEALED = "sealed"
KEY_ZEROISED = "zeroised"
KEY_TAMPERED = "tampered"


def key_state(record: ChipRecord) -> str:
    """What happened to the device key: ``tampered`` (a tamper signal: the firmware
    zeroised the key and refuses every input), ``zeroised`` (the key is gone without a
    tamper signal: the chip still meters and takes orders, but can sign nothing, so no
    report, attestation or location response), or ``sealed``."""
    if record.tampered:
        return KEY_TAMPERED
    if not record.device_seed:
        return KEY_ZEROISED
    return KEY_SEALED


def full_rate_allowance(record: ChipRecord) -> int:
    """FLOP the chip may still run at full rate now (0 unless LICENSED): the budget left,
    bounded by the time left until expiry, the offline deadline or the next pause."""
    if state_of(record) is not ChipState.LICENSED:
        return 0
    lic = record.active_license()
    assert lic is not None
    now = trusted_time(record)
    deadline = min(lic.not_after, record.last_token_time + lic.max_offline)
    upcoming = [p.effective_at for p in record.pauses if p.effective_at > now]
    if upcoming:
        deadline = min(deadline, *upcoming)
    return max(0, min(lic.flop_budget - record.license_used, (deadline - now) * record.peak_flops))


def advance_time(record: ChipRecord, signed_time: int) -> ChipRecord:
    """A quorum-signed order's ``issued_at`` is a time the authority vouches has passed:
    trusted time moves up to it (never down). This only brings expiry and pauses
    sooner; the offline deadline still needs a time token."""
    if signed_time <= trusted_time(record):
        return record
    return dataclasses.replace(record, time_base=signed_time, cycles_at_base=record.cycles)


def live_pauses(record: ChipRecord, now: int) -> tuple[PauseEntry, ...]:
    """The pauses still to keep: those whose lift has taken effect can never apply again."""
    return tuple(p for p in record.pauses if p.lifted_at is None or now < p.lifted_at)
