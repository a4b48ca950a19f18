"""The chain of trust roots: a root change assembled by the members (``root assemble``)
is submitted by any member, checked against the newest root the authority holds (protocol
step G: version v+1, the floor, the old root's threshold without revoked keys, the new
root's threshold, every added key's own signature), logged, and served at a stable URL
(``GET /v1/roots/VERSION``) for agents to push and chips to install in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    MEMBER,
    Caller,
    Result,
    Store,
    b64,
    require,
    retried,
)
from pausebutton.errors import DataError, NotFoundError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.governance import verify_change
from pausebutton.protocol.trustroot import TrustRoot, load_pinned_root

ROOT_KIND = "trust-root"


@dataclass(frozen=True, slots=True)
class RootVersion(Result):
    version: int
    expires: int
    members: list[str]
    """The members' names, as the root lists them."""
    log_index: int | None
    """Where the root is logged (None for the authority's first root, pinned out of band)."""
    submitted_by: str
    received_at: int
    envelope: str
    """Base64 of the signed TrustRoot envelope."""


@dataclass(frozen=True, slots=True)
class SubmittedRoot(RootVersion):
    duplicate: bool
    """This root was already the newest (nothing changed)."""


def _result(root: TrustRoot, data: bytes, row: Any | None) -> dict[str, Any]:
    return {
        "version": root.version,
        "expires": root.expires,
        "members": [m.name for m in root.members],
        "log_index": row.log_index if row is not None else None,
        "submitted_by": row.submitted_by if row is not None else "pinned",
        "received_at": row.received_at if row is not None else 0,
        "envelope": b64(data),
    }


class RootService:
    """The authority's chain of trust roots, from the one it started with."""

    def __init__(
        self,
        store: Store,
        first: bytes | None,
        first_root: TrustRoot,
        revoked: Callable[[Connection | None], frozenset[bytes]],
    ) -> None:
        self.store = store
        self.first = first or b""
        """The first root's signed bytes (empty when the caller gave only its payload)."""
        self.first_root = first_root
        if first is not None and load_pinned_root(first)[1] != first_root:
            raise DataError("the first root's bytes and payload differ")
        self.revoked = revoked

    def newest(self, conn: Connection | None = None) -> tuple[bytes, TrustRoot]:
        """The newest root (its bytes and payload): the last submitted, else the first."""
        query = select(t.trust_roots).order_by(t.trust_roots.c.version.desc()).limit(1)
        if conn is None:
            with self.store.read() as c:
                row = c.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None or row.version < self.first_root.version:
            return self.first, self.first_root
        data = bytes(row.envelope)
        return data, Envelope.decode(data).open_as(TrustRoot)

    @retried
    def submit(self, caller: Caller | None, data: bytes) -> tuple[SubmittedRoot, TrustRoot]:
        """Check, log and store the next root. Named refusals: ``chain`` (a skipped
        version), ``rollback``, ``below_floor``, ``last_key``, ``below_threshold`` (the
        old root's members without revoked keys, the new root's, or an added key's own
        signature missing), ``expired``. Submitting the newest root again is
        acknowledged (``duplicate``)."""
        c = require(caller, MEMBER)
        env = Envelope.decode(data)
        data = env.encode()
        now = self.store.now()
        with self.store.write() as conn:
            self.store.lock_keys(conn, "trust-roots")
            current_bytes, current = self.newest(conn)
            offered = env.open_as(TrustRoot)
            if offered.version == current.version and data == current_bytes:
                row = conn.execute(
                    select(t.trust_roots).where(t.trust_roots.c.version == current.version)
                ).first()
                return SubmittedRoot(**_result(current, data, row), duplicate=True), current
            _, new = verify_change(current, data, now, revoked=self.revoked(conn))
            idx = self.store.log.append(conn, ROOT_KIND, data, now)
            row_values = {
                "version": new.version,
                "envelope": data,
                "log_index": idx,
                "submitted_by": c.name,
                "received_at": now,
            }
            conn.execute(insert(t.trust_roots).values(**row_values))
        return SubmittedRoot(**_result(new, data, _Row(idx, c.name, now)), duplicate=False), new

    def get(self, version: int) -> RootVersion:
        """Root ``version`` as logged here, else the first root if it is that version."""
        with self.store.read() as conn:
            row = conn.execute(
                select(t.trust_roots).where(t.trust_roots.c.version == version)
            ).first()
        if row is None:
            if version == self.first_root.version and self.first:
                return RootVersion(**_result(self.first_root, self.first, None))
            raise NotFoundError(f"no trust root v{version}", field="version")
        data = bytes(row.envelope)
        return RootVersion(**_result(Envelope.decode(data).open_as(TrustRoot), data, row))

    def chain(self, after: int = 0) -> list[RootVersion]:
        """Every root above version ``after``, in order (what a chip installs one by one)."""
        out = []
        with self.store.read() as conn:
            rows = conn.execute(
                select(t.trust_roots)
                .where(t.trust_roots.c.version > after)
                .order_by(t.trust_roots.c.version)
            ).all()
        logged = {row.version for row in rows}
        first = self.first_root.version
        if after < first and first not in logged and self.first:
            out.append(RootVersion(**_result(self.first_root, self.first, None)))
        for row in rows:
            data = bytes(row.envelope)
            out.append(RootVersion(**_result(Envelope.decode(data).open_as(TrustRoot), data, row)))
        return out


@dataclass(frozen=True)
class _Row:
    log_index: int
    submitted_by: str
    received_at: int
