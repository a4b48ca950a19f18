"""Key files: written 0600, refused when others can read them, never printing the seed."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from pausebutton import keystore
from pausebutton.errors import ConflictError, DataError, MalformedError, OversizedError
from pausebutton.protocol.keys import PrivateKey

KEY = PrivateKey.from_seed_material(b"keystore")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_key_written_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    keystore.write_private_key(path, KEY)
    assert mode(path) == 0o600
    assert keystore.read_private_key(path).key_id == KEY.key_id
    assert keystore.read_public_key(path) == KEY.public
    doc = json.loads(path.read_text())
    assert doc["kind"] == keystore.PRIVATE_KIND
    assert doc["key_id"] == KEY.key_id.hex()
    assert base64.b64decode(doc["seed"]) == KEY.seed()


def test_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        keystore.write_private_key(tmp_path / "k.key", KEY)
    finally:
        os.umask(old)
    assert mode(tmp_path / "k.key") == 0o600


def test_no_temporary_files_left(tmp_path: Path) -> None:
    keystore.write_private_key(tmp_path / "k.key", KEY)
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    keystore.write_private_key(path, KEY)
    before = path.read_bytes()
    with pytest.raises(ConflictError):
        keystore.write_private_key(path, PrivateKey.from_seed_material(b"other"))
    assert path.read_bytes() == before
    keystore.write_private_key(path, PrivateKey.from_seed_material(b"other"), force=True)
    assert path.read_bytes() != before


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_refuses_group_or_world_readable(tmp_path: Path, bad_mode: int) -> None:
    path = tmp_path / "k.key"
    keystore.write_private_key(path, KEY)
    path.chmod(bad_mode)
    with pytest.raises(DataError, match="chmod 600"):
        keystore.read_private_key(path)
    with pytest.raises(DataError):
        keystore.read_public_key(path)  # a private key file is refused for its public part too


def test_owner_only_modes_accepted(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    keystore.write_private_key(path, KEY)
    path.chmod(0o400)
    assert keystore.read_private_key(path).key_id == KEY.key_id


def test_public_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k.pub"
    keystore.write_public_key(path, KEY.public)
    assert keystore.read_public_key(path) == KEY.public
    assert KEY.seed().hex() not in path.read_text()
    assert base64.b64encode(KEY.seed()).decode() not in path.read_text()
    with pytest.raises(MalformedError, match="public key"):
        keystore.read_private_key(path)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"kind": "something-else"}',
        '{"kind": "pausebutton-ed25519-private"}',
        '{"kind": "pausebutton-ed25519-private", "seed": "***"}',
        '{"kind": "pausebutton-ed25519-private", "seed": "AAAA"}',
        '{"kind": "pausebutton-ed25519-public", "public_key": "AAAA"}',
    ],
)
def test_malformed_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "k.key"
    path.write_text(content)
    path.chmod(0o600)
    reader = keystore.read_public_key if "public" in content else keystore.read_private_key
    with pytest.raises(MalformedError):
        reader(path)


def test_key_id_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    keystore.write_private_key(path, KEY)
    doc = json.loads(path.read_text())
    doc["key_id"] = "00" * 32
    path.write_text(json.dumps(doc))
    with pytest.raises(MalformedError, match="key_id"):
        keystore.read_private_key(path)


def test_missing_and_oversized(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        keystore.read_private_key(tmp_path / "absent.key")
    big = tmp_path / "big.key"
    big.write_bytes(b" " * (keystore.KEY_FILE_LIMIT + 1))
    with pytest.raises(OversizedError):
        keystore.read_private_key(big)
