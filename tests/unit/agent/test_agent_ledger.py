"""A firmware chip as the guard's budget: reservations, pause detection across processes,
exhaustion, and counters that survive a reopen."""

from __future__ import annotations

import pytest

from pausebutton.agent.ledger import ChipBudget, ChipLedger, StateDirChip, encode_record
from pausebutton.chip.lab import Lab
from pausebutton.chip.nvm import FileNvm
from pausebutton.errors import CorruptStateError, LicenseExhaustedError, PausedError


@pytest.fixture
def lab():
    return Lab.create(b"ledger-test")


def _chip_dir(lab, tmp_path, *, flop=None):
    record = lab.new_record()
    state = tmp_path / "chip"
    FileNvm(state).create(encode_record(record))
    if flop is not None:
        _install(lab, state, lab.license(record.chip_id, flop=flop))
    return state, record.chip_id


def _install(lab, state, env):
    """What `pausebutton chip install` does: another process writes the NVM."""
    chip = StateDirChip(state, verifier=lab.verifier())
    data, inclusion = lab.logged(env)
    with chip.locked():
        outcome = chip.firmware.install(data, inclusion)
        chip.persist(outcome.record)


def test_steps_draw_from_the_license_in_reserved_blocks(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=10_000)
    budget = ChipBudget(state, reserve_steps=4, reserve_seconds=0)
    gen0 = budget.chip.nvm.generation
    budget.step(0, 100)
    for _ in range(3):
        budget.step(100, 100)
    # one NVM write for four steps
    assert budget.chip.nvm.generation == gen0 + 1
    assert budget.chip.firmware.record.license_used == 400
    budget.close(100)
    assert budget.reserved == 0 and budget.lost == 0


def test_exhaustion_never_exceeds_the_budget(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=1_050)
    budget = ChipBudget(state, reserve_steps=3)
    granted = 0
    with pytest.raises(LicenseExhaustedError):
        settle = 0
        for _ in range(100):
            budget.step(settle, 100)
            granted += 1
            settle = 100
    assert granted == 10
    rec = StateDirChip(state).firmware.record
    assert rec.license_used <= 1_050
    assert rec.flop_throttled == 0


def test_no_license_is_a_refusal(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path)
    with pytest.raises(LicenseExhaustedError, match="throttled"):
        ChipBudget(state).step(0, 1)


def test_pause_from_another_process_stops_the_next_step(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=10**9)
    budget = ChipBudget(state, reserve_steps=100)
    budget.step(0, 10)
    budget.step(10, 10)  # a large reservation is held in memory
    order = lab.pause()
    _install(lab, state, order)
    with pytest.raises(PausedError):
        budget.step(10, 10)
    _install(lab, state, lab.resume(lifts=1))
    budget.step(0, 10)


def test_counters_survive_reopening(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=10**6)
    budget = ChipBudget(state, reserve_steps=1, reserve_seconds=0)
    settle = 0
    for _ in range(5):
        budget.step(settle, 1000)
        settle = 1000
    budget.close(settle)
    again = StateDirChip(state).firmware.record
    assert again.license_used == 5000 and again.flop_full == 5000


def test_corrupt_state_is_a_named_error(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=10)
    for f in state.glob("nvm-*.bin"):
        f.write_bytes(b"garbage")
    with pytest.raises(CorruptStateError):
        ChipBudget(state)


def test_artifact_reports_are_kept_in_the_state_dir(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=10)
    budget = ChipBudget(state)
    budget.report_artifact({"event": "prohibited-artifact", "what": "x"})
    assert "prohibited-artifact" in (state / ChipBudget.REPORTS_NAME).read_text()


def test_ledger_rejects_bad_reserve():
    with pytest.raises(Exception, match="reserve_steps"):
        ChipLedger(None, reserve_steps=0)  # type: ignore[arg-type]


def test_a_reservation_that_takes_the_last_budget_is_still_spent(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=1_000)
    budget = ChipBudget(state, reserve_steps=64)
    granted, settle = 0, 0
    with pytest.raises(LicenseExhaustedError):
        for _ in range(100):
            budget.step(settle, 100)
            granted += 1
            settle = 100
    assert granted == 10
    assert budget.lost == 0


def test_short_reservations_grow(lab, tmp_path):
    state, _ = _chip_dir(lab, tmp_path, flop=10**12)
    now = [0.0]
    budget = ChipLedger(
        StateDirChip(state), reserve_steps=2, reserve_seconds=10, clock=lambda: now[0]
    )
    budget.step(0, 10)
    settle = 0
    for _ in range(20):
        budget.step(settle, 10)
        settle = 10
    assert budget.reserve_steps > 2  # reservations lasting < 10 s doubled


def test_steps_from_a_reservation_make_no_system_call(lab, tmp_path, monkeypatch):
    import pausebutton.agent.ledger as ledger_mod

    state, _ = _chip_dir(lab, tmp_path, flop=10**9)
    budget = ChipBudget(state, reserve_steps=1000)
    budget.step(0, 10)
    calls = []
    real_stat = ledger_mod.os.stat
    monkeypatch.setattr(ledger_mod.os, "stat", lambda *a, **k: calls.append(a) or real_stat(*a))
    for _ in range(50):
        budget.step(10, 10)
    assert calls == []  # the mapped notice word told the ledger nothing changed
    _install(lab, state, lab.pause())
    with pytest.raises(PausedError):
        budget.step(10, 10)


def test_a_state_without_a_notice_file_gets_one_and_still_sees_another_writer(lab, tmp_path):
    from pausebutton.chip.nvm import NOTIFY_NAME

    state, _ = _chip_dir(lab, tmp_path, flop=10**9)
    (state / NOTIFY_NAME).unlink()  # a state directory from before the notice file
    budget = ChipBudget(state, reserve_steps=100)
    assert (state / NOTIFY_NAME).stat().st_size == 8
    assert budget.chip._notice is not None
    budget.step(0, 10)
    budget.step(10, 10)
    _install(lab, state, lab.pause())
    with pytest.raises(PausedError):
        budget.step(10, 10)


def test_a_damaged_notice_file_is_only_a_missed_hint(lab, tmp_path):
    from pausebutton.chip.nvm import NOTIFY_NAME

    state, _ = _chip_dir(lab, tmp_path, flop=10**9)
    (state / NOTIFY_NAME).unlink()
    (state / NOTIFY_NAME).mkdir()  # cannot be read, written or mapped
    budget = ChipBudget(state, reserve_steps=100)
    assert budget.chip._notice is None
    budget.step(0, 10)
    budget.step(10, 10)
    _install(lab, state, lab.pause())  # the writer's notice fails; its NVM write does not
    with pytest.raises(PausedError):
        budget.step(10, 10)
