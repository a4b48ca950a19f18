"""The pure firmware state machine: acceptance rules, metering, time, orders, reports."""

from __future__ import annotations

import dataclasses

import pytest

from pausebutton.chip.firmware import (
    RESPONSE_BLOCK,
    STATE_TABLE,
    TRANSITIONS,
    ChipRecord,
    ChipState,
    Event,
    Firmware,
    LicenseCondition,
    verify_report_chain,
)
from pausebutton.chip.lab import T0, Lab
from pausebutton.errors import (
    BelowThresholdError,
    ChainError,
    ExpiredError,
    NotLoggedError,
    ReplayError,
    RollbackError,
    ScopeError,
    TamperedError,
    UnknownTypeError,
    WrongChipError,
)
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import Scope, ScopeKind


def apply(fw: Firmware, data: bytes, inclusion: bytes | None = None) -> None:
    fw.commit(fw.install(data, inclusion))


def licensed(lab: Lab, fw: Firmware, flop: int = 10**18, **kw: object) -> None:
    apply(fw, *lab.logged(lab.license(fw.record.chip_id, flop=flop, **kw)))  # type: ignore[arg-type]


@pytest.fixture
def lab() -> Lab:
    return Lab.create(b"fw-test")


@pytest.fixture
def fw(lab: Lab) -> Firmware:
    return lab.new_chip()


def test_new_chip_is_throttled_and_runs_at_baseline(fw: Firmware) -> None:
    assert fw.state is ChipState.THROTTLED
    out = fw.meter(10**12)
    assert out.run is not None
    assert (out.run.flop_full, out.run.flop_throttled) == (0, 10**12)
    assert out.nvm_write


def test_license_gives_full_rate_up_to_budget_then_exhausted(lab: Lab, fw: Firmware) -> None:
    licensed(lab, fw, flop=10**15)
    assert fw.state is ChipState.LICENSED
    out = fw.meter(4 * 10**14)
    fw.commit(out)
    assert out.run is not None and out.run.flop_full == 4 * 10**14
    out = fw.meter(10**15)
    fw.commit(out)
    assert out.run is not None
    assert (out.run.flop_full, out.run.flop_throttled) == (6 * 10**14, 4 * 10**14)
    assert fw.state is ChipState.EXHAUSTED
    assert fw.record.flop_full == 10**15


def test_budgets_beyond_64_bits(lab: Lab, fw: Firmware) -> None:
    big = 10**25  # over 2**63
    licensed(lab, fw, flop=big, not_after=T0 + 10**11, max_offline=10**11)
    out = fw.meter(big + 5)
    fw.commit(out)
    assert out.run is not None and out.run.flop_full == big
    assert ChipRecord.decode(fw.record.encode()).flop_full == big


def test_licence_must_be_logged(lab: Lab, fw: Firmware) -> None:
    data = lab.license(fw.record.chip_id).encode()
    with pytest.raises(NotLoggedError):
        fw.install(data)


def test_license_ids_strictly_increase_and_log_chains(lab: Lab, fw: Firmware) -> None:
    licensed(lab, fw, license_id=5)
    log1 = fw.record.license_log
    licensed(lab, fw, license_id=9)
    assert fw.record.max_license_id == 9
    assert fw.record.license_log != log1
    assert len(fw.record.applied) == 2


def test_unknown_input_type(lab: Lab, fw: Firmware) -> None:
    cert = Envelope.decode(fw.record.certificate)
    with pytest.raises(UnknownTypeError):
        fw.install(cert.encode())


def test_time_tokens_advance_and_are_monotonic(lab: Lab, fw: Firmware) -> None:
    apply(fw, lab.time_token(T0 + 100).encode())
    assert fw.trusted_time == T0 + 100
    with pytest.raises(ReplayError):
        fw.install(lab.time_token(T0 + 200, sequence=1).encode())
    with pytest.raises(RollbackError):
        fw.install(lab.time_token(T0 + 50).encode())
    with pytest.raises(WrongChipError):
        fw.install(lab.time_token(T0 + 300, chip_id=bytes(32)).encode())


def test_cycles_advance_trusted_time_and_dead_mans_switch(lab: Lab, fw: Firmware) -> None:
    licensed(lab, fw, max_offline=3600, flop=10**30, not_after=T0 + 10**7)
    peak = fw.record.peak_flops
    out = fw.meter(peak * 1800)  # half an hour at full rate
    fw.commit(out)
    assert out.run is not None and out.run.flop_throttled == 0
    assert fw.trusted_time >= T0 + 1800
    out = fw.meter(peak * 3600)  # only the rest of the offline window runs at full rate
    fw.commit(out)
    assert out.run is not None and out.run.flop_throttled > 0
    assert fw.state is ChipState.THROTTLED
    apply(fw, lab.time_token(fw.trusted_time).encode())  # reconnect: a fresh token
    assert fw.state is ChipState.LICENSED


def test_license_expiry_by_trusted_time(lab: Lab, fw: Firmware) -> None:
    licensed(lab, fw, not_after=T0 + 60)
    apply(fw, lab.time_token(T0 + 61).encode())
    assert fw.state is ChipState.THROTTLED
    out = fw.meter(10**9)
    assert out.run is not None and out.run.flop_full == 0


def test_pause_in_scope_takes_effect_without_log(lab: Lab, fw: Firmware) -> None:
    licensed(lab, fw)
    apply(fw, lab.pause().encode())  # no inclusion proof needed
    assert fw.state is ChipState.PAUSED
    out = fw.meter(10**12)
    assert out.run is not None and out.run.flop_full == 0


def test_pause_out_of_scope_rejected(lab: Lab, fw: Firmware) -> None:
    other = Scope(ScopeKind.REGION, regions=("US",))
    with pytest.raises(ScopeError):
        fw.install(lab.pause(scope=other).encode())
    mine = Scope(ScopeKind.OWNER, owners=("owner-a",))
    apply(fw, lab.pause(scope=mine).encode())
    assert fw.state is ChipState.PAUSED
    chip = Scope(ScopeKind.CHIPS, chips=(fw.record.chip_id,))
    apply(fw, lab.pause(scope=chip).encode())


def test_pause_effective_time_and_resume(lab: Lab, fw: Firmware) -> None:
    licensed(lab, fw)
    pause = lab.pause(effective_at=T0 + 100)
    apply(fw, pause.encode())
    assert fw.state is ChipState.LICENSED
    # full rate only until the pause takes effect
    out = fw.meter(fw.record.peak_flops * 1000)
    fw.commit(out)
    assert out.run is not None and out.run.flop_full == fw.record.peak_flops * 100
    assert fw.state is ChipState.PAUSED
    resume = lab.resume(lifts=1, effective_at=0)
    with pytest.raises(NotLoggedError):
        fw.install(resume.encode())
    apply(fw, *lab.logged(resume))
    assert fw.state is ChipState.LICENSED
    with pytest.raises(ReplayError):
        fw.install(*lab.logged(resume))


def test_resume_needs_pause_in_force(lab: Lab, fw: Firmware) -> None:
    with pytest.raises(ScopeError):
        fw.install(*lab.logged(lab.resume(lifts=1, sequence=2)))


def test_pause_needs_quorum(lab: Lab, fw: Firmware) -> None:
    with pytest.raises(BelowThresholdError):
        fw.install(lab.pause(signers=lab.members(2)).encode())
    assert fw.record.order_seq == 0


def test_usage_reports_chain(lab: Lab, fw: Firmware) -> None:
    reports = []
    for _ in range(3):
        fw.commit(fw.meter(10**9))
        out = fw.report()
        fw.commit(out)
        assert out.message is not None
        reports.append(out.message)
    chain = verify_report_chain(fw.record.certificate, reports)
    assert [r.sequence for r in chain] == [1, 2, 3]
    with pytest.raises(ChainError):
        verify_report_chain(fw.record.certificate, [reports[1], reports[0]], first_sequence=2)


def test_location_response_hot_path_writes_nothing(lab: Lab, fw: Firmware) -> None:
    fw.commit(fw.boot())
    counters = []
    for i in range(5):
        out = fw.respond(bytes([i]) * 32)
        assert not out.nvm_write
        fw.commit(out)
        assert out.message is not None
        counters.append(Envelope.decode(out.message).open().counter)  # type: ignore[attr-defined]
    assert counters == [0, 1, 2, 3, 4]
    # a crash loses the RAM counter: the next boot starts above every used value
    again = Firmware(fw.record, verifier=lab.verifier())
    again.commit(again.boot())
    out = again.respond(bytes(32))
    assert Envelope.decode(out.message or b"").open().counter == RESPONSE_BLOCK  # type: ignore[attr-defined]


def test_response_block_refills(lab: Lab, fw: Firmware) -> None:
    out = fw.respond(bytes(32))  # not booted: reserves a block first
    assert out.nvm_write
    fw.commit(out)
    fw.next_counter = fw.record.response_reserved  # block used up
    out = fw.respond(bytes(32))
    assert out.nvm_write and out.record.response_reserved == 2 * RESPONSE_BLOCK + 0


def test_tamper_zeroises_and_refuses(lab: Lab, fw: Firmware) -> None:
    fw.commit(fw.tamper("case opened"))
    assert fw.state is ChipState.TAMPERED
    assert fw.record.device_seed == b""
    with pytest.raises(TamperedError):
        fw.meter(1)
    with pytest.raises(TamperedError):
        fw.install(lab.time_token(T0 + 1).encode())
    with pytest.raises(TamperedError):
        fw.report()


def test_key_state_tells_a_zeroised_key_from_a_tamper_signal(lab: Lab, fw: Firmware) -> None:
    assert fw.key_state == "sealed"
    fw.record = dataclasses.replace(fw.record, device_seed=b"")  # key lost, no tamper signal
    assert (fw.key_state, fw.state is ChipState.TAMPERED) == ("zeroised", False)
    with pytest.raises(TamperedError):
        fw.report()
    fw.commit(fw.meter(1))  # still meters
    fw.commit(fw.tamper("case opened"))
    assert fw.key_state == "tampered"


def test_tables_cover_every_state() -> None:
    assert set(STATE_TABLE) == {(p, c) for p in (True, False) for c in LicenseCondition}
    for state in ChipState:
        assert (state, Event.TAMPER) in TRANSITIONS
        if state is not ChipState.TAMPERED:
            assert (state, Event.METER) in TRANSITIONS
    assert not any(s is ChipState.TAMPERED and e is not Event.TAMPER for s, e in TRANSITIONS)


def test_expired_license_rejected_without_change(lab: Lab, fw: Firmware) -> None:
    before = fw.record
    with pytest.raises(ExpiredError):
        fw.install(*lab.logged(lab.license(fw.record.chip_id, not_after=T0 - 1, not_before=0)))
    assert fw.record is before


def test_trust_root_update_needs_quorum_and_log(lab: Lab, fw: Firmware) -> None:
    from pausebutton.protocol.trustroot import TrustRoot

    new_root = lab.keys.signed_root(version=2, expires=T0 + 10**8)
    with pytest.raises(NotLoggedError):
        fw.install(new_root.encode())
    apply(fw, *lab.logged(new_root))
    assert Envelope.decode(fw.record.root).open_as(TrustRoot).version == 2
    with pytest.raises(RollbackError):
        fw.install(*lab.logged(lab.keys.signed_root(version=1, expires=T0 + 10**8)))
    short = Envelope.create(lab.keys.trust_root(version=3, expires=T0 + 10**8), lab.members(2))
    with pytest.raises(BelowThresholdError):
        fw.install(*lab.logged(short))


def test_license_scope_fields(lab: Lab, fw: Firmware) -> None:
    with pytest.raises(ScopeError):
        fw.install(*lab.logged(lab.license(fw.record.chip_id, region="US")))
    with pytest.raises(ScopeError):
        fw.install(*lab.logged(lab.license(fw.record.chip_id, owner="someone-else")))
    apply(fw, *lab.logged(lab.license(fw.record.chip_id, region="NL", owner="owner-a")))
    assert fw.state is ChipState.LICENSED


def test_pause_issued_at_advances_trusted_time_only_forward(lab: Lab, fw: Firmware) -> None:
    from pausebutton.protocol.messages import GLOBAL, PauseOrder

    order = PauseOrder(1, GLOBAL, T0 + 500, T0 + 500, "now")
    apply(fw, Envelope.create(order, lab.members()).encode())
    assert fw.trusted_time == T0 + 500
    assert fw.state is ChipState.PAUSED
    assert fw.record.last_token_time == T0  # the offline deadline still needs a time token


def test_provision_checks_certificate_and_floor(lab: Lab) -> None:
    from pausebutton.chip.firmware import provision
    from pausebutton.errors import FirmwareTooOldError
    from pausebutton.protocol.keys import PrivateKey
    from pausebutton.protocol.messages import DeviceCertificate

    device = PrivateKey.from_seed_material(b"prov")
    cert = lab.certificate(device)
    with pytest.raises(WrongChipError):
        provision(device_key=PrivateKey.from_seed_material(b"other"), certificate=cert,
                  root=lab.root_bytes)  # fmt: skip
    floor = DeviceCertificate(
        serial="S", model="M", device_key=device.public.raw, vendor="v",
        firmware_floor=5, issued_at=T0,
    )  # fmt: skip
    with pytest.raises(FirmwareTooOldError):
        provision(device_key=device, certificate=Envelope.create(floor, [lab.vendor]).encode(),
                  root=lab.root_bytes)  # fmt: skip
    record = provision(device_key=device, certificate=cert, root=lab.root_bytes, region="DE")
    assert ChipRecord.decode(record.encode()) == record
    assert record.chip_id == device.key_id
