"""The verification engine inside the authority: signal sources, signal intake, runs,
fused alerts and findings (``authority/detection.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from pausebutton import errors
from pausebutton.authority import detection
from pausebutton.authority.api.deps import SIGNED_ERRORS, Admin, AnySigned, Service, State
from pausebutton.authority.api.models import SignalSourceIn, error_responses
from pausebutton.authority.services.signals import SignalBatch, SignalSource

router = APIRouter(tags=["detection"])

READ = error_responses(400, 404, 422)
WRITE = error_responses(400, *SIGNED_ERRORS, 409, 413, 422)
JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string"},
                        "version": {"type": "integer"},
                        "rows": {"type": "array", "items": {"type": "object"}},
                    },
                    "required": ["kind", "rows"],
                }
            }
        },
    }
}
Text = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._:@-]{1,128}$")]


@router.post("/v1/signal-sources", status_code=201, response_model=SignalSource, responses=WRITE)
def add_source(svc: Service, body: SignalSourceIn, caller: Admin) -> Any:
    """Bind a source's request-signing key to the verification methods it may report."""
    return svc.signals.add_source(
        caller, public_key=body.public_key, name=body.name, methods=body.methods
    )


@router.get("/v1/signal-sources", response_model=list[SignalSource], responses=READ)
def list_sources(svc: Service) -> Any:
    return svc.signals.list_sources()


@router.post(
    "/v1/signals",
    status_code=201,
    response_model=SignalBatch,
    responses=WRITE,
    openapi_extra=JSON_BODY,
)
async def submit_signals(request: Request, st: State, caller: AnySigned) -> Any:
    """One batch of one method's signals, in the engine's JSON file format
    (``{"kind", "version", "rows"}``), signed by a source allowed that method. All or
    nothing; rows already received are not stored twice."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.MalformedError("the body is not UTF-8 JSON", field="body") from None
    out = await run_in_threadpool(st.service.signals.submit, caller, text)
    st.count("signals_stored", out.stored)
    return out


@router.post(
    "/v1/detection/runs",
    status_code=201,
    response_model=detection.DetectionRun,
    responses=error_responses(*SIGNED_ERRORS),
)
async def run_now(st: State, caller: Admin) -> Any:
    """Run the engine over the evidence now (the background loop runs it periodically)."""
    return await run_in_threadpool(detection.run_detection, st.service)


@router.get("/v1/detection/runs/latest", response_model=detection.DetectionRun, responses=READ)
def latest(svc: Service) -> Any:
    return detection.latest_run(svc)[0]


@router.get("/v1/detection/alerts", response_model=list[detection.FusedAlert], responses=READ)
def fused_alerts(
    svc: Service,
    kind: Annotated[str | None, Query(pattern="^(owner|site|fab|chip)$")] = None,
    owner: Text = None,
    country: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
    method: Annotated[str | None, Query(pattern="^[a-z_]{1,32}$")] = None,
) -> Any:
    """The newest run's fused alerts, strongest first: each names its subject (owner,
    site, fab or chip), the methods that found it and every finding with its evidence."""
    return detection.alerts(svc, kind=kind, owner=owner, country=country, method=method)


@router.get("/v1/findings", response_model=list[detection.StoredFinding], responses=READ)
def list_findings(svc: Service, rule: Text = None, subject: Text = None) -> Any:
    """The newest run's findings with their labelled evidence."""
    return detection.findings(svc, rule=rule, subject=subject)
