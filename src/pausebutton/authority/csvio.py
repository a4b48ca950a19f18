"""CSV import and export of the registry (owners, facilities, chips, custody events).

Export writes one header row and one row per record. Import is all-or-nothing:
every row is applied inside one transaction and the first bad row raises a
DataError naming its row number and field, leaving the registry unchanged.
Chips are imported from their base64 vendor-signed certificate; custody
events are appended (never edited).
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from pausebutton.authority import tables as t
from pausebutton.authority.services import Authority, Caller
from pausebutton.authority.services.base import Result
from pausebutton.errors import DataError, PausebuttonError
from pausebutton.protocol.times import parse_instant


@dataclass(frozen=True, slots=True)
class CsvImport(Result):
    kind: str
    imported: int
    """How many rows were imported (all of them: an import is all or nothing)."""


COLUMNS = {
    "owners": ["id", "name", "country"],
    "facilities": [
        "id",
        "name",
        "country",
        "latitude",
        "longitude",
        "power_mw",
        "owner_id",
        "verified",
        "declared_chips",
        "chip_model",
        "source",
    ],
    "chips": [
        "chip_id",
        "serial",
        "model",
        "vendor",
        "owner_id",
        "facility_id",
        "status",
        "certificate",
    ],
    "custody": [
        "chip_id",
        "seq",
        "kind",
        "at",
        "actor",
        "owner_id",
        "facility_id",
        "country",
        "note",
    ],
}
MAX_ROWS = 100_000


def export_csv(service: Authority, kind: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    cols = COLUMNS[kind]
    writer.writerow(cols)
    table = {
        "owners": t.owners,
        "facilities": t.facilities,
        "chips": t.chips,
        "custody": t.custody_events,
    }[kind]
    order = {
        "owners": t.owners.c.id,
        "facilities": t.facilities.c.id,
        "chips": t.chips.c.chip_id,
        "custody": t.custody_events.c.id,
    }[kind]
    with service.db.read.connect() as conn:
        for r in conn.execute(select(table).order_by(order)):
            m = dict(r._mapping)
            if kind == "chips":
                m["certificate"] = base64.b64encode(bytes(m["certificate"])).decode()
            writer.writerow(["" if m.get(c) is None else _cell(m.get(c)) for c in cols])
    return buf.getvalue()


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _opt(row: dict[str, str], name: str) -> str | None:
    v = (row.get(name) or "").strip()
    return v or None


def _float(row: dict[str, str], name: str, line: int) -> float | None:
    v = _opt(row, name)
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        raise DataError(f"row {line}: {name} is not a number", row=line, field=name) from None


def _intv(row: dict[str, str], name: str, line: int) -> int | None:
    v = _opt(row, name)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise DataError(f"row {line}: {name} is not an integer", row=line, field=name) from None


def import_csv(service: Authority, caller: Caller, kind: str, text: str) -> CsvImport:
    """Import rows of ``kind``; all or nothing."""
    if kind not in COLUMNS:
        raise DataError(f"unknown registry table {kind!r}", field="kind")
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise DataError(f"row 1: not CSV: {exc}", row=1, field="body") from None
    if fieldnames is None:
        raise DataError("CSV is empty", field="body")
    twice = sorted({name for name in fieldnames if fieldnames.count(name) > 1})
    if twice:
        raise DataError(f"row 1: the header names {twice} more than once", row=1, field=twice[0])
    required = {
        "owners": ["id", "name", "country"],
        "facilities": ["id", "name", "country"],
        "chips": ["certificate"],
        "custody": ["chip_id", "kind", "at", "actor"],
    }[kind]
    missing = [c for c in required if c not in fieldnames]
    if missing:
        raise DataError(f"CSV lacks columns {missing}", field=missing[0])
    rows = _whole_rows(reader, len(fieldnames), required)

    def run() -> int:
        done = 0
        with service.batch():
            if kind == "custody":
                _lock_chips(service, rows)
            for line, row in enumerate(rows, start=2):
                try:
                    _import_row(service, caller, kind, row, line)
                except DataError:
                    raise
                except PausebuttonError as exc:
                    field = str(exc.details.get("field", ""))
                    raise DataError(
                        f"row {line}: {exc.message} (nothing imported)",
                        row=line,
                        field=field or None,
                    ) from None
                done += 1
        return done

    # the whole import is one transaction: a deadlock runs it again whole
    return CsvImport(kind, service.store.retry(run))


def _lock_chips(service: Authority, rows: list[dict[str, str]]) -> None:
    """Lock every chip the custody rows name, in chip id order, before the first row
    appends to the log (the lock order: chip rows before the log's size row)."""
    ids = sorted({cid.strip() for r in rows if isinstance(cid := r.get("chip_id"), str)})
    if ids:
        with service.store.write() as conn:
            conn.execute(
                service.store.lock_columns(
                    [t.chips.c.chip_id], t.chips.c.chip_id.in_(ids)
                ).order_by(t.chips.c.chip_id)
            ).all()


def _whole_rows(
    reader: csv.DictReader[str], width: int, required: list[str]
) -> list[dict[str, str]]:
    """Every row of ``reader``, each checked whole before any is applied: as many cells as
    the header, the required cells not empty; a CSV syntax error (an unterminated quote, a
    bare carriage return) names its row. Rows are numbered as records, the header being 1.
    Raises DataError."""
    rows: list[dict[str, str]] = []
    while True:
        line = len(rows) + 2
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise DataError(f"row {line}: not CSV: {exc}", row=line, field="body") from None
        if len(rows) >= MAX_ROWS:
            raise DataError(f"at most {MAX_ROWS} rows per import", field="body")
        extra = row.pop(None, None) or []  # DictReader's restkey: cells beyond the header
        cells = sum(1 for v in row.values() if v is not None) + len(extra)
        if cells != width:
            raise DataError(
                f"row {line}: {cells} cells where the header names {width}", row=line, field="body"
            )
        for name in required:
            if not row[name].strip():
                raise DataError(f"row {line}: {name} is empty", row=line, field=name)
        rows.append(row)


def _import_row(
    service: Authority, caller: Caller, kind: str, row: dict[str, str], line: int
) -> None:
    if kind == "owners":
        service.registry.create_owner(
            caller, id=row["id"].strip(), name=row["name"].strip(), country=row["country"].strip()
        )
    elif kind == "facilities":
        service.registry.create_facility(
            caller,
            id=row["id"].strip(),
            name=row["name"].strip(),
            country=row["country"].strip(),
            latitude=_float(row, "latitude", line),
            longitude=_float(row, "longitude", line),
            power_mw=_float(row, "power_mw", line),
            owner_id=_opt(row, "owner_id"),
            verified=(_opt(row, "verified") or "false").lower() in ("true", "1", "yes"),
            declared_chips=_intv(row, "declared_chips", line),
            chip_model=_opt(row, "chip_model"),
            source=_opt(row, "source"),
        )
    elif kind == "chips":
        try:
            cert = base64.b64decode(row["certificate"].strip(), validate=True)
        except ValueError:
            raise DataError(
                f"row {line}: certificate is not base64", row=line, field="certificate"
            ) from None
        service.registry.register_chip(
            caller,
            certificate=cert,
            owner_id=_opt(row, "owner_id"),
            facility_id=_opt(row, "facility_id"),
        )
    else:
        try:
            at = parse_instant(row["at"], "at")  # Unix seconds or ISO 8601
        except DataError as exc:
            raise DataError(f"row {line}: {exc.message}", row=line, field="at") from None
        service.custody.add_custody_event(
            caller,
            row["chip_id"].strip(),
            kind=row["kind"].strip(),
            at=at,
            actor=row["actor"].strip(),
            owner_id=_opt(row, "owner_id"),
            facility_id=_opt(row, "facility_id"),
            country=_opt(row, "country"),
            note=_opt(row, "note"),
        )
