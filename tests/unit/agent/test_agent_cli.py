"""``pausebutton agent`` (in-process; a subprocess where a fake NVML library goes on its path):
explicit fake GPUs, named errors, no tracebacks."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from pausebutton import keystore
from pausebutton.chip.lab import Lab
from pausebutton.protocol.keys import PrivateKey

DEAD = "http://127.0.0.1:9"


@pytest.fixture
def files(tmp_path):
    lab = Lab.create(b"agent-cli-test")
    trust = tmp_path / "root.cbor"
    trust.write_bytes(lab.root_bytes)
    vendor = tmp_path / "vendor.key"
    keystore.write_private_key(vendor, lab.keys.key("vendor"))
    operator = tmp_path / "operator.key"
    keystore.write_private_key(operator, PrivateKey.from_seed_material(b"operator"))
    return trust, vendor, operator


SRC = Path(__file__).resolve().parents[3] / "src"


def _without_driver(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``pynvml`` finds no NVIDIA driver, as on a machine without
    a GPU, whatever this machine has."""
    fake = tmp_path / "no-driver"
    fake.mkdir()
    (fake / "pynvml.py").write_text(
        "class NVMLError(Exception):\n"
        "    pass\n\n\n"
        "def nvmlInit():\n"
        "    raise NVMLError('Driver Not Loaded')\n"
    )
    return {"PYTHONPATH": f"{fake}{os.pathsep}{SRC}"}


def test_no_gpu_without_fake_flag_is_a_hardware_error(cli_subprocess, tmp_path, files):
    # a subprocess: the fake NVML library must come first on the new interpreter's path
    cli = cli_subprocess
    _, _, operator = files
    env = _without_driver(tmp_path)
    res = cli("agent", "status", "--state", tmp_path / "s", env=env)
    assert res.returncode != 0
    assert "hardware" in res.stderr and "Traceback" not in res.stderr
    res = cli(
        "agent",
        "run",
        "--authority",
        DEAD,
        "--state",
        tmp_path / "s",
        "--operator-key",
        operator,
        "--once",
        env=env,
    )
    assert res.returncode != 0 and "hardware" in res.stderr


def test_enroll_once_with_dead_authority_then_status(cli, tmp_path, files):
    trust, vendor, operator = files
    state = tmp_path / "state"
    res = cli(
        "agent",
        "run",
        "--authority",
        DEAD,
        "--state",
        state,
        "--operator-key",
        operator,
        "--fake-gpus",
        "2",
        "--once",
    )
    assert res.returncode == 2 and "--trust" in res.stderr  # not enrolled yet
    res = cli(
        "agent",
        "run",
        "--authority",
        DEAD,
        "--state",
        state,
        "--operator-key",
        operator,
        "--fake-gpus",
        "2",
        "--trust",
        trust,
        "--vendor-key",
        vendor,
        "--region",
        "NL",
        "--enforce",
        "power-cap",
        "--once",
    )
    assert res.returncode == 1, res.stderr
    assert "service" in res.stderr and "Traceback" not in res.stderr
    out = json.loads(res.stdout)
    assert len(out["chips"]) == 2
    assert all(c["state"] == "throttled" for c in out["chips"].values())
    # dry run: the cap is recorded, not applied
    assert {a["action"] for a in out["enforcement"]} == {"power-cap"}
    assert not any(a["done"] for a in out["enforcement"])
    res = cli("agent", "status", "--state", state, "--fake-gpus", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)) == 2
    res = cli("agent", "certificates", "--state", state, "--fake-gpus", "2")
    assert res.returncode == 0 and len(json.loads(res.stdout)) == 2


def test_corrupt_state_exits_with_a_named_error(cli, tmp_path, files):
    trust, vendor, operator = files
    state = tmp_path / "state"
    cli(
        "agent",
        "run",
        "--authority",
        DEAD,
        "--state",
        state,
        "--operator-key",
        operator,
        "--fake-gpus",
        "1",
        "--trust",
        trust,
        "--vendor-key",
        vendor,
        "--once",
    )
    for copy in state.glob("gpus/*/nvm-*.bin"):
        copy.write_bytes(b"\x00" * 10)
    res = cli("agent", "status", "--state", state, "--fake-gpus", "1")
    assert res.returncode == 3
    assert "corrupt_state" in res.stderr and "Traceback" not in res.stderr


def test_bad_enforce_mode_is_a_usage_error(cli, tmp_path, files):
    _, _, operator = files
    res = cli(
        "agent",
        "run",
        "--authority",
        DEAD,
        "--state",
        tmp_path,
        "--operator-key",
        operator,
        "--fake-gpus",
        "1",
        "--enforce",
        "melt",
    )
    assert res.returncode == 2 and "usage" in res.stderr


def test_respond_to_a_location_challenge(cli, tmp_path, files):
    import os

    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.messages import LocationChallenge, LocationResponse

    trust, vendor, operator = files
    state = tmp_path / "state"
    cli(
        "agent",
        "run",
        "--authority",
        DEAD,
        "--state",
        state,
        "--operator-key",
        operator,
        "--fake-gpus",
        "1",
        "--trust",
        trust,
        "--vendor-key",
        vendor,
        "--once",
    )
    status = json.loads(
        cli("agent", "status", "--state", state, "--fake-gpus", "1", "--json").stdout
    )
    ((uuid, chip),) = status.items()
    landmark = PrivateKey.from_seed_material(b"landmark")
    chal = LocationChallenge(landmark.key_id, bytes.fromhex(chip["chip_id"]), os.urandom(32))
    (tmp_path / "chal.cbor").write_bytes(Envelope.create(chal, [landmark]).encode())
    res = cli(
        "agent",
        "respond",
        "--state",
        state,
        "--fake-gpus",
        "1",
        "--gpu",
        uuid,
        tmp_path / "chal.cbor",
        "--out",
        tmp_path / "resp.cbor",
    )
    assert res.returncode == 0, res.stderr
    resp = Envelope.decode((tmp_path / "resp.cbor").read_bytes()).open_as(LocationResponse)
    assert resp.nonce == chal.nonce and resp.chip_id.hex() == chip["chip_id"]
    res = cli(
        "agent",
        "respond",
        "--state",
        state,
        "--fake-gpus",
        "1",
        "--gpu",
        "GPU-nope",
        tmp_path / "chal.cbor",
        "--out",
        tmp_path / "resp2.cbor",
    )
    assert res.returncode != 0 and "not_found" in res.stderr


def test_fake_gpus_of_two_agents_have_distinct_identities(cli, tmp_path, files):
    from pausebutton.protocol.envelope import decode_as
    from pausebutton.protocol.messages import DeviceCertificate

    trust, vendor, operator = files
    seen: dict[str, list[tuple[str, str | None]]] = {}
    for name in ("a", "b"):
        state = tmp_path / name
        res = cli(
            "agent", "run", "--authority", DEAD, "--state", state, "--operator-key", operator,
            "--fake-gpus", "2", "--trust", trust, "--vendor-key", vendor, "--once",
        )  # fmt: skip
        assert res.returncode == 1 and "service" in res.stderr, res.stderr
        for _ in range(2):  # the same agent sees the same GPUs on every run
            res = cli("agent", "certificates", "--state", state, "--fake-gpus", "2")
            assert res.returncode == 0, res.stderr
            certs = [
                decode_as(base64.b64decode(c), DeviceCertificate)[1]
                for c in json.loads(res.stdout).values()
            ]
            ids = sorted((c.serial, c.hardware_uuid) for c in certs)
            assert seen.setdefault(name, ids) == ids
    serials = [s for ids in seen.values() for s, _ in ids]
    uuids = [u for ids in seen.values() for _, u in ids]
    assert len(set(serials)) == 4 and len(set(uuids)) == 4


def test_status_says_why_throttled_and_resync_needs_the_authority(cli, tmp_path, files):
    trust, vendor, operator = files
    state = tmp_path / "state"
    args = ("--state", state, "--operator-key", operator, "--fake-gpus", "1")
    res = cli(
        "agent",
        "run",
        "--authority",
        DEAD,
        *args,
        "--trust",
        trust,
        "--vendor-key",
        vendor,
        "--once",
    )
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["waiting"] == [] and out["refused"] == []
    status = json.loads(
        cli("agent", "status", "--state", state, "--fake-gpus", "1", "--json").stdout
    )
    ((_, chip),) = status.items()
    assert chip["throttled"] == "no licence installed" and chip["waiting"] == []
    res = cli("agent", "resync", "--authority", DEAD, *args)
    assert res.returncode == 1 and "service" in res.stderr and "Traceback" not in res.stderr
    doc = json.loads((state / "agent.json").read_text())
    assert doc["order_cursor"] == 0
