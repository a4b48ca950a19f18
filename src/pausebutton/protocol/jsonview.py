"""A JSON view of protocol values for people and APIs (bytes as hex). Pure."""

from __future__ import annotations

from typing import Any

from pausebutton.errors import EncodingError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.schema import Struct

JSON_INT_BITS = 13_000
"""Integers longer than this (about 3900 decimal digits) are shown as ``"0x…"`` hex
text: Python refuses to write integers of more than 4300 digits in decimal, and
the protocol allows integers of any size (P3)."""


def to_json(value: Any) -> Any:
    """Convert a CBOR-model value (or a Struct) to JSON-ready data; bytes become hex."""
    if isinstance(value, Struct):
        value = value.to_value()
    if isinstance(value, bytes):
        return value.hex()
    if type(value) is int and value.bit_length() > JSON_INT_BITS:
        return f"{'-' if value < 0 else ''}0x{abs(value):x}"
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def envelope_json(env: Envelope) -> dict[str, Any]:
    """The envelope with its payload opened when the type is known."""

    out: dict[str, Any] = {
        "type": env.type,
        "version": env.version,
        "signatures": [{"key_id": s.key_id.hex(), "sig": s.sig.hex()} for s in env.signatures],
    }
    try:
        out["payload"] = to_json(env.open())
    except EncodingError as exc:
        out["payload_error"] = str(exc)
        out["payload_hex"] = env.payload.hex()
    return out
