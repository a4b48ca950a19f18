"""The chip host's client (I/O edge): ask a landmark to measure the chip, answer its
challenge with the chip's ``respond`` callable, and collect the signed Measurement.

The chip signs as soon as the challenge arrives; nothing else sits between
receiving the challenge and sending the response.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from pausebutton.errors import LocationError, ServiceError, all_error_classes
from pausebutton.geo import wire
from pausebutton.geo.responder import Respond

log = logging.getLogger(__name__)


def _raise_remote(msg: dict[str, object]) -> None:
    code = str(msg.get("error", "error"))
    cls = all_error_classes().get(code, LocationError)
    raise cls(f"landmark rejected the response: {msg.get('message', '')}")


def _result(data: bytes) -> bytes:
    op, msg = wire.unpack(data)
    if op == "error":
        _raise_remote(msg)
    if op != "measurement":
        raise LocationError(f"expected a measurement, got {op!r}")
    envelope: bytes = msg["envelope"]
    return envelope


async def measure_tcp(
    host: str,
    port: int,
    device_key: bytes,
    respond: Respond,
    *,
    rounds: int = 1,
    timeout: float = 5.0,
) -> list[bytes]:
    """``rounds`` measurements over one TCP connection; returns Measurement envelopes."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        raise ServiceError(f"cannot reach landmark {host}:{port}: {exc}") from None
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def read() -> bytes:
        head = await asyncio.wait_for(reader.readexactly(4), timeout)
        size = int.from_bytes(head, "big")
        if size > 8192:
            raise LocationError("oversized frame from landmark")
        return await asyncio.wait_for(reader.readexactly(size), timeout)

    out: list[bytes] = []
    try:
        for _ in range(rounds):
            writer.write(wire.frame(wire.pack("hello", device_key=device_key)))
            op, msg = wire.unpack(await read())
            if op == "error":
                _raise_remote(msg)
            writer.write(wire.frame(wire.pack("response", envelope=respond(msg["envelope"]))))
            out.append(_result(await read()))
    except (asyncio.IncompleteReadError, TimeoutError, OSError) as exc:
        raise ServiceError(f"landmark {host}:{port}: {exc!r}") from None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError as exc:  # the measurements are in hand; a failed close is only logged
            log.warning("landmark %s:%d: closing the connection failed: %r", host, port, exc)
    return out


class _UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.queue.put_nowait(data)


async def measure_udp(
    host: str,
    port: int,
    device_key: bytes,
    respond: Respond,
    *,
    rounds: int = 1,
    timeout: float = 5.0,
) -> list[bytes]:
    """``rounds`` measurements over UDP (one datagram per message)."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_UdpClient, remote_addr=(host, port))
    out: list[bytes] = []
    try:
        for _ in range(rounds):
            transport.sendto(wire.padded_hello(device_key))
            op, msg = wire.unpack(await asyncio.wait_for(proto.queue.get(), timeout))
            if op == "error":
                _raise_remote(msg)
            transport.sendto(wire.pack("response", envelope=respond(msg["envelope"])))
            out.append(_result(await asyncio.wait_for(proto.queue.get(), timeout)))
    except TimeoutError:
        raise ServiceError(f"landmark {host}:{port} did not answer over UDP") from None
    finally:
        transport.close()
    return out
