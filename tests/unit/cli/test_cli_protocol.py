"""``pausebutton protocol inspect|verify`` and ``authority init`` on good and bad input."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pausebutton.protocol.encoding import MAX_MESSAGE_SIZE

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "protocol"


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def vector(name: str, vec_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads((VECTORS / f"{name}.json").read_text())
    return doc, next(v for v in doc["vectors"] if v["name"] == vec_name)


def write_vector(tmp_path: Path, name: str, vec_name: str) -> tuple[Path, Path]:
    doc, vec = vector(name, vec_name)
    root = tmp_path / "root.cbor"
    root.write_bytes(bytes.fromhex(doc["trust_root"]))
    env = tmp_path / f"{vec_name}.cbor"
    env.write_bytes(bytes.fromhex(vec["envelope"]))
    return root, env


def test_verify_accepts_quorum(cli: CliRunner, tmp_path: Path) -> None:
    root, env = write_vector(tmp_path, "pause-order", "global")
    proc = cli("protocol", "verify", env, "--trust", root, "--role", "pause", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["threshold"] == 3 and len(report["signed"]) == 3
    assert report["missing"] == 0


def test_verify_rejects_below_threshold(cli: CliRunner, tmp_path: Path) -> None:
    root, env = write_vector(tmp_path, "pause-order", "duplicate-signature")
    proc = cli("protocol", "verify", env, "--trust", root, "--role", "pause")
    line = assert_one_line_error(proc, 3)
    assert "below_threshold" in line
    assert "BELOW THRESHOLD" in proc.stdout


def test_verify_bad_role_and_bad_trust(cli: CliRunner, tmp_path: Path) -> None:
    root, env = write_vector(tmp_path, "license", "full")
    assert "unknown role" in assert_one_line_error(
        cli("protocol", "verify", env, "--trust", root, "--role", "emperor"), 2
    )
    # a license is not a trust root
    assert "unknown_type" in assert_one_line_error(
        cli("protocol", "verify", env, "--trust", env, "--role", "licensing"), 2
    )


def test_inspect_prints_json(cli: CliRunner, tmp_path: Path) -> None:
    _, vec = vector("license", "full")
    _, env = write_vector(tmp_path, "license", "full")
    proc = cli("protocol", "inspect", env)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["type"] == "license"
    assert shown["payload"] == vec["decoded"]["payload"]


def test_inspect_rejects_bad_input(cli: CliRunner, tmp_path: Path) -> None:
    cases = {
        "non_canonical": vector("envelope", "keys-unsorted")[1]["envelope"],
        "malformed": vector("envelope", "truncated")[1]["envelope"],
    }
    for code, hex_data in cases.items():
        path = tmp_path / f"{code}.cbor"
        path.write_bytes(bytes.fromhex(hex_data))
        assert code in assert_one_line_error(cli("protocol", "inspect", path), 2)
    big = tmp_path / "big.cbor"
    big.write_bytes(b"\xff" * (MAX_MESSAGE_SIZE + 1))
    assert "oversized" in assert_one_line_error(cli("protocol", "inspect", big), 2)
    empty = tmp_path / "empty.cbor"
    empty.write_bytes(b"")
    assert "malformed" in assert_one_line_error(cli("protocol", "inspect", empty), 2)


def test_authority_init_then_verify_root(cli: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "auth"
    proc = cli("authority", "init", directory, "--members", 3, "--threshold", 2)
    assert proc.returncode == 0, proc.stderr
    root = directory / "trust-root.cbor"
    check = cli("protocol", "verify", root, "--trust", root, "--role", "root", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["threshold"] == 2
    listing = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))
    again = cli("authority", "init", directory)
    assert_one_line_error(again, 3)
    assert sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")) == listing


def test_authority_init_bad_threshold_writes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    directory = tmp_path / "auth"
    proc = cli("authority", "init", directory, "--members", 3, "--threshold", 4)
    assert_one_line_error(proc, 2)
    assert not directory.exists()
