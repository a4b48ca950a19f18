"""The lease socket: grants, refusals as named errors, and fail-safe on anything unverifiable."""

from __future__ import annotations

import socket
import threading

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
