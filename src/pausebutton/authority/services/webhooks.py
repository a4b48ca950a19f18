"""Signed webhooks: each key may subscribe a URL to its notifications
(``services/notifications.py``). Each notification is POSTed once as JSON, with the
header ``X-Pausebutton-Signature: sha256=HEX``, the HMAC-SHA256 of the body under the
subscription's secret (returned once, when subscribing); a delivery that fails (no
answer, or not 2xx) is retried with exponential backoff (2, 4, 8 ... 300 s) up to
``MAX_ATTEMPTS`` times, then marked failed. Delivery is at least once (two workers may
both send a due delivery): receivers drop repeats by the ``X-Pausebutton-Notification``
header. A revoked key's subscriptions go silent."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    MEMBER,
    OPERATOR,
    Caller,
    Result,
    Store,
    from_row,
    require,
    retried,
)
from pausebutton.authority.services.notifications import Notification
from pausebutton.errors import PausebuttonError, SchemaError

SIGNATURE_HEADER = "x-pausebutton-signature"
EVENT_HEADER = "x-pausebutton-notification"
MAX_ATTEMPTS = 8
MAX_BACKOFF = 300

Post = Callable[[str, bytes, dict[str, str]], int]
"""POST (url, body, headers) -> HTTP status; raises on no answer."""


def backoff(attempts: int) -> int:
    """Seconds before attempt ``attempts + 1``."""
    return int(min(MAX_BACKOFF, 2**attempts))


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for ``body`` (receivers recompute and compare)."""
    return "sha256=" + hmac.new(bytes.fromhex(secret), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Webhook(Result):
    id: int
    url: str
    active: bool
    since: int
    """Notifications from this time on are delivered."""


@dataclass(frozen=True, slots=True)
class NewWebhook(Result):
    id: int
    url: str
    active: bool
    since: int
    secret: str
    """Hex HMAC-SHA256 key of the signatures; shown this once."""


@dataclass(frozen=True, slots=True)
class Delivery(Result):
    notification: str
    status: str
    """pending, delivered or failed."""
    attempts: int
    next_at: int
    last_error: str


class WebhookService:
    """Subscriptions and their deliveries."""

    def __init__(
        self,
        store: Store,
        caller_of: Callable[[str], Caller | None],
        notifications: Callable[[Caller, int], list[Notification]],
    ) -> None:
        self.store = store
        self.caller_of = caller_of
        """The caller a key id stands for now (None: unknown or revoked)."""
        self.notifications = notifications

    @retried
    def subscribe(self, caller: Caller | None, url: str) -> NewWebhook:
        c = require(caller, MEMBER, OPERATOR, ADMIN)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
            raise SchemaError("url must be an http(s) URL of at most 2048 characters", field="url")
        secret = secrets.token_hex(32)
        now = self.store.now()
        with self.store.write() as conn:
            wid = conn.execute(
                insert(t.webhooks)
                .values(key_id=c.key_id, url=url, secret=secret, since=now, active=True)
                .returning(t.webhooks.c.id)
            ).scalar_one()
        return NewWebhook(wid, url, True, now, secret)

    def subscriptions(self, caller: Caller | None) -> list[Webhook]:
        c = require(caller, MEMBER, OPERATOR, ADMIN)
        with self.store.read() as conn:
            rows = conn.execute(select(t.webhooks).where(t.webhooks.c.key_id == c.key_id)).all()
        return [from_row(Webhook, r) for r in rows]

    def deliveries(self, caller: Caller | None, webhook_id: int) -> list[Delivery]:
        c = require(caller, MEMBER, OPERATOR, ADMIN)
        with self.store.read() as conn:
            rows = conn.execute(
                select(t.webhook_deliveries)
                .join(t.webhooks)
                .where(t.webhooks.c.id == webhook_id, t.webhooks.c.key_id == c.key_id)
                .order_by(t.webhook_deliveries.c.next_at)
            ).all()
        return [from_row(Delivery, r) for r in rows]

    def queue(self) -> int:
        """Queue every new notification of every active subscription; how many."""
        with self.store.read() as conn:
            hooks = conn.execute(select(t.webhooks).where(t.webhooks.c.active.is_(True))).all()
        queued = 0
        now = self.store.now()
        for hook in hooks:
            caller = self.caller_of(hook.key_id)
            if caller is None:
                continue
            found = self.notifications(caller, hook.since)
            if not found:
                continue
            try:
                with self.store.write() as conn:
                    known = set(
                        conn.execute(
                            select(t.webhook_deliveries.c.notification).where(
                                t.webhook_deliveries.c.webhook_id == hook.id
                            )
                        ).scalars()
                    )
                    for n in found:
                        if n.id in known:
                            continue
                        conn.execute(
                            insert(t.webhook_deliveries).values(
                                webhook_id=hook.id,
                                notification=n.id,
                                body=json.dumps(asdict(n), sort_keys=True),
                                status="pending",
                                attempts=0,
                                next_at=now,
                                last_error="",
                            )
                        )
                        queued += 1
            except IntegrityError:  # another worker queued them first: they are queued
                continue
        return queued

    def deliver(self, post: Post) -> tuple[int, int]:
        """Queue what is new, then POST every delivery that is due; (delivered, failed
        attempts). Each outcome is recorded; nothing is dropped silently."""
        self.queue()
        now = self.store.now()
        with self.store.read() as conn:
            due = conn.execute(
                select(t.webhook_deliveries, t.webhooks.c.url, t.webhooks.c.secret)
                .join(t.webhooks)
                .where(
                    t.webhook_deliveries.c.status == "pending",
                    t.webhook_deliveries.c.next_at <= now,
                )
                .order_by(t.webhook_deliveries.c.next_at)
                .limit(200)
            ).all()
        delivered = failed = 0
        for d in due:
            body = d.body.encode()
            headers = {
                "content-type": "application/json",
                SIGNATURE_HEADER: signature(d.secret, body),
                EVENT_HEADER: d.notification,
            }
            error = ""
            try:
                status = post(d.url, body, headers)
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except (OSError, PausebuttonError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            attempts = d.attempts + 1
            if not error:
                values = {"status": "delivered", "attempts": attempts, "last_error": ""}
                delivered += 1
            else:
                failed += 1
                values = {
                    "status": "failed" if attempts >= MAX_ATTEMPTS else "pending",
                    "attempts": attempts,
                    "next_at": now + backoff(attempts),
                    "last_error": error,
                }
            with self.store.write() as conn:
                conn.execute(
                    update(t.webhook_deliveries)
                    .where(
                        t.webhook_deliveries.c.webhook_id == d.webhook_id,
                        t.webhook_deliveries.c.notification == d.notification,
                    )
                    .values(**values)
                )
        return delivered, failed
