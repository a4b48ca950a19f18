"""The pause workflow: members propose a pause (or a resume), sign it, and at K of N
signatures exactly one order is assembled, logged and served to chips."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from pausebutton.authority import tables as t
from pausebutton.authority.counters import next_value
from pausebutton.authority.services.base import (
    MEMBER,
    Caller,
    Result,
    Store,
    b64,
    check_text,
    from_row,
    parse_hex,
    require,
    retried,
)
from pausebutton.errors import (
    BadSignatureError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RevokedKeyError,
    SchemaError,
)
from pausebutton.protocol.envelope import Envelope, Signature, signing_input
from pausebutton.protocol.jsonview import to_json
from pausebutton.protocol.keys import KEY_ID_SIZE, PublicKey
from pausebutton.protocol.messages import PauseOrder, ResumeOrder, Scope
from pausebutton.protocol.scopes import scope_from_json, scope_to_json
from pausebutton.protocol.trustroot import Member, TrustRoot


@dataclass(frozen=True, slots=True)
class Proposal(Result):
    id: int
    kind: str
    sequence: int
    status: str
    proposer: str
    created_at: int
    payload_type: str
    payload: dict[str, Any]
    envelope: str
    """Base64 of the (unsigned) order envelope."""
    signing_input: str
    """Hex: what each member signs."""
    signed_by: list[str]
    threshold: int
    missing: int


@dataclass(frozen=True, slots=True)
class SignedProposal(Proposal):
    assembled_now: bool
    """This signature completed the order."""


@dataclass(frozen=True, slots=True)
class Order(Result):
    sequence: int
    kind: str
    proposal_id: int
    scope: dict[str, Any]
    lifts: int | None
    active: bool
    assembled_at: int
    log_index: int | None
    envelope: str
    """Base64 of the K-of-N signed order envelope."""


def _order(r: Any) -> Order:
    return from_row(Order, r, active=bool(r.active), envelope=b64(bytes(r.envelope)))


class OrderService:
    """Proposals, signatures, assembly and the orders."""

    def __init__(
        self,
        store: Store,
        root: TrustRoot,
        members: Mapping[str, Member],
        revoked: Callable[[Connection | None], frozenset[bytes]] | None = None,
    ) -> None:
        self.store = store
        self.revoked = revoked or (lambda conn: frozenset())
        """Key ids of revoked member keys (they neither sign nor count)."""
        self.root = root
        self.members = members
        self.pause_keys: dict[bytes, PublicKey] = {k.key_id: k for k in root.role_keys("pause")}
        self.pause_threshold: int = root.role("pause").threshold

    @retried
    def propose(
        self,
        caller: Caller | None,
        *,
        kind: str,
        scope: Scope | None,
        reason: str,
        effective_at: int | None = None,
        lifts: int | None = None,
    ) -> Proposal:
        """A member proposes a pause (or a resume of pause ``lifts``); members then sign it."""
        c = require(caller, MEMBER)
        check_text(reason, "reason")
        now = self.store.now()
        if effective_at is not None and (
            isinstance(effective_at, bool) or not isinstance(effective_at, int) or effective_at < 0
        ):
            raise SchemaError("effective_at must be a Unix time", field="effective_at")
        when = effective_at if effective_at is not None else now
        with self.store.write() as conn:
            payload: PauseOrder | ResumeOrder
            if kind == "pause":
                if scope is None:
                    raise SchemaError("a pause needs a scope", field="scope")
                seq = next_value(conn, "order_sequence")
                payload = PauseOrder(
                    sequence=seq, scope=scope, effective_at=when, issued_at=now, reason=reason
                )
            elif kind == "resume":
                paused_scope = self._liftable(conn, lifts)
                seq = next_value(conn, "order_sequence")
                assert lifts is not None  # checked by _liftable
                payload = ResumeOrder(
                    sequence=seq,
                    lifts=lifts,
                    scope=scope or paused_scope,
                    effective_at=when,
                    issued_at=now,
                    reason=reason,
                )
            else:
                raise SchemaError("kind must be pause or resume", field="kind")
            payload.validate()
            pid = conn.execute(
                insert(t.proposals)
                .values(
                    kind=kind,
                    sequence=seq,
                    payload=payload.encode(),
                    payload_type=payload.TYPE,
                    status="open",
                    proposer=c.name,
                    created_at=now,
                )
                .returning(t.proposals.c.id)
            ).scalar_one()
        return self.get_proposal(pid)

    @staticmethod
    def _liftable(conn: Connection, lifts: int | None) -> Scope:
        """The scope of the active pause order ``lifts`` (a resume's target)."""
        if lifts is None or isinstance(lifts, bool) or not isinstance(lifts, int):
            raise SchemaError("a resume names the pause it lifts", field="lifts")
        paused = conn.execute(
            select(t.orders).where(t.orders.c.sequence == lifts, t.orders.c.kind == "pause")
        ).first()
        if paused is None:
            raise NotFoundError(f"no pause order {lifts}", field="lifts")
        if not paused.active:
            raise ConflictError(f"pause order {lifts} is already lifted", field="lifts")
        return scope_from_json(paused.scope)

    @retried
    def sign_proposal(
        self, caller: Caller | None, proposal_id: int, *, key_id_hex: str, sig_hex: str
    ) -> SignedProposal:
        """Add a member's signature over the order's signing input; assemble at K.

        Exactly one order is assembled per proposal, even with concurrent
        signers on several workers: signers serialise on the proposal row, and
        the order row is unique per proposal.
        """
        require(caller, MEMBER)
        kid = parse_hex(key_id_hex, KEY_ID_SIZE, "key_id")
        sig = parse_hex(sig_hex, 64, "sig")
        pub = self.pause_keys.get(kid)
        if pub is None:
            raise ForbiddenError("key_id is not a key of the pause role", field="key_id")
        member = self.members.get(kid.hex())
        now = self.store.now()
        with self.store.write() as conn:
            prop = conn.execute(
                self.store.lock(t.proposals, t.proposals.c.id == proposal_id)
            ).first()
            if prop is None:
                raise NotFoundError(f"no proposal {proposal_id}", field="proposal_id")
            if kid in self.revoked(conn):
                raise RevokedKeyError(f"member key {kid.hex()[:16]} is revoked", field="key_id")
            message = signing_input(prop.payload_type, 1, bytes(prop.payload))
            if not pub.is_valid(message, sig):
                raise BadSignatureError(
                    "signature does not verify over the order's signing input", field="sig"
                )
            if prop.status != "open":
                return SignedProposal(**self._proposal_fields(conn, prop), assembled_now=False)
            exists = conn.execute(
                select(t.proposal_signatures.c.key_id).where(
                    t.proposal_signatures.c.proposal_id == proposal_id,
                    t.proposal_signatures.c.key_id == kid,
                )
            ).first()
            if exists is None:
                conn.execute(
                    insert(t.proposal_signatures).values(
                        proposal_id=proposal_id,
                        key_id=kid,
                        sig=sig,
                        member=member.name if member else kid.hex()[:16],
                        at=now,
                    )
                )
            assembled = self._maybe_assemble(conn, prop, now)
            fields = self._proposal_fields(
                conn, conn.execute(select(t.proposals).where(t.proposals.c.id == proposal_id)).one()
            )
        return SignedProposal(**fields, assembled_now=assembled)

    def _maybe_assemble(self, conn: Connection, prop: Any, now: int) -> bool:
        sigs = conn.execute(
            select(t.proposal_signatures).where(t.proposal_signatures.c.proposal_id == prop.id)
        ).all()
        env = Envelope(
            prop.payload_type,
            1,
            bytes(prop.payload),
            tuple(
                sorted(
                    (Signature(bytes(s.key_id), bytes(s.sig)) for s in sigs),
                    key=lambda s: s.key_id,
                )
            ),
        )
        if not self.root.verify_role(env, "pause", self.revoked(conn)).ok:
            return False
        res = conn.execute(
            update(t.proposals)
            .where(t.proposals.c.id == prop.id, t.proposals.c.status == "open")
            .values(status="assembled")
        )
        if res.rowcount != 1:
            return False
        order = env.open()
        assert isinstance(order, (PauseOrder, ResumeOrder))
        data = env.encode()
        idx = self.store.log.append(conn, prop.payload_type, data, now)
        conn.execute(
            insert(t.orders).values(
                sequence=prop.sequence,
                kind=prop.kind,
                proposal_id=prop.id,
                envelope=data,
                scope=scope_to_json(order.scope),
                lifts=getattr(order, "lifts", None),
                active=prop.kind == "pause",
                assembled_at=now,
                log_index=idx,
            )
        )
        if isinstance(order, ResumeOrder):
            conn.execute(
                update(t.orders).where(t.orders.c.sequence == order.lifts).values(active=False)
            )
        return True

    def _proposal_fields(self, conn: Connection, prop: Any) -> dict[str, Any]:
        sigs = conn.execute(
            select(t.proposal_signatures.c.member, t.proposal_signatures.c.key_id)
            .where(t.proposal_signatures.c.proposal_id == prop.id)
            .order_by(t.proposal_signatures.c.at)
        ).all()
        env = Envelope(prop.payload_type, 1, bytes(prop.payload))
        return {
            "id": prop.id,
            "kind": prop.kind,
            "sequence": prop.sequence,
            "status": prop.status,
            "proposer": prop.proposer,
            "created_at": prop.created_at,
            "payload_type": prop.payload_type,
            "payload": to_json(env.open()),
            "envelope": b64(env.encode()),
            "signing_input": env.signing_input().hex(),
            "signed_by": [s.member for s in sigs],
            "threshold": self.pause_threshold,
            "missing": max(0, self.pause_threshold - len(sigs)),
        }

    def get_proposal(self, proposal_id: int) -> Proposal:
        with self.store.read() as conn:
            prop = conn.execute(select(t.proposals).where(t.proposals.c.id == proposal_id)).first()
            if prop is None:
                raise NotFoundError(f"no proposal {proposal_id}", field="proposal_id")
            return Proposal(**self._proposal_fields(conn, prop))

    def list_proposals(self, *, status: str | None = None, limit: int = 100) -> list[Proposal]:
        stmt = select(t.proposals).order_by(t.proposals.c.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(t.proposals.c.status == status)
        with self.store.read() as conn:
            return [Proposal(**self._proposal_fields(conn, p)) for p in conn.execute(stmt).all()]

    def list_orders(
        self, *, after: int = 0, active: bool | None = None, limit: int = 1000
    ) -> list[Order]:
        stmt = (
            select(t.orders)
            .where(t.orders.c.sequence > after)
            .order_by(t.orders.c.sequence)
            .limit(limit)
        )
        if active is not None:
            stmt = stmt.where(t.orders.c.active.is_(active))
        with self.store.read() as conn:
            return [_order(r) for r in conn.execute(stmt).all()]

    def get_order(self, sequence: int) -> Order:
        with self.store.read() as conn:
            r = conn.execute(select(t.orders).where(t.orders.c.sequence == sequence)).first()
        if r is None:
            raise NotFoundError(f"no order {sequence}", field="sequence")
        return _order(r)

    def last_order_sequence(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.max(t.orders.c.sequence))).scalar() or 0)
