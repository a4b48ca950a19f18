"""What the console shows, read from the authority's tables (SQL aggregates; no writes).

Each chip has one *console state*, derived from what the authority already holds
(docs/console.md, "Chip states"), first match wins:

1. ``alert``: an alert names the chip (usage-report, location or artifact alerts);
2. ``unverified``: the chip's newest location check is not ``consistent``;
3. ``paused``: the newest usage report the chip sent says ``paused``;
4. ``licensed``: the newest report says ``licensed`` or, for a chip that never
   reported, a licence for it is valid now;
5. ``throttled``: everything else (throttled, exhausted or tampered in its newest
   report, or no report and no valid licence).

The map counts chips per facility and state in one ``GROUP BY`` over the chips joined to
their newest report (``usage_reports`` at the chain head's ``report_seq``), their newest location
check and the alerted chips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    exists,
    func,
    literal,
    select,
)

from pausebutton.authority import tables as t

STATES = ("licensed", "throttled", "paused", "unverified", "alert")
"""Console states of a chip, in the order the map API's count arrays use."""


def _latest_verdict() -> Any:
    """The verdict of the chip's newest location check (a correlated subquery on the index
    ``ix_location_checks_chip``: one index probe per chip)."""
    return (
        select(t.location_checks.c.verdict)
        .where(t.location_checks.c.chip_id == t.chips.c.chip_id)
        .order_by(t.location_checks.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _alerted() -> Any:
    return (
        select(t.alerts.c.chip_id)
        .where(t.alerts.c.chip_id.is_not(None))
        .group_by(t.alerts.c.chip_id)
        .subquery("alerted")
    )


@dataclass(frozen=True)
class _Joined:
    """The chips joined to what decides their state."""

    select_from: Any
    state: ColumnElement[str]
    head: Any


def with_newest_report(head: Any) -> Any:
    """The chips joined to their chain heads and (outer) to the report at each head."""
    return t.chips.join(t.chain_heads, t.chain_heads.c.chip_id == t.chips.c.chip_id).outerjoin(
        head,
        and_(
            head.c.chip_no == t.chain_heads.c.chip_no,
            head.c.sequence == t.chain_heads.c.report_seq,
        ),
    )


def _joined(now: int) -> _Joined:
    head = t.reports.alias("head")
    verdict = _latest_verdict()
    alerted = _alerted()
    licensed_now = exists().where(
        t.licenses.c.chip_id == t.chips.c.chip_id,
        t.licenses.c.not_before <= now,
        t.licenses.c.not_after >= now,
    )
    state = case(
        (alerted.c.chip_id.is_not(None), literal("alert")),
        (func.coalesce(verdict, "consistent") != "consistent", "unverified"),
        (head.c.state == "paused", "paused"),
        (head.c.state == "licensed", "licensed"),
        (head.c.state.is_not(None), "throttled"),
        (licensed_now, "licensed"),
        else_="throttled",
    )
    joined = with_newest_report(head).outerjoin(alerted, alerted.c.chip_id == t.chips.c.chip_id)
    return _Joined(joined, state, head)


def map_data(conn: Connection, now: int) -> dict[str, Any]:
    """Facilities with their chip counts per state, a country roll-up and totals.

    Facilities are ``[id, name, country, lat, lon, owner, [count per STATES]]`` (compact:
    the map API serves 10,000 of them); a facility without coordinates is left off the
    map but counted in its country.
    """
    j = _joined(now)
    # the state once per chip in an inner query, then counted (not evaluated twice)
    inner = select(t.chips.c.facility_id, j.state.label("state")).select_from(j.select_from)
    if conn.dialect.name == "sqlite":
        # SQLite joins by nested loops: walking the chips in key order makes each probe of
        # the reports and checks indexes land next to the last (about 3x faster at 1e6)
        inner = inner.order_by(t.chips.c.chip_id)
    per_chip = inner.subquery("per_chip")
    rows = conn.execute(
        select(per_chip.c.facility_id, per_chip.c.state, func.count().label("n")).group_by(
            per_chip.c.facility_id, per_chip.c.state
        )
    ).all()
    counts: dict[str | None, list[int]] = {}
    for r in rows:
        counts.setdefault(r.facility_id, [0] * len(STATES))[STATES.index(r.state)] += int(r.n)
    facilities = []
    countries: dict[str, dict[str, Any]] = {}
    fac_rows = conn.execute(
        select(
            t.facilities.c.id,
            t.facilities.c.name,
            t.facilities.c.country,
            t.facilities.c.latitude,
            t.facilities.c.longitude,
            t.facilities.c.owner_id,
        ).order_by(t.facilities.c.id)
    ).all()
    for f in fac_rows:
        c = counts.get(f.id, [0] * len(STATES))
        roll = countries.setdefault(
            f.country, {"facilities": 0, "chips": [0] * len(STATES), "unmapped": 0}
        )
        roll["facilities"] += 1
        roll["chips"] = [a + b for a, b in zip(roll["chips"], c, strict=True)]
        if f.latitude is None or f.longitude is None:
            roll["unmapped"] += 1
            continue
        facilities.append(
            [
                f.id,
                f.name,
                f.country,
                round(f.latitude, 4),
                round(f.longitude, 4),
                f.owner_id,
                c,
            ]
        )
    totals = [0] * len(STATES)
    for c in counts.values():
        totals = [a + b for a, b in zip(totals, c, strict=True)]
    no_facility = counts.get(None, [0] * len(STATES))
    return {
        "states": list(STATES),
        "facilities": facilities,
        "countries": [
            {"country": k, **v} for k, v in sorted(countries.items(), key=lambda kv: kv[0])
        ],
        "totals": {"chips": totals, "facilities": len(fac_rows), "no_facility": no_facility},
    }


def facility(conn: Connection, facility_id: str, now: int, limit: int = 500) -> dict[str, Any]:
    """One facility, its chips (the first ``limit`` by id) with their states and counts."""
    f = conn.execute(select(t.facilities).where(t.facilities.c.id == facility_id)).first()
    if f is None:
        return {}
    j = _joined(now)
    state = j.state.label("state")
    base = select(
        t.chips.c.chip_id,
        t.chips.c.serial,
        t.chips.c.model,
        t.chips.c.owner_id,
        t.chips.c.status,
        t.chain_heads.c.report_seq,
        j.head.c.received_at,
        state,
    ).select_from(j.select_from)
    chips = conn.execute(
        base.where(t.chips.c.facility_id == facility_id).order_by(t.chips.c.chip_id).limit(limit)
    ).all()
    by_state = conn.execute(
        select(state, func.count().label("n"))
        .select_from(j.select_from)
        .where(t.chips.c.facility_id == facility_id)
        .group_by(state)
    ).all()
    counts = dict.fromkeys(STATES, 0)
    for r in by_state:
        counts[r.state] = int(r.n)
    return {
        "id": f.id,
        "name": f.name,
        "country": f.country,
        "lat": f.latitude,
        "lon": f.longitude,
        "owner_id": f.owner_id,
        "power_mw": f.power_mw,
        "declared_chips": f.declared_chips,
        "chip_model": f.chip_model,
        "verified": bool(f.verified),
        "counts": counts,
        "total": sum(counts.values()),
        "chips": [
            {
                "chip_id": c.chip_id,
                "serial": c.serial,
                "model": c.model,
                "owner_id": c.owner_id,
                "status": c.status,
                "reports": c.report_seq,
                "last_report_at": c.received_at,
                "state": c.state,
            }
            for c in chips
        ],
    }


def chip(conn: Connection, chip_id: str, now: int) -> dict[str, Any]:
    """One chip: its state, custody timeline, newest reports and newest location check."""
    j = _joined(now)
    row = conn.execute(
        select(t.chips, j.state.label("state"), j.head.c.received_at.label("last_report_at"))
        .select_from(j.select_from)
        .where(t.chips.c.chip_id == chip_id)
    ).first()
    if row is None:
        return {}
    custody = conn.execute(
        select(t.custody_events)
        .where(t.custody_events.c.chip_id == chip_id)
        .order_by(t.custody_events.c.seq)
    ).all()
    reports = conn.execute(
        select(t.reports.c.sequence, t.reports.c.state, t.reports.c.time, t.reports.c.received_at)
        .join(t.chain_heads, t.chain_heads.c.chip_no == t.reports.c.chip_no)
        .where(t.chain_heads.c.chip_id == chip_id)
        .order_by(t.reports.c.sequence.desc())
        .limit(10)
    ).all()
    check = conn.execute(
        select(t.location_checks)
        .where(t.location_checks.c.chip_id == chip_id)
        .order_by(t.location_checks.c.id.desc())
        .limit(1)
    ).first()
    alerts = conn.execute(
        select(t.alerts.c.id, t.alerts.c.kind, t.alerts.c.severity, t.alerts.c.created_at)
        .where(t.alerts.c.chip_id == chip_id)
        .order_by(t.alerts.c.id.desc())
        .limit(20)
    ).all()
    return {
        "chip_id": row.chip_id,
        "serial": row.serial,
        "model": row.model,
        "vendor": row.vendor,
        "owner_id": row.owner_id,
        "facility_id": row.facility_id,
        "status": row.status,
        "state": row.state,
        "registered_at": row.registered_at,
        "last_report_at": row.last_report_at,
        "custody": [
            {
                "seq": e.seq,
                "kind": e.kind,
                "at": e.at,
                "actor": e.actor,
                "owner_id": e.owner_id,
                "facility_id": e.facility_id,
                "country": e.country,
                "note": e.note,
                "log_index": e.log_index,
            }
            for e in custody
        ],
        "reports": [dict(r._mapping) for r in reports],
        "alerts": [dict(a._mapping) for a in alerts],
        "location_check": None
        if check is None
        else {
            "id": check.id,
            "time": check.time,
            "verdict": check.verdict,
            "landmarks": check.landmarks,
            "least_distance_km": check.least_distance_km,
            "log_index": check.log_index,
            "result": check.result,
        },
    }


# -- orders and their delivery --------------------------------------------------------------


def _in_scope(scope: dict[str, Any]) -> ColumnElement[bool] | None:
    """Which chips an order's scope names (None: every chip). A region is the country of
    the chip's facility."""
    kind = scope.get("kind")
    if kind == "region":
        return t.chips.c.facility_id.in_(
            select(t.facilities.c.id).where(t.facilities.c.country.in_(scope.get("regions") or []))
        )
    if kind == "owner":
        return t.chips.c.owner_id.in_(scope.get("owners") or [])
    if kind == "chips":
        return t.chips.c.chip_id.in_(scope.get("chips") or [])
    return None


def delivery(
    conn: Connection, kind: str, scope: dict[str, Any], assembled_at: int
) -> dict[str, Any]:
    """How many chips in the order's scope hold it: their newest report was received at or
    after the order was assembled and says ``paused`` (a pause) or anything else (a
    resume). ``last_at`` is when the newest of those reports arrived."""
    head = t.reports.alias("head")
    where = _in_scope(scope)
    held_cond = and_(
        head.c.received_at >= assembled_at,
        head.c.state == "paused" if kind == "pause" else head.c.state != "paused",
    )
    stmt = select(
        func.count().label("total"),
        func.count(head.c.chip_no).filter(held_cond).label("held"),
        func.max(head.c.received_at).filter(held_cond).label("last_at"),
    ).select_from(with_newest_report(head))
    stmt = stmt.where(t.chips.c.status.not_in(("decommissioned", "destroyed")))
    if where is not None:
        stmt = stmt.where(where)
    r = conn.execute(stmt).one()
    total, held = int(r.total), int(r.held)
    return {
        "total": total,
        "held": held,
        "share": (held / total) if total else 0.0,
        "last_at": r.last_at,
    }


def kth_signature_at(conn: Connection, proposal_id: int, k: int) -> int | None:
    """When the K-th signature of a proposal arrived (Unix seconds)."""
    rows = conn.execute(
        select(t.proposal_signatures.c.at)
        .where(t.proposal_signatures.c.proposal_id == proposal_id)
        .order_by(t.proposal_signatures.c.at)
        .limit(k)
    ).all()
    return int(rows[-1].at) if len(rows) >= k else None


def signers(conn: Connection, proposal_id: int) -> list[str]:
    """The members who signed a proposal, in the order they signed."""
    rows = conn.execute(
        select(t.proposal_signatures.c.member)
        .where(t.proposal_signatures.c.proposal_id == proposal_id)
        .order_by(t.proposal_signatures.c.at)
    ).all()
    return [r.member for r in rows]


def orders_with_delivery(
    conn: Connection, k: int, limit: int = 10, only: Sequence[int] = ()
) -> list[dict[str, Any]]:
    """The newest orders (or the ones named), each with its delivery."""
    stmt = select(t.orders).order_by(t.orders.c.sequence.desc()).limit(limit)
    if only:
        stmt = stmt.where(t.orders.c.sequence.in_(list(only)))
    out = []
    for o in conn.execute(stmt).all():
        out.append(
            {
                "sequence": o.sequence,
                "kind": o.kind,
                "proposal_id": o.proposal_id,
                "scope": o.scope,
                "lifts": o.lifts,
                "active": bool(o.active),
                "assembled_at": o.assembled_at,
                "kth_signature_at": kth_signature_at(conn, o.proposal_id, k),
                "signed_by": signers(conn, o.proposal_id),
                "log_index": o.log_index,
                "delivery": delivery(conn, o.kind, o.scope, o.assembled_at),
            }
        )
    return out


def count_scope(conn: Connection, scope: dict[str, Any]) -> int:
    """How many chips a scope names."""
    stmt = select(func.count()).select_from(t.chips)
    where = _in_scope(scope)
    if where is not None:
        stmt = stmt.where(where)
    return int(conn.execute(stmt).scalar_one())


__all__ = [
    "STATES",
    "chip",
    "count_scope",
    "delivery",
    "facility",
    "map_data",
    "orders_with_delivery",
]
