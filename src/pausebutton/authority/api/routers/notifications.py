"""Notifications: what concerns the signed caller, as a list or as server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from pausebutton.authority.api import models as m
from pausebutton.authority.api.deps import SIGNED_ERRORS, AnySigned, Service, State
from pausebutton.authority.api.models import IdPath, error_responses
from pausebutton.authority.services.notifications import Notification
from pausebutton.authority.services.webhooks import Delivery, NewWebhook, Webhook

router = APIRouter(tags=["notifications"])

SinceQuery = Annotated[int, Query(ge=0, le=2**53)]


@router.get(
    "/v1/notifications",
    response_model=list[Notification],
    responses=error_responses(*SIGNED_ERRORS, 422),
)
def notifications(svc: Service, caller: AnySigned, since: SinceQuery = 0) -> Any:
    """What concerns the caller since ``since`` (Unix time): for a member, the proposals
    waiting for its signature; for members and admins, quorums reached and roots changed;
    alerts (an operator: about its own chips)."""
    return svc.notifications.for_caller(caller, since=since)


@router.get(
    "/v1/notifications/stream",
    response_class=Response,
    responses={
        200: {
            "description": "one ``notification`` event (data: its JSON) per notification",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(*SIGNED_ERRORS, 422),
    },
)
async def stream(st: State, caller: AnySigned, since: SinceQuery = 0) -> EventSourceResponse:
    """Server-sent events: each notification once, as it arises (checked every
    ``poll_interval`` seconds), from ``since`` on."""

    async def events() -> AsyncIterator[ServerSentEvent]:
        sent: set[str] = set()
        interval = max(0.2, st.settings.poll_interval)
        while True:
            found = await run_in_threadpool(
                st.service.notifications.for_caller, caller, since=since
            )
            for n in found:
                if n.id not in sent:
                    sent.add(n.id)
                    yield ServerSentEvent(data=json.dumps(asdict(n)), event="notification", id=n.id)
            await asyncio.sleep(interval)

    return EventSourceResponse(events(), ping=15)


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=NewWebhook,
    responses=error_responses(400, *SIGNED_ERRORS, 413, 422),
)
def subscribe(svc: Service, body: m.WebhookIn, caller: AnySigned) -> Any:
    """Deliver the caller's notifications to ``url``: each POSTed once as JSON, signed
    ``X-Pausebutton-Signature: sha256=HMAC-SHA256(secret, body)`` (the secret is in this
    answer only), retried with backoff when the receiver does not answer 2xx."""
    return svc.webhooks.subscribe(caller, body.url)


@router.get("/v1/webhooks", response_model=list[Webhook], responses=error_responses(*SIGNED_ERRORS))
def subscriptions(svc: Service, caller: AnySigned) -> Any:
    return svc.webhooks.subscriptions(caller)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries",
    response_model=list[Delivery],
    responses=error_responses(*SIGNED_ERRORS, 422),
)
def deliveries(svc: Service, webhook_id: IdPath, caller: AnySigned) -> Any:
    """Each notification queued for one of the caller's webhooks, and how it went."""
    return svc.webhooks.deliveries(caller, webhook_id)
