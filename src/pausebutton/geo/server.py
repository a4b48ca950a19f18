"""The landmark server (I/O edge): UDP and TCP on asyncio, a monotonic clock for RTTs.

Arrival times are read in ``data_received`` / ``datagram_received`` (asyncio
protocols, not streams) so the event loop adds as little as possible to a
measured RTT; departure times right after the challenge is handed to the
kernel. Nonces come from ``os.urandom``. Every rejection is sent back as an
``error`` message naming the error code (wire.py), and counted; the server's own
failures (e.g. connections that outlive ``close``) are logged under
``pausebutton.geo.server`` and counted in ``Stats.failures``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pausebutton.errors import MalformedError, PausebuttonError
from pausebutton.geo import wire
from pausebutton.geo.landmark import LandmarkCore
from pausebutton.protocol.messages import Measurement

OnMeasurement = Callable[[bytes, Measurement], None]
Send = Callable[[bytes, bool], None]
"""``send(reply, vouched)``: vouched replies answer a valid chip signature."""
IDLE_TIMEOUT_S = 30.0
CLOSE_TIMEOUT_S = 2.0

log = logging.getLogger(__name__)


@dataclass
class Stats:
    """What a landmark server did: measurements made, requests rejected (by error code),
    and its own failures (by kind), e.g. ``close_timeout`` or, counted by
    ``landmark serve``, ``post`` (a measurement the authority did not take)."""

    measurements: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def reject(self, code: str) -> None:
        self.rejected[code] = self.rejected.get(code, 0) + 1

    def fail(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def summary(self) -> str:
        """One line, e.g. ``3 measurements, rejected {}, failures {"post": 1}``."""
        rejected = json.dumps(self.rejected, sort_keys=True)
        failures = json.dumps(self.failures, sort_keys=True)
        return f"{self.measurements} measurements, rejected {rejected}, failures {failures}"


class _Handler:
    def __init__(self, server: LandmarkServer) -> None:
        self.server = server

    def handle(self, data: bytes, received_ns: int, send: Send) -> None:
        core = self.server.core
        try:
            op, msg = wire.unpack(data)
            if op == "hello":
                core.expire(received_ns)
                nonce = os.urandom(32)
                challenge = core.challenge(msg["device_key"], nonce)
                send(wire.pack("challenge", envelope=challenge), False)
                core.sent(nonce, time.monotonic_ns())
            elif op == "response":
                env_bytes, measurement = core.complete(
                    msg["envelope"], received_ns, int(time.time())
                )
                send(wire.pack("measurement", envelope=env_bytes), True)
                self.server.stats.measurements += 1
                self.server.on_measurement(env_bytes, measurement)
            else:
                raise MalformedError(f"a landmark does not accept {op!r} messages")
        except PausebuttonError as exc:
            self.server.stats.reject(exc.code)
            self.server.on_error(exc)
            send(wire.error_message(exc), False)


class _Tcp(asyncio.Protocol):
    def __init__(self, server: LandmarkServer) -> None:
        self.handler = _Handler(server)
        self.deframer = wire.Deframer()
        self.transport: asyncio.Transport | None = None
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.handler.server.connections.add(self)
        self._arm()

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(IDLE_TIMEOUT_S, self.close)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.handler.server.connections.discard(self)
        if self.idle is not None:
            self.idle.cancel()

    def _send(self, data: bytes, vouched: bool = False) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(wire.frame(data))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self._arm()
        try:
            messages = self.deframer.feed(data)
        except PausebuttonError as exc:
            self.handler.server.stats.reject(exc.code)
            self._send(wire.error_message(exc))
            self.close()
            return
        for message in messages:
            self.handler.handle(message, now, self._send)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: LandmarkServer) -> None:
        self.handler = _Handler(server)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        now = time.monotonic_ns()
        transport = self.transport

        def send(reply: bytes, vouched: bool) -> None:
            # Anti-amplification (wire.py): no challenge or error larger than the request.
            if len(reply) > len(data) and not vouched:
                self.handler.server.stats.reject("amplification")
                return
            if transport is not None:
                transport.sendto(reply, addr)

        self.handler.handle(data, now, send)


class LandmarkServer:
    """Serves location challenges on one port over UDP and/or TCP."""

    def __init__(
        self,
        core: LandmarkCore,
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        udp: bool = True,
        tcp: bool = True,
        on_measurement: OnMeasurement | None = None,
        on_error: Callable[[PausebuttonError], None] | None = None,
    ) -> None:
        self.core = core
        self.host, self.port = host, port
        self.udp, self.tcp = udp, tcp
        self.on_measurement: OnMeasurement = on_measurement or (lambda b, m: None)
        self.on_error: Callable[[PausebuttonError], None] = on_error or (lambda e: None)
        self.stats = Stats()
        self._tcp_server: asyncio.Server | None = None
        self._udp_transport: asyncio.DatagramTransport | None = None
        self.connections: set[_Tcp] = set()
        """Open TCP connections (closed by ``close``)."""

    async def start(self) -> int:
        """Bind (TCP first, so port 0 picks one port for both) and return the port."""
        loop = asyncio.get_running_loop()
        if self.tcp:
            self._tcp_server = await loop.create_server(
                lambda: _Tcp(self), self.host, self.port, reuse_address=True
            )
            self.port = self._tcp_server.sockets[0].getsockname()[1]
        if self.udp:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, self.port)
            )
            self._udp_transport = transport
            self.port = transport.get_extra_info("sockname")[1]
        return self.port

    async def close(self) -> None:
        """Stop listening and close open connections. Connections still open after
        ``CLOSE_TIMEOUT_S`` are logged and counted (``failures["close_timeout"]``)."""
        if self._udp_transport is not None:
            self._udp_transport.close()
        if self._tcp_server is None:
            return
        self._tcp_server.close()
        for conn in list(self.connections):
            conn.close()
        try:
            await asyncio.wait_for(self._tcp_server.wait_closed(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            self.stats.fail("close_timeout")
            log.warning(
                "landmark on port %d: %d TCP connection(s) still open %.1f s after close",
                self.port,
                len(self.connections),
                CLOSE_TIMEOUT_S,
            )
