"""The fleet page's data: licences and the budget each has used over time (from the
usage reports that name it), and the chips that are silent or throttled, with why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, and_, func, or_, select

from pausebutton import errors
from pausebutton.authority import tables as t
from pausebutton.console.deps import ViewerDep, need
from pausebutton.console.queries import with_newest_report

PAGE = 200
SERIES = 500
"""Most points of one licence's budget-use series."""

router = APIRouter(prefix="/console/api/fleet", tags=["console"])


def _licences(conn: Connection, owner: str | None, now: int) -> list[dict[str, Any]]:
    used = (
        select(t.reports.c.license_id, func.max(t.reports.c.sequence).label("seq"))
        .where(t.reports.c.license_id.is_not(None))
        .group_by(t.reports.c.license_id, t.reports.c.chip_no)
        .subquery("newest_use")
    )
    stmt = select(t.licenses).order_by(t.licenses.c.license_id.desc()).limit(PAGE)
    if owner:
        stmt = stmt.where(t.licenses.c.owner_id == owner)
    out = []
    for lic in conn.execute(stmt).all():
        newest = conn.execute(
            select(t.reports.c.license_flop_used, t.reports.c.received_at)
            .join(
                used,
                and_(
                    used.c.license_id == t.reports.c.license_id, used.c.seq == t.reports.c.sequence
                ),
            )
            .join(t.chain_heads, t.chain_heads.c.chip_no == t.reports.c.chip_no)
            .where(t.reports.c.license_id == lic.license_id, t.chain_heads.c.chip_id == lic.chip_id)
        ).first()
        flop_used = int(newest.license_flop_used or 0) if newest else 0
        budget = int(lic.flop_budget)
        out.append(
            {
                "license_id": lic.license_id,
                "chip_id": lic.chip_id,
                "owner_id": lic.owner_id,
                "run_id": lic.run_id,
                "flop_budget": str(budget),
                "flop_used": str(flop_used),
                "share_used": (flop_used / budget) if budget else 0.0,
                "not_before": lic.not_before,
                "not_after": lic.not_after,
                "status": "expired"
                if lic.not_after < now
                else ("future" if lic.not_before > now else "valid"),
                "last_report_at": newest.received_at if newest else None,
            }
        )
    return out


def usage_series(conn: Connection, license_id: int) -> list[list[Any]]:
    """``[time, flop used]`` of each report that names the licence, oldest first (the
    chip's own trusted time in the report, which the chip signs)."""
    rows = conn.execute(
        select(t.reports.c.time, t.reports.c.license_flop_used)
        .where(t.reports.c.license_id == license_id)
        .order_by(t.reports.c.time, t.reports.c.sequence)
        .limit(SERIES)
    ).all()
    return [[r.time, str(int(r.license_flop_used or 0))] for r in rows]


def _why(state: str | None, licence_valid: bool, active_pause: bool) -> str:
    if state is None:
        return "has never reported"
    if state == "paused":
        return "paused: a pause order is in force" if active_pause else "paused"
    if state == "exhausted":
        return "its licence's budget is used up"
    if state == "tampered":
        return "tamper signal: keys zeroised"
    if licence_valid:
        return "throttled although a licence is valid (not installed on the chip yet?)"
    return "no valid licence"


def _attention(
    conn: Connection, owner: str | None, now: int, silent_after: int
) -> list[dict[str, Any]]:
    head = t.reports.alias("head")
    valid = (
        select(t.licenses.c.license_id)
        .where(
            t.licenses.c.chip_id == t.chips.c.chip_id,
            t.licenses.c.not_before <= now,
            t.licenses.c.not_after >= now,
        )
        .exists()
    )
    stmt = (
        select(
            t.chips.c.chip_id,
            t.chips.c.owner_id,
            t.chips.c.facility_id,
            head.c.state,
            head.c.received_at,
            valid.label("licence_valid"),
        )
        .select_from(with_newest_report(head))
        .where(
            t.chips.c.status.not_in(("decommissioned", "destroyed")),
            or_(
                head.c.received_at.is_(None),
                head.c.received_at < now - silent_after,
                head.c.state != "licensed",
            ),
        )
        .order_by(t.chips.c.chip_id)
        .limit(PAGE)
    )
    if owner:
        stmt = stmt.where(t.chips.c.owner_id == owner)
    active_pause = bool(
        conn.execute(
            select(func.count())
            .select_from(t.orders)
            .where(t.orders.c.kind == "pause", t.orders.c.active.is_(True))
        ).scalar_one()
    )
    out = []
    for r in conn.execute(stmt).all():
        silent = r.received_at is None or r.received_at < now - silent_after
        out.append(
            {
                "chip_id": r.chip_id,
                "owner_id": r.owner_id,
                "facility_id": r.facility_id,
                "state": r.state or "never reported",
                "last_report_at": r.received_at,
                "silent": silent,
                "why": _why(r.state, bool(r.licence_valid), active_pause),
            }
        )
    return out


@router.get("", summary="Licences with their budget use, and chips silent or throttled")
async def fleet_api(
    request: Request,
    viewer: ViewerDep,
    owner: str | None = Query(default=None, max_length=128),
    silent_after: int = Query(default=3600, ge=1, le=366 * 86400),
) -> dict[str, Any]:
    need(viewer)
    if viewer.role == "operator":
        owner = viewer.owner_id
    svc = request.app.state.pb.service
    now = svc.now()

    def run() -> dict[str, Any]:
        with svc.store.read() as conn:
            return {
                "licences": _licences(conn, owner, now),
                "attention": _attention(conn, owner, now, silent_after),
                "silent_after": silent_after,
                "now": now,
            }

    return await run_in_threadpool(run)


@router.get("/licences/{license_id}/usage", summary="A licence's budget use over time")
async def licence_usage(request: Request, license_id: int, viewer: ViewerDep) -> dict[str, Any]:
    need(viewer)
    store = request.app.state.pb.service.store

    def run() -> dict[str, Any]:
        with store.read() as conn:
            lic = conn.execute(
                select(t.licenses).where(t.licenses.c.license_id == license_id)
            ).first()
            if lic is None:
                raise errors.NotFoundError(f"no licence {license_id}", field="license_id")
            if viewer.role == "operator" and lic.owner_id != viewer.owner_id:
                raise errors.ForbiddenError(
                    "an operator sees only its own owner's licences", field="session"
                )
            return {
                "license_id": license_id,
                "flop_budget": str(int(lic.flop_budget)),
                "series": usage_series(conn, license_id),
            }

    return await run_in_threadpool(run)
