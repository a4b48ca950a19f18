"""``pausebutton agent run --once`` and ``agent resync`` against a served authority: a
licence that waits for its witnesses is reported (exit 3, ``waiting``), and installed
by the next round once the witnesses cosigned (exit 0)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from pausebutton import keystore
from pausebutton.translog.note import SignedCheckpoint

pytestmark = [pytest.mark.slow]


def _cosign(api: Any) -> None:
    size = int(api.admin.get("/v1/stats")["log_size"])
    deadline = time.monotonic() + 15
    cp = SignedCheckpoint.parse(api.admin.get("/v1/log/checkpoint"))
    while cp.body.size < size:
        assert time.monotonic() < deadline, f"no checkpoint covers {size} entries"
        time.sleep(0.1)
        cp = SignedCheckpoint.parse(api.admin.get("/v1/log/checkpoint"))
    now = int(time.time())
    for i in range(2):
        note = cp.with_signatures([cp.cosign(api.world.keys.key("witness", i), now)])
        api.admin.request("POST", "/v1/log/cosignature", content=note.encode().encode())


def test_once_reports_a_waiting_licence_then_installs_it(
    cli: Any, deployment: Any, db_url: str, server_factory: Any, remote_factory: Any, tmp_path
) -> None:
    server = server_factory(deployment.directory, db_url, deployment.admin_pub)
    api = remote_factory(server, deployment.world)
    operator = api.owner("acme")
    api.facility()
    world = deployment.world
    trust, vendor, op_key = tmp_path / "root.cbor", tmp_path / "vendor.key", tmp_path / "op.key"
    trust.write_bytes(world.root_bytes)
    keystore.write_private_key(vendor, world.keys.key("vendor"))
    keystore.write_private_key(op_key, world.operator_key("acme"))
    state = tmp_path / "agent"
    args = ("--authority", server.url, "--state", state, "--operator-key", op_key)
    args += ("--fake-gpus", "1")
    first = cli(
        "agent",
        "run",
        *args,
        "--trust",
        trust,
        "--vendor-key",
        vendor,
        "--owner",
        "acme",
        "--region",
        "US",
        "--once",
    )
    assert first.returncode == 0, first.stderr
    certs = json.loads(cli("agent", "certificates", "--state", state, "--fake-gpus", "1").stdout)
    ((uuid, cert),) = certs.items()
    api.admin.post("/v1/chips", {"certificate": cert, "owner_id": "acme", "facility_id": "dc1"})
    chip_id = json.loads(first.stdout)["chips"][uuid]["chip_id"]
    _cosign(api)  # the registration, before the licence
    now = int(time.time())
    out = operator.post(
        "/v1/licenses/applications",
        {
            "chips": [chip_id],
            "flop_budget": 10**15,
            "not_before": now - 3600,
            "not_after": now + 7 * 86400,
            "run_id": "once",
            "purpose": "cli test",
        },
    )
    assert out["license_ids"], out
    res = cli("agent", "run", *args, "--once")
    assert res.returncode == 3, res.stderr
    result = json.loads(res.stdout)
    (waiting,) = result["waiting"]
    assert waiting["kind"] == "licence" and waiting["waiting_for"] == ["waiting_for_log"]
    assert "waiting: licence" in res.stderr and "Traceback" not in res.stderr
    assert result["chips"][uuid]["state"] == "throttled"
    status = json.loads(
        cli("agent", "status", "--state", state, "--fake-gpus", "1", "--json").stdout
    )
    (saved,) = status[uuid]["waiting"]  # as the last run saved it
    assert saved["kind"] == "licence" and saved["waiting_for"] == "waiting_for_log"
    assert status[uuid]["throttled"] == "no licence installed"
    _cosign(api)
    res = cli("agent", "run", *args, "--once")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["waiting"] == [] and result["refused"] == []
    assert result["chips"][uuid]["state"] == "licensed"
    assert result["chips"][uuid]["throttled"] is None
    res = cli("agent", "resync", *args)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["chips"][uuid]["max_license_id"] == out["license_ids"][0]
    assert base64.b64decode(cert)  # the certificate the registry took
