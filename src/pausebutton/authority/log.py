"""The one seam between the authority and the transparency log.

Everything the authority decides (chip registrations, custody events,
licences, pause and resume orders) is appended through :class:`LogSink`
*inside the same database transaction* that records it, so an entry exists
if and only if the record does. Each entry is the canonical CBOR map
``{"kind": text, "body": bytes, "at": uint}``; for licences and orders
``body`` is the signed envelope itself, so a log reader can verify it.

:class:`TableLog` is the built-in sink (its own ``authority_log`` table; leaf
hashes per RFC 6962). A durable Merkle log store replaces it by implementing
the same two methods.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select

from pausebutton.authority import tables as t
from pausebutton.authority.counters import next_value
from pausebutton.protocol import encoding


def entry_bytes(kind: str, body: bytes, at: int) -> bytes:
    return encoding.encode({"kind": kind, "body": body, "at": at})


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + data).digest()


class LogSink(Protocol):
    def append(self, conn: Connection, kind: str, body: bytes, at: int) -> int:
        """Append one entry within ``conn``'s transaction; return its index."""
        ...

    def entries(self, conn: Connection, start: int, end: int) -> list[dict[str, Any]]:
        """Entries with start <= index < end."""
        ...

    def size(self, conn: Connection) -> int: ...


class TableLog:
    """Log entries in the authority's own table, indices from a counter (0-based)."""

    def append(self, conn: Connection, kind: str, body: bytes, at: int) -> int:
        idx = next_value(conn, "log_size") - 1
        data = entry_bytes(kind, body, at)
        conn.execute(
            insert(t.log_entries).values(
                idx=idx, kind=kind, data=data, leaf_hash=leaf_hash(data), at=at
            )
        )
        return idx

    def entries(self, conn: Connection, start: int, end: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(t.log_entries)
            .where(t.log_entries.c.idx >= start, t.log_entries.c.idx < end)
            .order_by(t.log_entries.c.idx)
        ).all()
        return [
            {
                "index": r.idx,
                "kind": r.kind,
                "at": r.at,
                "leaf_hash": bytes(r.leaf_hash).hex(),
                "data": bytes(r.data),
            }
            for r in rows
        ]

    def size(self, conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(t.log_entries)).scalar_one())
