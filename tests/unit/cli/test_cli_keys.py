"""``pausebutton keys``: key files are written 0600 and secrets are never printed."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from pausebutton import keystore

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def test_generate_and_show(cli: CliRunner, tmp_path: Path) -> None:
    key_path, pub_path = tmp_path / "k.key", tmp_path / "k.pub"
    proc = cli("keys", "generate", "--out", key_path, "--public", pub_path)
    assert proc.returncode == 0, proc.stderr
    key = keystore.read_private_key(key_path)
    assert proc.stdout.strip() == key.key_id.hex()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert keystore.read_public_key(pub_path) == key.public
    secret = key.seed()
    shown = cli("keys", "show", key_path, "--json")
    assert shown.returncode == 0
    assert json.loads(shown.stdout) == {
        "key_id": key.key_id.hex(),
        "public_key": key.public.raw.hex(),
    }
    text = cli("keys", "show", pub_path)
    assert key.key_id.hex() in text.stdout
    for out in (proc, shown, text):
        blob = out.stdout + out.stderr
        assert secret.hex() not in blob
        assert keystore.base64.b64encode(secret).decode() not in blob


def test_generate_refuses_to_overwrite(cli: CliRunner, tmp_path: Path) -> None:
    key_path = tmp_path / "k.key"
    assert cli("keys", "generate", "--out", key_path).returncode == 0
    before = key_path.read_bytes()
    proc = cli("keys", "generate", "--out", key_path)
    assert_one_line_error(proc, 3)
    assert "exists" in proc.stderr
    assert key_path.read_bytes() == before


def test_show_refuses_readable_key_and_garbage(cli: CliRunner, tmp_path: Path) -> None:
    key_path = tmp_path / "k.key"
    assert cli("keys", "generate", "--out", key_path).returncode == 0
    key_path.chmod(0o644)
    assert_one_line_error(cli("keys", "show", key_path), 2)
    junk = tmp_path / "junk.key"
    junk.write_text("{not json")
    assert_one_line_error(cli("keys", "show", junk), 2)
    assert_one_line_error(cli("keys", "show", tmp_path / "absent.key"), 2)


def test_sign_challenge_signs_console_challenges_only(cli: CliRunner, tmp_path: Path) -> None:
    key_path = tmp_path / "k.key"
    assert cli("keys", "generate", "--out", key_path).returncode == 0
    key = keystore.read_private_key(key_path)
    challenge = "pausebutton-console-signin:v1:" + "ab" * 16 + ":1800000000:" + "cd" * 16
    proc = cli("keys", "sign-challenge", key_path, challenge, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["key_id"] == key.key_id.hex()
    assert key.public.is_valid(challenge.encode(), bytes.fromhex(doc["signature"]))
    # any other text (a request, an order's signing input) is refused
    refused = cli("keys", "sign-challenge", key_path, "usage-report:whatever")
    assert_one_line_error(refused, 2)
    assert "not a console sign-in challenge" in refused.stderr
