"""The report-chain rules (``classify_report``): one named test per case a chip's
usage report can be in, from facts alone (no database, no clock)."""

from __future__ import annotations

import hashlib

from pausebutton.protocol.messages import GENESIS_HASH, UsageReport
from pausebutton.protocol.reportchain import (
    ChainHead,
    ChainOutcome,
    Finding,
    LicenseTerms,
    classify_report,
)

CHIP = bytes(range(32))
OTHER_CHIP = bytes(32)


def digest(n: int) -> bytes:
    return hashlib.sha256(b"report %d" % n).digest()


def report(
    sequence: int,
    prev_hash: bytes | None = None,
    *,
    chip: bytes = CHIP,
    time: int = 1_000,
    state: str = "licensed",
    license_id: int | None = None,
    used: int | None = None,
) -> UsageReport:
    return UsageReport(
        chip_id=chip,
        sequence=sequence,
        prev_hash=digest(sequence - 1) if prev_hash is None else prev_hash,
        time=time,
        flop_full=10**12,
        flop_throttled=0,
        cycles=1,
        energy_mj=1,
        state=state,
        license_id=license_id,
        license_flop_used=used,
    )


HEAD = ChainHead(4, digest(4))
TERMS = LicenseTerms(CHIP, flop_budget=10**15, not_before=500, not_after=2_000)


def test_first_report_links_to_genesis() -> None:
    verdict = classify_report(report(1, GENESIS_HASH), digest(1), ChainHead(0, GENESIS_HASH))
    assert verdict.outcome is ChainOutcome.NEXT
    assert verdict.accepted and verdict.advances and verdict.findings == ()


def test_next_report_advances_the_head() -> None:
    verdict = classify_report(report(5), digest(5), HEAD)
    assert verdict.outcome is ChainOutcome.NEXT and verdict.advances


def test_attack_forged_link_is_refused() -> None:
    verdict = classify_report(report(5, prev_hash=digest(99)), digest(5), HEAD)
    assert verdict.outcome is ChainOutcome.CHAIN
    assert not verdict.accepted
    assert verdict.findings == (Finding("chain", "high", {"sequence": 5}),)


def test_attack_deleted_reports_leave_a_gap() -> None:
    verdict = classify_report(report(8), digest(8), HEAD)
    assert verdict.outcome is ChainOutcome.GAP
    assert verdict.accepted and verdict.advances
    assert verdict.findings == (Finding("gap", "medium", {"missing_from": 5, "missing_to": 7}),)


def test_gap_is_not_checked_for_its_link() -> None:
    # the missing reports' hashes are unknown, so a report after a gap cannot be linked
    verdict = classify_report(report(6, prev_hash=digest(99)), digest(6), HEAD)
    assert verdict.outcome is ChainOutcome.GAP


def test_late_report_fills_an_earlier_gap() -> None:
    verdict = classify_report(report(3), digest(3), HEAD, stored=None)
    assert verdict.outcome is ChainOutcome.LATE
    assert verdict.accepted and not verdict.advances and verdict.findings == ()


def test_resent_report_is_a_duplicate() -> None:
    verdict = classify_report(report(4), digest(4), HEAD, stored=digest(4))
    assert verdict.outcome is ChainOutcome.DUPLICATE
    assert not verdict.accepted and verdict.findings == ()


def test_attack_rewritten_history_is_a_replay() -> None:
    verdict = classify_report(report(3), digest(300), HEAD, stored=digest(3))
    assert verdict.outcome is ChainOutcome.REPLAY
    assert not verdict.accepted
    assert verdict.findings == (Finding("replay", "high", {"sequence": 3}),)


def test_report_without_licence_has_no_licence_findings() -> None:
    verdict = classify_report(report(5), digest(5), HEAD, license=None)
    assert verdict.findings == ()


def test_report_within_its_licence_has_no_findings() -> None:
    rep = report(5, license_id=7, used=10**14)
    assert classify_report(rep, digest(5), HEAD, license=TERMS).findings == ()


def test_attack_unknown_licence() -> None:
    verdict = classify_report(report(5, license_id=7), digest(5), HEAD, license=None)
    assert verdict.outcome is ChainOutcome.NEXT
    assert verdict.findings == (
        Finding("unknown_license", "high", {"sequence": 5, "license_id": 7}),
    )


def test_attack_another_chips_licence() -> None:
    theirs = LicenseTerms(OTHER_CHIP, 10**15, 500, 2_000)
    verdict = classify_report(report(5, license_id=7), digest(5), HEAD, license=theirs)
    assert [f.kind for f in verdict.findings] == ["unknown_license"]


def test_attack_more_flop_than_licensed() -> None:
    rep = report(5, license_id=7, used=10**15 + 1)
    verdict = classify_report(rep, digest(5), HEAD, license=TERMS)
    assert verdict.findings == (
        Finding(
            "over_license",
            "high",
            {"sequence": 5, "license_id": 7, "used": str(10**15 + 1), "budget": str(10**15)},
        ),
    )


def test_attack_licensed_work_after_the_licence_expired() -> None:
    rep = report(5, license_id=7, time=2_000)
    verdict = classify_report(rep, digest(5), HEAD, license=TERMS)
    assert verdict.findings == (
        Finding("outside_license_period", "high", {"sequence": 5, "license_id": 7, "time": 2_000}),
    )


def test_attack_licensed_work_before_the_licence_began() -> None:
    rep = report(5, license_id=7, time=499)
    verdict = classify_report(rep, digest(5), HEAD, license=TERMS)
    assert [f.kind for f in verdict.findings] == ["outside_license_period"]


def test_throttled_work_outside_the_licence_period_is_fine() -> None:
    rep = report(5, license_id=7, time=3_000, state="throttled")
    assert classify_report(rep, digest(5), HEAD, license=TERMS).findings == ()


def test_gap_finding_comes_before_licence_findings() -> None:
    rep = report(7, license_id=7, used=10**16)
    verdict = classify_report(rep, digest(7), HEAD, license=TERMS)
    assert [f.kind for f in verdict.findings] == ["gap", "over_license"]


def test_refused_report_is_not_checked_against_its_licence() -> None:
    rep = report(3, license_id=7, used=10**16)
    verdict = classify_report(rep, digest(300), HEAD, stored=digest(3), license=None)
    assert [f.kind for f in verdict.findings] == ["replay"]
