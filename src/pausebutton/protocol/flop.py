"""The FLOP syntax: one set of rules for every FLOP count given as text (pure).

A FLOP count is a whole, non-negative number, exact at any size, written in plain or
scientific notation, optionally followed by the unit ``FLOP`` with an SI prefix::

    12345    1e25    3.5e24    1_000_000    1E+18    250e-2 (= 2.5: refused)
    3e25 FLOP    30 YFLOP    1.5 ZFLOP    500 kFLOP    30YFLOP

Prefixes (case matters): k (1e3), M, G, T, P, E, Z, Y, R, Q (1e30). A lower-case prefix
other than ``k`` (``yFLOP`` would be yocto), a rate (``FLOPS``, ``FLOP/s``) or any other
unit is refused with the accepted forms listed. ``format_flop`` prints a count for people
(``3.0e25 FLOP``); the exact integer stays in JSON output.

Grammar (after removing ``_`` digit separators, surrounding whitespace and the unit)::

    flop     = ["+"] mantissa [("e" | "E") ["+" | "-"] digits]
    mantissa = digits ["." [digits]] | "." digits
    digits   = "0".."9" {"0".."9"}

The value is computed with integers only (no float rounding) and must be whole:
``3.5e24`` is 35 * 10**23, ``1.5`` and ``1e-3`` are refused. To bound the work on
hostile input the text is at most ``MAX_TEXT`` characters and the exponent within
``±MAX_EXPONENT``.

Used by the CLI (``--flop``, ``--peak-flops``), the licensing policy and the API
(``flop_budget`` as a string) and the conformance kit. Each caller names the error it
raises: ``UsageError`` on the command line (exit 2), ``DataError`` with the field for
policy files and API bodies (HTTP 400, code ``data``).
"""

from __future__ import annotations

import re
from decimal import Decimal

from pausebutton.errors import DataError, InputError

MAX_TEXT = 80
"""Longest accepted text, separators and whitespace removed."""
MAX_EXPONENT = 100
"""Largest accepted exponent magnitude (``1e100``; ``1e-100`` when the mantissa allows)."""
EXAMPLES = "e.g. 1e15, 3.5e24, 1_000_000, 3e25 FLOP or 30 YFLOP"
PREFIXES: dict[str, int] = {
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
    "Z": 21,
    "Y": 24,
    "R": 27,
    "Q": 30,
}
"""SI prefixes a FLOP unit may carry, to their power of ten."""
MAX_COUNTER = 2**128 - 1
"""The largest count a chip's 128-bit counters hold (docs/firmware.md): the bound of every
FLOP count a chip is given (``maximum=MAX_COUNTER``)."""

_UNIT = re.compile(r"(?P<prefix>[A-Za-z]?)(?P<unit>[Ff][Ll][Oo][Pp].*)", re.ASCII)
_SPLIT = re.compile(r"(?P<number>[-+0-9._eE]*?)\s*(?P<unit>[A-Za-z][^0-9]*)?", re.ASCII)

_NUMBER = re.compile(
    r"\+?(?P<whole>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[+-]?[0-9]+))?", re.ASCII
)


def parse_flop(
    text: str,
    field: str = "flop",
    *,
    error: type[InputError] = DataError,
    maximum: int | None = None,
) -> int:
    """The exact FLOP count ``text`` denotes; ``error`` (with ``field``) when it is not one,
    or when it exceeds ``maximum`` (e.g. ``MAX_COUNTER`` for what a chip is given).

    >>> parse_flop("3.5e24") == 35 * 10**23
    True
    """
    if len(text) > 4 * MAX_TEXT:
        raise error(f"{field}: {text[:20]!r}... is longer than {MAX_TEXT} characters", field=field)
    compact, power = _strip_unit(text.strip().replace("_", ""), text, field, error)
    if len(compact) > MAX_TEXT:
        raise error(f"{field}: {text[:20]!r}... is longer than {MAX_TEXT} characters", field=field)
    if compact.startswith("-"):
        raise error(f"{field}: {text!r} is negative; a FLOP count is not", field=field)
    m = _NUMBER.fullmatch(compact)
    if m is None or not (m.group("whole") or m.group("frac")):
        raise error(f"{field}: {text!r} is not a number of FLOP ({EXAMPLES})", field=field)
    whole, frac = m.group("whole"), m.group("frac") or ""
    exponent = int(m.group("exp") or 0)
    if abs(exponent) > MAX_EXPONENT:
        raise error(f"{field}: {text!r} has an exponent beyond ±{MAX_EXPONENT}", field=field)
    exponent += power
    if abs(exponent) > MAX_EXPONENT:
        raise error(f"{field}: {text!r} has an exponent beyond ±{MAX_EXPONENT}", field=field)
    digits = int(whole + frac or "0")
    exponent -= len(frac)
    scale: int = 10 ** abs(exponent)  # exact: an int power of ten
    if exponent >= 0:
        value = digits * scale
    else:
        value, rest = divmod(digits, scale)
        if rest:
            raise error(
                f"{field}: {text!r} is not a whole, non-negative number of FLOP", field=field
            )
    if maximum is not None and value > maximum:
        raise error(f"{field}: {text!r} is above the largest count, {maximum}", field=field)
    return value


def _strip_unit(compact: str, text: str, field: str, error: type[InputError]) -> tuple[str, int]:
    """``compact`` without its unit, and the unit's power of ten; ``error`` for a unit that
    is not FLOP with a known SI prefix."""
    split = _SPLIT.fullmatch(compact)
    if split is None or split.group("unit") is None:
        return compact, 0
    number, unit = split.group("number"), split.group("unit").strip()
    if not number:
        return compact, 0  # no number at all: the number grammar refuses it
    if unit[:1] in "eE" and not number[-1:].isdigit() and not number.endswith("."):
        return compact, 0  # "e5" alone: let the number grammar refuse it
    m = _UNIT.fullmatch(unit)
    if m is None or m.group("unit") != "FLOP":
        what = "a rate, not a count" if unit.upper().startswith(("FLOPS", "FLOP/")) else None
        reason = f"{unit!r} is {what}" if what else f"the unit {unit!r} is not FLOP"
        raise error(
            f"{field}: {text!r}: {reason} (accepted: a number with an optional unit FLOP,"
            f" kFLOP, MFLOP, ... YFLOP, RFLOP, QFLOP; {EXAMPLES})",
            field=field,
        )
    prefix = m.group("prefix")
    if prefix not in PREFIXES:
        hint = f" ({prefix}FLOP is ambiguous: SI prefixes are case-sensitive)"
        raise error(
            f"{field}: {text!r}: unknown prefix {prefix!r}{hint};"
            f" accepted prefixes are {', '.join(p for p in PREFIXES if p)} ({EXAMPLES})",
            field=field,
        )
    return number, PREFIXES[prefix]


def format_flop(count: int | str | None, *, unit: bool = True) -> str:
    """A FLOP count for people: ``12345 FLOP`` below a million, else scientific notation with
    three significant digits, ``3.0e25 FLOP``, ``1.25e18 FLOP``. ``count`` may be the
    decimal string the API answers with. ``—`` for none.

    >>> format_flop(3 * 10**25), format_flop("1250000000000000000"), format_flop(999)
    ('3.0e25 FLOP', '1.25e18 FLOP', '999 FLOP')
    """
    if count is None:
        return "—"
    value = int(count)
    suffix = " FLOP" if unit else ""
    if abs(value) < 10**6:
        return f"{value}{suffix}"
    mantissa, _, exponent = f"{Decimal(value):.2e}".partition("e")
    mantissa = mantissa.rstrip("0")
    if mantissa.endswith("."):
        mantissa += "0"
    return f"{mantissa}e{int(exponent)}{suffix}"
