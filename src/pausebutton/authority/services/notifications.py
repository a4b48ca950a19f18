"""What concerns each caller, so that nobody has to poll five lists: for a member, the
proposals (pause and resume orders, prohibited lists) that wait for its signature; for
members and admins, every quorum reached (orders assembled, lists published, roots
changed); alerts (members and admins: all; an operator: those about its own chips).
Computed from the stored state (no table of its own), newest last."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    MEMBER,
    OPERATOR,
    Caller,
    Result,
    Store,
    require,
)

AWAITING = "awaiting_signature"
QUORUM = "quorum_reached"
ROOT = "root_changed"
ALERT = "alert"


@dataclass(frozen=True, slots=True)
class Notification(Result):
    id: str
    """Stable across calls: ``order-proposal:ID``, ``list-proposal:ID``, ``order:SEQ``,
    ``list:SEQ``, ``root:VERSION`` or ``alert:ID``."""
    kind: str
    """awaiting_signature, quorum_reached, root_changed or alert."""
    at: int
    summary: str
    path: str
    """Where the API serves the thing itself."""


class NotificationService:
    """Notifications computed per caller from the stored state."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def for_caller(
        self, caller: Caller | None, *, since: int = 0, limit: int = 200
    ) -> list[Notification]:
        """Everything of concern to ``caller`` that happened at or after ``since``."""
        c = require(caller, MEMBER, OPERATOR, ADMIN)
        out: list[Notification] = []
        with self.store.read() as conn:
            if c.role == MEMBER:
                out += self._awaiting(conn, bytes.fromhex(c.key_id), since)
            if c.role in (MEMBER, ADMIN):
                out += self._quorums(conn, since)
            out += self._alerts(conn, c, since)
        out.sort(key=lambda n: (n.at, n.id))
        return out[-limit:]

    @staticmethod
    def _awaiting(conn: Connection, kid: bytes, since: int) -> list[Notification]:
        out = []
        signed = select(t.proposal_signatures.c.proposal_id).where(
            t.proposal_signatures.c.key_id == kid
        )
        for p in conn.execute(
            select(t.proposals).where(
                t.proposals.c.status == "open",
                t.proposals.c.created_at >= since,
                t.proposals.c.id.not_in(signed),
            )
        ).all():
            out.append(
                Notification(
                    f"order-proposal:{p.id}",
                    AWAITING,
                    p.created_at,
                    f"{p.kind} order {p.sequence} proposed by {p.proposer} waits for your"
                    " signature",
                    f"/v1/orders/proposals/{p.id}",
                )
            )
        signed_lists = select(t.list_signatures.c.proposal_id).where(
            t.list_signatures.c.key_id == kid
        )
        for p in conn.execute(
            select(t.list_proposals).where(
                t.list_proposals.c.status == "open",
                t.list_proposals.c.created_at >= since,
                t.list_proposals.c.id.not_in(signed_lists),
            )
        ).all():
            out.append(
                Notification(
                    f"list-proposal:{p.id}",
                    AWAITING,
                    p.created_at,
                    f"prohibited-artifacts list {p.sequence} proposed by {p.proposer} waits"
                    " for your signature",
                    f"/v1/prohibited/proposals/{p.id}",
                )
            )
        return out

    @staticmethod
    def _quorums(conn: Connection, since: int) -> list[Notification]:
        out = []
        for o in conn.execute(select(t.orders).where(t.orders.c.assembled_at >= since)).all():
            out.append(
                Notification(
                    f"order:{o.sequence}",
                    QUORUM,
                    o.assembled_at,
                    f"{o.kind} order {o.sequence} assembled (K of N) and sent to chips",
                    f"/v1/orders/{o.sequence}",
                )
            )
        for lst in conn.execute(
            select(t.prohibited_lists).where(t.prohibited_lists.c.received_at >= since)
        ).all():
            out.append(
                Notification(
                    f"list:{lst.sequence}",
                    QUORUM,
                    lst.received_at,
                    f"prohibited-artifacts list {lst.sequence} published",
                    "/v1/prohibited",
                )
            )
        for r in conn.execute(
            select(t.trust_roots).where(t.trust_roots.c.received_at >= since)
        ).all():
            out.append(
                Notification(
                    f"root:{r.version}",
                    ROOT,
                    r.received_at,
                    f"trust root v{r.version} in force (submitted by {r.submitted_by})",
                    f"/v1/roots/{r.version}",
                )
            )
        return out

    @staticmethod
    def _alerts(conn: Connection, c: Caller, since: int) -> list[Notification]:
        stmt = select(t.alerts).where(t.alerts.c.created_at >= since)
        if c.role == OPERATOR:
            own = select(t.chips.c.chip_id).where(t.chips.c.owner_id == c.owner_id)
            stmt = stmt.where(t.alerts.c.chip_id.in_(own))
        out = []
        for a in conn.execute(stmt.order_by(t.alerts.c.id.desc()).limit(500)).all():
            detail: Any = a.detail
            out.append(
                Notification(
                    f"alert:{a.id}",
                    ALERT,
                    a.created_at,
                    f"{a.severity} alert {a.kind}"
                    + (f" on chip {a.chip_id[:16]}" if a.chip_id else "")
                    + (
                        f": {detail.get('state')}"
                        if isinstance(detail, dict) and "state" in detail
                        else ""
                    ),
                    f"/v1/alerts?kind={a.kind}",
                )
            )
        return out
