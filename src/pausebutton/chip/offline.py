"""Parsing helpers of the chip and issuing verbs: durations and chip ids (FLOP counts and
scopes have one grammar each: :mod:`pausebutton.protocol.flop`, :mod:`pausebutton.protocol.scopes`).

The offline issuing tools (licences, orders and time tokens signed from an authority
directory, with a local proof-carrying log) are in :mod:`pausebutton.issuing.offline`.
"""

from __future__ import annotations

from pausebutton.errors import UsageError
from pausebutton.protocol import units

# -- parsing helpers (shared by the CLI) --------------------------------------------------


def parse_duration(text: str, field: str = "duration") -> int:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``, ``"1y"``, ``"1h30m"`` or plain
    seconds (:func:`pausebutton.protocol.units.parse_duration`; ``UsageError``, exit 2)."""
    return units.parse_duration(text, field, error=UsageError)


def parse_chip_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise UsageError(
            f"chip id {text!r} is not hex: a chip id is the 64 hex digits chip new prints"
        ) from None
    if len(raw) != 32:
        raise UsageError(
            f"chip id {text[:20]!r} has {len(text.strip())} hex digits, not 64"
            " (the SHA-256 of the device key, as chip new prints it)"
        )
    return raw
