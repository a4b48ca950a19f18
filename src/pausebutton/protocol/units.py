"""Numbers for people: durations in, and FLOP, times, durations, watts, bytes, distances
and plain floats out (pure).

One place for how the tools read and print quantities (docs/cli.md, "Numbers, times and
units"). Reading a FLOP count is ``protocol.flop.parse_flop``, an instant
``protocol.times.parse_instant``; this module reads durations and prints every kind.

Printing rules: three significant digits, a unit always, SI prefixes for watts and
distances, binary prefixes for bytes, ISO 8601 UTC (``2026-01-01T00:00:00Z``) for instants.
The exact value stays in ``--json`` output; these strings are for reading only.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal

from pausebutton.errors import DataError, InputError

# -- durations ------------------------------------------------------------------------------

DURATION_UNITS: dict[str, int] = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}
"""Duration units: seconds, minutes, hours, days, weeks, years of 365 days."""
MAX_DURATION = 100 * 365 * 86400
"""The longest accepted duration: 100 years (any validity or offline period is far below)."""
DURATION_EXAMPLES = "e.g. 90d, 12h, 30m, 45s, 1h30m or 3600 (seconds)"

_DURATION_PART = re.compile(r"([0-9]{1,12})\s*([a-zA-Z]*)", re.ASCII)


def parse_duration(
    text: str,
    field: str = "duration",
    *,
    error: type[InputError] = DataError,
    allow_zero: bool = False,
) -> int:
    """The whole seconds ``text`` denotes: ``90d``, ``12h``, ``30m``, ``45s``, ``2w``,
    ``1y`` (365 days), a sum such as ``1h30m``, or plain seconds. ``error`` (with ``field``)
    for anything else: a fraction, an unknown or ambiguous unit (``M``: minutes or months?),
    zero (unless ``allow_zero``), more than ``MAX_DURATION``.

    >>> parse_duration("1h30m")
    5400
    """
    s = text.strip()
    if not s or len(s) > 40:
        raise error(f"{field}: {text!r} is not a duration ({DURATION_EXAMPLES})", field=field)
    total, pos = 0, 0
    units_seen: list[str] = []
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise error(f"{field}: {text!r} is not a duration ({DURATION_EXAMPLES})", field=field)
        number, unit = int(m.group(1)), m.group(2)
        if unit == "" and (units_seen or m.end() < len(s.rstrip())):
            raise error(f"{field}: {text!r} is not a duration ({DURATION_EXAMPLES})", field=field)
        if unit and unit not in DURATION_UNITS:
            hint = " (minutes are m, months are not a unit)" if unit in {"M", "mo", "min"} else ""
            raise error(
                f"{field}: {text!r} has an unknown unit {unit!r}{hint};"
                f" units are s, m, h, d, w, y ({DURATION_EXAMPLES})",
                field=field,
            )
        if unit in units_seen:
            raise error(f"{field}: {text!r} names {unit!r} twice", field=field)
        units_seen.append(unit)
        total += number * DURATION_UNITS[unit or "s"]
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
        if total > MAX_DURATION:
            raise error(
                f"{field}: {text!r} is longer than {format_duration(MAX_DURATION)}", field=field
            )
    if total == 0 and not allow_zero:
        raise error(f"{field}: {text!r} is zero; a duration must be positive", field=field)
    return total


def format_duration(seconds: int | float) -> str:
    """A duration for people, exact and in the syntax ``parse_duration`` reads: ``90d``,
    ``12h``, ``1h 30m``, ``45s``, ``2.5s`` (largest unit first; weeks and years are not used).

    >>> format_duration(5400), format_duration(7776000)
    ('1h 30m', '90d')
    """
    if isinstance(seconds, float) and not seconds.is_integer():
        if abs(seconds) < 60:
            return f"{round_float(seconds)}s"
        seconds = round(seconds)
    rest = int(seconds)
    if rest < 0:
        return "-" + format_duration(-rest)
    if rest == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        size = DURATION_UNITS[unit]
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{unit}")
    return " ".join(parts)


# -- power --------------------------------------------------------------------------------

POWER_EXAMPLES = "e.g. 450 W, 327 kW, 150 MW or 1.2 GW"
_POWER = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*(?P<unit>[a-zA-Z]*)")
_POWER_UNITS = {"W": 1.0, "kW": 1e3, "MW": 1e6, "GW": 1e9}
MAX_POWER_W = 1e12
"""The largest accepted power: 1 TW (far above any facility)."""


def parse_power(text: str, field: str = "power", *, error: type[InputError] = DataError) -> float:
    """Watts from ``text``: a number with its unit, ``450 W``, ``327 kW``, ``150 MW``,
    ``1.2 GW``. A bare number is refused (watts or megawatts?), as are other units, case
    mistakes (``mw``: milliwatts?) and more than ``MAX_POWER_W``."""
    m = _POWER.fullmatch(text.strip())
    if m is None or not m.group("unit"):
        raise error(f"{field}: {text!r} needs a number and a unit ({POWER_EXAMPLES})", field=field)
    unit = m.group("unit")
    if unit not in _POWER_UNITS:
        raise error(
            f"{field}: {text!r}: unknown unit {unit!r} (units are W, kW, MW, GW; {POWER_EXAMPLES})",
            field=field,
        )
    watts = float(m.group("number")) * _POWER_UNITS[unit]
    if not 0 <= watts <= MAX_POWER_W:
        raise error(f"{field}: {text!r} is above {format_watts(MAX_POWER_W)}", field=field)
    return watts


# -- instants -------------------------------------------------------------------------------


def format_instant(unix: int | float | None) -> str:
    """Unix seconds as ISO 8601 UTC, ``2026-01-01T00:00:00Z`` (``—`` for none).

    >>> format_instant(1767225600)
    '2026-01-01T00:00:00Z'
    """
    if unix is None:
        return "—"
    try:
        moment = datetime.fromtimestamp(int(unix), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{unix} (Unix seconds, out of range)"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- plain numbers and units ----------------------------------------------------------------


def round_float(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, without exponent below a million and
    without trailing zeros: ``0.327``, ``12.3``, ``1200``, ``3.1e9``.

    >>> round_float(0.3270758399999999), round_float(1234.5678)
    ('0.327', '1230')
    """
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= 6 or magnitude < -4:
        return _short_exp(value, digits)
    rounded = round(value, digits - 1 - magnitude)
    text = f"{rounded:.{max(digits - 1 - magnitude, 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _short_exp(value: float | Decimal, digits: int) -> str:
    mantissa, _, exponent = f"{value:.{digits - 1}e}".partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0")
        if mantissa.endswith("."):
            mantissa += "0"
    return f"{mantissa}e{int(exponent)}"


_SI = [
    (1e30, "Q"),
    (1e27, "R"),
    (1e24, "Y"),
    (1e21, "Z"),
    (1e18, "E"),
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
]


def _si(value: float, unit: str) -> str:
    for size, prefix in _SI:
        if abs(value) >= size:
            return f"{round_float(value / size)} {prefix}{unit}"
    return f"{round_float(value)} {unit}"


def format_watts(watts: float | None) -> str:
    """Power with an SI prefix: ``450 W``, ``327 kW``, ``1.2 MW`` (``—`` for none)."""
    return "—" if watts is None else _si(float(watts), "W")


def format_megawatts(mw: float | None) -> str:
    """``format_watts`` of a figure given in MW (the registry's unit)."""
    return "—" if mw is None else format_watts(float(mw) * 1e6)


def format_watt_hours(wh: float | None) -> str:
    """Energy in watt-hours with an SI prefix: ``8.01 MWh``, ``1.2 GWh``."""
    return "—" if wh is None else _si(float(wh), "Wh")


def format_joules(joules: float | None) -> str:
    """Energy with an SI prefix: ``12 J``, ``3.6 MJ``."""
    return "—" if joules is None else _si(float(joules), "J")


def format_bytes(count: int | None) -> str:
    """A size with a binary prefix: ``812 B``, ``1.5 KiB``, ``64 MiB``."""
    if count is None:
        return "—"
    value = float(count)
    for prefix in ("", "Ki", "Mi", "Gi", "Ti", "Pi"):
        if abs(value) < 1024 or prefix == "Pi":
            return f"{int(value)} B" if prefix == "" else f"{round_float(value)} {prefix}B"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_km(km: float | None) -> str:
    """A distance: ``0.8 km``, ``327 km``, ``12300 km`` (``—`` for none)."""
    return "—" if km is None else f"{round_float(float(km))} km"


def format_ms(ms: float | None) -> str:
    """A round-trip time: ``0.42 ms``, ``12.3 ms``."""
    return "—" if ms is None else f"{round_float(float(ms))} ms"
