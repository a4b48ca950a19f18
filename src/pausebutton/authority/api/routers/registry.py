"""Registry: owners, request-signing keys, facilities, chips, custody, CSV."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from pausebutton import errors
from pausebutton.authority import csvio
from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import (
    SIGNED_ERRORS,
    Admin,
    AdminOrMember,
    Operator,
    Service,
    State,
)
from pausebutton.authority.api.models import (
    AfterQuery,
    ChipIdPath,
    LimitQuery,
    NamePath,
    NameQuery,
    error_responses,
)
from pausebutton.authority.csvio import CsvImport
from pausebutton.authority.services.base import unb64
from pausebutton.authority.services.custody import CustodyEvent, CustodyRecord
from pausebutton.authority.services.health import HealthReport
from pausebutton.authority.services.keys import ApiKey, KeyListing, MemberRevocation, RevokedKey
from pausebutton.authority.services.registry import (
    Chip,
    ChipDetail,
    Facility,
    FacilityDetail,
    Owner,
    OwnerDetail,
)

router = APIRouter(tags=["registry"])

READ = error_responses(400, 404, 422)  # 400: a value beyond the database column
WRITE = error_responses(400, *SIGNED_ERRORS, 404, 409, 413, 422)
TEXT = "text/plain; charset=utf-8"
CsvKind = Literal["owners", "facilities", "chips", "licenses", "custody"]


@router.post("/v1/owners", status_code=201, response_model=Owner, responses=WRITE)
def create_owner(svc: Service, body: m.OwnerIn, caller: Admin) -> Any:
    return svc.registry.create_owner(caller, id=body.id, name=body.name, country=body.country)


@router.get("/v1/owners", response_model=list[Owner])
def list_owners(svc: Service) -> Any:
    return svc.registry.list_owners()


@router.get("/v1/owners/{owner_id}", response_model=OwnerDetail, responses=READ)
def get_owner(svc: Service, owner_id: NamePath) -> Any:
    return svc.registry.get_owner(owner_id)


@router.post("/v1/keys", status_code=201, response_model=ApiKey, responses=WRITE)
def add_key(svc: Service, body: m.KeyIn, caller: Admin) -> Any:
    return svc.keys.add_key(
        caller, public_key=body.public_key, role=body.role, name=body.name, owner_id=body.owner_id
    )


@router.get("/v1/keys", response_model=list[KeyListing])
def list_keys(svc: Service) -> Any:
    return svc.keys.list_keys()


@router.post(
    "/v1/keys/{key_id}/revoke", response_model=RevokedKey | MemberRevocation, responses=WRITE
)
def revoke_key(
    st: State, key_id: Annotated[str, Path(pattern="^[0-9a-f]{64}$")], caller: AdminOrMember
) -> Any:
    """Revoke an API key (admins) or a member key: at once by an admin or the member itself,
    else one vote of a member (revoked at the pause threshold of other members' votes)."""
    out = st.service.keys.revoke_key(caller, key_id)
    st.forget(key_id)
    return out


@router.post("/v1/facilities", status_code=201, response_model=Facility, responses=WRITE)
def create_facility(svc: Service, body: m.FacilityIn, caller: Admin) -> Any:
    return svc.registry.create_facility(caller, **body.model_dump())


@router.get("/v1/facilities", response_model=list[Facility], responses=READ)
def list_facilities(
    svc: Service,
    country: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
    limit: LimitQuery = 1000,
    offset: AfterQuery = 0,
) -> Any:
    return svc.registry.list_facilities(country=country, limit=limit, offset=offset)


@router.get("/v1/facilities/{facility_id}", response_model=FacilityDetail, responses=READ)
def get_facility(svc: Service, facility_id: NamePath) -> Any:
    return svc.registry.get_facility(facility_id)


@router.post(
    "/v1/facilities/{facility_id}/verification",
    response_model=FacilityDetail,
    responses=WRITE,
)
def verify_facility(
    svc: Service, facility_id: NamePath, body: m.VerificationIn, caller: Admin
) -> Any:
    return svc.registry.set_facility_verified(caller, facility_id, body.verified)


@router.post("/v1/chips", status_code=201, response_model=ChipDetail, responses=WRITE)
def register_chip(st: State, body: m.ChipIn, caller: Admin) -> Any:
    cert = unb64(body.certificate, "certificate", 8192)
    out = st.service.registry.register_chip(
        caller, certificate=cert, owner_id=body.owner_id, facility_id=body.facility_id
    )
    st.count("chips_registered")
    return out


@router.post("/v1/chips/{chip_id}/health", response_model=HealthReport, responses=WRITE)
def report_health(svc: Service, chip_id: ChipIdPath, body: m.HealthIn, caller: Operator) -> Any:
    """A node agent reports a tampered, zeroised or silent chip (signed by the operator's
    key: the chip's own key may be gone). Raises a ``chip_tampered`` or ``chip_silent``
    alert and sets the chip's registry status; ``ok`` clears ``silent``; ``tampered``
    and ``zeroised`` stay."""
    return svc.health.report(caller, chip_id, state=body.state, detail=body.detail)


@router.get("/v1/chips", response_model=list[Chip], responses=READ)
def list_chips(
    svc: Service,
    owner_id: NameQuery = None,
    facility_id: NameQuery = None,
    status: Annotated[
        Literal[
            "registered",
            "installed",
            "decommissioned",
            "destroyed",
            "tampered",
            "zeroised",
            "silent",
        ]
        | None,
        Query(),
    ] = None,
    limit: LimitQuery = 1000,
    offset: AfterQuery = 0,
) -> Any:
    return svc.registry.list_chips(
        owner_id=owner_id, facility_id=facility_id, status=status, limit=limit, offset=offset
    )


@router.get("/v1/chips/{chip_id}", response_model=ChipDetail, responses=READ)
def get_chip(svc: Service, chip_id: ChipIdPath) -> Any:
    return svc.registry.get_chip(chip_id)


@router.get("/v1/chips/{chip_id}/custody", response_model=list[CustodyEvent], responses=READ)
def get_custody(svc: Service, chip_id: ChipIdPath) -> Any:
    return svc.custody.custody(chip_id)


@router.post(
    "/v1/chips/{chip_id}/custody",
    status_code=201,
    response_model=CustodyRecord,
    responses=WRITE,
)
def add_custody(svc: Service, chip_id: ChipIdPath, body: m.CustodyIn, caller: Admin) -> Any:
    return svc.custody.add_custody_event(caller, chip_id, **body.model_dump())


@router.get(
    "/v1/registry/{kind}.csv",
    response_class=Response,
    responses={200: {"content": {TEXT: {"schema": {"type": "string"}}}}, **READ},
)
def export_csv(svc: Service, kind: CsvKind) -> Response:
    return PlainTextResponse(csvio.export_csv(svc, kind), media_type=TEXT)


@router.post(
    "/v1/registry/{kind}.csv",
    response_model=CsvImport,
    responses=WRITE,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_csv(request: Request, svc: Service, kind: CsvKind, caller: Admin) -> Any:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.DataError("CSV must be UTF-8", field="body") from None
    return await run_in_threadpool(csvio.import_csv, svc, caller, kind, text)
