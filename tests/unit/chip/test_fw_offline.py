"""Offline authority tools: parsing, counters and the local proof-carrying log."""

from __future__ import annotations

from pathlib import Path

import pytest

from pausebutton.chip.install import INSTALL_KIND, InstallFile
from pausebutton.chip.offline import (
    parse_duration,
)
from pausebutton.errors import MalformedError, UsageError
from pausebutton.issuing.keydir import write_authority_dir
from pausebutton.issuing.offline import OfflineAuthority
from pausebutton.protocol import encoding
from pausebutton.protocol.genesis import found_authority
from pausebutton.protocol.messages import TimeToken
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.policy import LogPolicy


def test_parsers() -> None:
    assert parse_duration("30d") == 30 * 86400 and parse_duration("90") == 90
    with pytest.raises(UsageError):
        parse_duration("0s")


def test_local_log_bundles_verify_and_counters_persist(tmp_path: Path) -> None:
    keys = found_authority(members=3, threshold=2, seed=b"offline")
    root = keys.signed_root(version=1, expires=2**40)
    write_authority_dir(tmp_path / "a", keys, root.encode())
    auth = OfflineAuthority.load(tmp_path / "a")
    assert [auth.next_number("license_id") for _ in range(3)] == [1, 2, 3]
    assert OfflineAuthority.load(tmp_path / "a").next_number("license_id") == 4
    policy = LogPolicy.from_trust_root(auth.authdir.root)
    for i in range(3):
        env = auth.sign_role(TimeToken(time=100 + i, sequence=i + 1), "time")
        item = auth.logged_install_file(env, timestamp=1000)
        assert item.inclusion is not None
        checkpoint = policy.verify_entry(item.envelope, InclusionBundle.decode(item.inclusion))
        assert checkpoint.size == i + 1
        again = InstallFile.decode(item.encode())
        assert again == item


def test_install_file_rejects_odd_shapes() -> None:
    with pytest.raises(MalformedError):
        InstallFile.decode(encoding.encode({"kind": "other", "envelope": b""}))
    with pytest.raises(MalformedError):
        InstallFile.decode(encoding.encode({"kind": INSTALL_KIND, "envelope": "text"}))
    with pytest.raises(MalformedError):
        InstallFile.decode(encoding.encode({"kind": INSTALL_KIND, "envelope": b"", "x": 1}))
