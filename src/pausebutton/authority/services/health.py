"""Tamper and health reports: a node agent tells the authority that a chip is tampered
(its device key zeroised, so the chip itself can sign nothing any more), zeroised, or
silent (its GPU no longer answers). The report is a request signed by the operator's key;
each raises an alert and becomes the chip's registry state; ``ok`` clears a silent chip."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, update

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    OPERATOR,
    Caller,
    Result,
    Store,
    check_text,
    require,
    retried,
)
from pausebutton.errors import ConflictError, ForbiddenError, NotFoundError, SchemaError

HEALTH = {
    "tampered": ("chip_tampered", "critical"),
    "zeroised": ("chip_tampered", "critical"),
    "silent": ("chip_silent", "warning"),
    "ok": (None, None),
}
"""Reported state -> (alert kind, severity); ``ok`` raises none."""
FINAL = ("decommissioned", "destroyed")
STICKY = ("tampered", "zeroised")
"""A tampered chip stays so: its keys are gone (only custody can retire it)."""


@dataclass(frozen=True, slots=True)
class HealthReport(Result):
    chip_id: str
    state: str
    """What the agent reported: tampered, zeroised, silent or ok."""
    status: str
    """The chip's registry state afterwards."""
    alert_id: int | None
    """The alert this report raised (None: ok, or the same state reported again)."""


class HealthService:
    """Tamper and health reports from node agents."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @retried
    def report(
        self, caller: Caller | None, chip_id: str, *, state: str, detail: str = ""
    ) -> HealthReport:
        """Record ``state`` for ``chip_id`` (the operator of its owner, or an admin)."""
        c = require(caller, OPERATOR, ADMIN)
        if state not in HEALTH:
            raise SchemaError(f"state must be one of {sorted(HEALTH)}", field="state")
        check_text(detail, "detail", 2000, empty=True)
        now = self.store.now()
        kind, severity = HEALTH[state]
        with self.store.write() as conn:
            chip = conn.execute(self.store.lock(t.chips, t.chips.c.chip_id == chip_id)).first()
            if chip is None:
                raise NotFoundError(f"no chip {chip_id}", field="chip_id")
            if c.role == OPERATOR and chip.owner_id != c.owner_id:
                raise ForbiddenError("this chip belongs to another owner", field="chip_id")
            if chip.status in FINAL:
                raise ConflictError(f"chip {chip_id[:16]} is {chip.status}", status=chip.status)
            if chip.status in STICKY:
                return HealthReport(chip_id, state, chip.status, None)
            if state == "ok":
                status = chip.status
                if chip.status == "silent":
                    status = "installed" if chip.facility_id else "registered"
            else:
                status = state
            if status != chip.status:
                conn.execute(
                    update(t.chips).where(t.chips.c.chip_id == chip_id).values(status=status)
                )
            alert_id = None
            if kind is not None and status != chip.status:
                alert_id = int(
                    conn.execute(
                        insert(t.alerts)
                        .values(
                            kind=kind,
                            chip_id=chip_id,
                            severity=severity,
                            detail={
                                "state": state,
                                "detail": detail,
                                "owner_id": chip.owner_id,
                                "reported_by": c.name,
                            },
                            created_at=now,
                        )
                        .returning(t.alerts.c.id)
                    ).scalar_one()
                )
        return HealthReport(chip_id, state, status, alert_id)
