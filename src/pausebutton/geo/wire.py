"""Messages on a landmark connection (pure framing).

Every message is a canonical CBOR map with an ``op``:

- chip -> landmark ``{"op": "hello", "device_key": bstr}`` (G1)
- landmark -> chip ``{"op": "challenge", "envelope": bstr}`` (G2)
- chip -> landmark ``{"op": "response", "envelope": bstr}`` (G3)
- landmark -> chip ``{"op": "measurement", "envelope": bstr}`` (G5) or
  ``{"op": "error", "error": code, "message": tstr}``

Over UDP each message is one datagram; over TCP each is preceded by its length
as a 4-byte big-endian integer. Messages over MAX_WIRE_MESSAGE are rejected.

Anti-amplification over UDP (a source address can be forged): a landmark never
answers a datagram with a larger challenge or error, so a UDP hello carries a
``pad`` byte string that makes it at least UDP_HELLO_SIZE bytes; shorter ones
are dropped silently. A measurement is returned whatever its size: it needs the
chip's signature over a nonce the landmark just issued.
"""

from __future__ import annotations

import struct
from typing import Any

from pausebutton.errors import MalformedError, OversizedError, PausebuttonError
from pausebutton.geo.landmark import MAX_WIRE_MESSAGE
from pausebutton.protocol import encoding

OPS = frozenset({"hello", "challenge", "response", "measurement", "error"})
_LEN = struct.Struct(">I")
UDP_HELLO_SIZE = 512


def pack(op: str, **fields: Any) -> bytes:
    return encoding.encode({"op": op, **fields})


def unpack(data: bytes) -> tuple[str, dict[str, Any]]:
    if len(data) > MAX_WIRE_MESSAGE:
        raise OversizedError(f"message of {len(data)} bytes exceeds {MAX_WIRE_MESSAGE}")
    value = encoding.decode(data, max_size=MAX_WIRE_MESSAGE)
    if not isinstance(value, dict) or value.get("op") not in OPS:
        raise MalformedError("not a landmark message")
    op = value["op"]
    for name in ("device_key", "envelope"):
        if name in value and not isinstance(value[name], bytes):
            raise MalformedError(f"{name} must be a byte string")
    need = {"hello": "device_key", "challenge": "envelope", "response": "envelope"}
    need["measurement"] = "envelope"
    if op in need and need[op] not in value:
        raise MalformedError(f"a {op} message needs {need[op]}")
    return str(op), value


def error_message(exc: PausebuttonError) -> bytes:
    return pack("error", error=exc.code, message=exc.message[:500])


def frame(data: bytes) -> bytes:
    return _LEN.pack(len(data)) + data


class Deframer:
    """Splits a TCP byte stream into messages (length-prefixed)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= _LEN.size:
            (size,) = _LEN.unpack_from(self._buf)
            if size > MAX_WIRE_MESSAGE:
                raise OversizedError(f"frame of {size} bytes exceeds {MAX_WIRE_MESSAGE}")
            if len(self._buf) < _LEN.size + size:
                break
            out.append(bytes(self._buf[_LEN.size : _LEN.size + size]))
            del self._buf[: _LEN.size + size]
        return out


def padded_hello(device_key: bytes) -> bytes:
    """A UDP hello at least UDP_HELLO_SIZE bytes long (anti-amplification)."""
    bare = len(pack("hello", device_key=device_key, pad=b""))
    return pack("hello", device_key=device_key, pad=bytes(max(0, UDP_HELLO_SIZE - bare - 2)))
