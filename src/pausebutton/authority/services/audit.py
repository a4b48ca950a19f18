"""Read-only views for auditors: the transparency log's entries and the counts of
what the authority holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import Result, Store, b64


@dataclass(frozen=True, slots=True)
class Stats(Result):
    owners: int
    facilities: int
    chips: int
    licenses: int
    orders: int
    active_pauses: int
    reports: int
    alerts: int
    log_size: int


def _count(conn: Connection, table: Any, *where: Any) -> int:
    stmt = select(func.count()).select_from(table)
    if where:
        stmt = stmt.where(and_(*where))
    return int(conn.execute(stmt).scalar_one())


class AuditService:
    """The log's entries and the authority's counts."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def log_entries(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        """Entries ``start`` <= index < ``end`` (at most 1000), their data base64 (the
        other fields are the log sink's)."""
        with self.store.read() as conn:
            size = self.store.log.size(conn)
            stop = size if end is None else min(end, size, start + 1000)
            out = self.store.log.entries(conn, start, stop)
        return [{**e, "data": b64(e["data"])} for e in out]

    def log_size(self) -> int:
        with self.store.read() as conn:
            return self.store.log.size(conn)

    def stats(self) -> Stats:
        with self.store.read() as conn:
            return Stats(
                owners=_count(conn, t.owners),
                facilities=_count(conn, t.facilities),
                chips=_count(conn, t.chips),
                licenses=_count(conn, t.licenses),
                orders=_count(conn, t.orders),
                active_pauses=_count(conn, t.orders, t.orders.c.active.is_(True)),
                reports=_count(conn, t.reports),
                alerts=_count(conn, t.alerts),
                log_size=self.store.log.size(conn),
            )
