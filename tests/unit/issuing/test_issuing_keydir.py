"""The authority key directory and the genesis of an authority."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pausebutton.errors import ConflictError, DataError, UsageError
from pausebutton.issuing.keydir import META_FILE, ROOT_FILE, AuthorityDir, write_authority_dir
from pausebutton.protocol.genesis import found_authority
from pausebutton.protocol.trustroot import ROLES, load_pinned_root


def test_found_authority_layout() -> None:
    keys = found_authority(members=4, threshold=3, witnesses=3, witness_threshold=2, seed=b"g")
    root = keys.trust_root(version=1, expires=100)
    assert set(root.roles) == set(ROLES)
    assert root.role("root").threshold == 3 and len(root.role("root").keys) == 4
    assert root.role("pause").keys == root.role("root").keys
    assert root.role("witness").threshold == 2
    for role in ("licensing", "log", "time", "vendor"):
        assert len(root.role(role).keys) == 1
    again = found_authority(members=4, threshold=3, seed=b"g")
    assert again.key("licensing").key_id == keys.key("licensing").key_id
    assert (
        found_authority(members=4, threshold=3).key("licensing").key_id
        != keys.key("licensing").key_id
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"members": 3, "threshold": 4},
        {"members": 3, "threshold": 0},
        {"witnesses": 1, "witness_threshold": 2},
        {"landmarks": 0},
        {"members": 2, "threshold": 1, "member_names": ["a", "a"]},
    ],
)
def test_found_authority_rejects(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        found_authority(**kwargs)  # type: ignore[arg-type]


def test_write_and_load(tmp_path: Path) -> None:
    keys = found_authority(members=3, threshold=2, seed=b"dir")
    root = keys.signed_root(version=1, expires=10**10).encode()
    write_authority_dir(tmp_path / "a", keys, root)
    loaded = AuthorityDir.load(tmp_path / "a")
    assert loaded.root_bytes == root
    assert loaded.root == load_pinned_root(root)[1]
    assert {n: k.key_id for n, k in loaded.keys.members.items()} == {
        n: k.key_id for n, k in keys.members.items()
    }
    for path in (tmp_path / "a").rglob("*.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / "a" / ROOT_FILE).is_file()
    with pytest.raises(ConflictError):
        write_authority_dir(tmp_path / "a", keys, root)
    with pytest.raises(DataError):
        loaded.member_key("nobody")


def test_load_rejects_non_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=META_FILE):
        AuthorityDir.load(tmp_path)
