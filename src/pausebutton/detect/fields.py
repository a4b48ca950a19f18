"""The types of one cell of a signal's row, and the column that holds it. Pure.

A parser takes ``(value, row, column name)`` and returns the typed value, or raises a
:class:`~pausebutton.errors.DataError` (or ``UnitError``) naming the column; it sees the
whole row so that a number may take its unit from a ``<column>_unit`` cell. The ten
schemas of :mod:`pausebutton.detect.signals` are built from these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pausebutton.detect.units import Dimension, Quantity, parse_quantity
from pausebutton.detect.units import quantity as make_quantity
from pausebutton.errors import DataError, UnitError

HS_CODES: dict[str, str] = {
    "8471.50": "processing units (servers)",
    "8473.30": "parts and accessories of computers (accelerator boards)",
    "8542.31": "processors and controllers (integrated circuits)",
    "8542.32": "memories (integrated circuits)",
}
"""The HS codes under which AI hardware is declared at customs."""


Parser = Callable[[Any, Mapping[str, Any], str], Any]
"""``(value, row, column name) -> typed value``."""


def text(v: Any, row: Mapping[str, Any], name: str) -> str:
    """Text, stripped; at most 10,000 characters."""
    if isinstance(v, (dict, list)):
        raise DataError(f"{name}: expected text", field=name)
    s = str(v).strip()
    if len(s) > 10_000:
        raise DataError(f"{name}: longer than 10000 characters", field=name)
    return s


def nonempty(v: Any, row: Mapping[str, Any], name: str) -> str:
    """Text that is not empty."""
    s = text(v, row, name)
    if not s:
        raise DataError(f"{name}: empty", field=name)
    return s


def number(v: Any, row: Mapping[str, Any], name: str) -> float:
    """A finite number, not negative."""
    if isinstance(v, bool):
        raise DataError(f"{name}: expected a number, got {v!r}", field=name)
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{name}: not a number: {v!r}", field=name) from None
    if not math.isfinite(x):
        raise DataError(f"{name}: not finite: {v!r}", field=name)
    if x < 0:
        raise DataError(f"{name}: negative: {v!r}", field=name)
    return x


def integer(v: Any, row: Mapping[str, Any], name: str) -> int:
    """A whole number, not negative."""
    if isinstance(v, bool):
        raise DataError(f"{name}: expected an integer, got {v!r}", field=name)
    if isinstance(v, int):
        x = v
    else:
        s = str(v).strip()
        if not re.fullmatch(r"[-+]?\d+", s):
            raise DataError(f"{name}: not an integer: {v!r}", field=name)
        x = int(s)
    if x < 0:
        raise DataError(f"{name}: negative: {v!r}", field=name)
    return x


def fraction(v: Any, row: Mapping[str, Any], name: str) -> float:
    """A number in [0, 1]."""
    x = number(v, row, name)
    if x > 1:
        raise DataError(f"{name}: must be in [0, 1], got {v!r}", field=name)
    return x


def boolean(v: Any, row: Mapping[str, Any], name: str) -> bool:
    """true/false, yes/no or 1/0."""
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("true", "yes", "1"):
        return True
    if s in ("false", "no", "0"):
        return False
    raise DataError(f"{name}: expected true or false, got {v!r}", field=name)


def parse_time(v: Any, name: str = "time") -> datetime:
    """ISO 8601 date or date-time; a time without zone is refused, a date is midnight UTC."""
    s = str(v).strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
            d = date.fromisoformat(s)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"{name}: not an ISO 8601 date or time: {v!r}", field=name) from None
    if t.tzinfo is None:
        raise DataError(f"{name}: time without a zone (add Z or +00:00): {v!r}", field=name)
    return t.astimezone(UTC)


def time(v: Any, row: Mapping[str, Any], name: str) -> datetime:
    """A time as :func:`parse_time` reads it."""
    return parse_time(v, name)


def text_list(v: Any, row: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A JSON list, or text of ``;``-separated items; empty items dropped."""
    if isinstance(v, list):
        items = [str(x).strip() for x in v]
    else:
        items = [x.strip() for x in str(v).split(";")]
    return tuple(x for x in items if x)


def country(v: Any, row: Mapping[str, Any], name: str) -> str:
    """An ISO 3166 alpha-2 country code."""
    s = nonempty(v, row, name)
    if not re.fullmatch(r"[A-Z]{2}", s):
        raise DataError(f"{name}: not an ISO 3166 alpha-2 code: {v!r}", field=name)
    return s


def hs_code(v: Any, row: Mapping[str, Any], name: str) -> str:
    """One of the AI-hardware HS codes (:data:`HS_CODES`), dots and spaces optional."""
    digits = re.sub(r"[.\s]", "", str(v))
    code = f"{digits[:4]}.{digits[4:6]}" if len(digits) >= 6 and digits.isdigit() else ""
    if code not in HS_CODES:
        raise DataError(
            f"{name}: {v!r} is not one of the AI-hardware HS codes {', '.join(HS_CODES)}",
            field=name,
        )
    return code


def quantity_in(expect: Dimension | None) -> Parser:
    """A parser of a quantity with its unit (of dimension ``expect``, or either)."""

    def parse(v: Any, row: Mapping[str, Any], name: str) -> Quantity:
        unit = row.get(f"{name}_unit")
        if isinstance(v, dict):
            if "value" not in v or "unit" not in v:
                raise UnitError(f"{name}: expected {{'value': ..., 'unit': ...}}", field=name)
            return make_quantity(number(v["value"], row, name), str(v["unit"]), expect, name)
        if unit not in (None, ""):
            return make_quantity(number(v, row, name), str(unit).strip(), expect, name)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise UnitError(f"{name}: {v!r} has no unit (say e.g. '{v} MW')", field=name)
        return parse_quantity(str(v), expect, name)

    return parse


def choice(*choices: str) -> Parser:
    """A parser of one of ``choices`` (case-insensitive)."""

    def parse(v: Any, row: Mapping[str, Any], name: str) -> str:
        s = nonempty(v, row, name).lower()
        if s not in choices:
            raise DataError(f"{name}: {v!r} is not one of {', '.join(choices)}", field=name)
        return s

    return parse


@dataclass(frozen=True)
class FieldSpec:
    """One column: its parser, whether it is required, and what it means (with unit)."""

    name: str
    parse: Parser
    required: bool = True
    doc: str = ""
    target: str = ""
    """Dataclass attribute (default: ``name``); quantities are normalised into it."""
    convert: Callable[[Any], Any] | None = None


def watts(q: Any) -> float:
    """A parsed power quantity in watts (a column's ``convert``)."""
    assert isinstance(q, Quantity)
    return q.watts


def kwh(q: Any) -> float:
    """A parsed energy quantity in kWh (a column's ``convert``)."""
    assert isinstance(q, Quantity)
    return q.kwh
