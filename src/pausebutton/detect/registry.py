"""The registry as the verification engine sees it: plain data. Pure.

The authority keeps the real registry; it feeds the engine either these
dataclasses directly or its CSV export, one file per table (``owners.csv``,
``facilities.csv``, ``chips.csv``, ``licenses.csv``). :data:`COLUMNS` is the one
schema of each table: the authority's export and import (``authority/csvio.py``)
and the engine's (:func:`parse_registry`, :func:`export_registry`) all use it, so an
export reads back without conversion. Capacities carry units
(``declared_capacity`` = ``"50 MW"``); times are ISO 8601 with a zone; licence
budgets are FLOP (a decimal or integer string of any size).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pausebutton.detect.fields import parse_time
from pausebutton.detect.units import Dimension, parse_quantity
from pausebutton.errors import DataError, InputError

REGISTRY_VERSION = 1


@dataclass(frozen=True)
class Owner:
    owner_id: str
    name: str = ""
    country: str = ""


@dataclass(frozen=True)
class Facility:
    facility_id: str
    owner_id: str
    country: str
    declared_w: float | None
    """Declared power capacity in watts (None: not declared)."""
    name: str = ""
    latitude: str = ""
    longitude: str = ""
    declared_chips: str = ""
    chip_model: str = ""
    verified: str = ""
    source: str = ""
    declared_capacity: str = field(default="", compare=False)
    """The registry's descriptive columns, kept as written so an export reads back whole."""


@dataclass(frozen=True)
class Chip:
    serial: str
    hardware: str
    facility_id: str
    owner_id: str
    fab: str = ""
    chip_id: str = ""
    """Key id of the chip's device key (hex), when the authority has it."""
    vendor: str = ""
    status: str = ""
    certificate: str = ""
    """The vendor-signed certificate, base64 (what the authority imports chips from)."""


@dataclass(frozen=True)
class License:
    license_id: str
    owner_id: str
    flop: float
    not_before: datetime
    not_after: datetime
    facility_id: str = ""
    """Empty: valid at any facility of the owner."""
    chip_id: str = ""
    run_id: str = ""
    log_index: str = ""
    flop_text: str = field(default="", compare=False)
    """The budget as written (an exact integer in the authority's export)."""


@dataclass(frozen=True)
class CustodyStep:
    """One custody event of a chip, as the registry exported it (cells as written)."""

    chip_id: str
    seq: str
    kind: str
    at: str
    time: datetime = field(compare=False)
    actor: str = ""
    owner_id: str = ""
    facility_id: str = ""
    country: str = ""
    note: str = ""
    party_id: str = ""
    """The supply-chain party that signed it ("" : recorded by an admin)."""
    to_party: str = ""
    export_licence: str = ""

    @property
    def ident(self) -> str:
        return f"{self.chip_id}#{self.seq}"


@dataclass
class Registry:
    owners: dict[str, Owner] = field(default_factory=dict)
    facilities: dict[str, Facility] = field(default_factory=dict)
    chips: dict[str, Chip] = field(default_factory=dict)
    licenses: list[License] = field(default_factory=list)
    custody: list[CustodyStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.steps: dict[str, list[CustodyStep]] = defaultdict(list)
        for step in self.custody:
            self.steps[step.chip_id].append(step)
        self.by_chip_id = {c.chip_id: c for c in self.chips.values() if c.chip_id}
        self._by_facility: dict[str, list[Chip]] = defaultdict(list)
        self._by_owner: dict[str, list[Chip]] = defaultdict(list)
        self._by_fab: dict[str, list[Chip]] = defaultdict(list)
        for c in self.chips.values():
            self._by_facility[c.facility_id].append(c)
            self._by_owner[c.owner_id].append(c)
            if c.fab:
                self._by_fab[c.fab].append(c)

    @classmethod
    def build(
        cls,
        owners: Iterable[Owner] = (),
        facilities: Iterable[Facility] = (),
        chips: Iterable[Chip] = (),
        licenses: Iterable[License] = (),
        custody: Iterable[CustodyStep] = (),
    ) -> Registry:
        return cls(
            {o.owner_id: o for o in owners},
            {f.facility_id: f for f in facilities},
            {c.serial: c for c in chips},
            list(licenses),
            list(custody),
        )

    def chips_at(self, facility_id: str) -> list[Chip]:
        return self._by_facility.get(facility_id, [])

    def chips_of(self, owner_id: str) -> list[Chip]:
        return self._by_owner.get(owner_id, [])

    def chips_from_fab(self, fab: str) -> list[Chip]:
        return self._by_fab.get(fab, [])

    def owner_of(self, facility_id: str) -> str:
        """The facility's registered owner; for a facility registered without one (a
        colocation site), the owner of most chips registered there; else ""."""
        f = self.facilities.get(facility_id)
        if f is not None and f.owner_id:
            return f.owner_id
        counts = Counter(c.owner_id for c in self.chips_at(facility_id) if c.owner_id)
        return counts.most_common(1)[0][0] if counts else ""

    def hardware_at(self, facility_id: str) -> str | None:
        """The most common registered hardware at a facility."""
        counts = Counter(c.hardware for c in self.chips_at(facility_id))
        return counts.most_common(1)[0][0] if counts else None

    def licensed_flop(self, facility_id: str, start: datetime, end: datetime) -> float:
        """FLOP licensed for work at ``facility_id`` by licenses overlapping [start, end]."""
        owner = self.owner_of(facility_id)
        total = 0.0
        for lic in self.licenses:
            if lic.facility_id and lic.facility_id != facility_id:
                continue
            if not lic.facility_id and lic.owner_id != owner:
                continue
            if lic.not_after < start or lic.not_before > end:
                continue
            total += lic.flop
        return total


# -- CSV export import ----------------------------------------------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "owners": ("owner_id", "name", "country"),
    "facilities": (
        "facility_id",
        "name",
        "owner_id",
        "country",
        "latitude",
        "longitude",
        "declared_capacity",
        "declared_chips",
        "chip_model",
        "verified",
        "source",
    ),
    "chips": (
        "chip_id",
        "serial",
        "hardware",
        "vendor",
        "owner_id",
        "facility_id",
        "status",
        "fab",
        "certificate",
    ),
    "licenses": (
        "license_id",
        "chip_id",
        "owner_id",
        "facility_id",
        "run_id",
        "flop",
        "not_before",
        "not_after",
        "log_index",
    ),
    "custody": (
        "chip_id",
        "seq",
        "kind",
        "at",
        "actor",
        "owner_id",
        "facility_id",
        "country",
        "note",
        "party_id",
        "to_party",
        "export_licence",
    ),
}
"""The registry's tables as CSV: one schema per table, for every export and import."""
TABLES: dict[str, tuple[str, ...]] = {
    t: COLUMNS[t] for t in ("owners", "facilities", "chips", "licenses", "custody")
}
"""The tables the engine reads."""
REQUIRED: dict[str, tuple[str, ...]] = {
    "owners": ("owner_id",),
    "facilities": ("facility_id", "country"),
    "chips": ("serial", "hardware"),
    "licenses": ("license_id", "owner_id", "flop", "not_before", "not_after"),
    "custody": ("chip_id", "seq", "kind", "at"),
}
"""The cells the engine needs in each row (the header must name them)."""
KEYS = {
    "owners": "owner_id",
    "facilities": "facility_id",
    "chips": "serial",
    "licenses": "license_id",
    "custody": "ident",
}
"""The column that names each row for the engine (unique within its file)."""


def _row_obj(table: str, row: Mapping[str, str]) -> Any:
    for col in REQUIRED[table]:
        if not (row.get(col) or "").strip():
            raise DataError(f"{col}: missing", field=col)
    g = {k: (v or "").strip() for k, v in row.items() if k is not None}
    if table == "owners":
        return Owner(g["owner_id"], g.get("name", ""), g.get("country", ""))
    if table == "facilities":
        capacity = g.get("declared_capacity", "")
        watts = (
            parse_quantity(capacity, Dimension.POWER, "declared_capacity").watts
            if capacity
            else None
        )
        return Facility(
            g["facility_id"],
            g.get("owner_id", ""),
            g["country"],
            watts,
            **{c: g.get(c, "") for c in _FACILITY_TEXT},
        )
    if table == "chips":
        return Chip(
            g["serial"],
            g["hardware"],
            g.get("facility_id", ""),
            g.get("owner_id", ""),
            g.get("fab", ""),
            g.get("chip_id", ""),
            g.get("vendor", ""),
            g.get("status", ""),
            g.get("certificate", ""),
        )
    if table == "custody":
        return CustodyStep(
            g["chip_id"],
            g["seq"],
            g["kind"],
            g["at"],
            parse_time(g["at"], "at"),
            **{c: g.get(c, "") for c in _CUSTODY_TEXT},
        )
    try:
        flop = float(int(g["flop"])) if g["flop"].isdigit() else float(g["flop"])
    except (ValueError, OverflowError):
        raise DataError(f"flop: not a usable number: {g['flop'][:40]!r}", field="flop") from None
    if not flop >= 0 or flop == float("inf"):
        raise DataError(f"flop: must be finite and >= 0: {g['flop']!r}", field="flop")
    nb = parse_time(g["not_before"], "not_before")
    na = parse_time(g["not_after"], "not_after")
    if na < nb:
        raise DataError("not_after: before not_before", field="not_after")
    return License(
        g["license_id"],
        g["owner_id"],
        flop,
        nb,
        na,
        g.get("facility_id", ""),
        g.get("chip_id", ""),
        g.get("run_id", ""),
        g.get("log_index", ""),
        g["flop"],
    )


_CUSTODY_TEXT = (
    "actor",
    "owner_id",
    "facility_id",
    "country",
    "note",
    "party_id",
    "to_party",
    "export_licence",
)
_FACILITY_TEXT = (
    "declared_capacity",
    "name",
    "latitude",
    "longitude",
    "declared_chips",
    "chip_model",
    "verified",
    "source",
)


def parse_table(table: str, text: str, file: str) -> tuple[list[Any], list[InputError]]:
    """Rows of one registry table; bad rows become errors naming file, row and field."""
    if table not in TABLES:
        raise DataError(f"unknown registry table {table!r}")
    reader = csv.DictReader(io.StringIO(text))
    missing = sorted(set(REQUIRED[table]) - set(reader.fieldnames or ()))
    if missing:
        raise DataError(f"{file}: header lacks {', '.join(missing)}", file=file, row=1)
    items: list[Any] = []
    errs: list[InputError] = []
    seen: set[str] = set()
    key = KEYS[table]
    for row in reader:
        n = reader.line_num
        try:
            obj = _row_obj(table, row)
            ident = getattr(obj, key)
            if ident in seen:
                raise DataError(f"{key}: duplicate {ident!r}", field=key)
            seen.add(ident)
            items.append(obj)
        except InputError as exc:
            exc.details.update({"file": file, "row": n})
            exc.details.setdefault("field", "")
            exc.message = f"{file}:{n}: {exc.message}"
            errs.append(exc)
    return items, errs


def parse_registry(texts: Mapping[str, tuple[str, str]]) -> tuple[Registry, list[InputError]]:
    """``texts`` maps table name to (file name, CSV text); absent tables are empty."""
    parts: dict[str, list[Any]] = {}
    errs: list[InputError] = []
    for table in TABLES:
        if table in texts:
            fname, text = texts[table]
            items, e = parse_table(table, text, fname)
            parts[table] = items
            errs.extend(e)
        else:
            parts[table] = []
    reg = Registry.build(
        parts["owners"], parts["facilities"], parts["chips"], parts["licenses"], parts["custody"]
    )
    return reg, errs


def export_registry(reg: Registry) -> dict[str, str]:
    """CSV text per table (inverse of :func:`parse_registry`)."""

    def write(table: str, rows: Iterable[dict[str, str]]) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=TABLES[table], lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)
        return buf.getvalue()

    def iso(t: datetime) -> str:
        return t.isoformat().replace("+00:00", "Z")

    def capacity(watts: float | None) -> str:
        return "" if watts is None else f"{watts!r} W"

    return {
        "owners": write(
            "owners",
            (
                {"owner_id": o.owner_id, "name": o.name, "country": o.country}
                for o in reg.owners.values()
            ),
        ),
        "facilities": write(
            "facilities",
            (
                {
                    "facility_id": f.facility_id,
                    "owner_id": f.owner_id,
                    "country": f.country,
                    **{c: getattr(f, c) for c in _FACILITY_TEXT},
                    "declared_capacity": f.declared_capacity or capacity(f.declared_w),
                }
                for f in reg.facilities.values()
            ),
        ),
        "chips": write(
            "chips",
            (
                {
                    "serial": c.serial,
                    "hardware": c.hardware,
                    "facility_id": c.facility_id,
                    "owner_id": c.owner_id,
                    "fab": c.fab,
                    "chip_id": c.chip_id,
                    "vendor": c.vendor,
                    "status": c.status,
                    "certificate": c.certificate,
                }
                for c in reg.chips.values()
            ),
        ),
        "licenses": write(
            "licenses",
            (
                {
                    "license_id": lic.license_id,
                    "owner_id": lic.owner_id,
                    "facility_id": lic.facility_id,
                    "flop": lic.flop_text or repr(lic.flop),
                    "not_before": iso(lic.not_before),
                    "not_after": iso(lic.not_after),
                    "chip_id": lic.chip_id,
                    "run_id": lic.run_id,
                    "log_index": lic.log_index,
                }
                for lic in reg.licenses
            ),
        ),
        "custody": write(
            "custody",
            (
                {
                    "chip_id": c.chip_id,
                    "seq": c.seq,
                    "kind": c.kind,
                    "at": c.at,
                    **{k: getattr(c, k) for k in _CUSTODY_TEXT},
                }
                for c in reg.custody
            ),
        ),
    }
