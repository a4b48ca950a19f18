"""Versioned signal schemas for the ten verification methods, and their import. Pure.

Each method's signals are rows of one schema (a frozen dataclass). Rows come
from CSV (one header line; cells are text) or JSON (a list of objects, or
``{"kind": ..., "version": 1, "rows": [...]}``). Parsing collects, never stops:
a bad row becomes a :class:`~pausebutton.errors.DataError` (or ``UnitError``)
whose details name the file, the row (CSV line number, or 1-based index of the
JSON row) and the field, and every good row still loads.

Quantities carry explicit units: a cell ``"35 MW"``, or a number with a
``<field>_unit`` column, or JSON ``{"value": 35, "unit": "MW"}``. A bare number
is refused (UnitError), as is an energy where a power is expected.

Chips are joined to the registry by their serial number (``chip_serial``).

The types of single cells (text, numbers, times, quantities, codes) and the column
spec are in :mod:`pausebutton.detect.fields`; the names it had here still import
from here.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from pausebutton.detect import fields as col
from pausebutton.detect.fields import HS_CODES, FieldSpec, Parser, parse_time
from pausebutton.detect.units import Dimension, Quantity
from pausebutton.errors import DataError, InputError

__all__ = [
    "HS_CODES",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "CustomsRecord",
    "DataCenterInspection",
    "DeveloperInspection",
    "EnergyReading",
    "FabInspection",
    "FieldSpec",
    "FinancialTxn",
    "ImportResult",
    "LocationResult",
    "Method",
    "Parser",
    "RemoteSensing",
    "Schema",
    "Signal",
    "UsageRecord",
    "WhistleReport",
    "export_csv",
    "import_csv",
    "import_json",
    "method_of",
    "parse_row",
    "parse_rows",
    "parse_time",
    "signal_time",
    "to_row",
]

SCHEMA_VERSION = 1


class Method(StrEnum):
    """The ten verification methods."""

    REMOTE_SENSING = "remote_sensing"
    WHISTLEBLOWER = "whistleblower"
    ENERGY = "energy"
    CUSTOMS = "customs"
    FINANCIAL = "financial"
    DC_INSPECTION = "dc_inspection"
    FAB_INSPECTION = "fab_inspection"
    DEVELOPER_INSPECTION = "developer_inspection"
    LOCATION = "location"
    USAGE_REPORT = "usage_report"


# -- the ten schemas ------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteSensing:
    """Satellite/thermal detection of a site's heat rejection (a cooling-load estimate)."""

    detection_id: str
    site: str
    time: datetime
    thermal_w: float
    confidence: float
    sensor: str = ""


@dataclass(frozen=True)
class WhistleReport:
    """A whistleblower's claim (after decryption at intake)."""

    report_id: str
    time: datetime
    claim: str
    site: str = ""
    owner: str = ""
    claimed_chips: int | None = None
    claimed_flop: float | None = None
    credibility: float = 0.5


@dataclass(frozen=True)
class EnergyReading:
    """Average power of a site over ``period_s`` seconds ending at ``time``."""

    site: str
    time: datetime
    power_w: float
    period_s: float
    source: str = "meter"

    @property
    def energy_kwh(self) -> float:
        return self.power_w * self.period_s / 3.6e6


@dataclass(frozen=True)
class CustomsRecord:
    """A customs declaration under one of the HS codes for AI hardware."""

    record_id: str
    time: datetime
    hs_code: str
    shipper: str
    consignee: str
    origin: str
    destination: str
    quantity: int
    value_usd: float
    serials: tuple[str, ...] = ()
    hardware: str = ""


@dataclass(frozen=True)
class FinancialTxn:
    """A payment flagged by financial intelligence."""

    txn_id: str
    time: datetime
    payer: str
    payee: str
    amount_usd: float
    purpose: str
    quantity: int | None = None
    hardware: str = ""
    destination: str = ""


@dataclass(frozen=True)
class DataCenterInspection:
    """An on-site count of chips by serial at a facility."""

    inspection_id: str
    facility: str
    time: datetime
    serials_counted: tuple[str, ...] = ()
    chips_counted: int | None = None
    power_observed_w: float | None = None
    findings: str = ""

    @property
    def count(self) -> int:
        return self.chips_counted if self.chips_counted is not None else len(self.serials_counted)


@dataclass(frozen=True)
class FabInspection:
    """Wafer starts, tools and accelerator output of a fab over a period."""

    inspection_id: str
    fab: str
    time: datetime
    period_days: float
    wafer_starts: int
    output_chips: int
    tools: int | None = None
    findings: str = ""


@dataclass(frozen=True)
class DeveloperInspection:
    """An audit of an AI developer's training runs and records."""

    inspection_id: str
    owner: str
    time: datetime
    declared_runs: int
    undeclared_runs: int = 0
    largest_run_flop: float | None = None
    findings: str = ""


@dataclass(frozen=True)
class LocationResult:
    """A location-verification result for one chip (from the landmark RTT solver)."""

    chip_serial: str
    claimed_facility: str
    time: datetime
    consistent: bool
    distance_km: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class UsageRecord:
    """A chip's signed usage report, summarised: FLOP metered in a period."""

    chip_serial: str
    facility: str
    period_start: datetime
    period_end: datetime
    flop: float
    energy_kwh: float | None = None

    @property
    def time(self) -> datetime:
        return self.period_end


Signal = (
    RemoteSensing
    | WhistleReport
    | EnergyReading
    | CustomsRecord
    | FinancialTxn
    | DataCenterInspection
    | FabInspection
    | DeveloperInspection
    | LocationResult
    | UsageRecord
)


@dataclass(frozen=True)
class Schema:
    method: Method
    cls: type[Any]
    fields: tuple[col.FieldSpec, ...]
    doc: str
    version: int = SCHEMA_VERSION
    post: Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None
    id_field: str = ""

    def columns(self) -> list[str]:
        return [f.name for f in self.fields]


def _energy_post(values: dict[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    q = values.pop("reading")
    assert isinstance(q, Quantity)
    period = values.get("period_s")
    if q.dimension is Dimension.POWER:
        values["power_w"] = q.watts
        if period is None:
            raise DataError(
                "period_s: required (seconds the average power covers)", field="period_s"
            )
    else:
        if not period:
            raise DataError("period_s: required and > 0 for an energy reading", field="period_s")
        values["power_w"] = q.kwh * 3.6e6 / period
    if period is not None and period <= 0:
        raise DataError("period_s: must be > 0", field="period_s")
    return values


def _usage_post(values: dict[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    if values["period_end"] < values["period_start"]:
        raise DataError("period_end: before period_start", field="period_end")
    return values


def _dc_post(values: dict[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    serials = values.get("serials_counted", ())
    if values.get("chips_counted") is None and not serials:
        raise DataError(
            "serials_counted: give serials_counted or chips_counted", field="serials_counted"
        )
    if len(set(serials)) != len(serials):
        raise DataError("serials_counted: a serial is counted twice", field="serials_counted")
    return values


F = col.FieldSpec
SCHEMAS: dict[Method, Schema] = {
    Method.REMOTE_SENSING: Schema(
        Method.REMOTE_SENSING,
        RemoteSensing,
        (
            F("detection_id", col.nonempty, doc="unique id of the detection"),
            F("site", col.nonempty, doc="facility id in the registry"),
            F("time", col.time, doc="observation date/time (ISO 8601, UTC)"),
            F(
                "thermal",
                col.quantity_in(Dimension.POWER),
                doc="estimated heat rejection (power unit, e.g. '35 MW')",
                target="thermal_w",
                convert=col.watts,
            ),
            F("confidence", col.fraction, doc="detector confidence in [0, 1]"),
            F("sensor", col.text, False, "satellite or sensor name"),
        ),
        "Thermal/cooling load seen from orbit or nearby sensors.",
        id_field="detection_id",
    ),
    Method.WHISTLEBLOWER: Schema(
        Method.WHISTLEBLOWER,
        WhistleReport,
        (
            F("report_id", col.nonempty, doc="intake id (not the receipt code)"),
            F("time", col.time, doc="date of the report (day precision is enough)"),
            F("claim", col.nonempty, doc="what is alleged, free text"),
            F("site", col.text, False, "facility id the claim concerns"),
            F("owner", col.text, False, "owner id the claim concerns"),
            F("claimed_chips", col.integer, False, "number of chips alleged"),
            F("claimed_flop", col.number, False, "training compute alleged (FLOP)"),
            F(
                "credibility",
                col.fraction,
                False,
                "intake analyst's credibility in [0, 1] (default 0.5)",
            ),
        ),
        "Claims from the anonymous channel, after decryption by the authority.",
        id_field="report_id",
    ),
    Method.ENERGY: Schema(
        Method.ENERGY,
        EnergyReading,
        (
            F("site", col.nonempty, doc="facility id"),
            F("time", col.time, doc="end of the measured interval"),
            F(
                "reading",
                col.quantity_in(None),
                doc="average power (W, kW, MW, GW) or energy (Wh, kWh, MWh, GWh, J, MJ, GJ)",
            ),
            F("period_s", col.number, False, "length of the interval in seconds (required)"),
            F("source", col.choice("grid", "meter"), False, "grid operator or on-site meter"),
        ),
        "Energy telemetry of a site. Normalised to average power in W over period_s.",
        post=_energy_post,
    ),
    Method.CUSTOMS: Schema(
        Method.CUSTOMS,
        CustomsRecord,
        (
            F("record_id", col.nonempty, doc="declaration id"),
            F("time", col.time, doc="date of clearance"),
            F("hs_code", col.hs_code, doc="8471.50, 8473.30, 8542.31 or 8542.32"),
            F("shipper", col.nonempty, doc="exporter"),
            F("consignee", col.nonempty, doc="importer (owner id where known)"),
            F("origin", col.country, doc="ISO 3166 alpha-2"),
            F("destination", col.country, doc="ISO 3166 alpha-2"),
            F("quantity", col.integer, doc="units declared"),
            F("value_usd", col.number, doc="declared value in USD"),
            F("serials", col.text_list, False, "chip serials, ';'-separated"),
            F("hardware", col.text, False, "hardware name as in Epoch's table"),
        ),
        "Customs declarations of AI hardware.",
        id_field="record_id",
    ),
    Method.FINANCIAL: Schema(
        Method.FINANCIAL,
        FinancialTxn,
        (
            F("txn_id", col.nonempty, doc="transaction id"),
            F("time", col.time, doc="value date"),
            F("payer", col.nonempty, doc="payer (owner id where known)"),
            F("payee", col.nonempty, doc="payee (vendor, cloud, utility)"),
            F("amount_usd", col.number, doc="amount in USD"),
            F(
                "purpose",
                col.choice("chips", "cloud_compute", "power", "construction", "other"),
                doc="classified purpose",
            ),
            F("quantity", col.integer, False, "units bought (chips)"),
            F("hardware", col.text, False, "hardware name"),
            F("destination", col.text, False, "delivery country (ISO 3166 alpha-2)"),
        ),
        "Financial intelligence on purchases of chips, compute and power.",
        id_field="txn_id",
    ),
    Method.DC_INSPECTION: Schema(
        Method.DC_INSPECTION,
        DataCenterInspection,
        (
            F("inspection_id", col.nonempty, doc="inspection id"),
            F("facility", col.nonempty, doc="facility id"),
            F("time", col.time, doc="date of the inspection"),
            F("serials_counted", col.text_list, False, "serials seen, ';'-separated"),
            F("chips_counted", col.integer, False, "count when serials were not recorded"),
            F(
                "power_observed",
                col.quantity_in(Dimension.POWER),
                False,
                "IT load seen on site",
                target="power_observed_w",
                convert=col.watts,
            ),
            F("findings", col.text, False, "inspector's notes"),
        ),
        "Data-center inspections: chips counted by serial.",
        post=_dc_post,
        id_field="inspection_id",
    ),
    Method.FAB_INSPECTION: Schema(
        Method.FAB_INSPECTION,
        FabInspection,
        (
            F("inspection_id", col.nonempty, doc="inspection id"),
            F("fab", col.nonempty, doc="fab id (as in the chips' fab column)"),
            F("time", col.time, doc="end of the inspected period"),
            F("period_days", col.number, doc="length of the inspected period in days"),
            F("wafer_starts", col.integer, doc="wafers started in the period"),
            F("output_chips", col.integer, doc="accelerators that left the fab in the period"),
            F("tools", col.integer, False, "lithography tools counted"),
            F("findings", col.text, False, "inspector's notes"),
        ),
        "Fab inspections: wafer starts, tools and output.",
        id_field="inspection_id",
    ),
    Method.DEVELOPER_INSPECTION: Schema(
        Method.DEVELOPER_INSPECTION,
        DeveloperInspection,
        (
            F("inspection_id", col.nonempty, doc="inspection id"),
            F("owner", col.nonempty, doc="owner id of the developer"),
            F("time", col.time, doc="date of the audit"),
            F("declared_runs", col.integer, doc="runs the developer declared"),
            F("undeclared_runs", col.integer, False, "runs found in records but not declared"),
            F("largest_run_flop", col.number, False, "largest run found (FLOP)"),
            F("findings", col.text, False, "auditor's notes"),
        ),
        "AI-developer inspections: training records against declarations.",
        id_field="inspection_id",
    ),
    Method.LOCATION: Schema(
        Method.LOCATION,
        LocationResult,
        (
            F("chip_serial", col.nonempty, doc="chip serial"),
            F("claimed_facility", col.nonempty, doc="facility the chip claims (registry)"),
            F("time", col.time, doc="time of the measurement"),
            F("consistent", col.boolean, doc="true when the RTT bounds admit the claimed facility"),
            F("distance_km", col.number, False, "lower bound on the distance from the claim (km)"),
            F("detail", col.text, False, "solver notes"),
        ),
        "Chip location verification results (landmark RTT).",
    ),
    Method.USAGE_REPORT: Schema(
        Method.USAGE_REPORT,
        UsageRecord,
        (
            F("chip_serial", col.nonempty, doc="chip serial"),
            F("facility", col.nonempty, doc="facility the chip reports from"),
            F("period_start", col.time, doc="start of the reported period"),
            F("period_end", col.time, doc="end of the reported period"),
            F("flop", col.number, doc="FLOP metered by the chip in the period"),
            F(
                "energy",
                col.quantity_in(Dimension.ENERGY),
                False,
                "energy metered (energy unit)",
                target="energy_kwh",
                convert=col.kwh,
            ),
        ),
        "Chip usage reports (hash-chained, signed by the chip), summarised per period.",
        post=_usage_post,
    ),
}


# -- import -----------------------------------------------------------------------------


@dataclass
class ImportResult:
    """Rows that loaded, and one error per bad row (file, row, field in its details)."""

    method: Method
    signals: list[Any] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)


def parse_row(schema: Schema, row: Mapping[str, Any]) -> Any:
    """One signal from one row (raises DataError/UnitError naming the field)."""
    values: dict[str, Any] = {}
    attrs = {f.name for f in fields(schema.cls)}
    for spec in schema.fields:
        raw = row.get(spec.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if spec.required:
                raise DataError(f"{spec.name}: missing", field=spec.name)
            continue
        try:
            v = spec.parse(raw, row, spec.name)
            if spec.convert is not None:
                v = spec.convert(v)
        except InputError as exc:
            if not exc.details.get("field"):
                exc.details["field"] = spec.name  # a unit or number error names its cell
            raise
        values[spec.target or spec.name] = v
    if schema.post is not None:
        values = schema.post(values, row)
    values = {k: v for k, v in values.items() if k in attrs}
    return schema.cls(**values)


def parse_rows(
    method: Method, rows: Iterable[tuple[int, Mapping[str, Any]]], file: str
) -> ImportResult:
    schema = SCHEMAS[method]
    result = ImportResult(method)
    seen: set[str] = set()
    for rownum, row in rows:
        try:
            sig = parse_row(schema, row)
            if schema.id_field:
                ident = str(getattr(sig, schema.id_field))
                if ident in seen:
                    raise DataError(
                        f"{schema.id_field}: duplicate id {ident!r}", field=schema.id_field
                    )
                seen.add(ident)
        except InputError as exc:
            exc.details.update({"file": file, "row": rownum})
            exc.details.setdefault("field", "")
            exc.message = f"{file}:{rownum}: {exc.message}"
            result.errors.append(exc)
            continue
        result.signals.append(sig)
    return result


def import_csv(method: Method, text: str, file: str = "<csv>") -> ImportResult:
    """Import CSV text; row numbers are the line numbers where each record ends."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise DataError(f"{file}: empty CSV (no header)", file=file, row=1)
    header = set(reader.fieldnames)
    required = {f.name for f in SCHEMAS[method].fields if f.required}
    missing = sorted(required - header)
    if missing:
        raise DataError(
            f"{file}: header lacks required column(s) {', '.join(missing)}",
            file=file,
            row=1,
            field=missing[0],
        )
    rows: list[tuple[int, Mapping[str, Any]]] = []
    extra: list[int] = []
    try:
        for row in reader:
            if None in row:
                extra.append(reader.line_num)
            else:
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DataError(
            f"{file}:{reader.line_num}: {exc}", file=file, row=reader.line_num
        ) from None
    result = parse_rows(method, rows, file)
    for n in extra:
        result.errors.append(
            DataError(f"{file}:{n}: more cells than header columns", file=file, row=n, field="")
        )
    return result


def import_json(method: Method | None, text: str, file: str = "<json>") -> ImportResult:
    """Import JSON: a list of rows, or an object with ``kind``, ``version`` and ``rows``."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{file}: not JSON: {exc}", file=file) from None
    if isinstance(data, dict):
        kind = data.get("kind")
        if kind is not None:
            try:
                declared = Method(kind)
            except ValueError:
                raise DataError(
                    f"{file}: unknown signal kind {kind!r}", file=file, field="kind"
                ) from None
            if method is not None and declared is not method:
                raise DataError(
                    f"{file}: holds {kind!r}, not {method.value!r}", file=file, field="kind"
                )
            method = declared
        version = data.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{file}: schema version {version!r} unsupported (supported: {SCHEMA_VERSION})",
                file=file,
                field="version",
            )
        data = data.get("rows")
    if method is None:
        raise DataError(f"{file}: say which kind of signal it holds", file=file, field="kind")
    if not isinstance(data, list):
        raise DataError(f"{file}: expected a list of rows", file=file)
    rows: list[tuple[int, Mapping[str, Any]]] = []
    result_errors: list[InputError] = []
    for i, row in enumerate(data, start=1):
        if isinstance(row, dict):
            rows.append((i, row))
        else:
            result_errors.append(
                DataError(f"{file}:{i}: row is not an object", file=file, row=i, field="")
            )
    result = parse_rows(method, rows, file)
    result.errors.extend(result_errors)
    return result


# -- export (CSV), used by the benchmark and tests --------------------------------------------


def _cell(v: Any) -> str:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, tuple):
        return ";".join(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    return str(v)


def to_row(signal: Any) -> dict[str, str]:
    """The CSV row of a signal, in the schema's own columns (quantities in W / kWh)."""
    method = method_of(signal)
    schema = SCHEMAS[method]
    out: dict[str, str] = {}
    for spec in schema.fields:
        attr = spec.target or spec.name
        if method is Method.ENERGY and spec.name == "reading":
            out["reading"] = f"{signal.power_w!r} W"
            continue
        v = getattr(signal, attr, None)
        if spec.convert is col.watts and v is not None:
            out[spec.name] = f"{v!r} W"
        elif spec.convert is col.kwh and v is not None:
            out[spec.name] = f"{v!r} kWh"
        else:
            out[spec.name] = _cell(v)
    return out


def export_csv(signals: Iterable[Any], method: Method) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SCHEMAS[method].columns(), lineterminator="\n")
    w.writeheader()
    for s in signals:
        w.writerow(to_row(s))
    return buf.getvalue()


_BY_CLASS: dict[type[Any], Method] = {s.cls: m for m, s in SCHEMAS.items()}


def method_of(signal: Any) -> Method:
    try:
        return _BY_CLASS[type(signal)]
    except KeyError:
        raise DataError(f"not a signal: {type(signal).__name__}") from None


def signal_time(signal: Any) -> datetime:
    t = signal.time
    assert isinstance(t, datetime)
    return t
