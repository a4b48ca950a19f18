from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from detect_world import energy, registry, t

from pausebutton.detect import fusion
from pausebutton.detect.io import bundled_hardware
from pausebutton.detect.registry import CustodyStep, Registry
from pausebutton.detect.rules import Context, Finding, Params, Severity, SignalSet, run_rules
from pausebutton.detect.signals import (
    CustomsRecord,
    DataCenterInspection,
    DeveloperInspection,
    FabInspection,
    FinancialTxn,
    LocationResult,
    RemoteSensing,
    UsageRecord,
    WhistleReport,
)

PLATEAU = (20, 45, 10e6)


def check(
    reg: Registry, signals: list[object], now: datetime | None = None, **params: float
) -> list[Finding]:
    ss = SignalSet.of(signals)
    ss.sort()
    return run_rules(Context(reg, ss, bundled_hardware(), now or t(90), Params(**params)))  # type: ignore[arg-type]


def rules_of(fs: list[Finding]) -> set[str]:
    return {f.rule for f in fs}


def test_unlicensed_run_severity_against_license_and_threshold() -> None:
    sig = energy("f1", plateau=PLATEAU)
    fs = [f for f in check(registry(), sig) if f.rule == "unlicensed_run"]
    (f,) = fs
    assert f.severity is Severity.HIGH  # above zero licensed, below 1e25
    assert {e.label for e in f.evidence} == {"reported", "calculated", "estimated"}
    est = next(e for e in f.evidence if e.label == "estimated")
    assert est.low is not None and est.high is not None and est.low < est.value < est.high  # type: ignore[operator]
    (crit,) = [f for f in check(registry(), sig, threshold_flop=1e23) if f.rule == "unlicensed_run"]
    assert crit.severity is Severity.CRITICAL
    assert "unlicensed_run" not in rules_of(check(registry(licensed_flop=1e27), sig))
    assert "unlicensed_run" not in rules_of(check(registry(), energy("f1")))


def test_unregistered_site_plateau_is_weak_on_its_own() -> None:
    (f,) = [
        f
        for f in check(registry(), energy("smelter-9", plateau=PLATEAU))
        if f.rule == "unlicensed_run"
    ]
    assert f.severity is Severity.MEDIUM and f.owner == ""


def test_imported_unregistered() -> None:
    bad = CustomsRecord(
        "c1",
        t(5),
        "8542.31",
        "v",
        "o1",
        "TW",
        "NL",
        12,
        1.0,
        (*tuple(f"x{i}" for i in range(10)), "f1-1", "f1-2"),
    )
    ok = CustomsRecord("c2", t(5), "8542.31", "v", "o1", "TW", "NL", 2, 1.0, ("f1-1", "f1-2"))
    (f,) = [f for f in check(registry(), [bad]) if f.rule == "imported_unregistered"]
    assert f.severity is Severity.HIGH and len(f.chips) == 10 and f.owner == "o1"
    assert "imported_unregistered" not in rules_of(check(registry(), [ok]))
    bulk = CustomsRecord("c3", t(5), "8473.30", "broker", "shell-co", "HK", "NL", 400, 1.0)
    (g,) = [f for f in check(registry(), [bulk]) if f.rule == "imported_unregistered"]
    assert g.severity is Severity.HIGH and "not a registered owner" in g.reason


def test_purchase_unmatched() -> None:
    buy = FinancialTxn("t1", t(10), "o1", "vendor", 1.5e7, "chips", 600)
    (f,) = [f for f in check(registry(), [buy]) if f.rule == "purchase_unmatched"]
    assert f.severity is Severity.HIGH
    small = FinancialTxn("t2", t(10), "o1", "vendor", 1e6, "chips", 50)
    assert "purchase_unmatched" not in rules_of(check(registry(), [small]))
    cleared = CustomsRecord("c", t(20), "8542.31", "vendor", "o1", "TW", "NL", 600, 1.0)
    (g,) = [f for f in check(registry(), [buy, cleared]) if f.rule == "purchase_unmatched"]
    assert g.severity is Severity.MEDIUM  # customs saw it; the registry did not


def test_usage_silent_while_energy_busy() -> None:
    sig = energy("f1", plateau=PLATEAU)
    quiet = [UsageRecord(f"f1-{i}", "f1", t(0), t(60), 1e15) for i in range(100)]
    (f,) = [f for f in check(registry(), [*sig, *quiet]) if f.rule == "usage_silent"]
    assert f.severity is Severity.HIGH
    honest = [UsageRecord(f"f1-{i}", "f1", t(0), t(60), 1e23) for i in range(100)]
    assert "usage_silent" not in rules_of(check(registry(), [*sig, *honest]))


def test_location_inconsistency() -> None:
    one = [LocationResult("f1-1", "f1", t(3), False, 800.0)]
    (f,) = [f for f in check(registry(), one) if f.rule == "location_inconsistent"]
    assert f.severity is Severity.MEDIUM and f.owner == "o1"
    two = [*one, LocationResult("f1-2", "f1", t(3), False, 800.0)]
    (g,) = [f for f in check(registry(), two) if f.rule == "location_inconsistent"]
    assert g.severity is Severity.HIGH and g.chips == ("f1-1", "f1-2")
    ok = [LocationResult("f1-1", "f1", t(3), True)]
    assert "location_inconsistent" not in rules_of(check(registry(), ok))


def test_fab_output_beyond_registered() -> None:
    over = [FabInspection("fi", "fab-a", t(30), 30, 30, 1000)]
    (f,) = [f for f in check(registry(), over) if f.rule == "fab_output_excess"]
    assert f.severity is Severity.HIGH and "800 unaccounted" in f.reason
    fine = [FabInspection("fi", "fab-a", t(30), 30, 30, 200)]
    assert not rules_of(check(registry(), fine)) & {"fab_output_excess", "fab_output_implausible"}
    impossible = [FabInspection("fi", "fab-a", t(30), 30, 1, 200)]
    assert "fab_output_implausible" in rules_of(check(registry(), impossible))


def test_inspection_counts_against_registry() -> None:
    seen = (*tuple(f"f1-{i}" for i in range(70)), "stranger-1")
    (f,) = [
        f
        for f in check(registry(), [DataCenterInspection("i", "f1", t(9), seen)])
        if f.rule == "inspection_mismatch"
    ]
    assert f.severity is Severity.HIGH and "30 registered chip(s) missing" in f.reason
    exact = tuple(f"f1-{i}" for i in range(100))
    assert "inspection_mismatch" not in rules_of(
        check(registry(), [DataCenterInspection("i", "f1", t(9), exact)])
    )
    counted = DataCenterInspection("i", "f1", t(9), (), 160)
    (g,) = [f for f in check(registry(), [counted]) if f.rule == "inspection_mismatch"]
    assert "+60" in " ".join(e.text for e in g.evidence)


def test_whistle_claims_corroborated_or_not() -> None:
    w = WhistleReport("w1", t(30), "they train in secret", site="f1", credibility=0.5)
    (f,) = [f for f in check(registry(), [w]) if f.rule.startswith("whistle")]
    assert f.rule == "whistle_uncorroborated" and f.severity is Severity.LOW
    both = check(registry(), [w, *energy("f1", plateau=PLATEAU)])
    (g,) = [f for f in both if f.rule.startswith("whistle")]
    assert g.rule == "whistle_corroborated" and g.severity is Severity.HIGH
    assert "energy" in g.methods


def test_developer_audit_and_thermal() -> None:
    audit = DeveloperInspection("a", "o1", t(40), 1, 2, 5e25)
    (f,) = [f for f in check(registry(), [audit]) if f.rule == "developer_undeclared"]
    assert f.severity is Severity.CRITICAL
    hot = [RemoteSensing(f"r{i}", "f1", t(i), 40e6, 0.9) for i in range(3)]
    (g,) = [f for f in check(registry(), hot) if f.rule == "thermal_anomaly"]
    assert g.severity is Severity.HIGH
    hidden = [RemoteSensing(f"r{i}", "ghost-dc", t(i), 30e6, 0.9) for i in range(3)]
    (h,) = [f for f in check(registry(), hidden) if f.rule == "thermal_anomaly"]
    assert "not a registered facility" in h.reason


def test_fusion_counts_each_method_once_and_alerts_list_all_evidence() -> None:
    sig = [
        *energy("f1", plateau=PLATEAU),
        WhistleReport("w1", t(30), "secret run", site="f1"),
        LocationResult("f1-1", "f1", t(3), False, 800.0),
        LocationResult("f1-2", "f1", t(3), False, 800.0),
    ]
    fs = check(registry(), sig)
    _sites, owners = fusion.score(fs)
    o1 = owners["o1"]
    assert set(o1.contributions) == {"energy", "whistleblower", "location"}
    import math

    expect = math.log10(fusion.PRIOR_ODDS) + sum(o1.contributions.values())
    assert math.isclose(o1.log10_odds, expect)
    al = fusion.alerts(fs)
    owner_alert = next(a for a in al if a.kind == "owner" and a.subject == "o1")
    n_ev = sum(len(f.evidence) for f in fs if f.owner == "o1")
    assert len(owner_alert.evidence) == n_ev
    assert owner_alert.probability > 0.99
    assert fusion.alerts(check(registry(), energy("f1"))) == []


def test_power_beyond_registered_chips() -> None:
    # 100 registered H100 draw ~0.14 MW at most; a 15 MW plateau needs far more hardware.
    (f,) = [
        f
        for f in check(registry(), energy("f1", plateau=PLATEAU))
        if f.rule == "power_beyond_chips"
    ]
    assert f.severity is Severity.HIGH and f.owner == "o1"
    assert {e.label for e in f.evidence} == {"reported", "calculated"}
    big = registry(n_chips=10_000)  # ~13.9 MW of chips: a 15 MW plateau fits
    assert "power_beyond_chips" not in rules_of(check(big, energy("f1", plateau=PLATEAU)))


def test_fab_findings_become_fab_alerts() -> None:
    over = [FabInspection("fi", "fab-a", t(30), 30, 30, 1000)]
    fs = check(registry(), over)
    (f,) = [f for f in fs if f.rule == "fab_output_excess"]
    assert f.fab == "fab-a" and f.site == "" and f.to_dict()["fab"] == "fab-a"
    (alert,) = [a for a in fusion.alerts(fs, alert_probability=0.0) if a.kind == "fab"]
    assert alert.subject == "fab-a" and f in alert.findings


def test_usage_from_the_wrong_facility_blames_the_chips_owner() -> None:
    moved = [
        UsageRecord("f2-1", "f1", t(3), t(4), 1e18),  # o2's chip reporting from o1's site
        UsageRecord("ghost-7", "f1", t(3), t(4), 1e18),  # registered to nobody
        UsageRecord("f1-1", "f1", t(3), t(4), 1e18),  # at home
    ]
    fs = [f for f in check(registry(), moved) if f.rule == "usage_wrong_facility"]
    by_owner = {f.owner: f for f in fs}
    assert set(by_owner) == {"o2", ""}
    assert by_owner["o2"].chips == ("f2-1",) and by_owner[""].chips == ("ghost-7",)
    subjects = {(a.kind, a.subject) for a in fusion.alerts(fs, alert_probability=0.0)}
    assert ("owner", "o2") in subjects and ("chip", "ghost-7") in subjects
    assert ("owner", "o1") not in subjects


def _step(chip_id: str, seq: int, kind: str, day: float, country: str = "") -> CustodyStep:
    at = t(day)
    return CustodyStep(chip_id, str(seq), kind, at.isoformat(), at, country=country, party_id="x")


def test_customs_contradicting_custody_is_a_diverted_chip() -> None:
    base = registry(n_chips=2)
    chips = [replace(c, chip_id=f"id-{c.serial}") for c in base.chips.values()]
    steps = [_step("id-f1-0", 1, "export", 10, "NL"), _step("id-f1-1", 1, "export", 10, "NL")]
    reg = Registry.build(base.owners.values(), base.facilities.values(), chips, [], steps)
    declared = CustomsRecord("c1", t(20), "8542.31", "exp", "shell", "US", "AE", 1, 3e4, ("f1-0",))
    (f,) = [f for f in check(reg, [declared], now=t(30)) if f.rule == "custody_diverted"]
    assert f.severity is Severity.CRITICAL and f.chips == ("f1-0",) and f.owner == "o1"
    honest = replace(declared, destination="NL")
    assert "custody_diverted" not in rules_of(check(reg, [honest], now=t(30)))
    # an export with no import after transit_days: both chips are lost in transit
    (g,) = [f for f in check(reg, [], now=t(90)) if f.rule == "custody_in_transit"]
    assert g.chips == ("f1-0", "f1-1")
    arrived = [*steps, _step("id-f1-0", 2, "import", 20, "NL"), _step("id-f1-1", 2, "import", 20)]
    reg2 = Registry.build(base.owners.values(), base.facilities.values(), chips, [], arrived)
    assert "custody_in_transit" not in rules_of(check(reg2, [], now=t(90)))
