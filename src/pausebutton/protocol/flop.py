"""The FLOP syntax: one set of rules for every FLOP count given as text (pure).

A FLOP count is a whole, non-negative number, exact at any size, written in plain or
scientific notation::

    12345    1e25    3.5e24    1_000_000    1E+18    250e-2 (= 2.5: refused)

Grammar (after removing ``_`` digit separators and surrounding whitespace)::

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

from pausebutton.errors import DataError, InputError

MAX_TEXT = 80
"""Longest accepted text, separators and whitespace removed."""
MAX_EXPONENT = 100
"""Largest accepted exponent magnitude (``1e100``; ``1e-100`` when the mantissa allows)."""
EXAMPLES = "e.g. 1e15, 3.5e24 or 1_000_000"
MAX_COUNTER = 2**128 - 1
"""The largest count a chip's 128-bit counters hold (docs/firmware.md): the bound of every
FLOP count a chip is given (``maximum=MAX_COUNTER``)."""

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
    compact = text.strip().replace("_", "")
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
