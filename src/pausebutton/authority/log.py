"""The one seam between the authority and the transparency log.

Everything the authority decides (chip registrations, custody events,
licences, pause and resume orders) is appended through :class:`LogSink`
*inside the same database transaction* that records it, so an entry exists
if and only if the record does. A signed object is logged as its exact
envelope bytes (the vendor's DeviceCertificate, the License, the K-signed
PauseOrder or ResumeOrder): that is what a chip checks an inclusion bundle
against (``LogPolicy.verify_entry``). A custody event is the canonical CBOR
map ``{"type": "custody-event", "event": {...}}``.

:class:`TranslogSink` (the default) appends to the durable RFC 9162 Merkle log
of :mod:`pausebutton.translog.store` (its ``translog_`` tables, created by the
authority's migrations) on the caller's connection, so the record and its log
entry commit together; the log's router serves checkpoints and proofs over the
same tables. :class:`TableLog` is a plain table of entries (no tree), kept for
tools that want a log without the Merkle store.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select

from pausebutton.authority import tables as t
from pausebutton.authority.counters import next_value
from pausebutton.errors import EncodingError
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope
from pausebutton.translog import store as tstore


def entry_kind(data: bytes) -> str:
    """What a log entry is: an envelope's type, or a record's ``type``."""
    try:
        return Envelope.decode(data).type
    except EncodingError:
        pass
    try:
        value = encoding.decode(data)
    except EncodingError:
        return "unknown"
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else "unknown"


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + data).digest()


class LogSink(Protocol):
    def append(self, conn: Connection, kind: str, entry: bytes, at: int) -> int:
        """Append the exact bytes ``entry`` within ``conn``'s transaction; its index."""
        ...

    def append_all(self, conn: Connection, kind: str, entries: list[bytes], at: int) -> list[int]:
        """Append several entries, in order, within ``conn``'s transaction; their indices."""
        ...

    def entries(self, conn: Connection, start: int, end: int) -> list[dict[str, Any]]:
        """Entries with start <= index < end."""
        ...

    def size(self, conn: Connection) -> int: ...


class TableLog:
    """Log entries in the authority's own table, indices from a counter (0-based)."""

    def append(self, conn: Connection, kind: str, entry: bytes, at: int) -> int:
        idx = next_value(conn, "log_size") - 1
        data = entry
        conn.execute(
            insert(t.log_entries).values(
                idx=idx, kind=kind, data=data, leaf_hash=leaf_hash(data), at=at
            )
        )
        return idx

    def append_all(self, conn: Connection, kind: str, entries: list[bytes], at: int) -> list[int]:
        return [self.append(conn, kind, e, at) for e in entries]

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


class TranslogSink:
    """Entries go to the durable Merkle log, in the caller's transaction (0-based indices)."""

    def append(self, conn: Connection, kind: str, entry: bytes, at: int) -> int:
        return tstore.LogStore.append_in(conn, [entry])[0]

    def append_all(self, conn: Connection, kind: str, entries: list[bytes], at: int) -> list[int]:
        """One append of them all (one size-row update, one write of leaves and nodes)."""
        return tstore.LogStore.append_in(conn, entries)

    def entries(self, conn: Connection, start: int, end: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(
                tstore.entries_table.c.idx,
                tstore.entries_table.c.data,
                tstore.entries_table.c.leaf_hash,
            )
            .where(tstore.entries_table.c.idx >= start, tstore.entries_table.c.idx < end)
            .order_by(tstore.entries_table.c.idx)
        ).all()
        return [
            {
                "index": r.idx,
                "kind": entry_kind(bytes(r.data)),
                "leaf_hash": bytes(r.leaf_hash).hex(),
                "data": bytes(r.data),
            }
            for r in rows
        ]

    def size(self, conn: Connection) -> int:
        value = conn.execute(
            select(tstore.meta_table.c.size).where(tstore.meta_table.c.id == 1)
        ).scalar()
        return int(value or 0)
