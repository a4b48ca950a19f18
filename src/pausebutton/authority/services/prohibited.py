"""Prohibited-artifacts lists as K-of-N proposals, like pause orders: a member proposes a
list (the envelope, with any signatures it already carries), members sign its signing
input one by one, and at the pause role's threshold of valid, unrevoked member
signatures the list is published (logged and served to node agents) exactly once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pausebutton.authority import tables as t
from pausebutton.authority.services.artifacts import ArtifactService
from pausebutton.authority.services.base import (
    MEMBER,
    Caller,
    Result,
    Store,
    b64,
    parse_hex,
    require,
    retried,
)
from pausebutton.errors import (
    BadSignatureError,
    ForbiddenError,
    NotFoundError,
    RevokedKeyError,
    SchemaError,
)
from pausebutton.protocol.envelope import Envelope, Signature, decode_as
from pausebutton.protocol.jsonview import to_json
from pausebutton.protocol.keys import KEY_ID_SIZE, PublicKey
from pausebutton.protocol.messages import ProhibitedArtifacts
from pausebutton.protocol.trustroot import Member, TrustRoot


@dataclass(frozen=True, slots=True)
class ListProposal(Result):
    id: int
    sequence: int
    status: str
    """open, or published once K members signed."""
    proposer: str
    created_at: int
    payload: dict[str, Any]
    envelope: str
    """Base64 of the list envelope with the signatures gathered so far."""
    signing_input: str
    """Hex: what each member signs."""
    signed_by: list[str]
    threshold: int
    missing: int
    log_index: int | None
    """Where the published list is logged (None while open)."""


class ProhibitedProposalService:
    """Proposals, signatures and publication of prohibited-artifacts lists."""

    def __init__(
        self,
        store: Store,
        root: TrustRoot,
        members: dict[str, Member],
        artifacts: ArtifactService,
        revoked: Callable[[Connection | None], frozenset[bytes]],
    ) -> None:
        self.store = store
        self.root = root
        self.members = members
        self.artifacts = artifacts
        self.revoked = revoked
        self.keys: dict[bytes, PublicKey] = {k.key_id: k for k in root.role_keys("pause")}
        self.threshold = root.role("pause").threshold

    @retried
    def propose(self, caller: Caller | None, data: bytes) -> ListProposal:
        """Store a proposed list; the valid member signatures it carries count at once."""
        c = require(caller, MEMBER)
        env, plist = decode_as(data, ProhibitedArtifacts)
        if not plist.artifacts:
            raise SchemaError("a prohibited-artifacts list names at least one artifact")
        now = self.store.now()
        with self.store.write() as conn:
            pid = conn.execute(
                insert(t.list_proposals)
                .values(
                    sequence=plist.sequence,
                    payload=env.payload,
                    status="open",
                    proposer=c.name,
                    created_at=now,
                )
                .returning(t.list_proposals.c.id)
            ).scalar_one()
            revoked = self.revoked(conn)
            message = env.signing_input()
            for sig in env.signatures:
                pub = self.keys.get(sig.key_id)
                if pub is None or sig.key_id in revoked or not pub.is_valid(message, sig.sig):
                    continue
                self._insert_sig(conn, pid, sig.key_id, sig.sig, now)
            self._maybe_publish(conn, pid, c.name, now)
        return self.get(pid)

    def _insert_sig(self, conn: Connection, pid: int, kid: bytes, sig: bytes, now: int) -> None:
        exists = conn.execute(
            select(t.list_signatures.c.key_id).where(
                t.list_signatures.c.proposal_id == pid, t.list_signatures.c.key_id == kid
            )
        ).first()
        if exists is None:
            member = self.members.get(kid.hex())
            conn.execute(
                insert(t.list_signatures).values(
                    proposal_id=pid,
                    key_id=kid,
                    sig=sig,
                    member=member.name if member else kid.hex()[:16],
                    at=now,
                )
            )

    @retried
    def sign(
        self, caller: Caller | None, proposal_id: int, *, key_id_hex: str, sig_hex: str
    ) -> ListProposal:
        """Add a member's signature; publish the list at the threshold (exactly once)."""
        c = require(caller, MEMBER)
        kid = parse_hex(key_id_hex, KEY_ID_SIZE, "key_id")
        sig = parse_hex(sig_hex, 64, "sig")
        pub = self.keys.get(kid)
        if pub is None:
            raise ForbiddenError("key_id is not a key of the pause role", field="key_id")
        now = self.store.now()
        with self.store.write() as conn:
            prop = conn.execute(
                self.store.lock(t.list_proposals, t.list_proposals.c.id == proposal_id)
            ).first()
            if prop is None:
                raise NotFoundError(f"no list proposal {proposal_id}", field="proposal_id")
            if kid in self.revoked(conn):
                raise RevokedKeyError(f"member key {kid.hex()[:16]} is revoked", field="key_id")
            env = Envelope(ProhibitedArtifacts.TYPE, 1, bytes(prop.payload))
            if not pub.is_valid(env.signing_input(), sig):
                raise BadSignatureError(
                    "signature does not verify over the list's signing input", field="sig"
                )
            if prop.status == "open":
                self._insert_sig(conn, proposal_id, kid, sig, now)
                self._maybe_publish(conn, proposal_id, c.name, now)
        return self.get(proposal_id)

    def _envelope(self, conn: Connection, pid: int, payload: bytes) -> Envelope:
        sigs = conn.execute(
            select(t.list_signatures).where(t.list_signatures.c.proposal_id == pid)
        ).all()
        return Envelope(
            ProhibitedArtifacts.TYPE,
            1,
            payload,
            tuple(
                sorted(
                    (Signature(bytes(s.key_id), bytes(s.sig)) for s in sigs),
                    key=lambda s: s.key_id,
                )
            ),
        )

    def _maybe_publish(self, conn: Connection, pid: int, by: str, now: int) -> None:
        prop = conn.execute(select(t.list_proposals).where(t.list_proposals.c.id == pid)).one()
        env = self._envelope(conn, pid, bytes(prop.payload))
        if not self.root.verify_role(env, "pause", self.revoked(conn)).ok:
            return
        plist = env.open_as(ProhibitedArtifacts)
        self.artifacts.publish_in(conn, env, plist, f"{by} (K of N)", now)
        conn.execute(
            update(t.list_proposals).where(t.list_proposals.c.id == pid).values(status="published")
        )

    def get(self, proposal_id: int) -> ListProposal:
        with self.store.read() as conn:
            prop = conn.execute(
                select(t.list_proposals).where(t.list_proposals.c.id == proposal_id)
            ).first()
            if prop is None:
                raise NotFoundError(f"no list proposal {proposal_id}", field="proposal_id")
            return self._result(conn, prop)

    def list(self, *, status: str | None = None, limit: int = 100) -> list[ListProposal]:
        stmt = select(t.list_proposals).order_by(t.list_proposals.c.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(t.list_proposals.c.status == status)
        with self.store.read() as conn:
            return [self._result(conn, p) for p in conn.execute(stmt).all()]

    def _result(self, conn: Connection, prop: Any) -> ListProposal:
        env = self._envelope(conn, prop.id, bytes(prop.payload))
        names = conn.execute(
            select(t.list_signatures.c.member)
            .where(t.list_signatures.c.proposal_id == prop.id)
            .order_by(t.list_signatures.c.at)
        ).scalars()
        log_index = None
        if prop.status == "published":
            log_index = conn.execute(
                select(t.prohibited_lists.c.log_index).where(
                    t.prohibited_lists.c.sequence == prop.sequence
                )
            ).scalar()
        counted = self.root.verify_role(env, "pause", self.revoked(conn))
        return ListProposal(
            id=prop.id,
            sequence=prop.sequence,
            status=prop.status,
            proposer=prop.proposer,
            created_at=prop.created_at,
            payload=to_json(env.open()),
            envelope=b64(env.encode()),
            signing_input=env.signing_input().hex(),
            signed_by=list(names),
            threshold=self.threshold,
            missing=counted.missing,
            log_index=log_index,
        )
