"""The alerts page's data: the authority's alerts with the chip's owner and country and
the verification method that raised them, filterable by country, owner and method."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, func, select

from pausebutton.authority import tables as t
from pausebutton.console.deps import ViewerDep

PAGE = 100

METHODS = {
    "chip-based reporting": (
        "gap",
        "replay",
        "chain",
        "over_license",
        "outside_license_period",
        "unknown_license",
        "unknown_chip",
        "bad_signature",
    ),
    "chip location tracking": ("location_inconsistent",),
    "software governance": ("prohibited_artifact",),
}
"""Which of the source's verification methods raises each kind of alert the authority
stores (usage reports, location checks, guards' refused loads)."""


def method_of(kind: str) -> str:
    for method, kinds in METHODS.items():
        if kind in kinds:
            return method
    return "other"


router = APIRouter(prefix="/console/api/alerts", tags=["console"])


def alerts(
    conn: Connection,
    *,
    country: str | None,
    owner: str | None,
    method: str | None,
    before: int | None,
    detail: bool,
) -> dict[str, Any]:
    joined = t.alerts.outerjoin(t.chips, t.chips.c.chip_id == t.alerts.c.chip_id).outerjoin(
        t.facilities, t.facilities.c.id == t.chips.c.facility_id
    )
    where = []
    if country:
        where.append(t.facilities.c.country == country.upper())
    if owner:
        where.append(t.chips.c.owner_id == owner)
    if method:
        kinds = METHODS.get(method)
        if kinds is None:
            known = set().union(*METHODS.values())
            where.append(t.alerts.c.kind.not_in(sorted(known)))
        else:
            where.append(t.alerts.c.kind.in_(kinds))
    counts = conn.execute(
        select(t.alerts.c.kind, func.count().label("n"))
        .select_from(joined)
        .where(*where)
        .group_by(t.alerts.c.kind)
    ).all()
    by_method: dict[str, int] = {}
    for r in counts:
        m = method_of(r.kind)
        by_method[m] = by_method.get(m, 0) + int(r.n)
    out: dict[str, Any] = {"total": sum(by_method.values()), "by_method": by_method, "alerts": []}
    if not detail:
        return out
    stmt = (
        select(
            t.alerts,
            t.chips.c.owner_id,
            t.chips.c.facility_id,
            t.facilities.c.country,
        )
        .select_from(joined)
        .where(*where)
        .order_by(t.alerts.c.id.desc())
        .limit(PAGE)
    )
    if before is not None:
        stmt = stmt.where(t.alerts.c.id < before)
    out["alerts"] = [
        {
            "id": r.id,
            "kind": r.kind,
            "method": method_of(r.kind),
            "severity": r.severity,
            "chip_id": r.chip_id,
            "owner_id": r.owner_id,
            "facility_id": r.facility_id,
            "country": r.country,
            "created_at": r.created_at,
            "detail": r.detail,
        }
        for r in conn.execute(stmt).all()
    ]
    return out


@router.get("", summary="Alerts with their evidence and method (counts only in public)")
async def alerts_api(
    request: Request,
    viewer: ViewerDep,
    country: str | None = Query(default=None, max_length=2),
    owner: str | None = Query(default=None, max_length=128),
    method: str | None = Query(default=None, max_length=64),
    before: int | None = Query(default=None, ge=0),
) -> dict[str, Any]:
    store = request.app.state.pb.service.store
    scope_owner = owner
    if viewer.role == "operator":
        scope_owner = viewer.owner_id  # an operator sees its own owner's alerts only

    def run() -> dict[str, Any]:
        with store.read() as conn:
            return alerts(
                conn,
                country=country or None,
                owner=scope_owner or None,
                method=method or None,
                before=before,
                detail=viewer.signed_in,
            )

    data = await run_in_threadpool(run)
    return {**data, "methods": list(METHODS), "public": not viewer.signed_in}
