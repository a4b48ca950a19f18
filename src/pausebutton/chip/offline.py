"""Parsing helpers of the chip and issuing verbs: durations, FLOP counts, scopes, chip ids.

The offline issuing tools (licences, orders and time tokens signed from an authority
directory, with a local proof-carrying log) are in :mod:`pausebutton.issuing.offline`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from pausebutton.errors import UsageError
from pausebutton.protocol.messages import GLOBAL, Scope, ScopeKind

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


# -- parsing helpers (shared by the CLI) --------------------------------------------------


def parse_duration(text: str) -> int:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``, ``"1y"`` or plain seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdwy]?)\s*", text)
    if not m:
        raise UsageError(f"{text!r} is not a duration (e.g. 30d, 12h, 90m, 3600)")
    value = int(m.group(1)) * _UNITS[m.group(2) or "s"]
    if value <= 0:
        raise UsageError("a duration must be positive")
    return value


def parse_flop(text: str) -> int:
    """An exact non-negative integer, in plain or scientific notation (``1e18``)."""
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        raise UsageError(f"{text!r} is not a number of FLOP") from None
    if not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise UsageError(f"{text!r} is not a whole, non-negative number of FLOP")
    return int(value)


def parse_scope(text: str) -> Scope:
    """``global``, ``region:NL,DE``, ``owner:acme,beta`` or ``chips:HEX,HEX``."""
    if text.strip() == "global":
        return GLOBAL
    kind, _, rest = text.partition(":")
    items = tuple(x.strip() for x in rest.split(",") if x.strip())
    if kind == "region":
        return Scope(ScopeKind.REGION, regions=items)
    if kind == "owner":
        return Scope(ScopeKind.OWNER, owners=items)
    if kind == "chips":
        try:
            return Scope(ScopeKind.CHIPS, chips=tuple(bytes.fromhex(c) for c in items))
        except ValueError:
            raise UsageError("chip ids are 64 hex digits") from None
    raise UsageError(f"scope {text!r}: use global, region:CC,.., owner:NAME,.. or chips:ID,..")


def parse_chip_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise UsageError(f"chip id {text!r} is not hex") from None
    if len(raw) != 32:
        raise UsageError("a chip id is 64 hex digits (SHA-256 of the device key)")
    return raw
