"""Audit: the authority's own log entries and recent 401/403 answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import SIGNED_ERRORS, Admin, Service
from pausebutton.authority.api.models import BIG, AfterQuery, error_responses
from pausebutton.authority.services.keys import AuthEvent

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/audit/log",
    response_model=m.LogEntriesOut,
    response_model_exclude_unset=True,
    responses=error_responses(400, 422),
)
def log_entries(
    svc: Service,
    start: AfterQuery = 0,
    end: Annotated[int | None, Query(ge=0, le=BIG)] = None,
) -> Any:
    """Entries ``[start, end)`` of the authority's log (at most 1000), data base64."""
    return {"size": svc.audit.log_size(), "entries": svc.audit.log_entries(start, end)}


@router.post(
    "/v1/audit/auth-events",
    response_model=list[AuthEvent],
    responses=error_responses(400, *SIGNED_ERRORS, 413, 422),
)
def auth_events(
    svc: Service, caller: Admin, body: Annotated[dict[str, Any] | None, Body()] = None
) -> Any:
    """Recent 401/403 answers (a signed admin request, hence POST)."""
    return svc.keys.auth_events()
