"""Composable cross-check rules over signals and the registry. Pure.

A rule is a function ``(Context) -> list[Finding]``; the engine runs every
rule and collects their findings (it never stops at the first). A finding
has a severity, a reason a person can read, the subject (site and/or owner,
or chip serials) and its evidence, each piece labelled:

* ``reported``   — a value as it came in (a meter reading, a customs record);
* ``calculated`` — arithmetic on reported values (a sum, a set difference);
* ``estimated``  — a model output with uncertainty (FLOP from energy).

``now`` is explicit: the engine never reads a clock.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from functools import cached_property
from typing import Any

from pausebutton.detect.estimate import DEFAULT_PUE, SERVER_OVERHEAD, Estimate
from pausebutton.detect.hardware import HardwareTable
from pausebutton.detect.registry import Registry
from pausebutton.detect.runs import CandidateRun, RunParams, detect_runs
from pausebutton.detect.signals import (
    CustomsRecord,
    DataCenterInspection,
    EnergyReading,
    FabInspection,
    FinancialTxn,
    LocationResult,
    Method,
    RemoteSensing,
    UsageRecord,
    method_of,
    signal_time,
)
from pausebutton.errors import DataError


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


LABELS = ("reported", "calculated", "estimated")


@dataclass(frozen=True)
class Evidence:
    label: str
    method: str
    """A verification method, or ``registry``."""
    source: str
    """Which record: a signal id, a registry table and key, or a rule's calculation."""
    text: str
    value: float | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise DataError(f"evidence label must be one of {LABELS}, not {self.label!r}")

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "label": self.label,
            "method": self.method,
            "source": self.source,
            "text": self.text,
        }
        for k in ("value", "low", "high"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    reason: str
    method: Method
    """The method whose signal triggered the rule (the fusion groups by it)."""
    evidence: tuple[Evidence, ...]
    time: datetime
    site: str = ""
    owner: str = ""
    chips: tuple[str, ...] = ()

    @property
    def methods(self) -> set[str]:
        return {e.method for e in self.evidence if e.method != "registry"} | {self.method.value}

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity.name.lower(),
            "reason": self.reason,
            "method": self.method.value,
            "methods": sorted(self.methods),
            "site": self.site,
            "owner": self.owner,
            "chips": list(self.chips),
            "time": self.time.isoformat(),
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass
class SignalSet:
    """Signals of every method, as lists by method (kept sorted by time on demand)."""

    by_method: dict[Method, list[Any]] = field(default_factory=lambda: defaultdict(list))
    is_sorted: bool = False

    @classmethod
    def of(cls, signals: Iterable[Any]) -> SignalSet:
        s = cls()
        s.extend(signals)
        return s

    def extend(self, signals: Iterable[Any]) -> None:
        for sig in signals:
            self.by_method[method_of(sig)].append(sig)
        self.is_sorted = False

    def get(self, method: Method) -> list[Any]:
        return self.by_method.get(method, [])

    def sort(self) -> None:
        """Sort every list by time (makes :meth:`until` a binary search)."""
        for v in self.by_method.values():
            v.sort(key=signal_time)
        self.is_sorted = True

    def until(self, t: datetime) -> SignalSet:
        """Only the signals known at ``t`` (sorts first if needed)."""
        if not self.is_sorted:
            self.sort()
        return SignalSet(
            defaultdict(
                list,
                {
                    m: v[: bisect.bisect_right(v, t, key=signal_time)]
                    for m, v in self.by_method.items()
                },
            ),
            True,
        )

    def only(self, methods: Iterable[Method]) -> SignalSet:
        keep = set(methods)
        return SignalSet(
            defaultdict(list, {m: v for m, v in self.by_method.items() if m in keep}),
            self.is_sorted,
        )

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_method.values())


@dataclass(frozen=True)
class Params:
    threshold_flop: float = 1e25
    """Frontier threshold: an unlicensed run above it is critical."""
    default_hardware: str = "NVIDIA H100 SXM5 80GB"
    """Assumed for sites without registered chips (labelled as an assumption)."""
    runs: RunParams = field(default_factory=RunParams)
    purchase_window_days: float = 120.0
    count_tolerance: float = 0.02
    thermal_factor: float = 1.3
    thermal_rise_factor: float = 1.5
    meter_gap_factor: float = 1.5
    unregistered_thermal_w: float = 5e6
    max_chips_per_wafer: int = 100
    chip_power_factor: float = 1.5
    """Power above this multiple of what the registered chips can draw is flagged."""


@dataclass
class Context:
    registry: Registry
    signals: SignalSet
    hardware: HardwareTable
    now: datetime
    params: Params = field(default_factory=Params)

    @cached_property
    def energy_by_site(self) -> dict[str, list[EnergyReading]]:
        out: dict[str, list[EnergyReading]] = defaultdict(list)
        for r in self.signals.get(Method.ENERGY):
            out[r.site].append(r)
        return out

    @cached_property
    def runs(self) -> dict[str, tuple[list[CandidateRun], list[EnergyReading], str]]:
        """site -> (candidate runs, implausible readings, hardware name assumed)."""
        out: dict[str, tuple[list[CandidateRun], list[EnergyReading], str]] = {}
        for site, readings in self.energy_by_site.items():
            hw_name = self.registry.hardware_at(site) or self.params.default_hardware
            hw = self.hardware.get(hw_name) if hw_name in self.hardware else None
            fac = self.registry.facilities.get(site)
            runs, bad = detect_runs(
                readings,
                hw,
                declared_w=fac.declared_w if fac else None,
                params=self.params.runs,
            )
            out[site] = (runs, bad, hw_name)
        return out


Rule = Callable[[Context], list[Finding]]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def _est_evidence(est: Estimate, text: str, source: str) -> Evidence:
    return Evidence("estimated", "energy", source, text, est.flop, est.low, est.high)


# -- rule 1: unlicensed run above threshold ------------------------------------------------


def unlicensed_run(ctx: Context) -> list[Finding]:
    """Estimated compute of an energy plateau against the compute licensed at the site."""
    out: list[Finding] = []
    for site, (runs, _bad, hw_name) in sorted(ctx.runs.items()):
        owner = ctx.registry.owner_of(site)
        registered = site in ctx.registry.facilities
        for run in runs:
            est = run.estimate
            if est is None:
                continue
            licensed = ctx.registry.licensed_flop(site, run.start, run.end)
            if est.flop <= licensed:
                continue
            if est.low > licensed and est.flop >= ctx.params.threshold_flop:
                sev = Severity.CRITICAL
            elif est.low > licensed:
                sev = Severity.HIGH
            else:
                sev = Severity.MEDIUM
            if not registered:
                # A load plateau at a site not registered for AI compute may be any industry:
                # on its own it is weak evidence (other methods must say "data centre").
                sev = min(sev, Severity.MEDIUM)
            ev = [
                Evidence(
                    "reported",
                    "energy",
                    f"energy:{site}",
                    f"{run.readings} readings {_iso(run.start)} .. {_iso(run.end)},"
                    f" mean {run.mean_power_w / 1e6:.3g} MW against a baseline of"
                    f" {run.baseline_w / 1e6:.3g} MW",
                    run.mean_power_w,
                ),
                Evidence(
                    "calculated",
                    "energy",
                    "runs.detect_runs",
                    f"{run.hours:.0f} h plateau, {run.energy_kwh / 1e6:.4g} GWh above baseline",
                    run.energy_kwh,
                ),
                _est_evidence(
                    est,
                    f"training compute {est.flop:.3g} FLOP ({est.level:.0%} interval"
                    f" {est.low:.3g} .. {est.high:.3g}) assuming {hw_name}",
                    "estimate.from_energy",
                ),
                Evidence(
                    "reported",
                    "registry",
                    f"licenses:{site}" if registered else f"facilities:{site}",
                    f"licensed compute at the site in the period: {licensed:.3g} FLOP"
                    if registered
                    else "the site is not a registered facility",
                    licensed,
                ),
            ]
            out.append(
                Finding(
                    "unlicensed_run",
                    sev,
                    f"an energy plateau at {site} implies ~{est.flop:.2g} FLOP of training,"
                    f" above the {licensed:.2g} FLOP licensed there",
                    Method.ENERGY,
                    tuple(ev),
                    run.end,
                    site=site,
                    owner=owner,
                )
            )
    return out


def power_beyond_chips(ctx: Context) -> list[Finding]:
    """A site drawing more power than its registered chips could: unregistered hardware."""
    out: list[Finding] = []
    for site, (runs, _bad, _hw) in sorted(ctx.runs.items()):
        chips = ctx.registry.chips_at(site)
        if not chips or not runs:
            continue
        tdp = 0.0
        for c in chips:
            hw = ctx.hardware.get(c.hardware) if c.hardware in ctx.hardware else None
            if hw is None or hw.tdp_w is None:
                tdp = 0.0
                break
            tdp += hw.tdp_w
        if tdp <= 0:
            continue
        max_w = tdp * SERVER_OVERHEAD * DEFAULT_PUE
        worst = max(runs, key=lambda r: r.mean_power_w)
        if worst.mean_power_w <= max_w * ctx.params.chip_power_factor:
            continue
        out.append(
            Finding(
                "power_beyond_chips",
                Severity.HIGH,
                f"{site} drew {worst.mean_power_w / 1e6:.3g} MW for {worst.hours:.0f} h; its"
                f" {len(chips)} registered chips can draw about {max_w / 1e6:.3g} MW",
                Method.ENERGY,
                (
                    Evidence(
                        "reported",
                        "energy",
                        f"energy:{site}",
                        f"mean {worst.mean_power_w / 1e6:.4g} MW {_iso(worst.start)} .. "
                        f"{_iso(worst.end)}",
                        worst.mean_power_w,
                    ),
                    Evidence(
                        "reported", "registry", f"chips:{site}", f"{len(chips)} chips", len(chips)
                    ),
                    Evidence(
                        "calculated",
                        "registry",
                        "sum of TDP x server overhead x PUE",
                        f"{max_w / 1e6:.4g} MW at most",
                        max_w,
                    ),
                ),
                worst.end,
                site=site,
                owner=ctx.registry.owner_of(site),
            )
        )
    return out


def implausible_energy(ctx: Context) -> list[Finding]:
    """Readings orders of magnitude above declared capacity: flagged, never used."""
    out: list[Finding] = []
    for site, (_runs, bad, _hw) in sorted(ctx.runs.items()):
        if not bad:
            continue
        fac = ctx.registry.facilities[site]
        ev = tuple(
            Evidence(
                "reported",
                "energy",
                f"energy:{site}@{r.time.isoformat()}",
                f"{r.power_w / 1e6:.4g} MW against {fac.declared_w / 1e6:.4g} MW declared",
                r.power_w,
            )
            for r in bad[:20]
        )
        out.append(
            Finding(
                "implausible_energy",
                Severity.INFO,
                f"{len(bad)} energy reading(s) at {site} exceed the declared capacity by more"
                f" than {ctx.params.runs.implausible_factor:g}x; set aside as impossible",
                Method.ENERGY,
                ev,
                max(r.time for r in bad),
                site=site,
                owner=fac.owner_id,
            )
        )
    return out


# -- rule 2: chips imported but never registered ------------------------------------------------


def imported_unregistered(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    reg = ctx.registry
    by_consignee: dict[str, list[CustomsRecord]] = defaultdict(list)
    for rec in ctx.signals.get(Method.CUSTOMS):
        by_consignee[rec.consignee].append(rec)
        if rec.serials:
            missing = [s for s in rec.serials if s not in reg.chips]
            if missing:
                sev = Severity.HIGH if len(missing) >= 8 else Severity.MEDIUM
                out.append(
                    Finding(
                        "imported_unregistered",
                        sev,
                        f"{len(missing)} of {len(rec.serials)} chips imported by"
                        f" {rec.consignee} ({rec.record_id}) are not in the registry",
                        Method.CUSTOMS,
                        (
                            Evidence(
                                "reported",
                                "customs",
                                rec.record_id,
                                f"HS {rec.hs_code}, {rec.quantity} units from {rec.shipper}"
                                f" ({rec.origin}) to {rec.consignee} ({rec.destination})",
                                rec.quantity,
                            ),
                            Evidence(
                                "calculated",
                                "registry",
                                "chips",
                                f"serials absent from the registry: {', '.join(missing[:10])}"
                                + (" ..." if len(missing) > 10 else ""),
                                len(missing),
                            ),
                        ),
                        rec.time,
                        owner=rec.consignee,
                        chips=tuple(missing),
                    )
                )
    for consignee, recs in sorted(by_consignee.items()):
        counted = [
            r for r in recs if not r.serials and r.hs_code in ("8542.31", "8473.30", "8471.50")
        ]
        if not counted:
            continue
        imported = sum(r.quantity for r in counted)
        registered = len(reg.chips_of(consignee))
        known_owner = consignee in reg.owners
        if imported <= registered * 1.05 + 8:
            continue
        sev = Severity.HIGH if imported - registered >= 100 or not known_owner else Severity.MEDIUM
        out.append(
            Finding(
                "imported_unregistered",
                sev,
                f"{consignee} imported {imported} accelerators but has {registered} registered"
                + ("" if known_owner else " (not a registered owner)"),
                Method.CUSTOMS,
                (
                    *(
                        Evidence(
                            "reported",
                            "customs",
                            r.record_id,
                            f"{r.quantity} units, HS {r.hs_code}",
                            r.quantity,
                        )
                        for r in counted[:20]
                    ),
                    Evidence("calculated", "customs", "sum", f"imported {imported}", imported),
                    Evidence(
                        "reported",
                        "registry",
                        f"chips:{consignee}",
                        f"registered {registered}",
                        registered,
                    ),
                ),
                max(r.time for r in counted),
                owner=consignee,
            )
        )
    return out


# -- rule 3: purchases without matching customs or registry records ------------------------


def purchase_unmatched(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    window = timedelta(days=ctx.params.purchase_window_days)
    customs = ctx.signals.get(Method.CUSTOMS)
    bought: dict[str, list[FinancialTxn]] = defaultdict(list)
    for t in ctx.signals.get(Method.FINANCIAL):
        if t.purpose == "chips" and t.quantity:
            bought[t.payer].append(t)
    for payer, txns in sorted(bought.items()):
        qty = sum(t.quantity or 0 for t in txns)
        registered = len(ctx.registry.chips_of(payer))
        t0 = min(t.time for t in txns) - window
        t1 = max(t.time for t in txns) + window
        cleared = [c for c in customs if c.consignee == payer and t0 <= c.time <= t1]
        imported = sum(c.quantity for c in cleared)
        if qty <= registered * 1.05 + 8:
            continue
        no_customs = qty > imported * 1.05 + 8
        sev = Severity.HIGH if qty - registered >= 100 and no_customs else Severity.MEDIUM
        out.append(
            Finding(
                "purchase_unmatched",
                sev,
                f"{payer} paid for {qty} chips; {imported} cleared customs and {registered}"
                " are registered",
                Method.FINANCIAL,
                (
                    *(
                        Evidence(
                            "reported",
                            "financial",
                            t.txn_id,
                            f"{t.amount_usd:,.0f} USD to {t.payee} for {t.quantity}"
                            f" {t.hardware}".strip(),
                            t.quantity,
                        )
                        for t in txns[:20]
                    ),
                    Evidence(
                        "calculated",
                        "customs",
                        "customs:window",
                        f"{imported} units cleared within {window.days} days",
                        imported,
                    ),
                    Evidence(
                        "reported",
                        "registry",
                        f"chips:{payer}",
                        f"{registered} chips registered",
                        registered,
                    ),
                ),
                max(t.time for t in txns),
                owner=payer,
            )
        )
    return out


# -- rule 4: usage reports silent while the energy says busy --------------------------------


def usage_silent(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    usage: dict[str, list[UsageRecord]] = defaultdict(list)
    for u in ctx.signals.get(Method.USAGE_REPORT):
        usage[u.facility].append(u)
    if not usage:
        return out
    for site, (runs, _bad, _hw) in sorted(ctx.runs.items()):
        if not ctx.registry.chips_at(site):
            continue
        for run in runs:
            est = run.estimate
            if est is None:
                continue
            overl = [
                u
                for u in usage.get(site, [])
                if u.period_end > run.start and u.period_start < run.end
            ]
            reported = sum(u.flop for u in overl)
            if reported >= est.low:
                continue
            sev = Severity.HIGH if reported < 0.1 * est.low else Severity.MEDIUM
            out.append(
                Finding(
                    "usage_silent",
                    sev,
                    f"chips at {site} report {reported:.2g} FLOP while the energy implies at"
                    f" least {est.low:.2g} FLOP ({_iso(run.start)} .. {_iso(run.end)})",
                    Method.USAGE_REPORT,
                    (
                        Evidence(
                            "calculated",
                            "usage_report",
                            f"usage:{site}",
                            f"{len(overl)} usage reports sum to {reported:.3g} FLOP",
                            reported,
                        ),
                        _est_evidence(
                            est,
                            f"energy plateau implies {est.flop:.3g} FLOP",
                            "estimate.from_energy",
                        ),
                    ),
                    run.end,
                    site=site,
                    owner=ctx.registry.owner_of(site),
                )
            )
    return out


def usage_wrong_facility(ctx: Context) -> list[Finding]:
    """Chips reporting from a facility other than the one registered for them."""
    out: list[Finding] = []
    usage: dict[str, list[UsageRecord]] = defaultdict(list)
    for u in ctx.signals.get(Method.USAGE_REPORT):
        usage[u.facility].append(u)
    for site, recs in sorted(usage.items()):
        end = max(u.period_end for u in recs)
        foreign = [
            u.chip_serial
            for u in recs
            if (c := ctx.registry.chips.get(u.chip_serial)) is None or c.facility_id != site
        ]
        if foreign:
            uniq = tuple(sorted(set(foreign)))
            out.append(
                Finding(
                    "usage_wrong_facility",
                    Severity.MEDIUM,
                    f"{len(uniq)} chip(s) report from {site} but are registered elsewhere"
                    " or not at all",
                    Method.USAGE_REPORT,
                    (Evidence("calculated", "registry", "chips", ", ".join(uniq[:10]), len(uniq)),),
                    end,
                    site=site,
                    owner=ctx.registry.owner_of(site),
                    chips=uniq,
                )
            )
    return out


# -- rule 5: location inconsistency -------------------------------------------------------------


def location_inconsistent(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    bad: dict[str, list[LocationResult]] = defaultdict(list)
    for r in ctx.signals.get(Method.LOCATION):
        chip = ctx.registry.chips.get(r.chip_serial)
        if not r.consistent or chip is None or chip.facility_id != r.claimed_facility:
            bad[chip.owner_id if chip else ""].append(r)
    for owner, results in sorted(bad.items()):
        serials = tuple(sorted({r.chip_serial for r in results}))
        ev: list[Evidence] = []
        for r in results[:20]:
            chip = ctx.registry.chips.get(r.chip_serial)
            if chip is None:
                text = f"{r.chip_serial} answered but is not registered"
            elif not r.consistent:
                dist = (
                    f", at least {r.distance_km:.0f} km away" if r.distance_km is not None else ""
                )
                text = f"{r.chip_serial}: RTT bounds exclude {r.claimed_facility}{dist}"
            else:
                text = (
                    f"{r.chip_serial} claims {r.claimed_facility}, registered at {chip.facility_id}"
                )
            ev.append(
                Evidence("reported", "location", f"location:{r.chip_serial}", text, r.distance_km)
            )
        failed = [r for r in results if not r.consistent]
        unregistered = [r for r in results if r.chip_serial not in ctx.registry.chips]
        # One failed measurement can be network noise; several chips (or one chip
        # failing again) cannot.
        repeated = len({r.chip_serial for r in failed}) >= 2 or len(failed) > len(
            {r.chip_serial for r in failed}
        )
        sev = Severity.HIGH if repeated or unregistered else Severity.MEDIUM
        out.append(
            Finding(
                "location_inconsistent",
                sev,
                f"{len(serials)} chip(s) of {owner or 'unknown owner'} fail location checks",
                Method.LOCATION,
                tuple(ev),
                max(r.time for r in results),
                owner=owner,
                chips=serials,
            )
        )
    return out


# -- rule 6: fab output beyond registered chips -------------------------------------------------


def fab_output_excess(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    by_fab: dict[str, list[FabInspection]] = defaultdict(list)
    for f in ctx.signals.get(Method.FAB_INSPECTION):
        by_fab[f.fab].append(f)
    for fab, insp in sorted(by_fab.items()):
        produced = sum(i.output_chips for i in insp)
        registered = len(ctx.registry.chips_from_fab(fab))
        wafers = sum(i.wafer_starts for i in insp)
        if produced > wafers * ctx.params.max_chips_per_wafer:
            out.append(
                Finding(
                    "fab_output_implausible",
                    Severity.INFO,
                    f"{fab}: {produced} chips from {wafers} wafer starts is impossible"
                    f" (> {ctx.params.max_chips_per_wafer} per wafer); check the records",
                    Method.FAB_INSPECTION,
                    (
                        Evidence(
                            "calculated",
                            "fab_inspection",
                            fab,
                            "chips per wafer",
                            produced / max(wafers, 1),
                        ),
                    ),
                    max(i.time for i in insp),
                    site=fab,
                )
            )
        excess = produced - registered
        if excess <= registered * ctx.params.count_tolerance + 10:
            continue
        sev = Severity.HIGH if excess >= 100 else Severity.MEDIUM
        out.append(
            Finding(
                "fab_output_excess",
                sev,
                f"{fab} produced {produced} accelerators but only {registered} are registered;"
                f" {excess} unaccounted for",
                Method.FAB_INSPECTION,
                (
                    *(
                        Evidence(
                            "reported",
                            "fab_inspection",
                            i.inspection_id,
                            f"{i.output_chips} chips out, {i.wafer_starts} wafers in"
                            f" {i.period_days:g} days",
                            i.output_chips,
                        )
                        for i in insp[:20]
                    ),
                    Evidence(
                        "reported",
                        "registry",
                        f"chips:fab={fab}",
                        f"{registered} registered",
                        registered,
                    ),
                    Evidence(
                        "calculated",
                        "fab_inspection",
                        "difference",
                        f"{excess} unaccounted",
                        excess,
                    ),
                ),
                max(i.time for i in insp),
                site=fab,
            )
        )
    return out


# -- rule 7: inspection counts that differ from the registry ---------------------------------------


def inspection_mismatch(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    latest: dict[str, DataCenterInspection] = {}
    for i in ctx.signals.get(Method.DC_INSPECTION):
        if i.facility not in latest or i.time > latest[i.facility].time:
            latest[i.facility] = i
    for site, insp in sorted(latest.items()):
        registered = {c.serial for c in ctx.registry.chips_at(site)}
        owner = ctx.registry.owner_of(site)
        ev: list[Evidence] = [
            Evidence(
                "reported",
                "dc_inspection",
                insp.inspection_id,
                f"{insp.count} chips counted on {_iso(insp.time)}",
                insp.count,
            )
        ]
        ev.append(
            Evidence(
                "reported",
                "registry",
                f"chips:{site}",
                f"{len(registered)} registered",
                len(registered),
            )
        )
        tol = max(len(registered) * ctx.params.count_tolerance, 2)
        if insp.serials_counted:
            seen = set(insp.serials_counted)
            missing = sorted(registered - seen)
            extra = sorted(seen - registered)
            if len(missing) <= tol and not extra:
                continue
            if missing:
                ev.append(
                    Evidence(
                        "calculated",
                        "dc_inspection",
                        "registry-minus-counted",
                        f"missing: {', '.join(missing[:10])}",
                        len(missing),
                    )
                )
            if extra:
                ev.append(
                    Evidence(
                        "calculated",
                        "dc_inspection",
                        "counted-minus-registry",
                        f"not registered here: {', '.join(extra[:10])}",
                        len(extra),
                    )
                )
            big = len(missing) >= 20 or len(extra) >= 20
            sev = Severity.HIGH if big else Severity.MEDIUM
            reason = (
                f"inspection at {site}: {len(missing)} registered chip(s) missing,"
                f" {len(extra)} unregistered found"
            )
            chips = tuple(missing + extra)
        else:
            diff = insp.count - len(registered)
            if abs(diff) <= tol:
                continue
            ev.append(
                Evidence(
                    "calculated",
                    "dc_inspection",
                    "difference",
                    f"{diff:+d} against the registry",
                    diff,
                )
            )
            sev = Severity.HIGH if abs(diff) >= 20 else Severity.MEDIUM
            reason = (
                f"inspection at {site} counted {insp.count} chips, registry says {len(registered)}"
            )
            chips = ()
        out.append(
            Finding(
                "inspection_mismatch",
                sev,
                reason,
                Method.DC_INSPECTION,
                tuple(ev),
                insp.time,
                site=site,
                owner=owner,
                chips=chips,
            )
        )
    return out


# -- AI-developer inspections and remote sensing ---------------------------------------------------


def developer_undeclared(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for i in ctx.signals.get(Method.DEVELOPER_INSPECTION):
        licensed = sum(lic.flop for lic in ctx.registry.licenses if lic.owner_id == i.owner)
        over = i.largest_run_flop is not None and i.largest_run_flop > licensed * 1.01
        if not i.undeclared_runs and not over:
            continue
        ev = [
            Evidence(
                "reported",
                "developer_inspection",
                i.inspection_id,
                f"{i.declared_runs} runs declared, {i.undeclared_runs} undeclared found",
                i.undeclared_runs,
            )
        ]
        if i.largest_run_flop is not None:
            ev.append(
                Evidence(
                    "reported",
                    "developer_inspection",
                    i.inspection_id,
                    f"largest run {i.largest_run_flop:.3g} FLOP",
                    i.largest_run_flop,
                )
            )
            ev.append(
                Evidence(
                    "reported",
                    "registry",
                    f"licenses:{i.owner}",
                    f"licensed {licensed:.3g} FLOP",
                    licensed,
                )
            )
        sev = (
            Severity.CRITICAL
            if over and (i.largest_run_flop or 0) >= ctx.params.threshold_flop
            else Severity.HIGH
        )
        out.append(
            Finding(
                "developer_undeclared",
                sev,
                f"audit of {i.owner} found undeclared or over-license training",
                Method.DEVELOPER_INSPECTION,
                tuple(ev),
                i.time,
                owner=i.owner,
            )
        )
    return out


def thermal_anomaly(ctx: Context) -> list[Finding]:
    """Heat beyond declared capacity, beyond metered power, or at an unregistered site."""
    out: list[Finding] = []
    by_site: dict[str, list[RemoteSensing]] = defaultdict(list)
    for d in ctx.signals.get(Method.REMOTE_SENSING):
        by_site[d.site].append(d)
    for site, dets in sorted(by_site.items()):
        fac = ctx.registry.facilities.get(site)
        strong = [d for d in dets if d.confidence >= 0.5]
        if not strong:
            continue
        heat = sorted(d.thermal_w for d in strong)[len(strong) // 2]
        ev = [
            Evidence(
                "reported",
                "remote_sensing",
                d.detection_id,
                f"{d.thermal_w / 1e6:.3g} MW heat, confidence {d.confidence:.2f}",
                d.thermal_w,
            )
            for d in strong[:20]
        ]
        reasons: list[str] = []
        sev = Severity.INFO
        if fac is None:
            if heat >= ctx.params.unregistered_thermal_w:
                reasons.append(
                    f"median heat {heat / 1e6:.3g} MW at {site}, which is not a registered facility"
                )
                sev = Severity.HIGH
        elif heat > fac.declared_w * ctx.params.thermal_factor:
            reasons.append(
                f"median heat {heat / 1e6:.3g} MW exceeds the"
                f" {fac.declared_w / 1e6:.3g} MW declared"
            )
            ev.append(
                Evidence(
                    "reported",
                    "registry",
                    f"facilities:{site}",
                    "declared capacity",
                    fac.declared_w,
                )
            )
            sev = Severity.HIGH
        ordered = sorted(strong, key=lambda d: d.time)
        # Sustained change: the median of three consecutive passes, against the site's
        # median over all passes (a single noisy pass cannot trigger it).
        triples = [
            (
                sorted(x.thermal_w for x in ordered[k : k + 3])[1],
                ordered[k].time,
                ordered[k + 2].time,
            )
            for k in range(len(ordered) - 2)
        ]
        if len(ordered) >= 6:
            peak, p0, p1 = max(triples, key=lambda x: x[0])
            licensed = fac is not None and ctx.registry.licensed_flop(site, p0, p1) > 0
            if peak > heat * ctx.params.thermal_rise_factor and not licensed:
                reasons.append(
                    f"heat rose to {peak / 1e6:.3g} MW ({_iso(p0)} .. {_iso(p1)}) from a"
                    f" median of {heat / 1e6:.3g} MW"
                )
                ev.append(
                    Evidence(
                        "calculated", "remote_sensing", f"rs:{site}", "heat rise ratio", peak / heat
                    )
                )
                sev = max(sev, Severity.MEDIUM)
        meter = sorted(ctx.energy_by_site.get(site, []), key=lambda r: r.time)
        if meter:
            for th, p0, p1 in triples or [(heat, ordered[0].time, ordered[-1].time)]:
                span = [
                    r.power_w
                    for r in meter
                    if p0 - timedelta(days=1) <= r.time <= p1 + timedelta(days=1)
                ]
                if not span:
                    continue
                metered = sorted(span)[len(span) // 2]
                if th > metered * ctx.params.meter_gap_factor:
                    reasons.append(
                        f"heat {th / 1e6:.3g} MW exceeds the metered {metered / 1e6:.3g} MW"
                        f" ({_iso(p0)} .. {_iso(p1)})"
                    )
                    ev.append(
                        Evidence(
                            "calculated",
                            "energy",
                            f"energy:{site}",
                            "median metered power",
                            metered,
                        )
                    )
                    sev = max(sev, Severity.MEDIUM)
                    break
        if sev is Severity.INFO:
            continue
        out.append(
            Finding(
                "thermal_anomaly",
                sev,
                "; ".join(reasons),
                Method.REMOTE_SENSING,
                tuple(ev),
                max(d.time for d in strong),
                site=site,
                owner=fac.owner_id if fac else "",
            )
        )
    return out


# -- rule 8: whistleblower claims, corroborated or not ---------------------------------------------


def whistle_claims(ctx: Context, prior: Sequence[Finding]) -> list[Finding]:
    """Each claim is a weak finding; corroborated by another method's finding it is strong."""
    out: list[Finding] = []
    for w in ctx.signals.get(Method.WHISTLEBLOWER):
        owner = w.owner or (ctx.registry.owner_of(w.site) if w.site else "")
        claim_ev = Evidence(
            "reported",
            "whistleblower",
            w.report_id,
            w.claim[:300],
            w.claimed_flop or (float(w.claimed_chips) if w.claimed_chips else None),
        )
        matches = [
            f
            for f in prior
            if f.method is not Method.WHISTLEBLOWER
            and f.severity >= Severity.MEDIUM
            and ((w.site and f.site == w.site) or (owner and f.owner == owner))
        ]
        if matches:
            methods = sorted({f.method.value for f in matches})
            ev = (
                claim_ev,
                *(
                    Evidence("calculated", f.method.value, f"finding:{f.rule}", f.reason, None)
                    for f in matches[:10]
                ),
            )
            out.append(
                Finding(
                    "whistle_corroborated",
                    Severity.HIGH,
                    f"whistleblower claim about {w.site or owner} corroborated by"
                    f" {', '.join(methods)}",
                    Method.WHISTLEBLOWER,
                    ev,
                    w.time,
                    site=w.site,
                    owner=owner,
                )
            )
        else:
            sev = Severity.MEDIUM if w.credibility >= 0.7 else Severity.LOW
            out.append(
                Finding(
                    "whistle_uncorroborated",
                    sev,
                    f"whistleblower claim about {w.site or owner or 'unknown'}"
                    f" (credibility {w.credibility:.1f}), not yet corroborated",
                    Method.WHISTLEBLOWER,
                    (claim_ev,),
                    w.time,
                    site=w.site,
                    owner=owner,
                )
            )
    return out


RULES: dict[str, Rule] = {
    "unlicensed_run": unlicensed_run,
    "implausible_energy": implausible_energy,
    "power_beyond_chips": power_beyond_chips,
    "imported_unregistered": imported_unregistered,
    "purchase_unmatched": purchase_unmatched,
    "usage_silent": usage_silent,
    "usage_wrong_facility": usage_wrong_facility,
    "location_inconsistent": location_inconsistent,
    "fab_output_excess": fab_output_excess,
    "inspection_mismatch": inspection_mismatch,
    "developer_undeclared": developer_undeclared,
    "thermal_anomaly": thermal_anomaly,
}
"""Base rules; ``whistle_claims`` runs after them on their findings."""


def run_rules(ctx: Context, rules: Iterable[str] | None = None) -> list[Finding]:
    """Run the named rules (default: all) and collect every finding."""
    names = list(rules) if rules is not None else [*RULES, "whistle_claims"]
    unknown = [n for n in names if n not in RULES and n != "whistle_claims"]
    if unknown:
        raise DataError(
            f"unknown rule(s): {', '.join(unknown)}; known: {', '.join([*RULES, 'whistle_claims'])}"
        )
    findings: list[Finding] = []
    for name in names:
        if name in RULES:
            findings.extend(RULES[name](ctx))
    if "whistle_claims" in names:
        findings.extend(whistle_claims(ctx, findings))
    return findings
