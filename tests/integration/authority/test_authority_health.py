"""Tamper and health reports: a node agent tells the authority about a tampered chip
(signed by the operator's key: the chip's own key is zeroised) and a silent GPU; each
raises an alert and becomes the chip's registry state."""

from __future__ import annotations

import base64
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from pausebutton import errors
from pausebutton.agent.daemon import Agent
from pausebutton.agent.logcheck import BundleLogCheck
from pausebutton.agent.nvml import FakeBackend
from pausebutton.chip.firmware import ChipState


def test_a_tampered_chip_and_a_silent_gpu_raise_alerts(api: Any, tmp_path: Path) -> None:
    op = api.owner()
    api.facility()
    backend = FakeBackend(2, seed="health")
    state = tmp_path / "agent"
    Agent.enroll(
        state,
        backend,
        trust_root=api.world.root_bytes,
        vendor_key=api.world.keys.key("vendor"),
        issued_at=int(time.time()),
        owner="acme",
        region="US",
    )
    agent = Agent(state, backend, op, verifier=BundleLogCheck(op))
    for cert in agent.certificates().values():
        api.admin.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(cert).decode(),
                "owner_id": "acme",
                "facility_id": "dc1",
            },
        )
    (_, gpu_a), (uuid_b, gpu_b) = sorted(agent.gpus.items())
    agent.tick()
    assert api.admin.get("/v1/alerts", kind="chip_tampered") == []

    with gpu_a.chip.locked():  # the tamper signal: the firmware zeroises the device key
        gpu_a.chip.refresh()
        outcome = gpu_a.chip.firmware.tamper("case opened")
        gpu_a.chip.persist(outcome.record)
        gpu_a.chip.firmware.commit(outcome)
    backend.break_gpu(uuid_b)
    agent.tick()
    chip_a = api.admin.get(f"/v1/chips/{gpu_a.chip_id}")
    chip_b = api.admin.get(f"/v1/chips/{gpu_b.chip_id}")
    assert (chip_a["status"], chip_b["status"]) == ("tampered", "silent")
    tampered = api.admin.get("/v1/alerts", kind="chip_tampered")
    assert [a["chip_id"] for a in tampered] == [gpu_a.chip_id]
    assert tampered[0]["severity"] == "critical"
    assert [a["chip_id"] for a in api.admin.get("/v1/alerts", kind="chip_silent")] == [
        gpu_b.chip_id
    ]
    # the same state again raises nothing new; the GPU reads again: the chip is back
    agent.tick()
    assert len(api.admin.get("/v1/alerts", kind="chip_tampered")) == 1
    backend.break_gpu(uuid_b, broken=False)
    agent.tick()
    assert api.admin.get(f"/v1/chips/{gpu_b.chip_id}")["status"] == "installed"
    assert api.admin.get(f"/v1/chips/{gpu_a.chip_id}")["status"] == "tampered"
    assert [c["chip_id"] for c in api.admin.get("/v1/chips", status="tampered")] == [gpu_a.chip_id]

    # only the chip's owner (or an admin) reports on it
    other = api.owner("beta")
    with pytest.raises(errors.ForbiddenError):
        other.post(f"/v1/chips/{gpu_b.chip_id}/health", {"state": "silent"})
    with pytest.raises(errors.InputError):
        op.post(f"/v1/chips/{gpu_b.chip_id}/health", {"state": "on fire"})


def test_a_zeroised_key_is_reported_apart_from_a_tamper_signal(api: Any, tmp_path: Path) -> None:
    """The device key gone without a tamper signal: the firmware still meters and takes
    orders (not TAMPERED) but can sign nothing; the agent reports ``zeroised``, signed by
    the operator's key, and signs no more usage reports for that chip."""
    op = api.owner()
    api.facility()
    backend = FakeBackend(2, seed="zeroise")
    state = tmp_path / "agent"
    Agent.enroll(
        state,
        backend,
        trust_root=api.world.root_bytes,
        vendor_key=api.world.keys.key("vendor"),
        issued_at=int(time.time()),
        owner="acme",
        region="US",
    )
    agent = Agent(state, backend, op, verifier=BundleLogCheck(op))
    for cert in agent.certificates().values():
        api.admin.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(cert).decode(),
                "owner_id": "acme",
                "facility_id": "dc1",
            },
        )
    (_, gpu_a), (_, gpu_b) = sorted(agent.gpus.items())
    agent.tick()
    with gpu_a.chip.locked():  # the sealed key is lost: no tamper signal
        gpu_a.chip.refresh()
        fw = gpu_a.chip.firmware
        fw.record = dataclasses.replace(fw.record, device_seed=b"")
        gpu_a.chip.persist(fw.record)
    assert (fw.key_state, fw.state is ChipState.TAMPERED) == ("zeroised", False)
    with pytest.raises(errors.TamperedError):
        fw.report()
    agent.tick()
    chip_a = api.admin.get(f"/v1/chips/{gpu_a.chip_id}")
    assert chip_a["status"] == "zeroised"
    assert api.admin.get(f"/v1/chips/{gpu_b.chip_id}")["status"] == "installed"
    (alert,) = api.admin.get("/v1/alerts", kind="chip_tampered")
    assert (alert["chip_id"], alert["severity"]) == (gpu_a.chip_id, "critical")
    assert alert["detail"]["state"] == "zeroised"
    assert alert["detail"]["reported_by"] == "acme-ops"  # the operator key signed it
    # a later tamper signal does not change a zeroised chip's registry state (sticky)
    with gpu_a.chip.locked():
        gpu_a.chip.refresh()
        outcome = gpu_a.chip.firmware.tamper("case opened")
        gpu_a.chip.persist(outcome.record)
        gpu_a.chip.firmware.commit(outcome)
    agent.tick()
    assert api.admin.get(f"/v1/chips/{gpu_a.chip_id}")["status"] == "zeroised"
    assert len(api.admin.get("/v1/alerts", kind="chip_tampered")) == 1
