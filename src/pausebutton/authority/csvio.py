"""CSV import and export of the registry (owners, facilities, chips, licences, custody).

The columns are the registry's one schema (``detect.registry.COLUMNS``), which the
verification engine reads too: ``registry export`` output is ``detect`` input as it
is. Export writes one header row and one row per record, times in ISO 8601 UTC and
capacities with their unit. Import is all-or-nothing:
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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from pausebutton.authority import tables as t
from pausebutton.authority.services import Authority, Caller
from pausebutton.authority.services.base import Result
from pausebutton.detect.registry import COLUMNS as SCHEMA
from pausebutton.detect.units import Dimension, parse_quantity
from pausebutton.errors import DataError, PausebuttonError
from pausebutton.protocol.times import parse_instant


@dataclass(frozen=True, slots=True)
class CsvImport(Result):
    kind: str
    imported: int
    """How many rows were imported (all of them: an import is all or nothing)."""


COLUMNS = {kind: list(cols) for kind, cols in SCHEMA.items()}
"""Each table's columns: the registry's one CSV schema (``detect.registry.COLUMNS``)."""
IMPORTABLE = ("owners", "facilities", "chips", "custody")
"""Licences are issued through applications (``license apply``), never imported."""
LEGACY = {
    "owners": {"id": "owner_id"},
    "facilities": {"id": "facility_id", "power_mw": "declared_capacity"},
    "chips": {"model": "hardware"},
    "custody": {},
}
"""Column names an import still accepts from before the shared schema (docs/migration.md)."""
REQUIRED = {
    "owners": ["owner_id", "name", "country"],
    "facilities": ["facility_id", "name", "country"],
    "chips": ["certificate"],
    "custody": ["chip_id", "kind", "at", "actor"],
}
MAX_ROWS = 100_000


def export_csv(service: Authority, kind: str) -> str:
    """The table ``kind`` as CSV in the registry's schema, one row per record."""
    if kind not in COLUMNS:
        raise DataError(f"unknown registry table {kind!r}", field="kind")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS[kind], lineterminator="\n")
    writer.writeheader()
    with service.db.read.connect() as conn:
        for r in conn.execute(_export_query(kind)):
            writer.writerow(_export_row(kind, dict(r._mapping)))
    return buf.getvalue()


def _export_query(kind: str) -> Any:
    if kind == "owners":
        return select(t.owners).order_by(t.owners.c.id)
    if kind == "facilities":
        return select(t.facilities).order_by(t.facilities.c.id)
    if kind == "chips":
        # a chip's fab: the party that signed its fabrication (the supply chain)
        ev = t.custody_events
        fab = (
            select(ev.c.party_id)
            .where(ev.c.chip_id == t.chips.c.chip_id, ev.c.kind == "fabrication")
            .where(ev.c.party_id.is_not(None))
            .limit(1)
            .scalar_subquery()
        )
        return select(t.chips, fab.label("fab")).order_by(t.chips.c.chip_id)
    if kind == "licenses":
        lic = t.licenses
        return (
            select(
                lic.c.license_id,
                lic.c.chip_id,
                lic.c.owner_id,
                lic.c.run_id,
                lic.c.flop_budget,
                lic.c.not_before,
                lic.c.not_after,
                lic.c.log_index,
                t.chips.c.facility_id,
            )
            .join(t.chips, t.chips.c.chip_id == lic.c.chip_id)
            .order_by(lic.c.license_id)
        )
    return select(t.custody_events).order_by(t.custody_events.c.id)


def _export_row(kind: str, m: dict[str, Any]) -> dict[str, str]:
    if kind == "owners":
        m["owner_id"] = m["id"]
    elif kind == "facilities":
        m["facility_id"] = m["id"]
        power = m.get("power_mw")
        m["declared_capacity"] = None if power is None else f"{power!r} MW"
    elif kind == "chips":
        m["hardware"] = m.get("model")
        m["certificate"] = base64.b64encode(bytes(m["certificate"])).decode()
    elif kind == "licenses":
        m["flop"] = m["flop_budget"]
        m["not_before"] = _iso(m["not_before"])
        m["not_after"] = _iso(m["not_after"])
    else:
        m["at"] = _iso(m["at"])
    return {c: "" if m.get(c) is None else _cell(m[c]) for c in COLUMNS[kind]}


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


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
    if kind == "licenses":
        raise DataError(
            "licenses are issued by the authority (license apply), not imported", field="kind"
        )
    if kind not in IMPORTABLE:
        raise DataError(f"unknown registry table {kind!r}", field="kind")
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise DataError(f"row 1: not CSV: {exc}", row=1, field="body") from None
    if header is None:
        raise DataError("CSV is empty", field="body")
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise DataError(f"row 1: the header names {twice} more than once", row=1, field=twice[0])
    fieldnames = _current_names(kind, list(header))
    reader.fieldnames = fieldnames
    required = REQUIRED[kind]
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


def _current_names(kind: str, header: list[str]) -> list[str]:
    """The header with legacy column names replaced by the schema's; both at once is an error."""
    legacy = LEGACY[kind]
    for old, new in legacy.items():
        if old in header and new in header:
            raise DataError(
                f"row 1: the header names both {old!r} and {new!r} (the same column)",
                row=1,
                field=old,
            )
    return [legacy.get(name, name) for name in header]


def _capacity_mw(row: dict[str, str], line: int) -> float | None:
    """``declared_capacity`` with a unit (``50 MW``); a bare number is megawatts (the
    legacy ``power_mw`` column)."""
    text = _opt(row, "declared_capacity")
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_quantity(text, Dimension.POWER, "declared_capacity").watts / 1e6
    except DataError as exc:
        raise DataError(f"row {line}: {exc.message}", row=line, field="declared_capacity") from None


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
            caller,
            id=row["owner_id"].strip(),
            name=row["name"].strip(),
            country=row["country"].strip(),
        )
    elif kind == "facilities":
        service.registry.create_facility(
            caller,
            id=row["facility_id"].strip(),
            name=row["name"].strip(),
            country=row["country"].strip(),
            latitude=_float(row, "latitude", line),
            longitude=_float(row, "longitude", line),
            power_mw=_capacity_mw(row, line),
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
        if any(_opt(row, c) for c in ("party_id", "to_party", "export_licence")):
            raise DataError(
                f"row {line}: an event a supply-chain party signed is recorded by that party"
                " (POST /v1/supply/custody), not imported",
                row=line,
                field="party_id",
            )
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
