"""The agent daemon without an authority: enrollment, binding to UUID and serial, restart,
energy from NVML, location challenges, corrupt state, hard enforcement (dry run and real)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pausebutton.agent.daemon import OUTBOX_FILE, STATE_FILE, Agent
from pausebutton.agent.enforcement import Enforcer, Mode
from pausebutton.agent.nvml import FakeBackend
from pausebutton.chip.lab import Lab
from pausebutton.errors import (
    ConflictError,
    CorruptStateError,
    HardwareError,
    LicenseExhaustedError,
    ServiceError,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import LocationChallenge, LocationResponse


@pytest.fixture
def lab():
    return Lab.create(b"agent-daemon-test")


def _enroll(lab, state, backend):
    Agent.enroll(
        state, backend, trust_root=lab.root_bytes, vendor_key=lab.keys.key("vendor"), issued_at=1
    )


def test_enroll_binds_each_gpu_and_refuses_twice(lab, tmp_path):
    backend = FakeBackend(2)
    _enroll(lab, tmp_path, backend)
    agent = Agent(tmp_path, backend)
    assert set(agent.gpus) == {g.uuid for g in backend.gpus()}
    ids = {g.chip_id for g in agent.gpus.values()}
    assert len(ids) == 2
    for uuid, gpu in agent.gpus.items():
        cert = gpu.chip.firmware.status()
        assert cert["serial"] == backend.gpus()[gpu.info.index].serial
        assert gpu.info.uuid == uuid
    with pytest.raises(ConflictError):
        _enroll(lab, tmp_path, backend)


def test_missing_gpu_or_other_serial_is_refused(lab, tmp_path):
    _enroll(lab, tmp_path, FakeBackend(2))
    with pytest.raises(HardwareError):
        Agent(tmp_path, FakeBackend(1))
    doc = json.loads((tmp_path / STATE_FILE).read_text())
    first = next(iter(doc["gpus"]))
    doc["gpus"][first]["serial"] = "0000000000000"
    (tmp_path / STATE_FILE).write_text(json.dumps(doc))
    with pytest.raises(CorruptStateError):
        Agent(tmp_path, FakeBackend(2))


def test_corrupt_state_is_named(lab, tmp_path):
    backend = FakeBackend(1)
    with pytest.raises(CorruptStateError):
        Agent(tmp_path / "nothing", backend)
    _enroll(lab, tmp_path, backend)
    good = (tmp_path / STATE_FILE).read_text()
    for bad in ("{not json", "[]", '{"gpus": {"x": 5}}', '{"gpus": {}, "energy": {"a": "b"}}'):
        (tmp_path / STATE_FILE).write_text(bad)
        with pytest.raises(CorruptStateError):
            Agent(tmp_path, backend)
    (tmp_path / STATE_FILE).write_text(good)
    Agent(tmp_path, backend)


def test_energy_reports_and_restart_keep_counters(lab, tmp_path):
    backend = FakeBackend(1)
    _enroll(lab, tmp_path, backend)
    agent = Agent(tmp_path, backend)
    ((uuid, gpu),) = agent.gpus.items()
    backend.set_power(uuid, 300_000)
    backend.advance(10.0)
    agent.meter_energy()
    assert gpu.chip.firmware.record.energy_mj == 3_000_000
    outbox = agent.make_reports()
    assert len(outbox) == 1
    agent.make_reports()
    before = gpu.chip.firmware.status()
    again = Agent(tmp_path, backend)
    after = again.gpus[uuid].chip.firmware.status()
    assert after["energy_mj"] == before["energy_mj"] == 3_000_000
    assert after["report_sequence"] == 2
    assert len(again._outbox()) == 2  # undelivered reports survive the restart
    backend.advance(1.0)
    again.meter_energy()
    assert again.gpus[uuid].chip.firmware.record.energy_mj == 3_300_000
    assert (tmp_path / OUTBOX_FILE).exists()


def test_location_challenge_is_answered_and_signed(lab, tmp_path):
    backend = FakeBackend(1)
    _enroll(lab, tmp_path, backend)
    agent = Agent(tmp_path, backend)
    ((uuid, gpu),) = agent.gpus.items()
    landmark = lab.keys.key("landmark")
    chal = LocationChallenge(landmark.key_id, gpu.chip.firmware.record.chip_id, os.urandom(32))
    data = Envelope.create(chal, [landmark]).encode()
    answer = Envelope.decode(agent.respond(uuid, data))
    resp = answer.open_as(LocationResponse)
    assert resp.nonce == chal.nonce
    cert_key = gpu.chip.firmware.record.chip_id
    assert resp.chip_id == cert_key
    assert agent.respond(uuid, data) != agent.respond(uuid, data)  # the counter moves


def test_unreachable_authority_throttles_after_grace(lab, tmp_path):
    backend = FakeBackend(1)
    _enroll(lab, tmp_path, backend)
    now = [0.0]

    class Dead:
        def watch(self, **kw):
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

        def get(self, *a, **kw):
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

        def submit_reports(self, reports):
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

        def time_token(self, chip_id=None):
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

        def prohibited(self):
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

        def report_artifacts(self, reports):
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

    agent = Agent(tmp_path, backend, Dead(), offline_grace=60, clock=lambda: now[0])
    agent.tick()
    agent.gate()  # within the grace period
    now[0] = 61.0
    agent.tick()
    with pytest.raises(ServiceError, match="not been reached"):
        agent.gate()
    service = agent.lease_service()
    with pytest.raises(ServiceError):
        service.handle({"op": "grant"}, 1, 0)


def test_agent_without_license_refuses_steps(lab, tmp_path):
    backend = FakeBackend(1)
    _enroll(lab, tmp_path, backend)
    service = Agent(tmp_path, backend).lease_service()
    lease = service.handle({"op": "grant"}, 1, 0)["lease"]
    with pytest.raises(LicenseExhaustedError, match="throttled"):
        service.handle({"op": "step", "lease": lease, "expect": 1}, 1, 0)


def test_power_cap_dry_run_then_for_real():
    backend = FakeBackend(1)
    uuid = backend.gpus()[0].uuid
    dry = Enforcer(backend, Mode.POWER_CAP)
    dry.restrict(uuid)
    assert backend.power_limits(uuid).current_mw == 700_000  # dry run changes nothing
    assert dry.actions[0].action == "power-cap" and not dry.actions[0].done
    real = Enforcer(backend, Mode.POWER_CAP, dry_run=False)
    real.restrict(uuid)
    real.restrict(uuid)  # once per episode
    assert backend.power_limits(uuid).current_mw == 200_000
    real.release(uuid)
    assert backend.power_limits(uuid).current_mw == 700_000
    assert [a.action for a in real.actions] == ["power-cap", "power-restore"]


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def test_suspend_stops_and_continues_the_gpu_processes():
    backend = FakeBackend(1)
    uuid = backend.gpus()[0].uuid
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        backend.attach(uuid, child.pid)
        enforcer = Enforcer(backend, Mode.SUSPEND, dry_run=False)
        enforcer.restrict(uuid)
        deadline = time.monotonic() + 5
        while _proc_state(child.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _proc_state(child.pid) == "T"
        enforcer.release(uuid)
        deadline = time.monotonic() + 5
        while _proc_state(child.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _proc_state(child.pid) != "T"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)


def test_unreadable_gpu_throttles_the_node_until_it_reads_again(lab, tmp_path):
    backend = FakeBackend(2)
    _enroll(lab, tmp_path, backend)
    agent = Agent(tmp_path, backend)
    uuid = backend.gpus()[1].uuid
    backend.break_gpu(uuid)
    agent.meter_energy()
    with pytest.raises(HardwareError, match="safe state"):
        agent.gate()
    backend.break_gpu(uuid, False)
    agent.meter_energy()
    agent.gate()


def test_unwitnessed_resume_is_retried_and_never_delays_a_later_pause(lab, tmp_path):
    import base64

    backend = FakeBackend(1)
    _enroll(lab, tmp_path, backend)
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    resume_bytes, resume_bundle = lab.logged(lab.resume(1, sequence=2))
    rows = [
        {"sequence": 1, "envelope": b64(lab.pause(sequence=1).encode())},
        {"sequence": 2, "envelope": b64(resume_bytes)},  # its log proof is not witnessed yet
    ]

    class Feed:
        def watch(self, after, timeout):
            return {"orders": [r for r in rows if r["sequence"] > after]}

    now = [0.0]
    agent = Agent(tmp_path, backend, Feed(), clock=lambda: now[0])
    ((_, gpu),) = agent.gpus.items()
    assert agent.sync_orders() == 1  # the pause; the resume waits for its log proof
    assert gpu.chip.firmware.state.value == "paused"
    assert agent.order_cursor == 1  # the resume will be fetched again
    rows[1]["inclusion"] = b64(resume_bundle)
    now[0] += 1.0  # past the first backoff
    assert agent.sync_orders() == 1  # witnessed now: the retry installs it
    assert agent.order_cursor == 2
    assert gpu.chip.firmware.state.value != "paused"
    rows.append({"sequence": 3, "envelope": b64(lab.pause(sequence=3).encode())})
    assert agent.sync_orders() == 1
    assert agent.order_cursor == 3
    assert gpu.chip.firmware.state.value == "paused"
