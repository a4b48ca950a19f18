"""The alerts page's data: the authority's alerts with the chip's owner and country and
the verification method that raised them, filterable by country, owner and method; and
the verification engine's fused alerts of its newest run (``authority/detection.py``),
each naming its subject, the methods behind it and its findings' evidence."""

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
    "chip location tracking": (
        "location_inconsistent",
        "location_suspicious",
        "gnss_spoofed",
        "gnss_relayed",
        "gnss_off_site",
    ),
    "chip health": ("chip_tampered", "chip_silent"),
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
    service = request.app.state.pb.service
    fused = await run_in_threadpool(
        fused_alerts,
        service,
        country=(country or "").upper() or None,
        owner=scope_owner or None,
        detail=viewer.signed_in,
    )
    return {**data, "fused": fused, "methods": list(METHODS), "public": not viewer.signed_in}


def fused_alerts(
    service: Any, *, country: str | None, owner: str | None, detail: bool
) -> dict[str, Any]:
    """The newest detection run's fused alerts (the run's figures; the alerts themselves
    only for a signed-in viewer). No run yet: ``run`` is None."""
    from pausebutton.authority import detection
    from pausebutton.errors import NotFoundError

    try:
        run, rows, _findings = detection.latest_run(service)
    except NotFoundError:
        return {"run": None, "total": 0, "alerts": []}
    chosen = [
        r
        for r in rows
        if (not country or r["country"] == country) and (not owner or r["owner"] == owner)
    ]
    shown = [
        {
            "kind": r["kind"],
            "subject": r["subject"],
            "owner": r["owner"],
            "country": r["country"],
            "probability": r["probability"],
            "severity": r["severity"],
            "methods": r["methods"],
            "findings": [
                {"rule": f["rule"], "reason": f["reason"], "evidence": f["evidence"]}
                for f in r["findings"]
            ],
        }
        for r in chosen[:PAGE]
    ]
    return {
        "run": {"id": run.id, "at": run.at, "signals": run.signals, "own": run.own_evidence},
        "total": len(chosen),
        "alerts": shown if detail else [],
    }
