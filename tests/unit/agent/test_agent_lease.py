"""The lease socket: grants, refusals as named errors, and fail-safe on anything unverifiable."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from pausebutton.agent.lease import LeaseBudget, LeaseServer, LeaseService
from pausebutton.errors import LeaseError, LicenseExhaustedError, PausedError, ServiceError
from pausebutton.guard.budget import LocalBudget


@pytest.fixture
def sock_path(tmp_path):
    return tmp_path / "lease.sock"


def _serve(path, ledgers, **kw):
    return LeaseServer(path, LeaseService(ledgers, **kw)).start()


def test_grant_step_and_refusals(sock_path):
    ledger = LocalBudget(1000)
    server = _serve(sock_path, {"GPU-aaaa": ledger, "GPU-bbbb": LocalBudget(5)})
    try:
        client = LeaseBudget(sock_path, gpu="bbbb")
        assert client.gpu_uuid == "GPU-bbbb"
        client.close(0)
        client = LeaseBudget(sock_path)
        assert client.gpu_uuid == "GPU-aaaa"
        assert client.step(0, 100).remaining == 900
        assert client.step(100, 100).remaining == 800
        with server.service.fencing("GPU-aaaa"):  # what the agent does around a chip change
            ledger.pause()
        with pytest.raises(PausedError):
            client.step(100, 100)
        ledger.resume()
        with pytest.raises(LicenseExhaustedError):
            client.step(0, 10_000)
        client.close(50)
        assert ledger.used == 250
    finally:
        server.stop()


def test_no_agent_is_a_lease_error(sock_path):
    with pytest.raises(LeaseError):
        LeaseBudget(sock_path)


def test_agent_gone_mid_run_is_a_lease_error(sock_path):
    server = _serve(sock_path, {"GPU-a": LocalBudget(10**6)})
    client = LeaseBudget(sock_path)
    client.step(0, 1)
    server.stop()
    with pytest.raises(LeaseError):
        client.step(1, 1)
    client.close(0)


def test_expired_lease_is_replaced_by_a_verified_new_one(sock_path):
    now = [0.0]
    server = _serve(sock_path, {"GPU-a": LocalBudget(10**6)}, ttl=5, clock=lambda: now[0])
    try:
        client = LeaseBudget(sock_path)
        first = client.lease
        now[0] = 100.0
        client.step(0, 1)
        assert client.lease != first
        client.close(0)
    finally:
        server.stop()


def test_gate_puts_the_node_in_a_safe_state(sock_path):
    blocked = [False]

    def gate():
        if blocked[0]:
            raise ServiceError("authority unreachable for 600 s")

    ledger = LocalBudget(10**6)
    server = _serve(sock_path, {"GPU-a": ledger}, gate=gate)
    try:
        client = LeaseBudget(sock_path)
        client.step(0, 10)
        blocked[0] = True
        with pytest.raises(ServiceError):
            client.step(10, 10)
        assert ledger.used == 10  # the work done was still booked
        client.close(0)
    finally:
        server.stop()


def test_untrusted_server_uid_is_refused(sock_path):
    server = _serve(sock_path, {"GPU-a": LocalBudget(1)})
    try:
        with pytest.raises(LeaseError, match="not trusted"):
            LeaseBudget(sock_path, trusted_uids=(54321,))
    finally:
        server.stop()


@pytest.mark.parametrize("reply", [b"not json\n", b'{"id": 999, "ok": true}\n', b"[]\n", b""])
def test_malformed_answers_are_lease_errors(sock_path, reply):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)

    def fake_agent():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            if reply:
                conn.sendall(reply)

    thread = threading.Thread(target=fake_agent, daemon=True)
    thread.start()
    try:
        with pytest.raises(LeaseError):
            LeaseBudget(sock_path, timeout=5)
    finally:
        thread.join(5)
        listener.close()


def test_bad_requests_get_named_errors(sock_path):
    server = _serve(sock_path, {"GPU-a": LocalBudget(10)})
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(sock_path))
        fh = conn.makefile("rwb")
        for line in (b"{oops\n", b'{"op": "launch"}\n', b'{"op": "step", "lease": "x"}\n'):
            fh.write(line)
            fh.flush()
            answer = fh.readline()
            assert b'"ok": false' in answer
        conn.close()
    finally:
        server.stop()


def test_a_bug_in_the_service_is_answered_and_logged(sock_path, caplog):
    import logging

    caplog.set_level(logging.ERROR, logger="pausebutton.agent.lease")
    server = _serve(sock_path, {"GPU-a": LocalBudget(10)})

    def broken(request, pid, uid):
        raise RuntimeError("a bug in the ledger")

    server.service.handle = broken
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(sock_path))
        fh = conn.makefile("rwb")
        fh.write(b'{"id": 7, "op": "launch"}\n')
        fh.flush()
        answer = json.loads(fh.readline())
        conn.close()
    finally:
        server.stop()
    assert answer["ok"] is False and answer["error"] == "lease" and answer["id"] == 7
    (record,) = [r for r in caplog.records if r.name == "pausebutton.agent.lease"]
    assert "failed unexpectedly" in record.getMessage()
    assert record.exc_info is not None and "a bug in the ledger" in str(record.exc_info[1])


# -- the fast path: credit, fence page --------------------------------------------------------


@pytest.fixture
def serve(sock_path):
    """``serve(ledgers, **kw)`` starts a lease server on ``sock_path``; stopped after the test."""
    servers = []

    def make(ledgers, **kw):
        server = _serve(sock_path, ledgers, **kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _open_credit(client, steps=100):
    """Run 10-FLOP steps until one ran on credit and the credit covers the next one
    too; returns how many steps ran (the first books nothing)."""
    client.step(0, 10)
    ran = 1
    for _ in range(steps):
        client.step(10, 10)
        ran += 1
    while True:
        fast = client.fast_steps
        client.step(10, 10)
        ran += 1
        if client.fast_steps == fast + 1 and client._unsettled + 20 <= client._credit:
            return ran


def test_credit_grants_most_steps_without_a_round_trip_and_books_every_flop(serve, sock_path):
    ledger = LocalBudget(10**9)
    serve({"GPU-a": ledger})
    client = LeaseBudget(sock_path)
    client.step(0, 10)
    for _ in range(499):
        client.step(10, 10)
    assert client.fast_steps + client.slow_steps == 500
    assert client.slow_steps < 25, client.slow_steps
    client.close(10)
    assert ledger.used == 5000  # every step's FLOP, booked in a few calls
    assert ledger.steps_granted == client.slow_steps


def test_a_fenced_pause_stops_the_very_next_step(serve, sock_path):
    ledger = LocalBudget(10**9)
    server = serve({"GPU-a": ledger})
    client = LeaseBudget(sock_path)
    ran = _open_credit(client)
    with server.service.fencing("GPU-a"):
        ledger.pause()
    with pytest.raises(PausedError):
        client.step(10, 10)
    assert ledger.used == 10 * ran  # the work done was booked by the refusing call
    client.close(0)


def test_no_credit_is_given_or_spent_while_a_change_is_under_way(serve, sock_path):
    ledger = LocalBudget(10**9)
    server = serve({"GPU-a": ledger})
    client = LeaseBudget(sock_path)
    client.step(0, 10)
    with server.service.fencing():
        slow = client.slow_steps
        for _ in range(5):
            client.step(10, 10)
        assert client.slow_steps == slow + 5
    for _ in range(20):
        client.step(10, 10)
    assert client.fast_steps > 0
    client.close(10)
    assert ledger.used == 260


def test_a_change_behind_the_agents_back_is_seen_within_credit_seconds(serve, sock_path):
    ledger = LocalBudget(10**12)
    serve({"GPU-a": ledger}, credit_seconds=0.2)
    client = LeaseBudget(sock_path)
    client.step(0, 10)
    for _ in range(2000):
        client.step(10, 10)
    ledger.pause()  # no fencing
    t0 = time.monotonic()
    with pytest.raises(PausedError):
        while True:
            client.step(10, 10)
    assert time.monotonic() - t0 < 0.2 + 0.5
    client.close(0)


def test_without_credit_every_step_asks_the_agent(serve, sock_path):
    ledger = LocalBudget(10**6)
    server = serve({"GPU-a": ledger}, credit_seconds=0)
    assert server.service.fences is None
    client = LeaseBudget(sock_path)
    for i in range(50):
        client.step(10 if i else 0, 10)
    assert client.fast_steps == 0 and client.slow_steps == 50
    client.close(10)
    assert ledger.used == 500


def test_a_stopped_agent_voids_every_credit_at_once(serve, sock_path):
    # a long credit, so that only the fence (not the credit's expiry) can refuse the step
    server = serve({"GPU-a": LocalBudget(10**12)}, credit_seconds=60)
    client = LeaseBudget(sock_path)
    _open_credit(client, 200)
    server.stop()
    with pytest.raises(LeaseError):
        client.step(10, 10)
    client.close(0)


def test_clients_can_map_the_fence_page_only_read_only(serve, sock_path):
    import mmap
    import os

    server = serve({"GPU-a": LocalBudget(10)})
    fd = server.service.fences.fd
    for flags in (os.O_RDWR, os.O_RDONLY):
        reopened = os.open(f"/proc/self/fd/{fd}", flags)
        try:
            with pytest.raises(PermissionError):
                mmap.mmap(reopened, 4096)  # shared, writable
            with pytest.raises(OSError):
                os.write(reopened, b"\xff")
        finally:
            os.close(reopened)
    client = LeaseBudget(sock_path)
    assert client._fence is not None and client._fence.readonly
    client.close(0)


def test_credit_across_leases_never_exceeds_the_ledger_by_more_than_a_step_each(serve, sock_path):
    ledger = LocalBudget(10_000)
    serve({"GPU-a": ledger})
    clients = [LeaseBudget(sock_path), LeaseBudget(sock_path)]
    ran = [0, 0]
    refused = [False, False]
    settle = [0, 0]
    while not all(refused):
        for i, c in enumerate(clients):
            if refused[i]:
                continue
            try:
                c.step(settle[i], 100)
            except LicenseExhaustedError:
                refused[i] = True
                settle[i] = 0
                continue
            ran[i] += 1
            settle[i] = 100
    assert sum(ran) <= 100 + 2, ran
    assert min(ran) > 0
    for i, c in enumerate(clients):
        c.close(settle[i])
    assert ledger.used == 100 * sum(ran)


def test_a_malformed_credit_is_a_lease_error(sock_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)

    def fake_agent():
        conn, _ = listener.accept()
        with conn, conn.makefile("rwb") as fh:
            for answer in (
                {"lease": "l", "gpu": "GPU-a", "ttl": 30},
                {"remaining": 5, "credit": "lots", "epoch": 0, "credit_s": 1},
                {"remaining": 5, "credit": 10, "epoch": 0, "credit_s": 1},
                {"remaining": 5, "credit": 10, "epoch": 0, "credit_s": 10**9},
            ):
                request = json.loads(fh.readline())
                fh.write(json.dumps({"id": request["id"], "ok": True} | answer).encode() + b"\n")
                fh.flush()

    thread = threading.Thread(target=fake_agent, daemon=True)
    thread.start()
    try:
        client = LeaseBudget(sock_path, timeout=5)
        assert client._fence is None  # no page came with the grant: no fast path
        with pytest.raises(LeaseError, match="malformed"):
            client.step(0, 10)
        assert client.step(0, 10).remaining == 5
        with pytest.raises(LeaseError, match="malformed"):
            client.step(10, 10)
        client._drop()
    finally:
        thread.join(5)
        listener.close()


def test_no_step_is_granted_while_a_fenced_pause_stands(serve, sock_path):
    """Jobs step as fast as they can while the agent pauses and resumes the GPU over
    and over (fenced, as the agent installs orders). A step whose whole call ran
    while a pause stood must never be granted, credit or not."""
    ledger = LocalBudget(10**15)
    server = serve({"GPU-a": ledger})
    phase = [0]  # odd: a pause is installed and stands
    stop = threading.Event()
    violations: list[int] = []
    counts = {"granted": 0, "fast": 0, "paused": 0}

    def toggler():
        while not stop.is_set():
            with server.service.fencing("GPU-a"):
                ledger.pause()
            phase[0] += 1  # the pause is visible from here on
            time.sleep(0.004)
            phase[0] += 1  # about to resume
            with server.service.fencing("GPU-a"):
                ledger.resume()
            time.sleep(0.004)

    def job():
        client = LeaseBudget(sock_path)
        settle = 0
        while not stop.is_set():
            before = phase[0]
            fast = client.fast_steps
            try:
                client.step(settle, 10)
            except PausedError:
                counts["paused"] += 1
                settle = 0
                continue
            if before % 2 == 1 and phase[0] == before:
                violations.append(before)
            counts["granted"] += 1
            counts["fast"] += client.fast_steps - fast
            settle = 10
        client.close(settle)

    threads = [threading.Thread(target=toggler)] + [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert violations == []
    assert counts["paused"] > 0 and counts["fast"] > 0, counts
    assert ledger.used == 10 * counts["granted"]
