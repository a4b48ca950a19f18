"""Position fixes from a GNSS receiver, as the node agent reports them to the authority.

Receivers speak NMEA 0183; the agent reads the GGA sentences (pynmea2 parses them) and
states each fix's horizontal accuracy as HDOP times a typical user range error. A
sentence without a position, a bad checksum or no fix quality is refused by name: a
fix is evidence, and a made-up one would accuse or clear a chip wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass

from pausebutton.errors import DataError

UERE_M = 5.0
"""Typical user equivalent range error of a civil receiver (metres): accuracy = HDOP x UERE."""
MAX_SENTENCES = 1000


@dataclass(frozen=True)
class ReceiverFix:
    lat: float
    lon: float
    accuracy_m: float


def parse_nmea(text: str) -> list[ReceiverFix]:
    """The GGA fixes in NMEA text (other sentences are skipped)."""
    import pynmea2

    out: list[ReceiverFix] = []
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > MAX_SENTENCES:
        raise DataError(f"at most {MAX_SENTENCES} NMEA sentences at once", field="nmea")
    for n, line in enumerate(lines, start=1):
        try:
            msg = pynmea2.parse(line, check=True)
        except (pynmea2.ParseError, pynmea2.ChecksumError, ValueError) as exc:
            raise DataError(f"NMEA line {n}: {exc}", row=n, field="nmea") from None
        if not isinstance(msg, pynmea2.GGA):
            continue
        if not msg.gps_qual or not msg.lat or not msg.lon:
            raise DataError(f"NMEA line {n}: the receiver has no fix", row=n, field="nmea")
        try:
            hdop = float(msg.horizontal_dil or 0)
        except ValueError:
            raise DataError(f"NMEA line {n}: HDOP is not a number", row=n, field="nmea") from None
        accuracy = max(hdop, 0.5) * UERE_M
        out.append(ReceiverFix(float(msg.latitude), float(msg.longitude), accuracy))
    if not out:
        raise DataError("no GGA position fix in the NMEA input", field="nmea")
    return out
