"""Pause and resume: proposals, members' signatures, orders (list, long-poll, events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import SIGNED_ERRORS, Member, Service, State
from pausebutton.authority.api.models import AfterQuery, IdPath, LimitQuery, error_responses
from pausebutton.authority.services.orders import Order, Proposal, SignedProposal
from pausebutton.protocol.scopes import scope_from_json

router = APIRouter(tags=["orders"])

READ = error_responses(400, 404, 422)  # 400: a value beyond the database column
WRITE = error_responses(400, *SIGNED_ERRORS, 404, 409, 413, 422)


@router.post("/v1/orders/proposals", status_code=201, response_model=Proposal, responses=WRITE)
def propose(svc: Service, body: m.ProposalIn, caller: Member) -> Any:
    scope = scope_from_json(body.scope.model_dump()) if body.scope else None
    return svc.orders.propose(
        caller,
        kind=body.kind,
        scope=scope,
        reason=body.reason,
        effective_at=body.effective_at,
        lifts=body.lifts,
    )


@router.get("/v1/orders/proposals", response_model=list[Proposal], responses=READ)
def list_proposals(
    svc: Service,
    status: Annotated[Literal["open", "assembled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> Any:
    return svc.orders.list_proposals(status=status, limit=limit)


@router.get("/v1/orders/proposals/{proposal_id}", response_model=Proposal, responses=READ)
def get_proposal(svc: Service, proposal_id: IdPath) -> Any:
    return svc.orders.get_proposal(proposal_id)


@router.post(
    "/v1/orders/proposals/{proposal_id}/signatures",
    response_model=SignedProposal,
    responses=WRITE,
)
async def sign_proposal(st: State, proposal_id: IdPath, body: m.SignatureIn, caller: Member) -> Any:
    out = await run_in_threadpool(
        st.service.orders.sign_proposal,
        caller,
        proposal_id,
        key_id_hex=body.key_id,
        sig_hex=body.sig,
    )
    if out.assembled_now:
        st.count("orders_assembled")
        await st.feed.refresh()
    return out


@router.get("/v1/orders", response_model=list[Order], responses=READ)
def list_orders(
    svc: Service, after: AfterQuery = 0, active: bool | None = None, limit: LimitQuery = 1000
) -> Any:
    return svc.orders.list_orders(after=after, active=active, limit=limit)


@router.get("/v1/orders/watch", response_model=m.OrderWatchOut, responses=READ)
async def watch_orders(
    st: State,
    after: AfterQuery = 0,
    timeout: Annotated[float, Query(ge=0, le=300)] = 30.0,
) -> Any:
    """Long-poll: answers as soon as an order with a sequence above ``after`` exists
    (or with an empty list after ``timeout`` seconds)."""
    await st.feed.wait(after, min(timeout, st.settings.longpoll_max))
    return Response(st.feed.body_after(after), media_type="application/json")


@router.get(
    "/v1/orders/stream",
    response_class=Response,
    responses={
        200: {
            "description": "one ``order`` event (data: an order's JSON) per order",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **READ,
    },
)
async def stream_orders(request: Request, st: State, after: AfterQuery = 0) -> EventSourceResponse:
    """Server-sent events: one ``order`` event per order above ``after``
    (or the Last-Event-ID header), as they are assembled."""
    last_id = request.headers.get("last-event-id")
    start = int(last_id) if last_id and last_id.isdigit() and len(last_id) < 19 else after

    async def events() -> AsyncIterator[ServerSentEvent]:
        seen = start
        while True:
            for order in st.feed.after(seen):
                seen = order["sequence"]
                yield ServerSentEvent(data=json.dumps(order), event="order", id=str(seen))
            await st.feed.wait(seen, 15.0)

    return EventSourceResponse(events(), ping=15)


@router.get("/v1/orders/{sequence}", response_model=Order, responses=READ)
def get_order(svc: Service, sequence: IdPath) -> Any:
    return svc.orders.get_order(sequence)
