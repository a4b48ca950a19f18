"""What concerns each caller, so that nobody has to poll five lists: for a member, the
proposals (pause and resume orders, prohibited lists) that wait for its signature; for
members and admins, every quorum reached (orders assembled, lists published, roots
changed); orders delivered (the share of the chips an order covers that acknowledged it
reaches each of ``MILESTONES``; an operator: over its own chips); alerts (members and
admins: all; an operator: those about its own chips), and the verification engine's
fused alerts new in a detection run (not in the run before). Computed from the stored
state (no table of its own), newest last."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

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
from pausebutton.protocol.scopes import scope_from_json

AWAITING = "awaiting_signature"
QUORUM = "quorum_reached"
ROOT = "root_changed"
ALERT = "alert"
DELIVERED = "order_delivered"
MILESTONES = (50, 90, 100)
"""Per cent of an order's chips acknowledging it at which ``order_delivered`` fires."""
GONE = ("decommissioned", "destroyed", "tampered", "zeroised")
"""Chips that can acknowledge nothing: not counted in an order's share."""
DETECTION_RUNS = 20
"""How many of the newest detection runs are read for new fused alerts."""


@dataclass(frozen=True, slots=True)
class Notification(Result):
    id: str
    """Stable across calls: ``order-proposal:ID``, ``list-proposal:ID``, ``order:SEQ``,
    ``list:SEQ``, ``root:VERSION``, ``delivered:SEQ:PERCENT``, ``alert:ID`` or
    ``detection:RUN:ALERT-ID`` (a fused alert first raised by detection run RUN)."""
    kind: str
    """awaiting_signature, quorum_reached, root_changed, order_delivered or alert."""
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
            out += self._delivered(conn, c, since)
            out += self._alerts(conn, c, since)
            out += self._detection(conn, c, since)
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

    @staticmethod
    def _delivered(conn: Connection, c: Caller, since: int) -> list[Notification]:
        """For each order, when the share of the chips it covers (the registry's: owner,
        facility country as region) that acknowledged it reached each milestone. A chip
        acknowledges a pause with a usage report in state ``paused`` received after the
        order was assembled, a resume with one in another state."""
        chips = select(t.chips.c.chip_id, t.chips.c.owner_id, t.facilities.c.country).select_from(
            t.chips.outerjoin(t.facilities, t.chips.c.facility_id == t.facilities.c.id)
        )
        chips = chips.where(t.chips.c.status.not_in(GONE))
        if c.role == OPERATOR:
            chips = chips.where(t.chips.c.owner_id == c.owner_id)
        fleet = conn.execute(chips).all()
        if not fleet:
            return []
        out = []
        for o in conn.execute(select(t.orders).order_by(t.orders.c.sequence)).all():
            scope = scope_from_json(o.scope)
            covered = {
                ch.chip_id
                for ch in fleet
                if scope.applies_to(bytes.fromhex(ch.chip_id), ch.country, ch.owner_id)
            }
            if not covered:
                continue
            state_ok = (
                t.reports.c.state == "paused"
                if o.kind == "pause"
                else t.reports.c.state != "paused"
            )
            acks = conn.execute(
                select(t.chain_heads.c.chip_id, func.min(t.reports.c.received_at))
                .join(t.chain_heads, t.chain_heads.c.chip_no == t.reports.c.chip_no)
                .where(t.reports.c.received_at >= o.assembled_at, state_ok)
                .group_by(t.chain_heads.c.chip_id)
            ).all()
            times = sorted(int(at) for chip_id, at in acks if chip_id in covered)
            for pct in MILESTONES:
                need = -(-pct * len(covered) // 100)
                if len(times) < need or times[need - 1] < since:
                    continue
                out.append(
                    Notification(
                        f"delivered:{o.sequence}:{pct}",
                        DELIVERED,
                        times[need - 1],
                        f"{o.kind} order {o.sequence} acknowledged by {pct} % of its chips"
                        f" ({need} of {len(covered)})",
                        f"/v1/orders/{o.sequence}",
                    )
                )
        return out

    @staticmethod
    def _detection(conn: Connection, c: Caller, since: int) -> list[Notification]:
        """The fused alerts of each detection run that the run before did not have (an
        operator: those about what it owns)."""
        runs_t = t.detection_runs
        heads = conn.execute(
            select(runs_t.c.id)
            .where(runs_t.c.at >= since)
            .order_by(runs_t.c.id.desc())
            .limit(DETECTION_RUNS)
        ).scalars()
        wanted = sorted(heads)
        if not wanted:
            return []
        before_id = conn.execute(
            select(func.max(runs_t.c.id)).where(runs_t.c.id < wanted[0])
        ).scalar()
        ids = wanted if before_id is None else [before_id, *wanted]
        rows = conn.execute(
            select(runs_t.c.id, runs_t.c.at, runs_t.c.alerts)
            .where(runs_t.c.id.in_(ids))
            .order_by(runs_t.c.id)
        ).all()
        previous: list[Any] = [[]] if before_id is None else []
        previous += [r.alerts for r in rows]
        runs = rows if before_id is None else rows[1:]
        out = []
        for before, run in zip(previous, runs, strict=False):
            seen = {a["alert_id"] for a in before}
            for a in run.alerts:
                if a["alert_id"] in seen:
                    continue
                if c.role == OPERATOR and a.get("owner") != c.owner_id:
                    continue
                out.append(
                    Notification(
                        f"detection:{run.id}:{a['alert_id']}",
                        ALERT,
                        run.at,
                        f"{a['severity']} fused alert {a['alert_id']} on {a['kind']}"
                        f" {a['subject']} (p = {a['probability']:.2f})",
                        f"/v1/detection/alerts?kind={a['kind']}",
                    )
                )
        return out
