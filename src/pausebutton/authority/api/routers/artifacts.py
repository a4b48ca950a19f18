"""Prohibited artifacts: the K-of-N signed list, and node agents' refused-load reports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import (
    SIGNED_ERRORS,
    Member,
    Operator,
    Service,
    State,
)
from pausebutton.authority.api.models import (
    CBOR_BODY,
    AfterQuery,
    IdPath,
    LimitQuery,
    NameQuery,
    error_responses,
)
from pausebutton.authority.services.artifacts import (
    ArtifactReport,
    ArtifactReportsResult,
    ProhibitedList,
    PublishedList,
)
from pausebutton.authority.services.prohibited import ListProposal

router = APIRouter(tags=["artifacts"])

WRITE = error_responses(400, *SIGNED_ERRORS, 409, 413, 422)


@router.post(
    "/v1/prohibited",
    status_code=201,
    response_model=PublishedList,
    responses=WRITE,
    openapi_extra=CBOR_BODY,
)
async def publish_prohibited(request: Request, st: State, caller: Member) -> Any:
    """Publish a ProhibitedArtifacts envelope signed by the pause role's K of N
    (raw CBOR body); it is logged and served to node agents at GET /v1/prohibited."""
    raw = await request.body()
    out = await run_in_threadpool(st.service.artifacts.publish_prohibited, caller, raw)
    st.count("prohibited_lists")
    return out


@router.post(
    "/v1/prohibited/proposals",
    status_code=201,
    response_model=ListProposal,
    responses=WRITE,
    openapi_extra=CBOR_BODY,
)
async def propose_prohibited(request: Request, st: State, caller: Member) -> Any:
    """Propose a ProhibitedArtifacts list for K-of-N signing (raw CBOR body: the envelope,
    with any member signatures it carries, which count at once). At the pause role's
    threshold it is published as by POST /v1/prohibited."""
    raw = await request.body()
    return await run_in_threadpool(st.service.prohibited.propose, caller, raw)


@router.get(
    "/v1/prohibited/proposals", response_model=list[ListProposal], responses=error_responses(422)
)
def list_prohibited_proposals(
    svc: Service,
    status: Annotated[Literal["open", "published"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> Any:
    return svc.prohibited.list(status=status, limit=limit)


@router.get(
    "/v1/prohibited/proposals/{proposal_id}",
    response_model=ListProposal,
    responses=error_responses(400, 404, 422),
)
def get_prohibited_proposal(svc: Service, proposal_id: IdPath) -> Any:
    return svc.prohibited.get(proposal_id)


@router.post(
    "/v1/prohibited/proposals/{proposal_id}/signatures",
    response_model=ListProposal,
    responses=error_responses(400, *SIGNED_ERRORS, 404, 409, 413, 422),
)
async def sign_prohibited_proposal(
    st: State, proposal_id: IdPath, body: m.SignatureIn, caller: Member
) -> Any:
    """A member's signature over the list's signing input; publishes the list at K."""
    return await run_in_threadpool(
        st.service.prohibited.sign, caller, proposal_id, key_id_hex=body.key_id, sig_hex=body.sig
    )


@router.get("/v1/prohibited", response_model=ProhibitedList, responses=error_responses(404))
def newest_prohibited(svc: Service) -> Any:
    """The newest published list: ``{sequence, issued_at, artifacts, log_index,
    envelope (base64)}``; 404 ``not_found`` before the first."""
    return svc.artifacts.newest_prohibited()


@router.post("/v1/artifact-reports", response_model=ArtifactReportsResult, responses=WRITE)
def report_artifacts(st: State, body: m.ArtifactReportsIn, caller: Operator) -> Any:
    """Refused loads of prohibited artifacts, reported by node agents; each new one
    raises a ``prohibited_artifact`` alert (GET /v1/alerts)."""
    out = st.service.artifacts.report_artifacts(caller, [r.model_dump() for r in body.reports])
    st.count("artifact_reports", out.accepted)
    return out


@router.get(
    "/v1/artifact-reports",
    response_model=list[ArtifactReport],
    responses=error_responses(400, 422),
)
def list_artifact_reports(
    svc: Service, owner_id: NameQuery = None, after: AfterQuery = 0, limit: LimitQuery = 1000
) -> Any:
    return svc.artifacts.list_artifact_reports(owner_id=owner_id, after=after, limit=limit)
