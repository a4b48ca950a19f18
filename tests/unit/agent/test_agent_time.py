"""Time tokens from the authority keep a connected node's chips licensed past a licence's
max offline period; a node whose authority is gone falls to THROTTLED (dead man's switch)."""

from __future__ import annotations

import base64

import pytest

from pausebutton.agent.daemon import Agent
from pausebutton.agent.nvml import FakeBackend
from pausebutton.chip.firmware import ChipState
from pausebutton.chip.lab import T0, Lab
from pausebutton.errors import ServiceError

MAX_OFFLINE = 400


class FakeAuthority:
    """Serves one logged licence per chip and time tokens at T0 + the fake clock."""

    def __init__(self, lab: Lab, now: list[float]) -> None:
        self.lab = lab
        self.now = now
        self.dead = False
        self.tokens = 0
        self.licences: dict[str, dict[str, str]] = {}

    def _alive(self) -> None:
        if self.dead:
            raise ServiceError("authority unreachable at http://127.0.0.1:9")

    def watch(self, after: int, timeout: float) -> dict[str, object]:
        self._alive()
        return {"orders": [], "last": 0}

    def get(self, path: str, chip_id: str = "", after: int = 0) -> list[dict[str, str]]:
        self._alive()
        if path == "/v1/roots":
            return []  # no root change
        assert path == "/v1/licenses"
        if chip_id not in self.licences:
            env = self.lab.license(bytes.fromhex(chip_id), max_offline=MAX_OFFLINE)
            data, bundle = self.lab.logged(env)
            assert bundle is not None
            self.licences[chip_id] = {
                "envelope": base64.b64encode(data).decode(),
                "inclusion": base64.b64encode(bundle).decode(),
            }
        return [self.licences[chip_id]] if after < 1 else []

    def submit_reports(self, reports: list[bytes]) -> dict[str, int]:
        self._alive()
        return {"accepted": len(reports)}

    def prohibited(self) -> None:
        self._alive()

    def report_artifacts(self, reports: list[dict[str, object]]) -> dict[str, int]:
        self._alive()
        return {"accepted": len(reports)}

    def time_token(self, chip_id: str | None = None) -> bytes:
        self._alive()
        self.tokens += 1
        return self.lab.time_token(T0 + int(self.now[0])).encode()


def _agent(lab: Lab, state, now: list[float]) -> tuple[Agent, FakeAuthority]:
    backend = FakeBackend(1)
    Agent.enroll(
        state, backend, trust_root=lab.root_bytes, vendor_key=lab.keys.key("vendor"), issued_at=T0
    )
    client = FakeAuthority(lab, now)
    agent = Agent(
        state, backend, client, verifier=lab.verifier(), clock=lambda: now[0], offline_grace=1e9
    )
    return agent, client


@pytest.mark.timeout(60)
def test_connected_agent_stays_licensed_past_max_offline_and_a_dead_one_throttles(tmp_path):
    lab = Lab.create(b"agent-time-test")
    now = [0.0]
    live, live_client = _agent(lab, tmp_path / "live", now)
    dead, dead_client = _agent(lab, tmp_path / "dead", now)
    live.tick()
    dead.tick()
    for agent in (live, dead):
        ((_, gpu),) = agent.gpus.items()
        assert gpu.chip.firmware.state is ChipState.LICENSED
    # half the licence's max_offline, below the 300 s default
    assert live.time_refresh_interval() == MAX_OFFLINE / 2
    dead_client.dead = True
    while now[0] < 3 * MAX_OFFLINE:
        now[0] += 150.0
        live.tick()
        dead.tick()
    ((_, live_gpu),) = live.gpus.items()
    ((_, dead_gpu),) = dead.gpus.items()
    assert live_gpu.chip.firmware.state is ChipState.LICENSED
    assert dead_gpu.chip.firmware.state is ChipState.THROTTLED
    fw = live_gpu.chip.firmware
    assert fw.trusted_time - fw.record.last_token_time < MAX_OFFLINE
    assert fw.record.last_token_seq == live_client.tokens
    # one token per refresh interval, not one per round
    assert 1 <= live_client.tokens <= int(now[0] // (MAX_OFFLINE / 2))
    assert dead_client.tokens == 0
    assert any("unreachable" in e for e in dead.status.errors)
    # the dead agent's chip is refused work; it recovers once the authority answers
    dead_client.dead = False
    dead.tick()
    assert dead_gpu.chip.firmware.state is ChipState.LICENSED


def test_rejected_or_failed_token_never_raises(tmp_path):
    lab = Lab.create(b"agent-time-test-2")
    now = [0.0]
    agent, client = _agent(lab, tmp_path / "a", now)
    agent.tick()

    def bad(chip_id: str | None = None) -> bytes:
        return b"\x00not a token"

    client.time_token = bad  # type: ignore[method-assign]
    now[0] = 1000.0
    agent.tick()  # rejected by the chip: logged, not raised
    assert agent.sync_time() is False
    client.dead = True
    agent.tick()
    assert agent.sync_time() is False
