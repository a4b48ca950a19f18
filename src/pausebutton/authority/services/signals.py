"""Signal intake: the verification engine's outside sources (utilities, customs offices,
inspectors, satellite analysts, financial intelligence), each a request-signing key
bound to the methods it may report, and the signals they submit.

A submission is one batch of one method in the same JSON document the engine's files
use (``{"kind": METHOD, "version": 1, "rows": [...]}``, see ``detect.signals``). It is
all or nothing: a row that does not parse refuses the batch, naming its row and field,
and nothing is stored. A row already received (the same method and the same values,
from any source) is not stored twice: re-sending a batch is harmless.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    SOURCE,
    Caller,
    Result,
    Store,
    check_text,
    parse_hex,
    require,
    retried,
)
from pausebutton.authority.services.keys import register_key
from pausebutton.detect.signals import SCHEMAS, Method, import_json, parse_row, to_row
from pausebutton.errors import ConflictError, DataError, ForbiddenError, OversizedError, SchemaError
from pausebutton.protocol.keys import PUBLIC_KEY_SIZE, PublicKey, key_id

MAX_ROWS = 10_000
"""Rows in one submission (a bigger batch is split by the sender)."""


@dataclass(frozen=True, slots=True)
class SignalSource(Result):
    key_id: str
    name: str
    methods: list[str]
    """The verification methods this source may report."""
    revoked: bool


@dataclass(frozen=True, slots=True)
class SignalBatch(Result):
    method: str
    received: int
    """Rows in the submission."""
    stored: int
    """Rows new to the authority (the others were already received: a resend is harmless)."""


def _methods(values: Iterable[str]) -> list[Method]:
    out: list[Method] = []
    for v in values:
        try:
            out.append(Method(v))
        except ValueError:
            known = ", ".join(m.value for m in Method)
            raise SchemaError(f"unknown method {v!r}; known: {known}", field="methods") from None
    if not out:
        raise SchemaError("a source reports at least one method", field="methods")
    return sorted(set(out))


def digest(method: Method, row: dict[str, str]) -> str:
    """The identity of a signal: its method and its values, canonical."""
    canonical = json.dumps([method.value, row], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class SignalService:
    """Signal sources (keys bound to methods) and the signals they submit."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @retried
    def add_source(
        self, caller: Caller | None, *, public_key: str, name: str, methods: list[str]
    ) -> SignalSource:
        """Bind a request-signing key to the methods it may report (admin)."""
        require(caller, ADMIN)
        raw = parse_hex(public_key, PUBLIC_KEY_SIZE, "public_key")
        PublicKey.from_bytes(raw)
        check_text(name, "name", 256)
        allowed = _methods(methods)
        kid = key_id(raw).hex()
        now = self.store.now()
        with self.store.write() as conn:
            register_key(conn, kid, raw, SOURCE, None, name, now)
            conn.execute(
                insert(t.signal_sources).values(
                    key_id=kid, methods=",".join(m.value for m in allowed), created_at=now
                )
            )
        return SignalSource(kid, name, [m.value for m in allowed], False)

    def list_sources(self) -> list[SignalSource]:
        s, k = t.signal_sources, t.api_keys
        with self.store.read() as conn:
            rows = conn.execute(
                select(k.c.key_id, k.c.name, k.c.revoked, s.c.methods)
                .join(s, s.c.key_id == k.c.key_id)
                .order_by(s.c.created_at, k.c.key_id)
            ).all()
        return [SignalSource(r.key_id, r.name, r.methods.split(","), bool(r.revoked)) for r in rows]

    def _allowed(self, kid: str) -> set[str]:
        with self.store.read() as conn:
            row = conn.execute(
                select(t.signal_sources.c.methods).where(t.signal_sources.c.key_id == kid)
            ).first()
        return set(row.methods.split(",")) if row is not None else set()

    def submit(self, caller: Caller | None, text: str) -> SignalBatch:
        """Store one batch of one method from a source allowed to report it."""
        src = require(caller, SOURCE)
        parsed = import_json(None, text, "body")
        method = parsed.method
        if method.value not in self._allowed(src.key_id):
            raise ForbiddenError(
                f"source {src.name} may not report {method.value} signals", field="kind"
            )
        if parsed.errors:
            first = parsed.errors[0]
            raise DataError(
                f"{first.message} (and {len(parsed.errors) - 1} more; nothing stored)"
                if len(parsed.errors) > 1
                else f"{first.message} (nothing stored)",
                row=first.details.get("row"),
                field=first.details.get("field") or None,
            )
        if len(parsed.signals) > MAX_ROWS:
            raise OversizedError(f"at most {MAX_ROWS} rows per submission", field="rows")
        rows = [to_row(sig) for sig in parsed.signals]
        return SignalBatch(method.value, len(rows), self._store(src.key_id, method, parsed, rows))

    @retried
    def _store(self, kid: str, method: Method, parsed: Any, rows: list[dict[str, str]]) -> int:
        now = self.store.now()
        records = {
            digest(method, row): {
                "method": method.value,
                "digest": digest(method, row),
                "key_id": kid,
                "time": int(sig.time.timestamp()),
                "row": row,
                "received_at": now,
            }
            for sig, row in zip(parsed.signals, rows, strict=True)
        }
        with self.store.write() as conn:
            known = set(
                conn.execute(
                    select(t.signals.c.digest).where(t.signals.c.digest.in_(list(records)))
                ).scalars()
            )
            new = [r for d, r in records.items() if d not in known]
            if new:
                try:
                    conn.execute(insert(t.signals), new)
                except IntegrityError:
                    # the same rows arrived from elsewhere at this moment: run again,
                    # and the second pass finds them known
                    raise ConflictError("signals arrived twice at once; send again") from None
        return len(new)

    def load(self, since: int) -> list[Any]:
        """Every stored signal from ``since`` (Unix seconds) on, as the engine's values."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(t.signals.c.method, t.signals.c.row)
                .where(t.signals.c.time >= since)
                .order_by(t.signals.c.id)
            ).all()
        return [parse_row(SCHEMAS[Method(r.method)], r.row) for r in rows]
