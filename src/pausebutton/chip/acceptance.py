"""The acceptance rules of the inputs a chip installs (docs/firmware.md section 3), as
pure checks over the NVM record, and the record updates an accepted license or time
token makes.

Each check raises the named error of the first rule an input breaks, in the order the
spec lists them, and returns nothing otherwise. Signature thresholds (the trust root's
roles) are checked by the state machine before these; log inclusion, after them, by an
:data:`InclusionVerifier`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

from pausebutton.chip.record import ChipRecord, PauseEntry
from pausebutton.errors import (
    ExpiredError,
    FirmwareTooOldError,
    NotLoggedError,
    NotYetValidError,
    ReplayError,
    RollbackError,
    ScopeError,
    WrongChipError,
)
from pausebutton.protocol.messages import License, PauseOrder, ResumeOrder, TimeToken
from pausebutton.protocol.trustroot import TrustRoot
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.policy import LogPolicy

MAX_APPLIED = 64
"""Hashes of applied licenses kept verbatim; older ones stay covered by the id rule."""

LICENSE_LOG_CONTEXT = b"pausebutton/v1/license-log"


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


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# -- licenses ---------------------------------------------------------------------------------


def check_license(record: ChipRecord, lic: License, digest: bytes, now: int) -> None:
    """A license's rules after its signatures: this chip, not replayed (``digest`` is the
    SHA-256 of its payload), a new id, valid at trusted time ``now``, a fresh time token,
    the firmware floor, and the region and owner scope."""
    if lic.chip_id != record.chip_id:
        raise WrongChipError(
            f"license {lic.license_id} is for chip {lic.chip_id.hex()[:16]},"
            f" not {record.chip_id.hex()[:16]}"
        )
    if digest in record.applied:
        raise ReplayError(f"license {lic.license_id} was already applied")
    if lic.license_id <= record.max_license_id:
        raise RollbackError(
            f"license id {lic.license_id} is not above {record.max_license_id}, the highest"
            " accepted"
        )
    _check_license_time(record, lic, now)
    if record.firmware_version < lic.firmware_floor:
        raise FirmwareTooOldError(
            f"firmware {record.firmware_version} is below the license's floor {lic.firmware_floor}"
        )
    if lic.region is not None and lic.region != record.region:
        raise ScopeError(f"license is for region {lic.region}, chip is in {record.region}")
    if lic.owner is not None and lic.owner != record.owner:
        raise ScopeError(f"license is for owner {lic.owner!r}, chip belongs to {record.owner!r}")


def _check_license_time(record: ChipRecord, lic: License, now: int) -> None:
    if now < lic.not_before:
        raise NotYetValidError(
            f"license {lic.license_id} is valid from {lic.not_before}; trusted time is {now}"
        )
    if now >= lic.not_after:
        raise ExpiredError(
            f"license {lic.license_id} expired at {lic.not_after}; trusted time is {now}"
        )
    if now >= record.last_token_time + lic.max_offline:
        raise ExpiredError(
            f"no time token within the license's max offline period of {lic.max_offline} s;"
            " install a fresh time token first",
            cause="offline",
        )


def apply_license(record: ChipRecord, lic: License, payload: bytes, digest: bytes) -> ChipRecord:
    """The record with ``lic`` active: its budget fresh, the applied-license log and hash
    chain extended (``license_log = H(context || previous || digest)``)."""
    return dataclasses.replace(
        record,
        max_license_id=lic.license_id,
        license_log=sha256(LICENSE_LOG_CONTEXT + record.license_log + digest),
        applied=(*record.applied, digest)[-MAX_APPLIED:],
        license=payload,
        license_used=0,
        budgets_accepted=record.budgets_accepted + lic.flop_budget,
        licenses_accepted=record.licenses_accepted + 1,
    )


# -- pause and resume orders ------------------------------------------------------------------


def check_order_sequence(record: ChipRecord, sequence: int, what: str) -> None:
    """An order's sequence is above every order applied (``replay`` if equal)."""
    if sequence == record.order_seq:
        raise ReplayError(f"{what} {sequence} was already applied")
    if sequence < record.order_seq:
        raise RollbackError(
            f"{what} sequence {sequence} is below {record.order_seq}, the latest applied"
        )


def check_order_scope(record: ChipRecord, order: PauseOrder | ResumeOrder, what: str) -> None:
    """An order's scope applies to this chip (region and owner from provisioning)."""
    if not order.scope.applies_to(record.chip_id, record.region, record.owner):
        raise ScopeError(
            f"{what} {order.sequence} ({order.scope.kind.value} scope) does not apply to"
            f" this chip (region {record.region}, owner {record.owner!r})"
        )


def lifted_pause(pauses: tuple[PauseEntry, ...], order: ResumeOrder) -> PauseEntry:
    """The pause in force here that a resume lifts (``scope`` if there is none)."""
    target = next((p for p in pauses if p.sequence == order.lifts), None)
    if target is None or target.lifted_at is not None:
        raise ScopeError(f"resume {order.sequence} lifts pause {order.lifts}, not in force here")
    return target


# -- time tokens ------------------------------------------------------------------------------


def check_time_token(record: ChipRecord, token: TimeToken) -> None:
    """A time token is for this chip if it names one, its sequence strictly increases and
    its time is not before the last token's."""
    if token.chip_id is not None and token.chip_id != record.chip_id:
        raise WrongChipError("the time token is for another chip")
    if token.sequence == record.last_token_seq:
        raise ReplayError(f"time token {token.sequence} was already applied")
    if token.sequence < record.last_token_seq:
        raise RollbackError(
            f"time token sequence {token.sequence} is below {record.last_token_seq}"
        )
    if token.time < record.last_token_time:
        raise RollbackError(
            f"time token says {token.time}, before the last token's {record.last_token_time}"
        )


def apply_time_token(record: ChipRecord, token: TimeToken, now: int) -> ChipRecord:
    """The record after a token at trusted time ``now``: trusted time never goes back."""
    return dataclasses.replace(
        record,
        time_base=max(now, token.time),
        cycles_at_base=record.cycles,
        last_token_time=token.time,
        last_token_seq=token.sequence,
    )
