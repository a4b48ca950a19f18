"""The log explorer: the transparency log's newest entries, search by chip or licence,
and what a browser needs to verify an inclusion proof itself (the log's and the
witnesses' public keys from the trust root). The proofs and checkpoints come from the
log's own API (``/v1/log``); the page checks them with WebCrypto, trusting nothing the
console says but the keys (docs/console.md, "Log")."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, select

from pausebutton import errors
from pausebutton.authority import tables as t
from pausebutton.translog.note import SIG_COSIGNATURE_V1, SIG_ED25519, witness_name
from pausebutton.translog.policy import LogPolicy

PAGE = 50

router = APIRouter(prefix="/console/api/log", tags=["console"])


def _keys(request: Request) -> dict[str, Any]:
    root = request.app.state.pb.service.root
    policy = LogPolicy.from_trust_root(root)
    return {
        "origin": policy.origin,
        "log_keys": [
            {"name": policy.origin, "type": SIG_ED25519, "public_key": _b64(k.raw)}
            for k in policy.log_keys
        ],
        "log_threshold": policy.log_threshold,
        "witness_keys": [
            {"name": witness_name(k), "type": SIG_COSIGNATURE_V1, "public_key": _b64(k.raw)}
            for k in policy.witness_keys
        ],
        "witness_threshold": policy.witness_threshold,
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _entries(log: Any, conn: Connection, indexes: list[int]) -> list[dict[str, Any]]:
    out = []
    for i in sorted(set(indexes), reverse=True):
        for e in log.entries(conn, i, i + 1):
            out.append({"index": e["index"], "kind": e["kind"], "leaf_hash": e["leaf_hash"]})
    return out


def _search(conn: Connection, q: str) -> list[int]:
    """Log indexes of what names a chip (its registration, custody events, licences,
    location checks) or a licence (by id)."""
    found: list[int] = []
    if q.isdigit():
        rows = conn.execute(
            select(t.licenses.c.log_index).where(t.licenses.c.license_id == int(q))
        ).all()
        found += [r.log_index for r in rows]
    chip = q.lower()
    if len(chip) == 64 and all(c in "0123456789abcdef" for c in chip):
        for table in (t.chips, t.custody_events, t.licenses, t.location_checks):
            rows = conn.execute(select(table.c.log_index).where(table.c.chip_id == chip)).all()
            found += [r.log_index for r in rows]
    return [i for i in found if i is not None]


@router.get("", summary="Newest log entries (or those naming a chip or licence), and the keys")
async def log_api(
    request: Request,
    q: str | None = Query(default=None, max_length=64),
    before: int | None = Query(default=None, ge=0),
) -> dict[str, Any]:
    store = request.app.state.pb.service.store

    def run() -> dict[str, Any]:
        with store.read() as conn:
            size = store.log.size(conn)
            if q:
                text = q.strip()
                if not (text.isdigit() or len(text) == 64):
                    raise errors.SchemaError(
                        "search by a chip id (64 hex digits) or a licence id (a number)",
                        field="q",
                    )
                indexes = _search(conn, text)
            else:
                end = size if before is None else min(before, size)
                indexes = list(range(max(0, end - PAGE), end))
            return {"size": size, "entries": _entries(store.log, conn, indexes)}

    data = await run_in_threadpool(run)
    return {**_keys(request), **data, "query": q}
