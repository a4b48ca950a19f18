"""Usage reports: verified, chained and stored in batches, and the alerts they raise.

``ingest`` gathers the facts (each report's signature, the chain's stored head,
what is stored at its sequence, the licence it names), asks the pure
:func:`pausebutton.protocol.reportchain.classify_report` what each report is, and
writes the outcome in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, select
from sqlalchemy import exc as sa_exc

from pausebutton.authority import tables as t
from pausebutton.authority.services.base import (
    ADMIN,
    OPERATOR,
    Caller,
    Result,
    Store,
    b64,
    from_row,
    insert_rows,
    page,
    require,
)
from pausebutton.authority.verifier import VerifierPool
from pausebutton.errors import PausebuttonError, SchemaError, ServiceError
from pausebutton.fsutil import usable_cores
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.keys import PrivateKey, PublicKey
from pausebutton.protocol.messages import UsageReport, report_hash
from pausebutton.protocol.reportchain import (
    ADVANCES,
    ChainHead,
    ChainOutcome,
    LicenseTerms,
    classify_report,
)

MAX_BATCH = 10_000
MAX_REPORT_SIZE = 4096
CHUNK = 250
"""Reports decoded per chunk while a helper process checks the chunk before."""
STORED_SLICE = 500
"""(chip, sequence) pairs looked up per query for the stored hashes (1,000 parameters)."""

_REFUSALS = {
    ChainOutcome.REPLAY: ("sequence", "a different report {seq} is stored"),
    ChainOutcome.CHAIN: ("prev_hash", "prev_hash does not match the stored chain"),
}


@dataclass(frozen=True, slots=True)
class Rejection(Result):
    index: int
    error: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Alert(Result):
    kind: str
    chip_id: str | None
    severity: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IngestResult(Result):
    received: int
    accepted: int
    duplicates: int
    rejected: list[Rejection]
    alerts: list[Alert]


@dataclass(frozen=True, slots=True)
class StoredReport(Result):
    chip_id: str
    sequence: int
    hash: str
    """Hex."""
    time: int
    flop_full: str
    license_id: int | None
    license_flop_used: str | None
    state: str
    received_at: int
    envelope: str
    """Base64 of the signed UsageReport envelope."""


@dataclass(frozen=True, slots=True)
class AlertRecord(Alert):
    """A stored alert: the alert, then its id and time (the order of the JSON)."""

    id: int
    created_at: int


_Verified = tuple[int, bytes, UsageReport, str, int]
"""(index in the batch, envelope bytes, the report, its chip id in hex, the chip's
number)."""
_Checked = tuple[int, bytes, UsageReport, str, int, bool]
"""A report of a registered chip: (index, envelope bytes, the report, chip id, chip
number, whether the chip's device key signed it)."""
_Row = tuple[Any, ...]
"""A stored report's values in the order of ``REPORT_COLUMNS``."""


class _Known(NamedTuple):
    """What a worker keeps of a registered chip: neither ever changes."""

    device_key: PublicKey
    chip_no: int


class _Chain(NamedTuple):
    """A chip's report chain as stored: the head and the chip's owner (a tuple: one is
    built per chip of a batch)."""

    head: ChainHead
    owner_id: str | None


@dataclass(slots=True)
class _Batch:
    """What one ingest call has found so far."""

    rejected: list[Rejection]
    alerts: list[Alert]

    def reject(self, i: int, error: str, field: str, message: str) -> None:
        self.rejected.append(Rejection(i, error, field, message))

    def alert(self, kind: str, chip_id: str, severity: str, detail: dict[str, Any]) -> None:
        self.alerts.append(Alert(kind, chip_id, severity, detail))


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A batch after ``ReportService.check``: nothing written yet."""

    caller: Caller
    received: int
    now: int
    signed: list[_Checked]
    rows: dict[int, tuple[UsageReport, str, _Row]]
    found: _Batch
    """What the checks refused and raised so far."""


def _signatures_of(env: Envelope, pub: PublicKey) -> list[bytes]:
    """The envelope's signatures made with ``pub``'s key id (usually one)."""
    kid = pub.key_id
    return [s.sig for s in env.signatures if s.key_id == kid]


def _check_signatures(chunk: Sequence[tuple[Envelope, PublicKey]]) -> list[bool]:
    """Is each envelope signed by its key? As ``Envelope.verify``: any signature of the
    key that holds. (In this thread: a batch of one chunk, or a failed helper's chunk.)"""
    return [
        any(pub.is_valid(env.signing_input(), sig) for sig in _signatures_of(env, pub))
        for env, pub in chunk
    ]


def default_verify_processes() -> int:
    """Helper processes per worker that check report signatures: the cores it may use
    (at least 1, at most 4), whatever the number of workers. A worker keeps the
    connections the kernel gave it, so a fleet's batches rarely spread evenly over the
    workers; a worker given a core's share only (cores / workers) left the other cores
    idle whenever its connections were the busy ones (benchmarks/README.md)."""
    return max(1, min(4, usable_cores()))


class ReportService:
    """Ingestion of usage reports; stored reports and alerts."""

    def __init__(self, store: Store, verifiers: VerifierPool | None = None) -> None:
        self.store = store
        self._known: dict[str, _Known] = {}
        self.verifiers = verifiers or VerifierPool(default_verify_processes())
        """Helper processes checking the signatures of batches of more than one chunk."""

    def _known_of(self, chip_ids: Iterable[str]) -> dict[str, _Known]:
        """The device keys and numbers of these chips, of those registered (neither
        changes and a chip is never deleted, so each worker keeps what it has read: a
        batch of known chips reads nothing here)."""
        cache = self._known
        wanted = {cid for cid in chip_ids if cid not in cache}
        if wanted:
            with self.store.read() as conn:
                rows = _select_in(
                    conn,
                    "SELECT c.chip_id, c.device_key, h.chip_no FROM chips c"
                    " JOIN chain_heads h ON h.chip_id = c.chip_id WHERE c.chip_id IN",
                    list(wanted),
                )
            if len(cache) + len(rows) > 1_000_000:
                cache.clear()
            for chip_id, device_key, chip_no in rows:
                cache[chip_id] = _Known(PublicKey.from_bytes(bytes(device_key)), int(chip_no))
        return cache

    def warm_up(self) -> None:
        """Build what a worker's first batch would otherwise build in its middle: the
        UsageReport decoder (generated once per class) and the verify path, over a report
        signed here by a throwaway key (nothing is stored)."""
        key = PrivateKey.from_seed_material(b"pausebutton-ingestion-warm-up")
        report = UsageReport(
            chip_id=key.key_id,
            sequence=1,
            prev_hash=bytes(32),
            time=0,
            flop_full=0,
            flop_throttled=0,
            cycles=0,
            energy_mj=0,
            state="licensed",
        )
        data = Envelope.create(report, [key]).encode()
        env, _ = decode_as(data, UsageReport, max_size=MAX_REPORT_SIZE)
        if _check_signatures([(env, key.public)]) != [True]:
            raise ServiceError("the ingestion warm-up report did not verify")  # pragma: no cover
        self.verifiers.start()

    def ingest(self, caller: Caller | None, items: Sequence[bytes]) -> IngestResult:
        """Verify and store a batch of signed usage reports; acknowledge only after commit.

        Per report: the envelope is a UsageReport signed by the chip's registered
        device key; sequence/prev_hash chain onto what is stored. A duplicate of a
        stored report is acknowledged again (idempotent). Alerts: gap (sequence
        skips ahead), replay (a different report at a stored sequence), chain
        (prev_hash does not match), over_license (more FLOP used than licensed),
        outside_license_period (full-rate work reported outside the licence's
        validity), unknown_license, unknown_chip, bad_signature.

        ``check`` then ``store``: the API records the request's nonce between the two,
        while ``check`` runs."""
        return self.store_checked(self.check(caller, items))

    def check(self, caller: Caller | None, items: Sequence[bytes]) -> CheckedBatch:
        """Step 1, before any write: the caller's role, the batch's size, each report
        decoded and its signature checked, the rows to store built."""
        c = require(caller, OPERATOR, ADMIN)
        if len(items) > MAX_BATCH:
            raise SchemaError(f"at most {MAX_BATCH} reports per batch", field="reports")
        now = self.store.now()
        found = _Batch([], [])
        signed = self._checked(items, found)
        return CheckedBatch(c, len(items), now, signed, _rows(signed, now), found)

    def store_checked(self, batch: CheckedBatch) -> IngestResult:
        """Step 2: classify the checked reports against the stored chains and write the
        accepted ones, in one transaction (run again after a deadlock)."""
        checked = (list(batch.found.rejected), list(batch.found.alerts))

        def write() -> tuple[int, int, _Batch]:
            # a retried transaction starts again from what the checks found
            attempt = _Batch(list(checked[0]), list(checked[1]))
            with self.store.write() as conn:
                accepted, duplicates = self._store_chained(
                    conn, batch.caller, batch.signed, batch.rows, attempt, batch.now
                )
            return accepted, duplicates, attempt

        accepted, duplicates, found = self.store.retry(write)
        found.rejected.sort(key=lambda r: r.index)
        return IngestResult(batch.received, accepted, duplicates, found.rejected, found.alerts)

    # -- ingestion, step 1: decode and check signatures -----------------------------------

    def _checked(self, items: Sequence[bytes], found: _Batch) -> list[_Checked]:
        """The reports that decode and name a registered chip, each with whether its
        device key signed it (in batch order). Pipeline: this thread decodes chunk k+1
        (Python, holds the interpreter lock) while helper processes check the
        signatures of the chunks before (``authority/verifier.py``); a batch of one
        chunk is checked here. Who may report for the chip is checked in the write
        transaction, on the owner it reads there."""
        chunks: list[tuple[list[_Verified], list[tuple[Envelope, PublicKey]]]] = []
        with self.verifiers.batch(-(-len(items) // CHUNK)) as check:
            for start in range(0, len(items), CHUNK):
                candidates, to_check = self._candidates(items, start, found)
                chunks.append((candidates, to_check))
                if check.active:
                    check.send(
                        [
                            (pub.raw, env.signing_input(), _signatures_of(env, pub))
                            for env, pub in to_check
                        ]
                    )
                else:
                    check.skip()
            out: list[_Checked] = []
            for (candidates, to_check), answer in zip(chunks, check.answers(), strict=True):
                # None: a batch of one chunk, or its helper failed
                oks = _check_signatures(to_check) if answer is None else answer
                for (i, data, rep, cid, no), ok in zip(candidates, oks, strict=True):
                    out.append((i, data, rep, cid, no, ok))
        return out

    def _candidates(
        self, items: Sequence[bytes], start: int, found: _Batch
    ) -> tuple[list[_Verified], list[tuple[Envelope, PublicKey]]]:
        """A chunk's reports that decode and name a registered chip, and their checks."""
        parsed = self._decoded(items, start, found)
        known = self._known_of(cid for _, _, _, _, cid in parsed)
        candidates: list[_Verified] = []
        to_check: list[tuple[Envelope, PublicKey]] = []
        for i, data, env, rep, cid in parsed:
            chip = known.get(cid)
            if chip is None:
                found.reject(
                    i, "not_found", f"reports[{i}].chip_id", f"chip {cid} is not registered"
                )
                found.alert("unknown_chip", cid, "high", {"sequence": rep.sequence})
                continue
            candidates.append((i, data, rep, cid, chip.chip_no))
            to_check.append((env, chip.device_key))
        return candidates, to_check

    @staticmethod
    def _decoded(
        items: Sequence[bytes], start: int, found: _Batch
    ) -> list[tuple[int, bytes, Envelope, UsageReport, str]]:
        parsed = []
        for i in range(start, min(start + CHUNK, len(items))):
            data = items[i]
            if not isinstance(data, bytes) or len(data) > MAX_REPORT_SIZE:
                found.reject(i, "oversized", f"reports[{i}]", "too large")
                continue
            try:
                env, rep = decode_as(data, UsageReport, max_size=MAX_REPORT_SIZE)
            except PausebuttonError as exc:
                found.reject(i, exc.code, f"reports[{i}]", exc.message)
                continue
            parsed.append((i, data, env, rep, rep.chip_id.hex()))
        return parsed

    # -- ingestion, step 2: gather the chain facts, classify, write -------------------------

    def _heads(self, conn: Connection, chip_nos: list[int]) -> dict[int, _Chain]:
        """The chains' stored heads by chip number, locked for this transaction (FOR NO
        KEY UPDATE in chip number order on PostgreSQL; SQLite's writer lock is held),
        with the chips' owners."""
        if not chip_nos:
            return {}
        lock = "" if self.store.db.sqlite else " ORDER BY h.chip_no FOR NO KEY UPDATE OF h"
        rows = _select_in(
            conn,
            "SELECT h.chip_no, h.report_seq, h.report_hash, c.owner_id"
            " FROM chain_heads h JOIN chips c ON c.chip_id = h.chip_id WHERE h.chip_no IN",
            chip_nos,
            lock,
        )
        return {int(no): _Chain(ChainHead(int(seq), bytes(h)), owner) for no, seq, h, owner in rows}

    @staticmethod
    def _licenses(conn: Connection, verified: list[_Row]) -> dict[int, LicenseTerms]:
        lic_ids = {row[5] for row in verified if row[5] is not None}
        if not lic_ids:
            return {}
        rows = conn.execute(
            select(
                t.licenses.c.license_id,
                t.licenses.c.chip_id,
                t.licenses.c.flop_budget,
                t.licenses.c.not_before,
                t.licenses.c.not_after,
            ).where(t.licenses.c.license_id.in_(list(lic_ids)))
        ).all()
        return {
            r.license_id: LicenseTerms(
                bytes.fromhex(r.chip_id), int(r.flop_budget), r.not_before, r.not_after
            )
            for r in rows
        }

    @staticmethod
    def _stored_hashes(
        conn: Connection, verified: list[_Row], chains: dict[int, _Chain]
    ) -> dict[tuple[int, int], bytes]:
        """Hashes stored at the sequences of reports at or below their chain's head (a
        resent batch, a replay, a late report), by (chip number, sequence): one query per
        ``STORED_SLICE`` of them, never one per report."""
        wanted = sorted(
            {(row[0], row[1]) for row in verified if row[1] <= chains[row[0]].head.sequence}
        )
        stored: dict[tuple[int, int], bytes] = {}
        marker = _marker(conn)
        for start in range(0, len(wanted), STORED_SLICE):
            part = wanted[start : start + STORED_SLICE]
            pairs = ", ".join([f"({marker}, {marker})"] * len(part))
            params = tuple(v for pair in part for v in pair)
            # a join on a list of values: each pair is one primary-key lookup (a row-value
            # IN list makes SQLite scan the table)
            rows = conn.exec_driver_sql(
                f"WITH wanted (chip_no, sequence) AS (VALUES {pairs})"
                " SELECT r.chip_no, r.sequence, r.hash FROM wanted"
                " JOIN usage_reports r ON r.chip_no = wanted.chip_no"
                " AND r.sequence = wanted.sequence",
                params,
            ).all()
            for no, seq, h in rows:
                stored[(int(no), int(seq))] = bytes(h)
        return stored

    def _store_chained(
        self,
        conn: Connection,
        c: Caller,
        signed: list[_Checked],
        rows: dict[int, tuple[UsageReport, str, _Row]],
        found: _Batch,
        now: int,
    ) -> tuple[int, int]:
        """Refuse the reports of chips the caller may not report for, then those without
        their device key's signature; classify the others against the stored chains (in
        chip and sequence order: ``rows``, built before the writer lock) and write the
        accepted ones, the new heads and the alerts. Returns (accepted, duplicates)."""
        chains = self._heads(conn, sorted({item[4] for item in signed}))
        refused: set[int] = set()
        for i, _, rep, cid, no, ok in signed:
            if c.role == OPERATOR and chains[no].owner_id != c.owner_id:
                found.reject(
                    i,
                    "forbidden",
                    f"reports[{i}].chip_id",
                    f"chip {cid} is not owned by {c.owner_id}",
                )
                refused.add(i)
            elif not ok:
                found.reject(
                    i, "bad_signature", f"reports[{i}]", "not signed by the chip's device key"
                )
                found.alert("bad_signature", cid, "high", {"sequence": rep.sequence})
                refused.add(i)
        verified = [(i, *item) for i, item in rows.items() if i not in refused]
        lics = self._licenses(conn, [row for _, _, _, row in verified])
        stored = self._stored_hashes(conn, [row for _, _, _, row in verified], chains)
        accepted: list[_Row] = []
        new_heads: dict[int, ChainHead] = {}
        duplicates = 0
        add_row = accepted.append
        for i, rep, cid, row in verified:
            no, seq, h = row[0], row[1], row[2]
            lid = row[5]
            verdict = classify_report(
                rep,
                h,
                new_heads.get(no) or chains[no].head,
                stored=stored.get((no, seq)),
                license=None if lid is None else lics.get(lid),
            )
            outcome = verdict.outcome
            for f in verdict.findings:
                found.alert(f.kind, cid, f.severity, f.detail)
            if outcome is ChainOutcome.DUPLICATE:
                duplicates += 1
                continue
            refusal = _REFUSALS.get(outcome)
            if refusal is not None:
                field, message = refusal
                found.reject(i, outcome.value, f"reports[{i}].{field}", message.format(seq=seq))
                continue
            if outcome in ADVANCES:
                new_heads[no] = ChainHead(seq, h)
            stored[(no, seq)] = h
            add_row(row)
        if accepted:
            insert_rows(conn, t.reports, REPORT_COLUMNS, accepted)
        if new_heads:
            marker = _marker(conn)
            conn.exec_driver_sql(
                f"UPDATE chain_heads SET report_seq = {marker}, report_hash = {marker}"
                f" WHERE chip_no = {marker}",
                [(v.sequence, v.hash, k) for k, v in new_heads.items()],
            )
        if found.alerts:
            conn.execute(insert(t.alerts), [{**asdict(a), "created_at": now} for a in found.alerts])
        return len(accepted), duplicates

    # -- reads -------------------------------------------------------------------------------

    def list_reports(
        self, chip_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[StoredReport]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(t.chain_heads.c.chip_id, t.reports)
                .join(t.chain_heads, t.chain_heads.c.chip_no == t.reports.c.chip_no)
                .where(t.chain_heads.c.chip_id == chip_id, t.reports.c.sequence > after)
                .order_by(t.reports.c.sequence)
                .limit(limit)
            ).all()
        return [
            from_row(StoredReport, r, hash=bytes(r.hash).hex(), envelope=b64(bytes(r.envelope)))
            for r in rows
        ]

    def count_reports(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.reports)).scalar_one())

    def list_alerts(
        self,
        *,
        after: int = 0,
        kind: str | None = None,
        chip_id: str | None = None,
        limit: int = 1000,
    ) -> list[AlertRecord]:
        stmt = page(t.alerts, after, limit, kind=kind, chip_id=chip_id)
        with self.store.read() as conn:
            return [from_row(AlertRecord, r) for r in conn.execute(stmt).all()]


def _rows(signed: list[_Checked], now: int) -> dict[int, tuple[UsageReport, str, _Row]]:
    """Each signed report's row to store (``REPORT_COLUMNS``), with the report and its chip
    id, by its index in the batch, in chain order (chip number, then sequence): built
    before the writer lock is taken, so that the lock is held only to decide which are
    stored."""
    out: dict[int, tuple[UsageReport, str, _Row]] = {}
    for i, data, rep, cid, no, _ in sorted(signed, key=lambda x: (x[4], x[2].sequence)):
        used = rep.license_flop_used
        row = (
            no,
            rep.sequence,
            report_hash(data),
            rep.time,
            str(rep.flop_full),
            rep.license_id,
            None if used is None else str(used),
            rep.state,
            data,
            now,
        )
        out[i] = (rep, cid, row)
    return out


def _marker(conn: Connection) -> str:
    """The driver's positional parameter marker (sqlite3: ``?``; psycopg: ``%s``)."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        return "?"
    if style in ("format", "pyformat"):
        return "%s"
    raise ServiceError(f"no driver-level SQL for parameter style {style}")  # pragma: no cover


def _select_in(
    conn: Connection, head: str, values: Sequence[str] | Sequence[int], tail: str = ""
) -> list[tuple[Any, ...]]:
    """``head (v1, v2, ...)`` + ``tail`` through the driver, its rows fetched as the
    driver's plain tuples: the hot queries of ingestion read plain columns of many
    chips, so SQLAlchemy's statement building and its Row objects are skipped (building
    the rows cost three times what SQLite needed to find them). An error of the driver
    while fetching is raised as SQLAlchemy's, like one while executing."""
    marker = _marker(conn)
    sql = f"{head} ({', '.join([marker] * len(values))}){tail}"
    params = tuple(values)
    result = conn.exec_driver_sql(sql, params)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        rows: list[tuple[Any, ...]] = list(result.cursor.fetchall())
    except dbapi_error as exc:
        raise sa_exc.DBAPIError.instance(sql, params, exc, dbapi_error) from exc
    finally:
        result.close()
    return rows


REPORT_COLUMNS = (
    "chip_no",
    "sequence",
    "hash",
    "time",
    "flop_full",
    "license_id",
    "license_flop_used",
    "state",
    "envelope",
    "received_at",
)
"""The columns of a stored report, in the order of the rows ``_rows`` builds."""
