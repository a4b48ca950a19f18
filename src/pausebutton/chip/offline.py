"""Parsing helpers of the chip and issuing verbs: durations and chip ids (FLOP counts and
scopes have one grammar each: :mod:`pausebutton.protocol.flop`, :mod:`pausebutton.protocol.scopes`).

The offline issuing tools (licences, orders and time tokens signed from an authority
directory, with a local proof-carrying log) are in :mod:`pausebutton.issuing.offline`.
"""

from __future__ import annotations

import re

from pausebutton.errors import UsageError

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


def parse_chip_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise UsageError(f"chip id {text!r} is not hex") from None
    if len(raw) != 32:
        raise UsageError("a chip id is 64 hex digits (SHA-256 of the device key)")
    return raw
