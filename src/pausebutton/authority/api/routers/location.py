"""Location verification: landmarks' measurements and the checks run over them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import SIGNED_ERRORS, Admin, Service, State
from pausebutton.authority.api.models import CBOR_BODY, AfterQuery, LimitQuery, error_responses
from pausebutton.authority.services.location import (
    MeasurementReceipt,
    StoredCheck,
    StoredMeasurement,
)

router = APIRouter(tags=["location"])

ChipQuery = Annotated[str, Query(pattern="^[0-9a-f]{64}$")]


@router.post(
    "/v1/location/measurements",
    status_code=201,
    response_model=MeasurementReceipt,
    responses=error_responses(400, 404, 413, 422),
    openapi_extra=CBOR_BODY,
)
async def submit_measurement(request: Request, st: State) -> Any:
    """One landmark's signed Measurement (raw envelope, what ``landmark serve
    --url`` sends). Self-authenticating (a trust-root landmark key signs
    it), so no request signature; refused with ``bad_signature``, ``not_found``,
    ``expired``, ``not_yet_valid`` or ``replay``."""
    raw = await request.body()
    out = await run_in_threadpool(st.service.location.submit_measurement, raw)
    st.count("location_measurements")
    return out


@router.post(
    "/v1/location/checks/run",
    response_model=m.ChecksRunOut,
    responses=error_responses(400, *SIGNED_ERRORS, 413, 422),
)
def run_location_checks(
    svc: Service, caller: Admin, body: Annotated[dict[str, Any] | None, Body()] = None
) -> Any:
    """Run the location checks now (they also run every ``location_interval`` s)."""
    return {"checks": svc.location.run_location_checks(svc.now())}


@router.get(
    "/v1/location/checks",
    response_model=list[StoredCheck],
    responses=error_responses(400, 422),
)
def list_location_checks(
    svc: Service,
    chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
    after: AfterQuery = 0,
    limit: LimitQuery = 1000,
) -> Any:
    """Stored check results, oldest first: verdict, evidence, log index, alert id."""
    return svc.location.list_location_checks(chip_id=chip_id, after=after, limit=limit)


@router.get(
    "/v1/location/measurements",
    response_model=list[StoredMeasurement],
    responses=error_responses(400, 422),
)
def list_location_measurements(
    svc: Service, chip_id: ChipQuery, after: AfterQuery = 0, limit: LimitQuery = 1000
) -> Any:
    """A chip's stored measurements (envelope base64)."""
    return svc.location.list_location_measurements(chip_id, after=after, limit=limit)
