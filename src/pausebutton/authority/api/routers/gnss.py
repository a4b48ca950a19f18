"""GNSS position fixes reported by node agents, checked against light speed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import SIGNED_ERRORS, Operator, Service
from pausebutton.authority.api.models import AfterQuery, LimitQuery, error_responses
from pausebutton.authority.services.gnss import StoredFix

router = APIRouter(tags=["location"])


@router.post(
    "/v1/location/fixes",
    status_code=201,
    response_model=list[StoredFix],
    responses=error_responses(400, *SIGNED_ERRORS, 404, 409, 422),
)
def submit_fixes(svc: Service, body: m.FixesIn, caller: Operator) -> Any:
    """GNSS fixes of the caller's chips (an operator's agent) or any chip (admin). Each is
    checked against the chip's landmark round trips (a fix light speed rules out is
    ``spoofed``; one the delays cannot explain is ``relayed``) and its facility
    (``off_site``); those raise alerts. All or nothing."""
    return svc.gnss.submit(caller, [f.model_dump() for f in body.fixes])


@router.get(
    "/v1/location/fixes",
    response_model=list[StoredFix],
    responses=error_responses(400, 422),
)
def list_fixes(
    svc: Service,
    chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
    after: AfterQuery = 0,
    limit: LimitQuery = 1000,
) -> Any:
    return svc.gnss.list_fixes(chip_id, after=after, limit=limit)
