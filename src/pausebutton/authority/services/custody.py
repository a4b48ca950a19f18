"""Chain of custody: the append-only, logged events of each chip's life (fabrication,
export, sale, installation, ... destruction) and their effect on the chip's record."""

from __future__ import annotations

from collections.abc import Callable
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
class Event:
    """A custody event to append (checked by the caller's rules)."""

    chip_id: str
    kind: str
    at: int
    actor: str
    owner_id: str | None = None
    facility_id: str | None = None
    country: str | None = None
    note: str | None = None
    party_id: str | None = None
    """The supply-chain party that signed it (None: an admin recorded it)."""
    to_party: str | None = None
    """The party it hands the chip to (None: the signer keeps it)."""
    export_licence: str | None = None


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
    party_id: str | None
    """The supply-chain party that signed the event (None: recorded by an admin)."""
    to_party: str | None
    """The party the event handed the chip to."""
    export_licence: str | None


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
    party_id: str | None
    to_party: str | None
    export_licence: str | None


def custody_events(conn: Connection, chip_id: str) -> list[CustodyEvent]:
    """A chip's custody events in order."""
    rows = conn.execute(
        select(t.custody_events)
        .where(t.custody_events.c.chip_id == chip_id)
        .order_by(t.custody_events.c.seq)
    ).all()
    return [from_row(CustodyEvent, r) for r in rows]


def check_event(
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
    if kind in ("installation", "rack") and facility_id is None:
        raise SchemaError(f"an {kind} event needs facility_id", field="facility_id")
    if kind in ("export", "import") and country is None:
        raise SchemaError(f"an {kind} event needs a country", field="country")


def _chip_changes(kind: str, owner_id: str | None, facility_id: str | None) -> dict[str, Any]:
    """What an event of ``kind`` changes in the chip's record."""
    changes: dict[str, Any] = {}
    if kind in ("sale", "transfer"):
        changes["owner_id"] = owner_id
    if kind in ("installation", "rack"):
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
        check_event(kind, at, actor, owner_id, facility_id, country, note)
        event = Event(chip_id, kind, at, actor, owner_id, facility_id, country, note)
        return self.append(c, event)

    def append(
        self,
        caller: Caller,
        event: Event,
        check: Callable[[Connection, list[CustodyEvent]], None] | None = None,
    ) -> CustodyRecord:
        """Append a checked event in one transaction: lock the chip, run ``check`` over
        the chip's events so far (it raises to refuse), log the event, store it and apply
        its effect on the chip. Callers retry it (``@retried``)."""
        now = self.store.now()
        chip_id = event.chip_id
        with self.store.write() as conn:
            chip = conn.execute(self.store.lock(t.chips, t.chips.c.chip_id == chip_id)).first()
            if chip is None:
                raise NotFoundError(f"no chip {chip_id}", field="chip_id")
            if chip.status == "destroyed":
                raise ConflictError(f"chip {chip_id} was destroyed", field="chip_id")
            if event.owner_id is not None:
                owner_row(conn, event.owner_id)
            if event.facility_id is not None:
                require_facility(conn, event.facility_id)
            history = custody_events(conn, chip_id)
            last = history[-1] if history else None
            if last is not None and event.at < last.at:
                raise ConflictError(
                    f"custody events are appended in time order: {format_instant(event.at)} is"
                    f" before the chip's event {last.seq} at {format_instant(last.at)}; give"
                    " a later time",
                    field="at",
                )
            if check is not None:
                check(conn, history)
            seq = int(last.seq if last is not None else 0) + 1
            record = {
                "chip_id": chip_id,
                "seq": seq,
                "kind": event.kind,
                "at": event.at,
                "actor": event.actor,
                "owner_id": event.owner_id,
                "facility_id": event.facility_id,
                "country": event.country,
                "note": event.note,
                "party_id": event.party_id,
                "to_party": event.to_party,
                "export_licence": event.export_licence,
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
                    **record, recorded_at=now, recorded_by=caller.key_id, log_index=idx
                )
            )
            changes = _chip_changes(event.kind, event.owner_id, event.facility_id)
            if changes:
                conn.execute(update(t.chips).where(t.chips.c.chip_id == chip_id).values(**changes))
        return from_row(CustodyRecord, record, recorded_at=now, log_index=idx)
