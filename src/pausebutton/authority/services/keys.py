"""Request-signing keys: API keys bound to roles, the trust root's member keys,
request nonces and the record of refused requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    MEMBER,
    OPERATOR,
    Caller,
    Result,
    Store,
    check_id,
    check_text,
    from_row,
    owner_row,
    parse_hex,
    require,
    retried,
)
from pausebutton.authority.services.groupcommit import GroupCommit
from pausebutton.errors import (
    ConflictError,
    NotFoundError,
    PausebuttonError,
    RevokedKeyError,
    SchemaError,
)
from pausebutton.protocol.keys import PUBLIC_KEY_SIZE, PublicKey, key_id
from pausebutton.protocol.trustroot import Member


@dataclass(frozen=True, slots=True)
class ApiKey(Result):
    key_id: str
    role: str
    name: str
    owner_id: str | None


@dataclass(frozen=True, slots=True)
class KeyListing(Result):
    key_id: str
    role: str
    name: str
    owner_id: str | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class RevokedKey(Result):
    key_id: str
    revoked: bool


@dataclass(frozen=True, slots=True)
class MemberRevocation(Result):
    key_id: str
    revoked: bool
    """The member key no longer authenticates nor counts in any threshold."""
    votes: int
    """How many other members voted to revoke it."""
    needed: int
    """Votes of other members that revoke it (the pause threshold)."""


@dataclass(frozen=True, slots=True)
class AuthEvent(Result):
    id: int
    at: int
    status: int
    key_id: str | None
    method: str
    path: str
    reason: str


class KeyService:
    """API keys (operators and admins), the root's member keys, nonces, auth events."""

    def __init__(
        self, store: Store, members: Mapping[str, Member], vote_threshold: int = 1
    ) -> None:
        self.store = store
        self.members = members
        """The trust root's members by key id (hex)."""
        self.vote_threshold = vote_threshold
        """Votes of other members that revoke a member key (the pause threshold)."""
        self.nonces: GroupCommit[tuple[str, str, int], bool] = GroupCommit(
            store, self._record_nonces, "nonces", 256, light=True
        )
        """This process's concurrent requests' nonces, recorded in batches."""

    def revoked_ids(self, conn: Connection | None = None) -> frozenset[bytes]:
        """Key ids (raw) of revoked member keys: every threshold check leaves them out."""
        query = select(t.revoked_keys.c.key_id)
        if conn is not None:
            rows = conn.execute(query).scalars().all()
        else:
            with self.store.read() as c:
                rows = c.execute(query).scalars().all()
        return frozenset(bytes.fromhex(k) for k in rows)

    def require_not_revoked(self, kid: str) -> None:
        """RevokedKeyError if ``kid`` is a revoked member key (checked on every member
        request, uncached: a revocation takes effect at once on every worker)."""
        member = self.members.get(kid)
        if member is None:
            return
        with self.store.read() as conn:
            gone = conn.execute(
                select(t.revoked_keys.c.key_id).where(t.revoked_keys.c.key_id == kid)
            ).first()
        if gone is not None:
            raise RevokedKeyError(f"member key {kid[:16]} ({member.name}) is revoked")

    def principal(self, kid: str) -> tuple[Caller, PublicKey] | None:
        """The caller and public key for a request key id (member keys come from the root)."""
        member = self.members.get(kid)
        if member is not None:
            return Caller(kid, MEMBER, member.name), PublicKey.from_bytes(member.key)
        with self.store.read() as conn:
            row = conn.execute(select(t.api_keys).where(t.api_keys.c.key_id == kid)).first()
        if row is None or row.revoked:
            return None
        return (
            Caller(kid, row.role, row.name, row.owner_id),
            PublicKey.from_bytes(bytes(row.public_key)),
        )

    @retried
    def add_key(
        self,
        caller: Caller | None,
        *,
        public_key: str,
        role: str,
        name: str,
        owner_id: str | None = None,
    ) -> ApiKey:
        """Bind a request-signing key to a role (operator keys to an owner)."""
        require(caller, ADMIN)
        raw = parse_hex(public_key, PUBLIC_KEY_SIZE, "public_key")
        PublicKey.from_bytes(raw)
        if role not in (OPERATOR, ADMIN):
            raise SchemaError(
                "role must be operator or admin (members are in the root)", field="role"
            )
        check_text(name, "name", 256)
        if role == OPERATOR:
            if owner_id is None:
                raise SchemaError("an operator key needs an owner", field="owner_id")
            check_id(owner_id, "owner_id")
        elif owner_id is not None:
            raise SchemaError("only operator keys have an owner", field="owner_id")
        kid = key_id(raw).hex()
        if kid in self.members:
            raise ConflictError("this key is a member key of the trust root", field="public_key")
        now = self.store.now()
        with self.store.write() as conn:
            if owner_id is not None:
                owner_row(conn, owner_id)
            register_key(conn, kid, raw, role, owner_id, name, now)
        return ApiKey(kid, role, name, owner_id)

    def bootstrap_admin(self, public_key: bytes, name: str = "admin") -> str:
        """Register an admin key directly (server start-up; idempotent, also when
        several workers start at once on one database)."""
        kid = key_id(public_key).hex()
        try:
            with self.store.write() as conn:
                if _key_exists(conn, kid):
                    return kid
                _insert_key(conn, kid, public_key, ADMIN, None, name, self.store.now())
        except IntegrityError:
            # another worker registered it between our check and our insert
            with self.store.read() as conn:
                row = conn.execute(
                    select(t.api_keys.c.role).where(t.api_keys.c.key_id == kid)
                ).first()
            if row is None or row.role != ADMIN:
                raise
        return kid

    @retried
    def revoke_key(
        self, caller: Caller | None, kid: str, reason: str = ""
    ) -> RevokedKey | MemberRevocation:
        """Revoke an API key (admins), or a member key of the trust root: at once by an
        admin or by the member itself (a compromise it reports), else by the votes of
        ``vote_threshold`` other members (each call is one member's vote). A revoked member
        key stops counting at once in every threshold check of the authority; chips stop
        counting it when a root without it is installed (docs/governance.md)."""
        if kid in self.members:
            return self._revoke_member(require(caller, ADMIN, MEMBER), kid, reason)
        require(caller, ADMIN)
        with self.store.write() as conn:
            res = conn.execute(
                update(t.api_keys).where(t.api_keys.c.key_id == kid).values(revoked=True)
            )
            if res.rowcount == 0:
                raise NotFoundError(f"no key {kid}", field="key_id")
        return RevokedKey(kid, True)

    def _revoke_member(self, c: Caller, kid: str, reason: str) -> MemberRevocation:
        now = self.store.now()
        needed = self.vote_threshold
        with self.store.write() as conn:
            self.store.lock_keys(conn, f"revoke:{kid}")
            done = (
                conn.execute(
                    select(t.revoked_keys.c.key_id).where(t.revoked_keys.c.key_id == kid)
                ).first()
                is not None
            )
            if not done and c.role == MEMBER and c.key_id != kid:
                exists = conn.execute(
                    select(t.revocation_votes.c.voter).where(
                        t.revocation_votes.c.key_id == kid, t.revocation_votes.c.voter == c.key_id
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        insert(t.revocation_votes).values(
                            key_id=kid, voter=c.key_id, member=c.name, at=now
                        )
                    )
            revoked = self.revoked_ids(conn)
            voters = conn.execute(
                select(t.revocation_votes.c.voter).where(t.revocation_votes.c.key_id == kid)
            ).scalars()
            votes = sum(1 for v in voters if bytes.fromhex(v) not in revoked)
            if not done and (c.role == ADMIN or c.key_id == kid or votes >= needed):
                by = f"{c.role} {c.name}" if c.role == ADMIN or c.key_id == kid else "members"
                conn.execute(
                    insert(t.revoked_keys).values(
                        key_id=kid,
                        revoked_at=now,
                        revoked_by=f"{by} ({votes} vote(s))"[:256],
                        reason=reason[:2000],
                    )
                )
                done = True
        return MemberRevocation(kid, done, votes, needed)

    def list_keys(self) -> list[KeyListing]:
        with self.store.read() as conn:
            rows = conn.execute(select(t.api_keys).order_by(t.api_keys.c.created_at)).all()
            revoked = self.revoked_ids(conn)
        out = [from_row(KeyListing, r, revoked=bool(r.revoked)) for r in rows]
        out.extend(
            KeyListing(k, MEMBER, m.name, None, bytes.fromhex(k) in revoked)
            for k, m in self.members.items()
        )
        return out

    @retried
    def record_auth_event(
        self, *, status: int, key_id: str | None, method: str, path: str, reason: str
    ) -> None:
        with self.store.light_write() as conn:
            conn.execute(
                insert(t.auth_events).values(
                    at=self.store.now(),
                    status=status,
                    key_id=key_id[:128] if key_id else None,
                    method=method[:16],
                    path=path[:1024],
                    reason=reason[:2000],
                )
            )

    @retried
    def use_nonce(self, kid: str, nonce: str, expires_at: int) -> bool:
        """Record a request nonce; False if it was already used (a replay). Concurrent
        requests' nonces are recorded in one light transaction (:class:`GroupCommit`)."""
        return self.nonces.submit((kid, nonce, expires_at))

    async def use_nonce_async(self, kid: str, nonce: str, expires_at: int) -> bool:
        """:meth:`use_nonce` for the event loop (it waits for its batch holding no thread)."""
        return await self.nonces.submit_async((kid, nonce, expires_at))

    def _record_nonces(
        self, conn: Connection, items: list[tuple[str, str, int]]
    ) -> list[bool | PausebuttonError]:
        """Insert a batch of nonces, each unless it is there already (also from earlier in
        the batch); whether each was fresh. Expired nonces go every 64 s."""
        marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
        out: list[bool | PausebuttonError] = []
        if marker is None:  # another driver: one savepoint per nonce
            for kid, nonce, expires_at in items:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(t.nonces).values(key_id=kid, nonce=nonce, expires_at=expires_at)
                        )
                    out.append(True)
                except IntegrityError:
                    out.append(False)
        else:
            sql = (
                f"INSERT INTO {t.nonces.name} (key_id, nonce, expires_at)"
                f" VALUES ({marker}, {marker}, {marker}) ON CONFLICT DO NOTHING"
            )
            for item in items:
                out.append(conn.exec_driver_sql(sql, item).rowcount == 1)
        now = self.store.now()
        if now % 64 == 0:
            conn.execute(t.nonces.delete().where(t.nonces.c.expires_at < now))
        return out

    def auth_events(self, limit: int = 100) -> list[AuthEvent]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(t.auth_events).order_by(t.auth_events.c.id.desc()).limit(limit)
            ).all()
        return [from_row(AuthEvent, r) for r in rows]


def register_key(
    conn: Connection,
    kid: str,
    raw: bytes,
    role: str,
    owner_id: str | None,
    name: str,
    now: int,
) -> None:
    """Bind a new request-signing key to ``role`` in this transaction (ConflictError if
    the key is registered already): operators and admins here, signal sources and
    supply-chain parties from their services."""
    if _key_exists(conn, kid):
        raise ConflictError(f"key {kid} is already registered", field="public_key")
    _insert_key(conn, kid, raw, role, owner_id, name, now)


def _key_exists(conn: Connection, kid: str) -> bool:
    query = select(t.api_keys.c.key_id).where(t.api_keys.c.key_id == kid)
    return conn.execute(query).first() is not None


def _insert_key(
    conn: Connection,
    kid: str,
    raw: bytes,
    role: str,
    owner_id: str | None,
    name: str,
    now: int,
) -> None:
    conn.execute(
        insert(t.api_keys).values(
            key_id=kid,
            public_key=raw,
            role=role,
            owner_id=owner_id,
            name=name,
            created_at=now,
            revoked=False,
        )
    )
