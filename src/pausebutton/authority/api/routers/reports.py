"""Usage reports: ingestion (canonical CBOR batches), stored reports, alerts."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from pausebutton import errors
from pausebutton.authority.api.deps import (
    SIGNED_ERRORS,
    AppState,
    OperatorUnrecorded,
    Service,
    State,
    record_nonce,
)
from pausebutton.authority.api.models import (
    CBOR_BODY,
    AfterQuery,
    ChipIdPath,
    LimitQuery,
    error_responses,
)
from pausebutton.authority.services.base import Caller
from pausebutton.authority.services.reports import (
    AlertRecord,
    CheckedBatch,
    IngestResult,
    StoredReport,
)
from pausebutton.protocol import encoding

router = APIRouter(tags=["reports"])

READ = error_responses(400, 404, 422)  # 400: a value beyond the database column


@router.post(
    "/v1/reports",
    response_model=IngestResult,
    responses=error_responses(400, *SIGNED_ERRORS, 413, 422),
    openapi_extra=CBOR_BODY,
)
async def ingest(request: Request, st: State, signed: OperatorUnrecorded) -> Any:
    """A batch of signed usage reports: a canonical CBOR array of envelope byte strings.

    Everything after reading the body (decoding it, the reports, their signatures, the
    write) runs off the event loop, so one large batch does not hold up other requests.
    The request's nonce is recorded while the reports are decoded and checked; a
    replayed request is refused before anything of it is written."""
    raw = await request.body()
    nonce = asyncio.ensure_future(record_nonce(st, signed))
    try:
        batch = await run_in_threadpool(_check_body, st, signed.caller, raw)
    finally:
        await nonce  # a replay is refused here, whatever the body
    out = await run_in_threadpool(st.service.reports.store_checked, batch)
    st.count("reports_accepted", out.accepted)
    return out


def _check_body(st: AppState, caller: Caller, raw: bytes) -> CheckedBatch:
    try:
        value = encoding.decode(raw, max_size=st.settings.max_report_body)
    except errors.EncodingError as exc:
        exc.details.setdefault("field", "body")
        raise
    if not isinstance(value, list) or not all(isinstance(v, bytes) for v in value):
        raise errors.SchemaError(
            "body must be a CBOR array of report envelopes (byte strings)", field="body"
        )
    return st.service.reports.check(caller, value)


@router.get("/v1/chips/{chip_id}/reports", response_model=list[StoredReport], responses=READ)
def list_reports(
    svc: Service, chip_id: ChipIdPath, after: AfterQuery = 0, limit: LimitQuery = 1000
) -> Any:
    return svc.reports.list_reports(chip_id, after=after, limit=limit)


@router.get("/v1/alerts", response_model=list[AlertRecord], responses=READ)
def list_alerts(
    svc: Service,
    after: AfterQuery = 0,
    kind: Annotated[str | None, Query(pattern="^[a-z_]{1,32}$")] = None,
    chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
    limit: LimitQuery = 1000,
) -> Any:
    return svc.reports.list_alerts(after=after, kind=kind, chip_id=chip_id, limit=limit)
