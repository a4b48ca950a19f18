"""One file format per object: what one verb writes, the next reads as it is (files or
stdin), and people read numbers with units and times in ISO 8601."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}


@pytest.fixture
def world(cli: Any, tmp_path: Path) -> dict[str, Any]:
    """An authority directory, a vendor and one chip, made through the CLI."""
    auth, vendor, chip = tmp_path / "auth", tmp_path / "vendor", tmp_path / "chip1"
    assert cli("authority", "init", auth, "--members", "3", "--threshold", "2").returncode == 0
    assert cli("vendor", "init", vendor).returncode == 0
    r = cli("chip", "new", chip, "--trust", auth / "trust-root.cbor", "--vendor", vendor)
    assert r.returncode == 0, r.stderr
    return {"auth": auth, "root": auth / "trust-root.cbor", "chip": chip, "id": r.stdout.strip()}


def test_license_bundle_reads_in_inspect_and_verifies_in_log_verify(
    cli: Any, world: dict[str, Any], tmp_path: Path
) -> None:
    bundle = tmp_path / "lic1.bundle"
    r = cli(
        "license", "issue", "--authority", world["auth"], "--chip", world["id"],
        "--flop", "30 YFLOP", "--valid-for", "30d", "--out", bundle,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "3.0e25 FLOP" in r.stdout and "Z, logged at index 0" in r.stdout  # ISO 8601 UTC

    shown = cli("protocol", "inspect", bundle)
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert view["type"] == "license" and view["bundle"] == "install"
    assert view["payload"]["flop_budget"] == 3 * 10**25  # the exact integer in JSON
    assert view["inclusion"]["entry_is_this_envelope"] is True

    r = cli("log", "verify", bundle, "--trust", world["root"])
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    r = cli("protocol", "verify", bundle, "--trust", world["root"], "--role", "licensing")
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    r = cli("chip", "install", world["chip"], bundle)
    assert r.returncode == 0 and "3.0e25 FLOP until 20" in r.stdout, r.stderr


def test_a_bundle_whose_entry_is_another_envelope_fails_log_verify(
    cli: Any, world: dict[str, Any], tmp_path: Path
) -> None:
    from pausebutton.chip.install import InstallFile

    a, b = tmp_path / "a.bundle", tmp_path / "b.bundle"
    for path in (a, b):
        r = cli(
            "license", "issue", "--authority", world["auth"], "--chip", world["id"],
            "--flop", "1e18", "--valid-for", "1d", "--out", path,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    one, two = InstallFile.decode(a.read_bytes()), InstallFile.decode(b.read_bytes())
    forged = tmp_path / "forged.bundle"
    forged.write_bytes(InstallFile(one.envelope, two.inclusion).encode())
    r = cli("log", "verify", forged, "--trust", world["root"])
    assert r.returncode == 3 and r.stderr.startswith("error: not_logged: "), r.stderr


def test_objects_come_from_stdin_and_certificates_go_to_stdout(
    cli: Any, world: dict[str, Any], tmp_path: Path
) -> None:
    # a binary pipe needs real processes: chip certificate | protocol inspect -
    cert = subprocess.run(
        [sys.executable, "-m", "pausebutton", "chip", "certificate", str(world["chip"])],
        capture_output=True, env=cli_env(), timeout=120, check=True,
    )  # fmt: skip
    assert cert.stdout[:1] != b"{" and b"device-certificate" in cert.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "pausebutton", "protocol", "inspect", "-"],
        input=cert.stdout, capture_output=True, env=cli_env(), timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["type"] == "device-certificate"
    # license issue | chip install -: the bundle through a pipe, the status line on stderr
    issued = subprocess.run(
        [sys.executable, "-m", "pausebutton", "license", "issue", "--authority",
         str(world["auth"]), "--chip", world["id"], "--flop", "1e18", "--valid-for", "1d"],
        capture_output=True, env=cli_env(), timeout=120, check=True,
    )  # fmt: skip
    assert b"written to stdout" in issued.stderr
    installed = subprocess.run(
        [sys.executable, "-m", "pausebutton", "chip", "install", str(world["chip"]), "-"],
        input=issued.stdout, capture_output=True, env=cli_env(), timeout=120, check=False,
    )  # fmt: skip
    assert installed.returncode == 0 and b"1.0e18 FLOP" in installed.stdout, installed.stderr
    # an empty stdin is named, not a traceback
    r = cli("protocol", "inspect", "-", input="")
    assert r.returncode == 2 and "stdin: nothing to read" in r.stderr


def test_agent_certificates_json_is_what_inspect_and_chip_register_read(
    cli: Any, tmp_path: Path
) -> None:
    from pausebutton.cli.objects import certificate_files
    from pausebutton.protocol.envelope import Envelope

    auth, state, op = tmp_path / "auth", tmp_path / "agent", tmp_path / "op.key"
    assert cli("authority", "init", auth, "--members", "3", "--threshold", "2").returncode == 0
    assert cli("keys", "generate", "--out", op).returncode == 0
    r = cli(
        "agent", "run", "--authority", "http://127.0.0.1:9", "--state", state,
        "--operator-key", op, "--fake-gpus", "2", "--trust", auth / "trust-root.cbor",
        "--vendor-key", auth / "keys" / "vendor-0.key", "--once",
    )  # fmt: skip
    assert r.returncode == 1, r.stderr  # enrolled, then no authority to reach
    out = tmp_path / "certs.json"
    r = cli("agent", "certificates", "--state", state, "--fake-gpus", "2", "--out", out)
    assert r.returncode == 0 and "2 certificate(s) written" in r.stdout, r.stderr
    certs = certificate_files(out.read_bytes())
    assert len(certs) == 2
    assert all(Envelope.decode(c).type == "device-certificate" for c in certs.values())
    view = json.loads(cli("protocol", "inspect", out).stdout)
    assert view["kind"] == "certificates" and len(view["certificates"]) == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--flop", "30 yFLOP"], "ambiguous"),
        (["--flop", "3e25 FLOPS"], "a rate"),
        (["--valid-for", "1M"], "minutes are m"),
        (["--now", "2026-11-01T10:00:00"], "no zone"),
    ],
)
def test_ambiguous_input_is_refused_with_the_accepted_forms(
    cli: Any, world: dict[str, Any], tmp_path: Path, args: list[str], says: str
) -> None:
    base = {"--flop": "1e18", "--valid-for": "1d"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    out = tmp_path / "lic.bundle"
    flat = [x for kv in base.items() for x in kv]
    r = cli("license", "issue", "--authority", world["auth"], "--chip", world["id"], *flat,
            "--out", out)  # fmt: skip
    assert r.returncode == 2 and r.stderr.startswith("error: usage: ") and says in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_json_keeps_exact_numbers_people_get_units(
    cli: Any, world: dict[str, Any], tmp_path: Path
) -> None:
    args = ["--authority", world["auth"], "--chip", world["id"], "--valid-for", "1h30m"]
    r = cli("license", "issue", *args, "--flop", "1.5 ZFLOP", "--out", tmp_path / "a", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["flop_budget"] == 15 * 10**20 and isinstance(doc["not_after"], int)
    assert doc["not_after"] - doc["not_before"] == 5400 + 300  # 1h30m from now, 300 s skew
    r = cli("time", "issue", "--authority", world["auth"], "--out", tmp_path / "t", "--time",
            "2026-11-01")  # fmt: skip
    assert r.returncode == 0 and "2026-11-01T00:00:00Z" in r.stdout, r.stderr
    r = cli("keys", "generate", "--out", tmp_path / "k", "--public", tmp_path / "k.pub", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["public_key"]) == 64
    r = cli("keys", "generate", "--out", tmp_path / "k")
    assert r.returncode == 3 and "--force" in r.stderr  # says what to do next
