"""The chip CLI contract end to end (subprocesses of this tree's CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pausebutton.chip.firmware import verify_report_chain
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import LocationResponse


@pytest.fixture
def world(cli, tmp_path: Path) -> dict[str, Path | str]:  # type: ignore[no-untyped-def]
    auth, ven, state = tmp_path / "auth", tmp_path / "ven", tmp_path / "chip"
    assert cli("authority", "init", auth, "--members", 3, "--threshold", 2).returncode == 0
    assert cli("vendor", "init", ven, "--name", "acme-chips").returncode == 0
    proc = cli(
        "chip", "new", state, "--trust", auth / "trust-root.cbor", "--vendor", ven,
        "--region", "nl", "--owner", "lab",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    chip_id = proc.stdout.strip()
    assert len(chip_id) == 64
    return {"auth": auth, "state": state, "chip": chip_id, "tmp": tmp_path}


def test_license_run_report_respond(cli, world) -> None:  # type: ignore[no-untyped-def]
    auth, state, chip, tmp = world["auth"], world["state"], world["chip"], world["tmp"]
    lic = tmp / "lic.cbor"
    proc = cli(
        "license", "issue", "--authority", auth, "--chip", chip, "--flop", "1e15",
        "--valid-for", "1d", "--out", lic,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert cli("chip", "install", state, lic).returncode == 0
    again = cli("chip", "install", state, lic)
    assert again.returncode == 3 and "replay" in again.stderr
    run = cli("chip", "run", state, "--flop", "6e14", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["flop_full"] == 6 * 10**14
    run = cli("chip", "run", state, "--flop", "6e14", "--json")
    doc = json.loads(run.stdout)
    assert run.returncode == 4
    assert (doc["flop_full"], doc["flop_throttled"], doc["state"]) == (
        4 * 10**14,
        2 * 10**14,
        "exhausted",
    )
    status = json.loads(cli("chip", "status", state, "--json").stdout)
    assert status["state"] == "exhausted" and status["region"] == "NL"
    reports = []
    for i in range(2):
        out = tmp / f"r{i}.cbor"
        assert cli("chip", "report", state, "--out", out).returncode == 0
        reports.append(out.read_bytes())
    cert = tmp / "cert.cbor"
    assert cli("chip", "certificate", state, "--out", cert).returncode == 0
    assert [r.sequence for r in verify_report_chain(cert.read_bytes(), reports)] == [1, 2]
    ok = cli("chip", "verify-reports", tmp / "r0.cbor", tmp / "r1.cbor", "--certificate", cert)
    assert ok.returncode == 0, ok.stderr
    gap = cli("chip", "verify-reports", tmp / "r1.cbor", "--certificate", cert)
    assert gap.returncode == 3 and "chain" in gap.stderr
    resp = tmp / "resp.cbor"
    assert cli("chip", "respond", state, "ab" * 32, "--out", resp).returncode == 0
    answer = Envelope.decode(resp.read_bytes()).open_as(LocationResponse)
    assert answer.nonce == bytes.fromhex("ab" * 32) and answer.chip_id.hex() == chip


def test_pause_and_resume_offline_quorum(cli, world) -> None:  # type: ignore[no-untyped-def]
    auth, state, tmp = world["auth"], world["state"], world["tmp"]
    order = tmp / "pause.cbor"
    assert (
        cli("pause", "propose", "--authority", auth, "--reason", "t", "--out", order).returncode
        == 0
    )
    assert (
        cli(
            "pause", "sign", order, "--key", Path(str(auth)) / "members" / "member-1.key"
        ).returncode
        == 0
    )
    short = cli("pause", "assemble", order, "--authority", auth, "--out", tmp / "p.cbor")
    assert short.returncode == 3 and "below_threshold" in short.stderr
    assert (
        cli(
            "pause", "sign", order, "--key", Path(str(auth)) / "members" / "member-2.key"
        ).returncode
        == 0
    )
    assert (
        cli("pause", "assemble", order, "--authority", auth, "--out", tmp / "p.cbor").returncode
        == 0
    )
    assert cli("chip", "install", state, tmp / "p.cbor").returncode == 0
    assert json.loads(cli("chip", "status", state, "--json").stdout)["state"] == "paused"
    resume = tmp / "resume.cbor"
    proc = cli(
        "resume", "propose", "--authority", auth, "--lifts", 1, "--reason", "ok", "--out", resume
    )
    assert proc.returncode == 0, proc.stderr
    for m in ("member-1", "member-3"):
        path = Path(str(auth)) / "members" / f"{m}.key"
        assert cli("resume", "sign", resume, "--key", path).returncode == 0
    unlogged = cli("resume", "assemble", resume, "--out", tmp / "r0.cbor")
    assert unlogged.returncode == 0 and "warning" in unlogged.stderr
    rejected = cli("chip", "install", state, tmp / "r0.cbor")
    assert rejected.returncode == 3 and "not_logged" in rejected.stderr
    assert (
        cli("resume", "assemble", resume, "--authority", auth, "--out", tmp / "r.cbor").returncode
        == 0
    )
    assert cli("chip", "install", state, tmp / "r.cbor").returncode == 0
    assert json.loads(cli("chip", "status", state, "--json").stdout)["state"] == "throttled"


def test_time_tokens_and_errors(cli, world) -> None:  # type: ignore[no-untyped-def]
    auth, state, tmp = world["auth"], world["state"], world["tmp"]
    token = tmp / "t.cbor"
    assert cli("time", "issue", "--authority", auth, "--out", token).returncode == 0
    assert cli("chip", "install", state, token).returncode == 0
    replay = cli("chip", "install", state, token)
    assert replay.returncode == 3 and "replay" in replay.stderr
    junk = tmp / "junk"
    junk.write_bytes(b"\x00\x01garbage")
    bad = cli("chip", "install", state, junk)
    assert bad.returncode == 3 and "error:" in bad.stderr and "Traceback" not in bad.stderr
    assert cli("chip", "install", state, tmp / "missing").returncode == 2
    usage = cli("chip", "run", state, "--flop", "1.5")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_corrupt_state_is_a_clear_error(cli, world) -> None:  # type: ignore[no-untyped-def]
    state = Path(str(world["state"]))
    for name in ("nvm-0.bin", "nvm-1.bin", "nvm-2.bin"):
        (state / name).write_bytes(b"")
    proc = cli("chip", "status", state, "--json")
    assert proc.returncode == 3
    assert "corrupt_state" in proc.stderr and "Traceback" not in proc.stderr
    tampered = cli("chip", "tamper", state)
    assert tampered.returncode == 3


def test_tamper_cli(cli, world) -> None:  # type: ignore[no-untyped-def]
    state = world["state"]
    assert cli("chip", "tamper", state, "--reason", "probe").returncode == 0
    run = cli("chip", "run", state, "--flop", "1")
    assert run.returncode == 3 and "tampered" in run.stderr
    assert json.loads(cli("chip", "status", state, "--json").stdout)["state"] == "tampered"


@pytest.mark.parametrize(
    ("option", "value", "code"),
    [
        ("--firmware-version", "-1", 3),  # below the vendor's floor: rejected
        ("--peak-flops", "0", 2),
        ("--peak-flops", "1e39", 2),  # beyond the chip's 128-bit counters
    ],
)
def test_a_chip_refused_at_manufacture_leaves_no_state(  # type: ignore[no-untyped-def]
    cli, world, option: str, value: str, code: int
) -> None:
    auth, tmp = world["auth"], world["tmp"]
    state = tmp / "refused-chip"
    proc = cli(
        "chip", "new", state, "--trust", auth / "trust-root.cbor", "--vendor", tmp / "ven",
        option, value,
    )  # fmt: skip
    assert proc.returncode == code, proc.stderr
    assert not state.exists()
