"""Attack tests: one named test per attack on the chip (issue list), on a simulated chip.

Each rejected input must raise its named error and leave NVM byte-for-byte unchanged."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fwkit import new_sim, snapshot

from pausebutton.chip.firmware import ChipState, verify_report_chain
from pausebutton.chip.lab import T0, Lab
from pausebutton.chip.nvm import COPY_NAMES, FUSE_NAME
from pausebutton.chip.simulated import SimulatedChip
from pausebutton.errors import (
    BelowThresholdError,
    ChainError,
    CorruptStateError,
    ExpiredError,
    FirmwareTooOldError,
    NotLoggedError,
    PausebuttonError,
    ReplayError,
    RollbackError,
    SchemaError,
    TamperedError,
    WrongChipError,
)
from pausebutton.protocol.envelope import Envelope, Signature
from pausebutton.protocol.messages import report_hash
from pausebutton.protocol.trustroot import Role


@pytest.fixture
def lab() -> Lab:
    return Lab.create(b"attacks")


@pytest.fixture
def chip(lab: Lab, tmp_path: Path) -> Iterator[SimulatedChip]:
    with new_sim(lab, tmp_path / "chip") as c:
        yield c


def rejected(
    chip: SimulatedChip, error: type[PausebuttonError], data: bytes, inc: bytes | None = None
) -> None:
    """Install must fail with ``error`` and change nothing on disk."""
    before = snapshot(chip.dir)
    with pytest.raises(error):
        chip.install_envelope(data, inc)
    assert snapshot(chip.dir) == before


def install(chip: SimulatedChip, lab: Lab, env: Envelope, *, log: bool = True) -> None:
    data, inc = lab.logged(env) if log else (env.encode(), None)
    chip.install_envelope(data, inc)


def test_attack_forged_signature(lab: Lab, chip: SimulatedChip) -> None:
    env = lab.license(chip.chip_id)
    sig = env.signatures[0]
    forged = Envelope(
        env.type, env.version, env.payload, (Signature(sig.key_id, bytes(64)),)
    )  # signature bytes replaced
    rejected(chip, BelowThresholdError, *lab.logged(forged))
    other = Envelope.create(env.open(), [lab.keys.key("time")])  # a real key, wrong role
    rejected(chip, BelowThresholdError, *lab.logged(other))


def test_attack_license_for_another_chip(lab: Lab, chip: SimulatedChip) -> None:
    rejected(chip, WrongChipError, *lab.logged(lab.license(bytes(32))))


def test_attack_replayed_license(lab: Lab, chip: SimulatedChip) -> None:
    data, inc = lab.logged(lab.license(chip.chip_id))
    chip.install_envelope(data, inc)
    rejected(chip, ReplayError, data, inc)


def test_attack_older_license_id_after_newer(lab: Lab, chip: SimulatedChip) -> None:
    old = lab.license(chip.chip_id, license_id=3)
    install(chip, lab, lab.license(chip.chip_id, license_id=7))
    rejected(chip, RollbackError, *lab.logged(old))


def test_attack_duplicated_member_signature_fakes_quorum(lab: Lab, chip: SimulatedChip) -> None:
    env = lab.pause(signers=lab.members(1))
    sig = env.signatures[0]
    rejected(
        chip, BelowThresholdError, Envelope(env.type, 1, env.payload, (sig, sig, sig)).encode()
    )
    assert chip.firmware.state is ChipState.THROTTLED


def test_attack_one_key_under_two_key_ids(lab: Lab, chip: SimulatedChip) -> None:
    members = lab.members(5)
    env = lab.pause(signers=members[:1])
    sig = env.signatures[0].sig
    relabelled = tuple(Signature(m.key_id, sig) for m in members[:3])
    rejected(chip, BelowThresholdError, Envelope(env.type, 1, env.payload, relabelled).encode())
    # nor can a root list one member's key twice to count it twice
    key = members[0].public.raw
    with pytest.raises(SchemaError, match="same key twice"):
        Role(keys=(key, key, members[1].public.raw), threshold=3).validate()


def test_attack_order_with_k_minus_1_signatures(lab: Lab, chip: SimulatedChip) -> None:
    rejected(chip, BelowThresholdError, lab.pause(signers=lab.members(2)).encode())
    chip.install_envelope(lab.pause(signers=lab.members(3)).encode())
    assert chip.firmware.state is ChipState.PAUSED
    resume = lab.resume(lifts=1, signers=lab.members(2))
    rejected(chip, BelowThresholdError, *lab.logged(resume))


def test_attack_expired_license(lab: Lab, chip: SimulatedChip) -> None:
    rejected(
        chip, ExpiredError, *lab.logged(lab.license(chip.chip_id, not_before=0, not_after=T0 - 1))
    )


def test_attack_unlogged_license_and_thin_checkpoint(lab: Lab, chip: SimulatedChip) -> None:
    env = lab.license(chip.chip_id)
    rejected(chip, NotLoggedError, env.encode())
    assert lab.log is not None
    thin = lab.log.include(env.encode(), witnesses=1)  # below the witness threshold
    rejected(chip, BelowThresholdError, env.encode(), thin)


def test_attack_host_clock_rolled_back(
    lab: Lab, chip: SimulatedChip, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(chip, lab, lab.license(chip.chip_id, not_after=T0 + 100))
    chip.install_envelope(lab.time_token(T0 + 200).encode())
    assert chip.firmware.state is ChipState.THROTTLED
    chip.close()
    monkeypatch.setattr(time, "time", lambda: float(T0 - 10**6))
    monkeypatch.setattr(time, "time_ns", lambda: (T0 - 10**6) * 10**9)
    with SimulatedChip.open(chip.dir) as again:
        assert again.firmware.state is ChipState.THROTTLED
        assert again.run(10**12).flop_full == 0
    # the firmware itself has no clock to roll back
    import pausebutton.chip.firmware as fw

    source = Path(fw.__file__).read_text()
    assert "import time" not in source and "datetime" not in source


def test_attack_nvm_restored_from_older_copy(lab: Lab, chip: SimulatedChip, tmp_path: Path) -> None:
    install(chip, lab, lab.license(chip.chip_id, flop=10**15))
    backup = tmp_path / "backup"
    shutil.copytree(chip.dir, backup)
    assert chip.run(10**15).flop_full == 10**15  # budget spent
    chip.close()
    newest = {n: (chip.dir / n).read_bytes() for n in COPY_NAMES}
    for name in COPY_NAMES:  # restore every NVM copy from before the run
        shutil.copy(backup / name, chip.dir / name)
    with pytest.raises(CorruptStateError, match="rollback"):
        SimulatedChip.open(chip.dir)
    for name, data in newest.items():  # documented recovery: put the newest copies back
        (chip.dir / name).write_bytes(data)
    with SimulatedChip.open(chip.dir) as again:
        assert again.firmware.state is ChipState.EXHAUSTED


def test_attack_partial_restore_is_outvoted(lab: Lab, chip: SimulatedChip, tmp_path: Path) -> None:
    install(chip, lab, lab.license(chip.chip_id, flop=10**15))
    old = (chip.dir / COPY_NAMES[0]).read_bytes()
    chip.run(10**15)
    chip.close()
    (chip.dir / COPY_NAMES[0]).write_bytes(old)
    with SimulatedChip.open(chip.dir) as again:
        assert again.firmware.state is ChipState.EXHAUSTED
        assert again.run(10**12).flop_full == 0


def test_attack_truncated_nvm(lab: Lab, chip: SimulatedChip) -> None:
    install(chip, lab, lab.license(chip.chip_id))
    chip.close()
    for name in (*COPY_NAMES, FUSE_NAME):
        data = (chip.dir / name).read_bytes()
        (chip.dir / name).write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptStateError):
        SimulatedChip.open(chip.dir)


def test_attack_corrupted_nvm(lab: Lab, chip: SimulatedChip) -> None:
    install(chip, lab, lab.license(chip.chip_id))
    chip.close()
    for name in COPY_NAMES:
        data = bytearray((chip.dir / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (chip.dir / name).write_bytes(bytes(data))
    with pytest.raises(CorruptStateError, match="checksum"):
        SimulatedChip.open(chip.dir)


def test_attack_firmware_below_floor(lab: Lab, chip: SimulatedChip) -> None:
    rejected(chip, FirmwareTooOldError, *lab.logged(lab.license(chip.chip_id, firmware_floor=2)))


def test_attack_report_chain_with_gap(lab: Lab, chip: SimulatedChip) -> None:
    reports = []
    for _ in range(4):
        chip.run(10**9)
        reports.append(chip.report())
    assert len(verify_report_chain(chip.certificate, reports)) == 4
    with pytest.raises(ChainError, match="missing"):
        verify_report_chain(chip.certificate, [reports[0], reports[2], reports[3]])
    with pytest.raises(ChainError):
        verify_report_chain(chip.certificate, [reports[0], reports[2], reports[1]])


def test_attack_report_chain_with_forged_link(lab: Lab, chip: SimulatedChip) -> None:
    reports = []
    for _ in range(3):
        chip.run(10**9)
        reports.append(chip.report())
    # a run starting mid-chain links only onto the hash of the report before it
    tail = verify_report_chain(
        chip.certificate, reports[1:], first_sequence=2, prev_hash=report_hash(reports[0])
    )
    assert [r.sequence for r in tail] == [2, 3]
    with pytest.raises(ChainError, match="does not link"):
        verify_report_chain(chip.certificate, reports[1:], first_sequence=2)


def test_attack_resume_older_than_pause(lab: Lab, chip: SimulatedChip) -> None:
    chip.install_envelope(lab.pause(sequence=5).encode())
    rejected(chip, RollbackError, *lab.logged(lab.resume(lifts=3, sequence=4)))
    assert chip.firmware.state is ChipState.PAUSED


def test_attack_tamper_signal(lab: Lab, chip: SimulatedChip) -> None:
    install(chip, lab, lab.license(chip.chip_id))
    chip.tamper("lid sensor")
    chip.close()
    with SimulatedChip.open(chip.dir) as again:
        assert again.firmware.state is ChipState.TAMPERED
        assert again.firmware.record.device_seed == b""
        for action in (
            lambda: again.run(1),
            again.report,
            lambda: again.respond(bytes(32)),
            lambda: again.install_envelope(lab.time_token(T0 + 5).encode()),
        ):
            with pytest.raises(TamperedError):
                action()


def test_late_resume_lifts_a_held_pause_once(lab: Lab, chip: SimulatedChip) -> None:
    # a pause never waits for the log, so pause 3 may overtake resume 2 (lifting pause 1);
    # the late resume is still taken, as long as the pause it lifts is held and in force
    chip.install_envelope(lab.pause(sequence=1).encode())
    late = lab.logged(lab.resume(lifts=1, sequence=2))
    chip.install_envelope(lab.pause(sequence=3).encode())
    chip.install_envelope(*late)
    rec = chip.firmware.record
    assert rec.order_seq == 3
    assert {p.sequence: p.lifted_at is not None for p in rec.pauses} == {1: True, 3: False}
    assert chip.firmware.state is ChipState.PAUSED  # pause 3 is still in force
    rejected(chip, RollbackError, *late)  # once only
