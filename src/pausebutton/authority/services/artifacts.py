"""Prohibited artifacts: the K-of-N signed lists of banned model weights, and the
refused-load reports node agents send back (each raising an alert)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    MEMBER,
    OPERATOR,
    Caller,
    Result,
    Store,
    b64,
    from_row,
    page,
    require,
    retried,
)
from pausebutton.errors import NotFoundError, ReplayError, RollbackError, SchemaError
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.messages import ProhibitedArtifacts
from pausebutton.protocol.trustroot import TrustRoot


@dataclass(frozen=True, slots=True)
class ProhibitedList(Result):
    sequence: int
    issued_at: int
    artifacts: int
    """How many artifacts the list names."""
    log_index: int | None
    published_by: str
    received_at: int
    envelope: str
    """Base64 of the signed ProhibitedArtifacts envelope."""


@dataclass(frozen=True, slots=True)
class PublishedList(ProhibitedList):
    duplicate: bool
    """The newest list was published again (nothing changed)."""


@dataclass(frozen=True, slots=True)
class ArtifactReportsResult(Result):
    accepted: int
    duplicates: int
    alerts: list[int]


@dataclass(frozen=True, slots=True)
class ArtifactReport(Result):
    id: int
    report_id: str
    key_id: str
    owner_id: str | None
    list_sequence: int | None
    report: dict[str, Any]
    alert_id: int | None
    received_at: int


def _envelope(m: Any) -> str:
    return b64(bytes(getattr(m, "_mapping", m)["envelope"]))


def _parse_reports(items: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(items, (list, tuple)) or len(items) > 1000:
        raise SchemaError("reports must be a list of at most 1000 items", field="reports")
    parsed: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"id", "report"}:
            raise SchemaError(f"reports[{i}] must be {{id, report}}", field=f"reports.{i}")
        rid = item["id"]
        if not isinstance(rid, str) or not re.fullmatch("[0-9a-f]{64}", rid):
            raise SchemaError(f"reports[{i}].id must be 64 hex digits", field=f"reports.{i}.id")
        if not isinstance(item["report"], dict):
            raise SchemaError(f"reports[{i}].report must be an object", field=f"reports.{i}.report")
        parsed.append((rid, item["report"]))
    return parsed


def _alert_detail(rid: str, report: dict[str, Any], c: Caller) -> dict[str, Any]:
    hits = report.get("hits")
    first = hits[0] if isinstance(hits, list) and hits else {}
    seq = report.get("list_sequence")
    return {
        "report_id": rid,
        "owner_id": c.owner_id,
        "key": c.name,
        "what": str(report.get("what", ""))[:1024],
        "gpu": str(report.get("gpu", ""))[:128],
        "list_sequence": seq if isinstance(seq, int) else None,
        "hits": len(hits) if isinstance(hits, list) else 0,
        "artifact": str(first.get("sha256", ""))[:64] if isinstance(first, dict) else "",
    }


class ArtifactService:
    """Prohibited-artifact lists and refused-load reports."""

    def __init__(
        self,
        store: Store,
        root: TrustRoot,
        revoked: Callable[[], frozenset[bytes]] | None = None,
    ) -> None:
        self.store = store
        self.root = root
        self.revoked = revoked or frozenset
        """Key ids of revoked member keys (their signatures do not count)."""

    @retried
    def publish_prohibited(self, caller: Caller | None, data: bytes) -> PublishedList:
        """Store and log a ProhibitedArtifacts list signed by the pause role's K of N.

        Named errors: an unreadable envelope (``malformed``, ``schema``...), too few
        pause signatures (``below_threshold``), a sequence below the newest list
        (``rollback``) or equal to it with other content (``replay``). Publishing the
        newest list again is acknowledged (``duplicate``) and changes nothing."""
        c = require(caller, MEMBER)
        env, plist = decode_as(data, ProhibitedArtifacts)
        self.root.require_role(env, "pause", self.revoked())
        now = self.store.now()
        with self.store.write() as conn:
            return self.publish_in(conn, env, plist, c.name, now)

    def publish_in(
        self, conn: Connection, env: Envelope, plist: ProhibitedArtifacts, by: str, now: int
    ) -> PublishedList:
        """Store and log a list whose quorum the caller checked, in ``conn``'s transaction."""
        data = env.encode()  # canonical bytes (decode refuses non-canonical input)
        newest = conn.execute(
            self.store.lock(t.prohibited_lists)
            .order_by(t.prohibited_lists.c.sequence.desc())
            .limit(1)
        ).first()
        if newest is not None and plist.sequence <= newest.sequence:
            if plist.sequence == newest.sequence and bytes(newest.envelope) == data:
                return from_row(PublishedList, newest, envelope=_envelope(newest), duplicate=True)
            if plist.sequence == newest.sequence:
                raise ReplayError(
                    f"a different prohibited-artifacts list {plist.sequence} is already published",
                    field="sequence",
                )
            raise RollbackError(
                f"prohibited-artifacts list {plist.sequence} is older than the published"
                f" list {newest.sequence}",
                field="sequence",
            )
        idx = self.store.log.append(conn, ProhibitedArtifacts.TYPE, data, now)
        row = {
            "sequence": plist.sequence,
            "issued_at": plist.issued_at,
            "artifacts": len(plist.artifacts),
            "envelope": data,
            "log_index": idx,
            "published_by": by,
            "received_at": now,
        }
        conn.execute(insert(t.prohibited_lists).values(**row))
        return from_row(PublishedList, row, envelope=_envelope(row), duplicate=False)

    def newest_prohibited(self) -> ProhibitedList:
        with self.store.read() as conn:
            row = conn.execute(
                select(t.prohibited_lists).order_by(t.prohibited_lists.c.sequence.desc()).limit(1)
            ).first()
        if row is None:
            raise NotFoundError("no prohibited-artifacts list is published yet")
        return from_row(ProhibitedList, row, envelope=_envelope(row))

    @retried
    def report_artifacts(
        self, caller: Caller | None, items: Sequence[Any]
    ) -> ArtifactReportsResult:
        """Store refused-load reports from node agents (each ``{"id": 64 hex, "report":
        {...}}``; the id makes a retry harmless) and raise a ``prohibited_artifact``
        alert for each new one. All or nothing."""
        c = require(caller, OPERATOR, ADMIN)
        parsed = _parse_reports(items)
        now = self.store.now()
        duplicates = 0
        alerts: list[int] = []
        with self.store.write() as conn:
            seen: set[str] = set()
            if parsed:
                seen = {
                    r[0]
                    for r in conn.execute(
                        select(t.artifact_reports.c.report_id).where(
                            t.artifact_reports.c.report_id.in_([rid for rid, _ in parsed])
                        )
                    ).all()
                }
            for rid, report in parsed:
                if rid in seen:
                    duplicates += 1
                    continue
                seen.add(rid)
                detail = _alert_detail(rid, report, c)
                alert_id = conn.execute(
                    insert(t.alerts)
                    .values(
                        kind="prohibited_artifact",
                        chip_id=None,
                        severity="high",
                        detail=detail,
                        created_at=now,
                    )
                    .returning(t.alerts.c.id)
                ).scalar_one()
                conn.execute(
                    insert(t.artifact_reports).values(
                        report_id=rid,
                        key_id=c.key_id,
                        owner_id=c.owner_id,
                        list_sequence=detail["list_sequence"],
                        report=report,
                        alert_id=alert_id,
                        received_at=now,
                    )
                )
                alerts.append(int(alert_id))
        return ArtifactReportsResult(len(alerts), duplicates, alerts)

    def list_artifact_reports(
        self, *, owner_id: str | None = None, after: int = 0, limit: int = 1000
    ) -> list[ArtifactReport]:
        stmt = page(t.artifact_reports, after, limit, owner_id=owner_id)
        with self.store.read() as conn:
            return [from_row(ArtifactReport, r) for r in conn.execute(stmt).all()]
