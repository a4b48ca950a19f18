"""Chain of custody: the append-only, logged events of each chip's life (fabrication,
export, sale, installation, ... destruction) and their effect on the chip's record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    CUSTODY_KINDS,
    Caller,
    Result,
    Store,
    check_country,
    check_text,
    check_time,
    from_row,
    owner_row,
    require,
    require_facility,
    retried,
)
from pausebutton.errors import ConflictError, NotFoundError, SchemaError
from pausebutton.protocol import encoding
from pausebutton.protocol.units import format_instant


@dataclass(frozen=True, slots=True)
class CustodyEvent(Result):
    """One stored custody event of a chip (as listed under the chip)."""

    seq: int
    kind: str
    at: int
    actor: str
    owner_id: str | None
    facility_id: str | None
    country: str | None
    note: str | None
    recorded_at: int
    log_index: int | None


@dataclass(frozen=True, slots=True)
class CustodyRecord(Result):
    """A custody event just appended (it names its chip)."""

    chip_id: str
    seq: int
    kind: str
    at: int
    actor: str
    owner_id: str | None
    facility_id: str | None
    country: str | None
    note: str | None
    recorded_at: int
    log_index: int | None


def custody_events(conn: Connection, chip_id: str) -> list[CustodyEvent]:
    """A chip's custody events in order."""
    rows = conn.execute(
        select(t.custody_events)
        .where(t.custody_events.c.chip_id == chip_id)
        .order_by(t.custody_events.c.seq)
    ).all()
    return [from_row(CustodyEvent, r) for r in rows]


def _check_event(
    kind: str,
    at: int,
    actor: str,
    owner_id: str | None,
    facility_id: str | None,
    country: str | None,
    note: str | None,
) -> None:
    if kind not in CUSTODY_KINDS:
        raise SchemaError(f"kind must be one of {', '.join(CUSTODY_KINDS)}", field="kind")
    check_time(at, "at")
    check_text(actor, "actor")
    if country is not None:
        check_country(country)
    if note is not None:
        check_text(note, "note", 4096, empty=True)
    if kind in ("sale", "transfer") and owner_id is None:
        raise SchemaError(f"a {kind} event needs the new owner_id", field="owner_id")
    if kind == "installation" and facility_id is None:
        raise SchemaError("an installation event needs facility_id", field="facility_id")
    if kind in ("export", "import") and country is None:
        raise SchemaError(f"an {kind} event needs a country", field="country")


def _chip_changes(kind: str, owner_id: str | None, facility_id: str | None) -> dict[str, Any]:
    """What an event of ``kind`` changes in the chip's record."""
    changes: dict[str, Any] = {}
    if kind in ("sale", "transfer"):
        changes["owner_id"] = owner_id
    if kind == "installation":
        changes.update(facility_id=facility_id, status="installed")
    if kind == "decommissioning":
        changes["status"] = "decommissioned"
    if kind == "destruction":
        changes["status"] = "destroyed"
    return changes


class CustodyService:
    """Appends and lists custody events."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def custody(self, chip_id: str) -> list[CustodyEvent]:
        with self.store.read() as conn:
            found = conn.execute(select(t.chips.c.chip_id).where(t.chips.c.chip_id == chip_id))
            if found.first() is None:
                raise NotFoundError(f"no chip {chip_id}", field="chip_id")
            return custody_events(conn, chip_id)

    @retried
    def add_custody_event(
        self,
        caller: Caller | None,
        chip_id: str,
        *,
        kind: str,
        at: int,
        actor: str,
        owner_id: str | None = None,
        facility_id: str | None = None,
        country: str | None = None,
        note: str | None = None,
    ) -> CustodyRecord:
        """Append one custody event (append-only; logged) and apply its effect on the chip."""
        c = require(caller, ADMIN)
        _check_event(kind, at, actor, owner_id, facility_id, country, note)
        now = self.store.now()
        with self.store.write() as conn:
            chip = conn.execute(self.store.lock(t.chips, t.chips.c.chip_id == chip_id)).first()
            if chip is None:
                raise NotFoundError(f"no chip {chip_id}", field="chip_id")
            if chip.status == "destroyed":
                raise ConflictError(f"chip {chip_id} was destroyed", field="chip_id")
            if owner_id is not None:
                owner_row(conn, owner_id)
            if facility_id is not None:
                require_facility(conn, facility_id)
            last = conn.execute(
                select(t.custody_events.c.seq, t.custody_events.c.at)
                .where(t.custody_events.c.chip_id == chip_id)
                .order_by(t.custody_events.c.seq.desc())
                .limit(1)
            ).first()
            if last is not None and at < last.at:
                raise ConflictError(
                    f"custody events are appended in time order: {format_instant(at)} is"
                    f" before the chip's event {last.seq} at {format_instant(last.at)}; give"
                    " a later time",
                    field="at",
                )
            seq = int(last.seq if last is not None else 0) + 1
            record = {
                "chip_id": chip_id,
                "seq": seq,
                "kind": kind,
                "at": at,
                "actor": actor,
                "owner_id": owner_id,
                "facility_id": facility_id,
                "country": country,
                "note": note,
            }
            body = encoding.encode(
                {
                    "type": "custody-event",
                    "event": {k: v for k, v in record.items() if v is not None},
                }
            )
            idx = self.store.log.append(conn, "custody-event", body, now)
            conn.execute(
                insert(t.custody_events).values(
                    **record, recorded_at=now, recorded_by=c.key_id, log_index=idx
                )
            )
            changes = _chip_changes(kind, owner_id, facility_id)
            if changes:
                conn.execute(update(t.chips).where(t.chips.c.chip_id == chip_id).values(**changes))
        return CustodyRecord(
            chip_id, seq, kind, at, actor, owner_id, facility_id, country, note, now, idx
        )
