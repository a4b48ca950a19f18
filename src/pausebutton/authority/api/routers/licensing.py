"""Licensing: the policy, licence applications, approvals and licences."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import (
    SIGNED_ERRORS,
    Member,
    Operator,
    Service,
    State,
)
from pausebutton.authority.api.models import (
    AfterQuery,
    IdPath,
    LimitQuery,
    NameQuery,
    error_responses,
)
from pausebutton.authority.services.licensing import Application, IssuedLicense
from pausebutton.protocol.flop import parse_flop

router = APIRouter(tags=["licensing"])

READ = error_responses(400, 404, 422)  # 400: a value beyond the database column
WRITE = error_responses(400, *SIGNED_ERRORS, 404, 409, 413, 422)


@router.get("/v1/policy", response_model=m.PolicyOut)
def policy(svc: Service) -> Any:
    """The licensing policy's parameters (integers above 2**53 as decimal strings)."""
    return svc.policy.to_dict()


@router.post(
    "/v1/licenses/applications",
    status_code=201,
    response_model=Application,
    responses=WRITE,
)
async def apply(st: State, body: m.ApplicationIn, caller: Operator) -> Any:
    # concurrent applications are decided and committed in batches (group commit):
    # this waits for its batch on the event loop, holding no worker thread
    budget = (
        body.flop_budget
        if isinstance(body.flop_budget, int)
        else parse_flop(body.flop_budget, "flop_budget")
    )
    out = await st.service.licensing.apply_async(
        caller,
        chips=body.chips,
        flop_budget=budget,
        not_before=body.not_before,
        not_after=body.not_after,
        run_id=body.run_id,
        purpose=body.purpose,
        owner_id=body.owner_id,
    )
    st.count("licenses_issued", len(out.license_ids))
    return out


@router.get("/v1/licenses/applications", response_model=list[Application], responses=READ)
def list_applications(
    svc: Service,
    owner_id: NameQuery = None,
    status: Annotated[Literal["pending", "approved", "issued", "refused"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> Any:
    return svc.licensing.list_applications(owner_id=owner_id, status=status, limit=limit)


@router.get(
    "/v1/licenses/applications/{application_id}",
    response_model=Application,
    responses=READ,
)
def get_application(svc: Service, application_id: IdPath) -> Any:
    return svc.licensing.get_application(application_id)


@router.post(
    "/v1/licenses/applications/{application_id}/approvals",
    response_model=Application,
    responses=WRITE,
)
def approve(st: State, application_id: IdPath, caller: Member) -> Any:
    out = st.service.licensing.approve(caller, application_id)
    st.count("licenses_issued", len(out.license_ids))
    return out


@router.get("/v1/licenses", response_model=list[IssuedLicense], responses=READ)
def list_licenses(
    svc: Service,
    chip_id: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
    owner_id: NameQuery = None,
    after: AfterQuery = 0,
    limit: LimitQuery = 1000,
) -> Any:
    return svc.licensing.list_licenses(chip_id=chip_id, owner_id=owner_id, after=after, limit=limit)


@router.get("/v1/licenses/{license_id}", response_model=IssuedLicense, responses=READ)
def get_license(svc: Service, license_id: IdPath) -> Any:
    return svc.licensing.get_license(license_id)
