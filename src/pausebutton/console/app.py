"""The console's routes, composed above the authority's application.

``create_console_app(settings)`` builds the authority's app (``authority.api.create_app``)
and adds the console: HTML pages under ``/console`` (Jinja2, rendered on the server;
small vanilla JavaScript for the map and the live pause page), their JSON under
``/console/api``, the vendored static files under ``/console/static`` and ``/`` sending
the browser to the map. The authority package never imports this one.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from pausebutton import errors
from pausebutton.authority.api import create_app
from pausebutton.authority.services import ADMIN, MEMBER, OPERATOR, Caller
from pausebutton.authority.settings import Settings
from pausebutton.console import alertsview, fleetview, logview, queries
from pausebutton.console.deps import (
    PACKAGE,
    STREAM_INTERVAL_S,
    Console,
    ViewerDep,
    console,
    may_see_facility,
    need,
    public_map,
    state,
)
from pausebutton.console.geometry import check_drawing
from pausebutton.console.session import (
    COOKIE,
    PUBLIC,
    SESSION_TTL,
    Sessions,
    Viewer,
    parse_signature,
)
from pausebutton.errors import UsageError
from pausebutton.protocol.keys import PublicKey

# -- request bodies -------------------------------------------------------------------------


class SignIn(BaseModel):
    key_id: str = Field(max_length=64)
    challenge: str = Field(max_length=256)
    signature: str = Field(max_length=256)


class ProposalSignature(BaseModel):
    sig: str = Field(max_length=256)
    """Hex Ed25519 signature over the proposal's signing input, by the signed-in member."""


# -- the JSON API ----------------------------------------------------------------------------

api = APIRouter(prefix="/console/api", tags=["console"])


@api.get("/map", summary="Facilities with chip counts per state, a country roll-up")
async def map_api(request: Request, viewer: ViewerDep) -> Response:
    data = await console(request).map_data(request)
    body = data if viewer.signed_in else public_map(data)
    # compact JSON, gzipped for a browser that takes it: 10,000 facilities are about
    # 0.8 MB of JSON and 0.2 MB compressed
    raw = json.dumps(body, separators=(",", ":")).encode()
    if "gzip" in request.headers.get("accept-encoding", "") and len(raw) > 1024:
        return Response(
            await run_in_threadpool(gzip.compress, raw, 6),
            media_type="application/json",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return Response(raw, media_type="application/json", headers={"Vary": "Accept-Encoding"})


@api.get("/facilities/{facility_id}", summary="One facility and its chips")
async def facility_api(request: Request, facility_id: str, viewer: ViewerDep) -> dict[str, Any]:
    need(viewer)
    st = state(request)
    data = await console(request).read(request, queries.facility, facility_id, st.service.now())
    if not data:
        raise errors.NotFoundError(f"no facility {facility_id}", field="facility_id")
    may_see_facility(viewer, data["owner_id"])
    return data


async def _chip(request: Request, chip_id: str, viewer: Viewer) -> dict[str, Any]:
    need(viewer)
    st = state(request)
    data = await console(request).read(request, queries.chip, chip_id, st.service.now())
    if not data:
        raise errors.NotFoundError(f"no chip {chip_id}", field="chip_id")
    may_see_facility(viewer, data["owner_id"])
    check = data["location_check"]
    if check is not None:
        check["drawing"] = await run_in_threadpool(check_drawing, check["result"])
    return data


@api.get("/chips/{chip_id}", summary="One chip: custody timeline, reports, location check")
async def chip_api(request: Request, chip_id: str, viewer: ViewerDep) -> dict[str, Any]:
    return await _chip(request, chip_id, viewer)


def _pause_state(conn: Any, k: int, n: int, signed_in: bool) -> dict[str, Any]:
    from sqlalchemy import select

    from pausebutton.authority import tables as t

    orders = queries.orders_with_delivery(conn, k)
    rows = conn.execute(
        select(t.proposals.c.id)
        .where(t.proposals.c.status == "open")
        .order_by(t.proposals.c.id.desc())
        .limit(20)
    ).all()
    lists = conn.execute(
        select(
            t.prohibited_lists.c.sequence,
            t.prohibited_lists.c.issued_at,
            t.prohibited_lists.c.artifacts,
            t.prohibited_lists.c.log_index,
        )
        .order_by(t.prohibited_lists.c.sequence.desc())
        .limit(5)
    ).all()
    return {
        "threshold": k,
        "members": n,
        "prohibited_lists": [dict(r._mapping) for r in lists],
        "open_proposal_ids": [r.id for r in rows],
        "orders": orders if signed_in else [_public_order(o) for o in orders],
    }


def _public_order(o: dict[str, Any]) -> dict[str, Any]:
    """An order without its chip-level scope."""
    scope = dict(o["scope"])
    if scope.get("chips"):
        scope["chips"] = [f"{len(scope['chips'])} chips"]
    return {**o, "scope": scope}


async def pause_data(request: Request, viewer: Viewer) -> dict[str, Any]:
    st = state(request)
    svc = st.service
    k, n = svc.orders.pause_threshold, len(svc.orders.pause_keys)
    data = await console(request).read(request, _pause_state, k, n, viewer.signed_in)
    proposals = []
    for pid in data.pop("open_proposal_ids"):
        p = asdict(await run_in_threadpool(svc.orders.get_proposal, pid))
        if not viewer.signed_in:
            p.pop("envelope", None)
        proposals.append(p)
    data["proposals"] = proposals
    pending = await run_in_threadpool(
        lambda: svc.licensing.list_applications(status="pending", limit=20)
    )
    data["applications"] = [
        {
            "id": a.id,
            "owner_id": a.owner_id,
            "run_id": a.run_id,
            "purpose": a.purpose if viewer.signed_in else "",
            "flop_budget": a.flop_budget,
            "chips": len(a.chips),
            "approvals": a.approvals,
            "approvals_required": a.approvals_required,
            "reasons": a.reasons if viewer.signed_in else [],
            "created_at": a.created_at,
        }
        for a in pending
    ]
    root = svc.root
    data["trust_root"] = {
        "version": root.version,
        "expires": root.expires,
        "members": [{"name": m.name, "region": m.region} for m in root.members],
        "roles": {
            name: {"threshold": r.threshold, "keys": len(r.keys)} for name, r in root.roles.items()
        },
        # every root since the pinned one: each change the members signed K of N
        "history": [
            {
                "version": v.version,
                "expires": v.expires,
                "members": v.members,
                "log_index": v.log_index,
                "received_at": v.received_at,
            }
            for v in await run_in_threadpool(svc.roots.chain, 0)
        ],
    }
    data["now"] = svc.now()
    return data


@api.get("/pause", summary="Open proposals, K-of-N progress, orders and their delivery")
async def pause_api(request: Request, viewer: ViewerDep) -> dict[str, Any]:
    return await pause_data(request, viewer)


@api.get("/pause/stream", summary="The pause page's state as server-sent events")
async def pause_stream(request: Request, viewer: ViewerDep) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        last = ""
        while not await request.is_disconnected():
            data = await pause_data(request, viewer)
            now = data.pop("now")
            text = json.dumps(data, separators=(",", ":"), sort_keys=True)
            if text != last:
                last = text
                # keys sorted as the page's first copy is (Jinja's tojson): the page redraws
                # only what changed, comparing the two as text
                yield {"event": "pause", "data": json.dumps({**data, "now": now}, sort_keys=True)}
            await asyncio.sleep(STREAM_INTERVAL_S)

    return EventSourceResponse(events(), ping=15)


@api.post("/proposals/{proposal_id}/signatures", summary="A signed-in member signs a proposal")
async def sign_proposal(
    request: Request, proposal_id: int, body: ProposalSignature, viewer: ViewerDep
) -> dict[str, Any]:
    need(viewer, MEMBER)
    svc = state(request).service
    caller = Caller(viewer.key_id, viewer.role, viewer.name, viewer.owner_id)
    prop = await run_in_threadpool(svc.orders.get_proposal, proposal_id)
    if prop.status != "open":
        raise errors.ConflictError(
            f"proposal {proposal_id} is {prop.status}: it no longer takes signatures",
            field="proposal_id",
        )
    out = await run_in_threadpool(
        lambda: svc.orders.sign_proposal(
            caller, proposal_id, key_id_hex=viewer.key_id, sig_hex=body.sig
        )
    )
    return asdict(out)


@api.post("/applications/{app_id}/approvals", summary="A signed-in member approves a licence")
async def approve_application(request: Request, app_id: int, viewer: ViewerDep) -> dict[str, Any]:
    need(viewer, MEMBER)
    svc = state(request).service
    caller = Caller(viewer.key_id, viewer.role, viewer.name, viewer.owner_id)
    app = await run_in_threadpool(svc.licensing.get_application, app_id)
    if app.status != "pending":
        raise errors.ConflictError(
            f"application {app_id} is {app.status}: it no longer takes approvals",
            field="app_id",
        )
    return asdict(await run_in_threadpool(svc.licensing.approve, caller, app_id))


@api.get("/challenge", summary="A one-use sign-in challenge to sign with your key")
async def challenge(request: Request) -> dict[str, Any]:
    now = state(request).service.now()
    return {"challenge": console(request).sessions.challenge(now), "expires_in": 300}


@api.post("/session", summary="Sign in: the challenge signed by a key the authority knows")
async def sign_in(request: Request, body: SignIn) -> JSONResponse:
    st = state(request)
    sessions = console(request).sessions
    now = st.service.now()
    nonce, expiry = sessions.check_challenge(body.challenge, now)
    sig = parse_signature(body.signature)
    kid = body.key_id.strip().lower()
    found = await run_in_threadpool(st.principal, kid)
    if found is None:
        raise errors.AuthError(
            f"the authority knows no key {kid[:16]}…: sign with a member, operator or admin key",
            field="key_id",
        )
    caller, pub = found
    if not isinstance(pub, PublicKey) or not pub.is_valid(body.challenge.encode(), sig):
        raise errors.BadSignatureError(
            "the signature does not verify under this key: wrong key file, or a different"
            " challenge was signed",
            field="signature",
        )
    fresh = await run_in_threadpool(st.service.keys.use_nonce, kid, f"console-{nonce}", expiry)
    if not fresh:
        raise errors.ReplayError("this challenge was already used: ask for a new one")
    resp = JSONResponse({"role": caller.role, "name": caller.name, "key_id": kid})
    resp.set_cookie(
        COOKIE,
        sessions.cookie(kid, now),
        max_age=SESSION_TTL,
        httponly=True,
        samesite="strict",
        path="/",
    )
    return resp


@api.post("/signout", summary="End the session")
async def sign_out() -> JSONResponse:
    resp = JSONResponse({"role": PUBLIC})
    resp.delete_cookie(COOKIE, path="/")
    return resp


@api.get("/whoami", summary="The session's role")
async def whoami(viewer: ViewerDep) -> dict[str, Any]:
    return {"role": viewer.role, "name": viewer.name, "key_id": viewer.key_id}


# -- HTML pages -------------------------------------------------------------------------------

templates = Jinja2Templates(directory=str(PACKAGE / "templates"))
pages = APIRouter(include_in_schema=False)


def render(request: Request, name: str, viewer: Viewer, status: int = 200, **ctx: Any) -> Any:
    return templates.TemplateResponse(
        request, name, {"viewer": viewer, "roles": (MEMBER, OPERATOR, ADMIN), **ctx}, status
    )


def error_page(request: Request, viewer: Viewer, exc: errors.PausebuttonError) -> Any:
    return render(
        request,
        "error.html",
        viewer,
        status=exc.http_status,
        error=exc.to_dict(),
        status_code=exc.http_status,
    )


@pages.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@pages.get("/map")
async def map_alias() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@pages.get("/console/", response_class=HTMLResponse)
async def map_page(request: Request, viewer: ViewerDep) -> Any:
    return render(request, "map.html", viewer, page="map", states=queries.STATES)


@pages.get("/console/facilities/{facility_id}", response_class=HTMLResponse)
async def facility_page(request: Request, facility_id: str, viewer: ViewerDep) -> Any:
    try:
        data = await facility_api(request, facility_id, viewer)
    except errors.PausebuttonError as exc:
        return error_page(request, viewer, exc)
    return render(request, "facility.html", viewer, page="map", f=data, states=queries.STATES)


@pages.get("/console/chips/{chip_id}", response_class=HTMLResponse)
async def chip_page(request: Request, chip_id: str, viewer: ViewerDep) -> Any:
    try:
        data = await _chip(request, chip_id, viewer)
    except errors.PausebuttonError as exc:
        return error_page(request, viewer, exc)
    return render(request, "chip.html", viewer, page="map", c=data)


@pages.get("/console/pause", response_class=HTMLResponse)
async def pause_page(request: Request, viewer: ViewerDep) -> Any:
    data = await pause_data(request, viewer)
    return render(request, "pause.html", viewer, page="pause", data=data)


@pages.get("/console/log", response_class=HTMLResponse)
async def log_page(request: Request, viewer: ViewerDep) -> Any:
    return render(request, "log.html", viewer, page="log")


@pages.get("/console/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, viewer: ViewerDep) -> Any:
    return render(request, "alerts.html", viewer, page="alerts", methods=list(alertsview.METHODS))


@pages.get("/console/fleet", response_class=HTMLResponse)
async def fleet_page(request: Request, viewer: ViewerDep) -> Any:
    if not viewer.signed_in:
        return error_page(request, viewer, errors.AuthError("sign in to see the fleet"))
    return render(request, "fleet.html", viewer, page="fleet")


@pages.get("/console/signin", response_class=HTMLResponse)
async def signin_page(request: Request, viewer: ViewerDep) -> Any:
    return render(request, "signin.html", viewer, page="signin")


def mount(app: FastAPI, settings: Settings) -> FastAPI:
    """Add the console to an authority app built by ``create_app(settings)``."""
    app.state.console = Console(Sessions(settings.licensing_key.seed()))
    app.include_router(api)
    app.include_router(logview.router)
    app.include_router(alertsview.router)
    app.include_router(fleetview.router)
    app.include_router(pages)
    app.mount("/console/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    return app


def create_console_app(settings: Settings) -> FastAPI:
    """The authority's application with the console mounted."""
    return mount(create_app(settings), settings)


def console_app_from_env() -> FastAPI:
    """Factory for uvicorn workers: settings from the file named by PB_AUTHORITY_SETTINGS."""
    path = os.environ.get("PB_AUTHORITY_SETTINGS")
    if not path:
        raise UsageError("PB_AUTHORITY_SETTINGS is not set")
    return create_console_app(Settings.from_file(path))


__all__ = ["console_app_from_env", "create_console_app", "mount"]
