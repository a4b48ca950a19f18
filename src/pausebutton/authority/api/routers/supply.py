"""The supply chain: parties, fab tools, export licences, custody signed by parties."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import SIGNED_ERRORS, Admin, AnySigned, Service
from pausebutton.authority.api.models import error_responses
from pausebutton.authority.services.custody import CustodyRecord, Event
from pausebutton.authority.services.supply import ExportLicence, FabTool, Party

router = APIRouter(tags=["supply chain"])

READ = error_responses(400, 422)
WRITE = error_responses(400, *SIGNED_ERRORS, 404, 409, 422)
IdQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")]


@router.post("/v1/supply/parties", status_code=201, response_model=Party, responses=WRITE)
def add_party(svc: Service, body: m.PartyIn, caller: Admin) -> Any:
    """Register a supply-chain party, with the key it signs its custody events with."""
    return svc.supply.add_party(caller, **body.model_dump())


@router.get("/v1/supply/parties", response_model=list[Party], responses=READ)
def parties(svc: Service, kind: IdQuery = None) -> Any:
    return svc.supply.parties(kind)


@router.post(
    "/v1/supply/parties/{fab_id}/tools", status_code=201, response_model=FabTool, responses=WRITE
)
def add_tool(svc: Service, fab_id: str, body: m.FabToolIn, caller: Admin) -> Any:
    """Record a fab's lithography tools: maker and kind (e.g. EUV)."""
    return svc.supply.add_tool(caller, fab_id, **body.model_dump())


@router.get("/v1/supply/tools", response_model=list[FabTool], responses=READ)
def tools(svc: Service, fab_id: IdQuery = None) -> Any:
    return svc.supply.tools(fab_id)


@router.post(
    "/v1/supply/export-licences", status_code=201, response_model=ExportLicence, responses=WRITE
)
def add_export_licence(svc: Service, body: m.ExportLicenceIn, caller: Admin) -> Any:
    return svc.supply.add_export_licence(caller, **body.model_dump())


@router.get("/v1/supply/export-licences", response_model=list[ExportLicence], responses=READ)
def export_licences(svc: Service) -> Any:
    return svc.supply.export_licences()


@router.post("/v1/supply/custody", status_code=201, response_model=CustodyRecord, responses=WRITE)
def sign_custody(svc: Service, body: m.SignedCustodyIn, caller: AnySigned) -> Any:
    """A custody event signed by the party that performs it: it must hold the chip, and
    its kind of party must be the one for this step (a fab fabricates, an exporter
    exports under an export licence, ...)."""
    d = body.model_dump()
    event = Event(
        d.pop("chip_id"),
        d.pop("kind"),
        d.pop("at"),
        "",  # the actor is the signing party's name
        **d,
    )
    return svc.supply.sign_custody(caller, event)
