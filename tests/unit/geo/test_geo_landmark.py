"""Landmark challenge-response: fresh nonces, timing, named rejections; the server over
real sockets on 127.0.0.1 (UDP and TCP)."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from pausebutton.errors import (
    BadSignatureError,
    LocationError,
    MalformedError,
    ReplayError,
    UnknownTypeError,
    WrongChipError,
)
from pausebutton.geo.client import measure_tcp, measure_udp
from pausebutton.geo.landmark import LandmarkCore, verify_measurement
from pausebutton.geo.responder import SoftChip, answer
from pausebutton.geo.server import LandmarkServer
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import LocationChallenge, LocationResponse, Measurement

LM_KEY = PrivateKey.from_seed_material(b"landmark-1")
CHIP_KEY = PrivateKey.from_seed_material(b"chip-1")
OTHER_KEY = PrivateKey.from_seed_material(b"chip-2")
MS = 1_000_000


def core(**kw) -> LandmarkCore:
    return LandmarkCore(LM_KEY, 52.37, 4.90, **kw)


def challenge(c: LandmarkCore, key: PrivateKey = CHIP_KEY, sent: int = 1000) -> bytes:
    nonce = os.urandom(32)
    ch = c.challenge(key.public.raw, nonce)
    c.sent(nonce, sent)
    return ch


def test_round_trip_gives_signed_measurement():
    c = core()
    ch = challenge(c, sent=5 * MS)
    env, payload = decode_as(ch, LocationChallenge)
    assert env.signed_by(LM_KEY.public)
    assert payload.chip_id == CHIP_KEY.key_id and len(payload.nonce) == 32
    chip = SoftChip(CHIP_KEY)
    data, m = c.complete(chip.respond(ch), 5 * MS + 1_234_567, now=1_700_000_000)
    assert m.rtt_ns == 1_234_567 and m.rtt_ms == pytest.approx(1.234567)
    assert (m.lat_e6, m.lon_e6) == (52_370_000, 4_900_000)
    assert m.counter == 1 and m.time == 1_700_000_000
    got = verify_measurement(data, {LM_KEY.key_id: LM_KEY.public}, CHIP_KEY.public)
    assert got == m


def test_replayed_response_is_rejected():
    c = core()
    ch = challenge(c)
    resp = SoftChip(CHIP_KEY).respond(ch)
    c.complete(resp, 2000, now=1)
    with pytest.raises(ReplayError):
        c.complete(resp, 3000, now=1)


def test_late_response_is_rejected_and_nonce_spent():
    c = core(max_rtt_ns=10 * MS)
    ch = challenge(c, sent=0)
    resp = SoftChip(CHIP_KEY).respond(ch)
    with pytest.raises(LocationError, match="late"):
        c.complete(resp, 11 * MS, now=1)
    with pytest.raises(ReplayError):
        c.complete(resp, 12 * MS, now=1)


def test_expired_challenge_cannot_be_answered():
    c = core(max_rtt_ns=10 * MS)
    ch = challenge(c, sent=0)
    assert c.expire(20 * MS) == 1
    with pytest.raises(ReplayError):
        c.complete(SoftChip(CHIP_KEY).respond(ch), 21 * MS, now=1)


def test_wrong_signature_and_wrong_chip_are_rejected():
    c = core()
    ch = challenge(c)
    _, payload = decode_as(ch, LocationChallenge)
    forged = Envelope.create(LocationResponse(CHIP_KEY.key_id, payload.nonce, 1), [OTHER_KEY])
    with pytest.raises(BadSignatureError):
        c.complete(forged.encode(), 2000, now=1)
    other = Envelope.create(LocationResponse(OTHER_KEY.key_id, payload.nonce, 1), [OTHER_KEY])
    with pytest.raises(WrongChipError):
        c.complete(other.encode(), 2000, now=1)
    # The honest answer still counts after the forgeries.
    _, m = c.complete(SoftChip(CHIP_KEY).respond(ch), 3000, now=1)
    assert m.rtt_ns == 2000


def test_unknown_nonce_counter_rollback_and_garbage():
    c = core()
    stray = Envelope.create(LocationResponse(CHIP_KEY.key_id, os.urandom(32), 1), [CHIP_KEY])
    with pytest.raises(LocationError, match="unknown nonce"):
        c.complete(stray.encode(), 2000, now=1)
    c.complete(answer(CHIP_KEY, 5, challenge(c)), 2000, now=1)
    with pytest.raises(ReplayError, match="counter"):
        c.complete(answer(CHIP_KEY, 5, challenge(c)), 2000, now=1)
    with pytest.raises(MalformedError):
        c.complete(b"\xff\x00garbage", 2000, now=1)
    with pytest.raises(UnknownTypeError):
        c.complete(challenge(c), 2000, now=1)  # a challenge is not a response


def test_chip_refuses_a_challenge_for_another_chip():
    with pytest.raises(WrongChipError):
        SoftChip(CHIP_KEY).respond(challenge(core(), key=OTHER_KEY))


def test_verify_measurement_rejects_untrusted_or_tampered():
    c = core()
    data, m = c.complete(SoftChip(CHIP_KEY).respond(challenge(c)), 2000, now=1)
    with pytest.raises(BadSignatureError):
        verify_measurement(data, {}, CHIP_KEY.public)
    with pytest.raises(WrongChipError):
        verify_measurement(data, {LM_KEY.key_id: LM_KEY.public}, OTHER_KEY.public)
    # A landmark that lies about the RTT must re-sign; a third party cannot.
    env = Envelope.decode(data)
    forged = Envelope(
        env.type,
        env.version,
        Measurement(**{**m.__dict__, "rtt_ns": 1, "extra": {}}).encode(),
        env.signatures,
    )
    with pytest.raises(BadSignatureError):
        verify_measurement(forged.encode(), {LM_KEY.key_id: LM_KEY.public})


async def _serve_and_measure(udp: bool):
    seen = []
    server = LandmarkServer(
        core(), host="127.0.0.1", port=0, on_measurement=lambda b, m: seen.append(m)
    )
    port = await server.start()
    chip = SoftChip(CHIP_KEY)
    try:
        fn = measure_udp if udp else measure_tcp
        envs = await fn("127.0.0.1", port, chip.device_key, chip.respond, rounds=3, timeout=5)
    finally:
        await server.close()
    return envs, seen, server


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_server_over_loopback(udp):
    envs, seen, server = asyncio.run(asyncio.wait_for(_serve_and_measure(udp), 20))
    assert len(envs) == 3 and len(seen) == 3
    ms = [verify_measurement(e, {LM_KEY.key_id: LM_KEY.public}, CHIP_KEY.public) for e in envs]
    assert [m.counter for m in ms] == [1, 2, 3]
    assert len({m.nonce for m in ms}) == 3
    # Loopback round trips: positive and well under 200 ms even on a busy CI box.
    assert all(0 < m.rtt_ms < 200 for m in ms)
    assert server.stats.measurements == 3


async def _bad_signer():
    server = LandmarkServer(core(), host="127.0.0.1", port=0)
    port = await server.start()

    def forge(ch: bytes) -> bytes:  # a relay without the chip's key
        _, payload = decode_as(ch, LocationChallenge)
        return Envelope.create(
            LocationResponse(CHIP_KEY.key_id, payload.nonce, 1), [OTHER_KEY]
        ).encode()

    try:
        with pytest.raises(BadSignatureError, match="landmark rejected"):
            await measure_tcp("127.0.0.1", port, CHIP_KEY.public.raw, forge, timeout=5)
        with pytest.raises(BadSignatureError):
            await measure_udp("127.0.0.1", port, CHIP_KEY.public.raw, forge, timeout=5)
    finally:
        await server.close()
    return server


def test_server_rejects_wrongly_signed_response_by_name():
    server = asyncio.run(asyncio.wait_for(_bad_signer(), 20))
    assert server.stats.rejected == {"bad_signature": 2}


async def _short_udp_hello():
    from pausebutton.geo import wire

    server = LandmarkServer(core(), host="127.0.0.1", port=0)
    port = await server.start()
    loop = asyncio.get_running_loop()
    got: list[bytes] = []

    class P(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            got.append(data)

    transport, _ = await loop.create_datagram_endpoint(P, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(wire.pack("hello", device_key=CHIP_KEY.public.raw))  # unpadded
        await asyncio.sleep(0.3)
        short = list(got)
        transport.sendto(wire.padded_hello(CHIP_KEY.public.raw))
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.05)
    finally:
        transport.close()
        await server.close()
    return short, got, server


def test_udp_does_not_amplify():
    """A forged-source UDP hello smaller than the challenge gets no answer."""
    short, got, server = asyncio.run(asyncio.wait_for(_short_udp_hello(), 20))
    assert short == []
    assert server.stats.rejected == {"amplification": 1}
    assert len(got) == 1 and len(got[0]) <= 512


async def _measure_with_failing_close(monkeypatch):
    async def broken_wait_closed(self):
        raise ConnectionResetError("reset while closing")

    server = LandmarkServer(core(), host="127.0.0.1", port=0)
    port = await server.start()
    chip = SoftChip(CHIP_KEY)
    monkeypatch.setattr(asyncio.StreamWriter, "wait_closed", broken_wait_closed)
    try:
        return await measure_tcp("127.0.0.1", port, chip.device_key, chip.respond, timeout=5)
    finally:
        monkeypatch.undo()
        await server.close()


def test_client_logs_a_failed_close_and_keeps_its_measurements(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="pausebutton.geo.client")
    envs = asyncio.run(asyncio.wait_for(_measure_with_failing_close(monkeypatch), 20))
    assert len(envs) == 1
    verify_measurement(envs[0], {LM_KEY.key_id: LM_KEY.public}, CHIP_KEY.public)
    (record,) = [r for r in caplog.records if r.name == "pausebutton.geo.client"]
    assert record.levelno == logging.WARNING
    assert "closing the connection failed" in record.getMessage()
    assert "reset while closing" in record.getMessage()


async def _close_with_open_connection():
    server = LandmarkServer(core(), host="127.0.0.1", port=0, udp=False)
    port = await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(100):
        if server.connections:
            break
        await asyncio.sleep(0.01)
    opened = len(server.connections)
    await server.close()
    eof = await asyncio.wait_for(reader.read(), 5)  # the server closed our connection
    writer.close()
    return opened, eof, server


def test_close_closes_open_connections():
    opened, eof, server = asyncio.run(asyncio.wait_for(_close_with_open_connection(), 20))
    assert opened == 1
    assert eof == b""
    assert server.connections == set()
    assert server.stats.failures == {}


async def _close_that_hangs(monkeypatch):
    server = LandmarkServer(core(), host="127.0.0.1", port=0, udp=False)
    await server.start()
    assert server._tcp_server is not None

    async def never_closed() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(server._tcp_server, "wait_closed", never_closed)
    monkeypatch.setattr("pausebutton.geo.server.CLOSE_TIMEOUT_S", 0.05)
    await server.close()
    return server


def test_close_timeout_is_logged_and_counted(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="pausebutton.geo.server")
    server = asyncio.run(asyncio.wait_for(_close_that_hangs(monkeypatch), 20))
    assert server.stats.failures == {"close_timeout": 1}
    (record,) = [r for r in caplog.records if r.name == "pausebutton.geo.server"]
    assert "still open" in record.getMessage()
    assert '"close_timeout": 1' in server.stats.summary()
