"""Secure NVM emulation: atomic redundant copies, voting, the fuse, rollback detection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pausebutton.chip.nvm import COPY_NAMES, FUSE_NAME, FileNvm
from pausebutton.errors import ConflictError, CorruptStateError


def test_write_read_round_trip(tmp_path: Path) -> None:
    nvm = FileNvm(tmp_path / "s")
    nvm.create(b"one")
    assert nvm.write(b"two") == 2
    got = FileNvm(tmp_path / "s").read()
    assert (got.data, got.generation, got.repaired) == (b"two", 2, ())


def test_create_refuses_existing(tmp_path: Path) -> None:
    FileNvm(tmp_path).create(b"x")
    with pytest.raises(ConflictError):
        FileNvm(tmp_path).create(b"y")


def test_one_damaged_copy_is_outvoted_and_repaired(tmp_path: Path) -> None:
    nvm = FileNvm(tmp_path)
    nvm.create(b"a")
    nvm.write(b"b")
    (tmp_path / COPY_NAMES[1]).write_bytes(b"garbage")
    raw = (tmp_path / COPY_NAMES[2]).read_bytes()
    (tmp_path / COPY_NAMES[2]).write_bytes(raw[: len(raw) // 2])
    got = FileNvm(tmp_path).read()
    assert got.data == b"b"
    assert set(got.repaired) == {COPY_NAMES[1], COPY_NAMES[2]}
    assert FileNvm(tmp_path).read().repaired == ()


def test_all_copies_corrupt_is_a_clear_error(tmp_path: Path) -> None:
    FileNvm(tmp_path).create(b"a")
    for name in COPY_NAMES:
        raw = bytearray((tmp_path / name).read_bytes())
        raw[-40] ^= 1
        (tmp_path / name).write_bytes(bytes(raw))
    with pytest.raises(CorruptStateError, match="checksum"):
        FileNvm(tmp_path).read()


def test_missing_fuse_is_refused(tmp_path: Path) -> None:
    FileNvm(tmp_path).create(b"a")
    (tmp_path / FUSE_NAME).unlink()
    with pytest.raises(CorruptStateError, match="fuse"):
        FileNvm(tmp_path).read()


def test_restored_older_copies_are_detected(tmp_path: Path) -> None:
    state, backup = tmp_path / "s", tmp_path / "b"
    nvm = FileNvm(state)
    nvm.create(b"budget left: 100")
    shutil.copytree(state, backup)
    nvm.write(b"budget left: 0")
    for name in COPY_NAMES:
        shutil.copy(backup / name, state / name)
    with pytest.raises(CorruptStateError, match="rollback"):
        FileNvm(state).read()


def test_crash_between_copies_and_fuse(tmp_path: Path) -> None:
    nvm = FileNvm(tmp_path)
    nvm.create(b"g1")
    writes: list[Path] = []

    class Crash(Exception):
        pass

    def hook(path: Path, data: bytes) -> None:
        if len(writes) == 1:
            raise Crash
        writes.append(path)
        FileNvm._atomic(path, data)

    crashing = FileNvm(tmp_path, write_hook=hook)
    crashing.read()
    with pytest.raises(Crash):
        crashing.write(b"g2")
    got = FileNvm(tmp_path).read()  # one copy of g2, fuse still 1: g2 wins, fuse burnt
    assert (got.data, got.generation) == (b"g2", 2)
    assert FileNvm(tmp_path).fuse() == 2


def test_concurrent_writer_detected(tmp_path: Path) -> None:
    a = FileNvm(tmp_path)
    a.create(b"1")
    b = FileNvm(tmp_path)
    b.read()
    a.write(b"2")
    with pytest.raises(CorruptStateError, match="changed"):
        b.write(b"3")
