"""The landmark's challenge-response logic and measurement verification (pure).

Protocol step G (docs/geo.md):

G1. A chip asks a landmark to measure it, giving its device public key.
G2. The landmark draws a fresh 32-byte nonce, signs a LocationChallenge
    (landmark id, chip id, nonce) and notes the monotonic time it sent it.
G3. The chip signs LocationResponse(chip id, nonce, counter) with its device
    key at once and sends it back; ``counter`` grows with every response.
G4. The landmark notes the arrival time and accepts the response only if the
    nonce is one it issued and has not seen answered (else ReplayError or
    LocationError), the chip id is the one challenged (WrongChipError), the
    device key's signature verifies (BadSignatureError), it came within
    ``max_rtt_ns`` (LocationError "late"), and the counter is above the last
    one this landmark saw from the chip (ReplayError).
G5. The landmark signs a Measurement (landmark id, chip id, nonce, RTT, time,
    counter, its position, the chip's signed response) and returns it; it may
    also send it to the authority.
G6. A verifier accepts a Measurement only if a trusted landmark key signed it
    and the embedded response is the chip's signature over the same nonce.

This module takes nonces, times and bytes from its caller; server.py does I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from pausebutton.errors import (
    BadSignatureError,
    LocationError,
    ReplayError,
    WrongChipError,
)
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.keys import PrivateKey, PublicKey
from pausebutton.protocol.messages import (
    MICRODEGREES,
    NONCE_SIZE,
    LocationChallenge,
    LocationResponse,
    Measurement,
)

MAX_WIRE_MESSAGE = 8192
"""Largest message on a landmark connection (an envelope is a few hundred bytes)."""
DEFAULT_MAX_RTT_NS = 500_000_000
"""A response later than 500 ms is rejected as late (a round trip of the Earth is ~135 ms
in fibre)."""


@dataclass
class _Pending:
    chip_key: PublicKey
    sent_ns: int | None = None


class LandmarkCore:
    """Issues challenges and turns timely, valid responses into signed Measurements."""

    def __init__(
        self,
        key: PrivateKey,
        lat: float,
        lon: float,
        *,
        max_rtt_ns: int = DEFAULT_MAX_RTT_NS,
        max_pending: int = 4096,
        remember: int = 65536,
    ) -> None:
        from pausebutton.geo.physics import check_coordinates

        check_coordinates(lat, lon, what="landmark")
        self.key = key
        self.lat_e6 = round(lat * MICRODEGREES)
        self.lon_e6 = round(lon * MICRODEGREES)
        self.max_rtt_ns = max_rtt_ns
        self.max_pending = max_pending
        self.remember = remember
        self._pending: OrderedDict[bytes, _Pending] = OrderedDict()
        self._answered: OrderedDict[bytes, None] = OrderedDict()
        self._counters: dict[bytes, int] = {}

    @property
    def landmark_id(self) -> bytes:
        return self.key.key_id

    def challenge(self, device_key: bytes, nonce: bytes) -> bytes:
        """G2: the signed challenge for ``device_key`` (call ``sent`` when it leaves)."""
        if len(nonce) != NONCE_SIZE:
            raise LocationError(f"a nonce is {NONCE_SIZE} bytes")
        if nonce in self._pending or nonce in self._answered:
            raise ReplayError("nonce reused")
        chip_key = PublicKey.from_bytes(device_key)
        while len(self._pending) >= self.max_pending:
            self._pending.popitem(last=False)
        self._pending[nonce] = _Pending(chip_key)
        payload = LocationChallenge(self.landmark_id, chip_key.key_id, nonce)
        return Envelope.create(payload, [self.key]).encode()

    def sent(self, nonce: bytes, sent_ns: int) -> None:
        pending = self._pending.get(nonce)
        if pending is not None:
            pending.sent_ns = sent_ns

    def expire(self, now_ns: int) -> int:
        """Forget challenges older than max_rtt_ns; returns how many were dropped."""
        stale = [
            n
            for n, p in self._pending.items()
            if p.sent_ns is not None and now_ns - p.sent_ns > self.max_rtt_ns
        ]
        for n in stale:
            del self._pending[n]
            self._remember(n)
        return len(stale)

    def _remember(self, nonce: bytes) -> None:
        self._answered[nonce] = None
        while len(self._answered) > self.remember:
            self._answered.popitem(last=False)

    def complete(self, response: bytes, received_ns: int, now: int) -> tuple[bytes, Measurement]:
        """G4-G5: check a response that arrived at ``received_ns`` (monotonic) and return
        the signed Measurement (bytes and payload)."""
        env, resp = decode_as(response, LocationResponse, max_size=MAX_WIRE_MESSAGE)
        if resp.nonce in self._answered:
            raise ReplayError("this nonce was already answered or has expired")
        pending = self._pending.get(resp.nonce)
        if pending is None or pending.sent_ns is None:
            raise LocationError("unknown nonce: this landmark did not issue it")
        if resp.chip_id != pending.chip_key.key_id:
            raise WrongChipError("the response names another chip than the one challenged")
        if not env.signed_by(pending.chip_key):
            raise BadSignatureError("the response is not signed by the chip's device key")
        rtt_ns = received_ns - pending.sent_ns
        del self._pending[resp.nonce]
        self._remember(resp.nonce)
        if rtt_ns > self.max_rtt_ns:
            raise LocationError(
                f"late response: {rtt_ns / 1e6:.3f} ms exceeds {self.max_rtt_ns / 1e6:.0f} ms",
                rtt_ms=rtt_ns / 1e6,
            )
        last = self._counters.get(resp.chip_id)
        if last is not None and resp.counter <= last:
            raise ReplayError(f"response counter {resp.counter} is not above {last}")
        self._counters[resp.chip_id] = resp.counter
        measurement = Measurement(
            landmark_id=self.landmark_id,
            chip_id=resp.chip_id,
            nonce=resp.nonce,
            rtt_ns=max(rtt_ns, 1),
            time=now,
            counter=resp.counter,
            lat_e6=self.lat_e6,
            lon_e6=self.lon_e6,
            response=response,
        )
        return Envelope.create(measurement, [self.key]).encode(), measurement

    @property
    def pending(self) -> int:
        return len(self._pending)


def verify_measurement(
    data: bytes,
    landmark_keys: Mapping[bytes, PublicKey],
    chip_key: PublicKey | None = None,
) -> Measurement:
    """G6: a Measurement signed by one of ``landmark_keys`` (by key id), whose embedded
    response is the chip's signature over the same nonce and counter."""
    env, m = decode_as(data, Measurement)
    key = landmark_keys.get(m.landmark_id)
    if key is None:
        raise BadSignatureError("the measurement's landmark is not a trusted landmark")
    if not env.signed_by(key):
        raise BadSignatureError("the measurement is not signed by its landmark")
    renv, resp = decode_as(m.response, LocationResponse, max_size=MAX_WIRE_MESSAGE)
    if (resp.chip_id, resp.nonce, resp.counter) != (m.chip_id, m.nonce, m.counter):
        raise LocationError("the embedded response does not match the measurement")
    if chip_key is not None:
        if chip_key.key_id != m.chip_id:
            raise WrongChipError("the measurement is of another chip")
        if not renv.signed_by(chip_key):
            raise BadSignatureError("the embedded response is not signed by the chip")
    return m
